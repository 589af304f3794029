"""The Azure Blob transport: batches of requests through the SDK's async client, on the private event loop of
:mod:`flowstone.storage._azure_loop`. Clients are opened per process on first use (a forked child opens its own).

Retries are the SDK's retry policy with short timeouts and a bounded number of attempts (full-jitter backoff;
see :mod:`flowstone.storage._azure_sdk`), so a dead endpoint fails within seconds. Every failure leaves this
module as a :class:`StorageError` naming the account, the container and the blob, scrubbed of credentials.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import uuid
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobBlock, BlobProperties

from flowstone.errors import StorageError
from flowstone.storage import _azure_loop
from flowstone.storage._azure_config import AzureConfig
from flowstone.storage._azure_sdk import ProcessClients, TransportStats

__all__ = ["AzureTransport", "BlobInfo"]

T = TypeVar("T")

#: Clients a forked child inherited from its parent: unusable here, and kept from the garbage collector, whose
#: warnings about unclosed sessions would be noise.
_inherited: list[Any] = []


@dataclass(frozen=True)
class BlobInfo:
    size: int
    modified: float  # seconds since the epoch


class _BufferWriter:
    """A seekable, writable stream over a preallocated buffer, for the SDK's parallel downloads."""

    def __init__(self, buffer: bytearray) -> None:
        self._view, self._pos = memoryview(buffer), 0

    def write(self, data: Any) -> int:
        n = len(data)
        self._view[self._pos : self._pos + n] = data
        self._pos += n
        return n

    def seek(self, pos: int, whence: int = 0) -> int:
        self._pos = pos
        return pos

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return True


class AzureTransport:
    """Batched blob operations on one container; every method blocks until its whole batch is done."""

    def __init__(self, config: AzureConfig, container: str) -> None:
        self.config = config
        self.container = container
        self.stats = TransportStats()
        self._clients: ProcessClients | None = None
        self._pid: int | None = None
        self._clients_lock = threading.Lock()
        self._close_when_dropped: weakref.finalize[Any, Any] | None = None

    def _run_all(self, coros: list[Coroutine[Any, Any, T]]) -> list[T]:
        """Run a batch concurrently; the first failure cancels the rest and is raised."""

        async def gather() -> list[T]:
            tasks = [asyncio.ensure_future(coro) for coro in coros]
            try:
                return list(await asyncio.gather(*tasks))
            except BaseException:
                for task in tasks:
                    task.cancel()
                raise

        return _azure_loop.run(gather()) if coros else []

    async def _open(self) -> ProcessClients:
        with self._clients_lock:
            if self._clients is None or self._pid != os.getpid():
                if self._clients is not None:
                    _inherited.append(self._clients)
                self._clients, self._pid = ProcessClients(self.config, self.container, self.stats), os.getpid()
                _azure_loop.close_at_exit(self)
                self._close_when_dropped = _azure_loop.close_when_dropped(self, self._clients)
            return self._clients

    async def _call(self, action: str, name: str, request: Callable[[ProcessClients], Awaitable[T]]) -> T:
        """Await one request under the concurrency limit; failures become :class:`StorageError`."""
        try:
            clients = await self._open()
            async with clients.requests:
                return await request(clients)
        except StorageError:
            raise
        except (AzureError, OSError, asyncio.TimeoutError) as exc:
            raise self.failure(exc, action, name) from exc

    # -- writes -----------------------------------------------------------------------------------
    def put_many(self, items: list[tuple[str, bytes]], if_absent: bool) -> list[bool]:
        """Upload each ``(name, data)`` with one Put Blob; with ``if_absent``, only where no blob exists yet."""
        return self._run_all([self._put(name, data, if_absent) for name, data in items])

    async def _put(self, name: str, data: bytes, if_absent: bool) -> bool:
        async def request(clients: ProcessClients) -> bool:
            try:
                await clients.container.upload_blob(name, data, length=len(data), overwrite=not if_absent)
            except (ResourceExistsError, ResourceModifiedError):
                if not if_absent:
                    raise
                return False
            return True

        return await self._call("write", name, request)

    def put_blocks(self, name: str, chunks: Iterator[memoryview], if_absent: bool) -> bool:
        """Upload a large blob as staged blocks, then commit them (with ``if_absent``: only if the blob is absent).

        Blocks are staged ``block_concurrency`` at a time while the caller's thread cuts the next ones, so at most
        that many joined blocks are held in memory; blocks that lie within one chunk are sent without a copy.
        Uncommitted blocks are invisible: an upload that dies before its commit leaves no blob.
        """
        if if_absent and self.head_many([name])[0] is not None:
            return False  # skip the upload; the conditional commit below settles races
        prefix = uuid.uuid4().hex  # this upload's own block ids: concurrent writers never mix their blocks
        block_ids: list[str] = []
        window: deque[concurrent.futures.Future[None]] = deque()
        try:
            for block in cut_blocks(chunks, self.config.block_size):
                while len(window) >= self.config.block_concurrency:
                    window.popleft().result()
                block_ids.append(f"{prefix}{len(block_ids):06d}")
                window.append(_azure_loop.submit(self._stage(name, block_ids[-1], block)))
            while window:
                window.popleft().result()
        except BaseException:
            for future in window:
                future.cancel()
            raise
        return _azure_loop.run(self._commit(name, block_ids, if_absent))

    async def _stage(self, name: str, block_id: str, block: memoryview | bytes) -> None:
        async def request(clients: ProcessClients) -> None:
            data: Any = block  # bytes, or a flat byte view the SDK sends as it is (without a copy)
            await clients.container.get_blob_client(name).stage_block(block_id, data, length=len(data))

        await self._call("write", name, request)

    async def _commit(self, name: str, block_ids: list[str], if_absent: bool) -> bool:
        async def request(clients: ProcessClients) -> bool:
            blocks = [BlobBlock(block_id) for block_id in block_ids]
            try:
                await clients.container.get_blob_client(name).commit_block_list(
                    blocks, if_none_match="*" if if_absent else None
                )
            except (ResourceExistsError, ResourceModifiedError):
                if not if_absent:
                    raise
                return False
            return True

        return await self._call("write", name, request)

    def delete_many(self, names: list[str]) -> None:
        self._run_all([self._delete(name) for name in names])

    async def _delete(self, name: str) -> None:
        async def request(clients: ProcessClients) -> None:
            try:
                await clients.container.delete_blob(name)
            except ResourceNotFoundError as exc:
                if _code(exc) == "ContainerNotFound":
                    raise

        await self._call("delete", name, request)

    # -- reads ------------------------------------------------------------------------------------
    def get_many(self, names: list[str]) -> list[memoryview | None]:
        """The content of each blob (None for a missing one), each downloaded into one buffer of its size."""
        return self._run_all([self._get(name) for name in names])

    async def _get(self, name: str) -> memoryview | None:
        async def request(clients: ProcessClients) -> memoryview | None:
            try:
                download = await clients.container.download_blob(name, max_concurrency=self.config.block_concurrency)
            except ResourceNotFoundError as exc:
                if _code(exc) == "ContainerNotFound":
                    raise
                return None
            buffer = bytearray(download.size)
            await download.readinto(_BufferWriter(buffer))  # type: ignore[arg-type]
            return memoryview(buffer)

        return await self._call("read", name, request)

    def head_many(self, names: list[str]) -> list[BlobInfo | None]:
        return self._run_all([self._head(name) for name in names])

    async def _head(self, name: str) -> BlobInfo | None:
        async def request(clients: ProcessClients) -> BlobInfo | None:
            try:
                props = await clients.container.get_blob_client(name).get_blob_properties()
            except ResourceNotFoundError as exc:
                if _code(exc) == "ContainerNotFound":
                    raise
                return None
            return BlobInfo(props.size, props.last_modified.timestamp())

        return await self._call("read", name, request)

    def list_one_level(self, prefix: str) -> tuple[list[str], list[str]]:
        """The blob names and the sub-prefixes (ending in '/') directly under ``prefix`` (which ends in '/')."""

        async def request(clients: ProcessClients) -> tuple[list[str], list[str]]:
            blobs: list[str] = []
            prefixes: list[str] = []
            async for item in clients.container.walk_blobs(name_starts_with=prefix or None, delimiter="/"):
                (blobs if isinstance(item, BlobProperties) else prefixes).append(item.name)
            return blobs, prefixes

        return _azure_loop.run(self._call("list", prefix, request))

    def list_tree(self, prefix: str) -> list[tuple[str, BlobInfo]]:
        """Every blob whose name starts with ``prefix``, with its info, in name order (pages of 5000)."""

        async def request(clients: ProcessClients) -> list[tuple[str, BlobInfo]]:
            found = []
            async for blob in clients.container.list_blobs(name_starts_with=prefix or None):
                found.append((blob.name, BlobInfo(blob.size, blob.last_modified.timestamp())))
            return found

        return _azure_loop.run(self._call("list", prefix, request))

    # -- errors and lifetime ----------------------------------------------------------------------
    def failure(self, exc: BaseException, action: str, name: str) -> StorageError:
        """A :class:`StorageError` for ``exc``, naming the account, container and blob, with what to do."""
        config = self.config
        where = (f"azure://{self.container}/{name} (account '{config.account_name or '?'}', container "
                 f"'{self.container}', endpoint {config.endpoint})")  # fmt: skip
        status, code = getattr(exc, "status_code", None), _code(exc)
        attempts = f"{config.retries + 1} attempts"
        if code == "ContainerNotFound":
            hint = (f"The container '{self.container}' does not exist in the account: create it (e.g. az storage "
                    f"container create -n {self.container}) or fix the datastore root.")  # fmt: skip
        elif isinstance(exc, ClientAuthenticationError) or status in (401, 403):
            hint = (f"The credentials were refused or lack permission (using {config.credential_kind}). Check "
                    f"them and that they may {action} blobs in this container.")  # fmt: skip
        elif isinstance(exc, ServiceRequestError | OSError):
            hint = (f"The endpoint cannot be reached ({attempts}). Check FLOWSTONE_AZURE_STORAGE_BLOB_SERVICE_"
                    f"ENDPOINT or the connection string's BlobEndpoint, and the network.")  # fmt: skip
        elif isinstance(exc, ServiceResponseError | asyncio.TimeoutError):
            hint = f"The service did not answer in time ({attempts}); it is overloaded or unreachable, try again."
        elif status is not None and status >= 500:
            hint = f"The service kept failing ({attempts}); try again later."
        else:
            hint = "See the Azure error above."
        return StorageError(config.scrub(f"Cannot {action} {where}: {_reason(exc)}. {hint}"))

    def close(self) -> None:
        """Close this process's clients (the loop thread stays for other transports)."""
        with self._clients_lock:
            clients, pid = self._clients, self._pid
            self._clients = None
            if self._close_when_dropped is not None:  # closed here, and waited for
                self._close_when_dropped.detach()
        if clients is not None and pid == os.getpid():
            try:
                _azure_loop.submit(clients.close()).result(timeout=5)
            except Exception:
                pass  # closing is best effort: the connections die with the process anyway


def cut_blocks(chunks: Iterator[memoryview], size: int) -> Iterator[memoryview | bytes]:
    """Cut a stream of byte views into blocks of ``size`` (the last may be shorter).

    A block inside one chunk is a view of it (no copy); only blocks spanning chunks are joined.
    """
    pending: list[memoryview] = []
    filled = 0
    for chunk in chunks:
        while chunk.nbytes:
            if not pending and chunk.nbytes >= size:
                yield chunk[:size]
                chunk = chunk[size:]
                continue
            take = min(size - filled, chunk.nbytes)
            pending.append(chunk[:take])
            filled += take
            chunk = chunk[take:]
            if filled == size:
                yield b"".join(pending)
                pending, filled = [], 0
    if pending:
        yield pending[0] if len(pending) == 1 else b"".join(pending)


def _code(exc: BaseException) -> str | None:
    code = getattr(exc, "error_code", None)
    return None if code is None else str(getattr(code, "value", code))


def _reason(exc: BaseException) -> str:
    """One line about ``exc``: its status and Azure error code, and the first line of its message."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    first = first.removeprefix("Operation returned an invalid status ").strip("'").rstrip(".")
    status, code = getattr(exc, "status_code", None), _code(exc)
    label = " ".join(str(part) for part in (status, code) if part)
    text = f"{label}: {first}" if label and (code or "") not in first else first
    return text if len(text) <= 300 else text[:297] + "..."
