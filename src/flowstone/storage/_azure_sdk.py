"""How the Azure transport sets up the SDK: the retry policy (the SDK's, with full-jitter backoff and a count of
retries), optional failure injection for tests, the HTTP transport's timeouts, and the clients of one process.
"""

from __future__ import annotations

import asyncio
import random
import urllib.request
import weakref
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline.transport import AioHttpTransport, AsyncHttpTransport
from azure.storage.blob.aio import BlobServiceClient, ContainerClient, ExponentialRetry

from flowstone.storage._azure_config import AzureConfig

__all__ = ["ProcessClients", "TransportStats"]


@dataclass
class TransportStats:
    """What a transport did: retries made by the retry policy, failures injected by ``inject_failures``."""

    retries: int = 0
    injected_failures: int = 0


class _Retry(ExponentialRetry):
    """The SDK's storage retry policy (what to retry) with full-jitter backoff and a count of retries."""

    def __init__(self, config: AzureConfig, stats: TransportStats) -> None:
        n = config.retries
        super().__init__(retry_total=n, retry_connect=n, retry_read=n, retry_status=n, random_jitter_range=0)
        self._base, self._cap, self._stats = config.backoff, config.max_backoff, stats
        self._rng = random.Random(config.seed)

    def get_backoff_time(self, settings: dict[str, Any]) -> float:
        return self._rng.uniform(0.0, min(self._cap, self._base * 2 ** max(settings["count"] - 1, 0)))

    async def sleep(self, settings: Any, transport: Any) -> None:
        self._stats.retries += 1
        await super().sleep(settings, transport)


class _FaultyTransport(AsyncHttpTransport):
    """Fails the first attempt of a fraction of requests with a connection error before sending it."""

    def __init__(self, inner: AsyncHttpTransport, config: AzureConfig, stats: TransportStats) -> None:
        self._inner, self._rate, self._seed, self._stats = inner, config.inject_failures, config.seed, stats
        self._attempts: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()

    async def send(self, request: Any, **kwargs: Any) -> Any:
        attempt = self._attempts[request] = self._attempts.get(request, 0) + 1
        if attempt == 1 and random.Random(f"{self._seed}:{request.method}:{request.url}").random() < self._rate:
            self._stats.injected_failures += 1
            raise ServiceRequestError(f"injected transient failure (inject_failures={self._rate})")
        return await self._inner.send(request, **kwargs)

    async def open(self) -> None:
        await self._inner.open()

    async def close(self) -> None:
        await self._inner.close()

    async def __aenter__(self) -> _FaultyTransport:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self._inner.__aexit__(*args)


class ProcessClients:
    """The clients of one transport in one process, created on the loop on first use."""

    def __init__(self, config: AzureConfig, container: str, stats: TransportStats) -> None:
        options: dict[str, Any] = {
            "retry_policy": _Retry(config, stats),
            "max_single_put_size": config.single_put_max,
            "max_block_size": config.block_size,
            "max_chunk_get_size": config.block_size,
        }
        # aiohttp scans the environment for proxies on every request when it may use them (a third of the CPU
        # for small blobs): let it only when a proxy is configured
        http: AsyncHttpTransport = AioHttpTransport(
            connection_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            use_env_settings=bool(urllib.request.getproxies()),
        )
        if config.inject_failures:
            http = _FaultyTransport(http, config, stats)
        options["transport"] = http
        self.credential: Any = None
        if config.connection_string:
            self.service = BlobServiceClient.from_connection_string(config.connection_string, **options)
        else:
            url, self.credential = config.client_arguments()
            self.service = BlobServiceClient(url, credential=self.credential, **options)
        self.container: ContainerClient = self.service.get_container_client(container)
        self.requests = asyncio.Semaphore(config.max_concurrency)

    async def close(self) -> None:
        await self.service.close()
        if self.credential is not None and hasattr(self.credential, "close"):
            await self.credential.close()
