"""Retries with backoff and the translation of obstore's errors into :mod:`flowstone.s3.errors`.

This is the only retry mechanism (obstore's own retries are off), so what is retried, how often, and what the
caller sees in the end are decided here, and the failure-injection hook can exercise all of it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from obstore import exceptions as obe

from flowstone.s3.config import S3Config
from flowstone.s3.errors import (
    S3AccessDenied,
    S3BucketNotFound,
    S3Exception,
    S3InvalidRange,
    S3NotFound,
    S3TransientError,
    S3URLException,
)

__all__ = [
    "InjectedFailure",
    "LoopSlots",
    "Retrier",
    "TransportStats",
    "describe",
    "http_status",
    "is_transient",
    "translate",
]

T = TypeVar("T")
log = logging.getLogger("flowstone.s3")

_STATUS = re.compile(r"status code: (\d{3})")
_CODE = re.compile(r"<Code>([A-Za-z]+)</Code>")
_TRANSIENT_CODES = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "RequestTimeTooSkewed"}
_NETWORK_WORDS = ("error sending request", "connection", "timed out", "timeout", "decoding response body",
                  "broken pipe", "reset by peer", "incomplete", "unexpected eof")  # fmt: skip


class InjectedFailure(Exception):
    """A transient failure made up by ``S3Config.inject_failures`` (the request was never sent)."""


@dataclass
class TransportStats:
    """Counters of what a transport did: requests attempted (injected failures included), retries, injections."""

    requests: int = 0
    retries: int = 0
    injected_failures: int = 0


def http_status(exc: BaseException) -> int | None:
    """The HTTP status in an obstore error, if the server answered."""
    found = _STATUS.search(str(exc))
    return int(found.group(1)) if found else None


def _s3_code(exc: BaseException) -> str | None:
    found = _CODE.search(str(exc))
    return found.group(1) if found else None


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same request again may succeed (throttling, 5xx, dropped or timed-out connections)."""
    if isinstance(exc, InjectedFailure):
        return True
    if isinstance(exc, (FileNotFoundError, ValueError, obe.PermissionDeniedError, obe.UnauthenticatedError,
                        obe.AlreadyExistsError, obe.PreconditionError, obe.NotModifiedError,
                        obe.InvalidPathError, obe.NotSupportedError, obe.UnknownConfigurationKeyError)):  # fmt: skip
        return False
    status = http_status(exc)
    if status is not None:
        return status >= 500 or status in (408, 429) or _s3_code(exc) in _TRANSIENT_CODES
    text = str(exc).lower()
    return isinstance(exc, (obe.GenericError, obe.JoinError, OSError)) and any(w in text for w in _NETWORK_WORDS)


def describe(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """A one-line account of ``exc`` for a message: its S3 error code or first line, without any secret."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    first = re.sub(r"Error performing \w+ \S+ in [^-]+- ", "", first)
    first = re.sub(r":?\s*<\?xml.*$", "", first)
    code = _s3_code(exc)
    text = f"{code}: {first}" if code and code not in first else first
    for secret in secrets:
        text = text.replace(secret, "***")
    return text if len(text) <= 300 else text[:297] + "..."


def translate(exc: BaseException, url: str, action: str, attempts: int, secrets: tuple[str, ...]) -> S3Exception:
    """The :mod:`flowstone.s3.errors` exception for ``exc``, raised while doing ``action`` on ``url``."""
    reason = describe(exc, secrets)
    code, status = _s3_code(exc), http_status(exc)
    if isinstance(exc, FileNotFoundError) or status == 404:
        if code == "NoSuchBucket":
            bucket = url.split("/")[2] if url.startswith("s3://") else url
            return S3BucketNotFound(f"The bucket of {url} ('{bucket}') does not exist. Check the bucket name.")
        return S3NotFound(f"{url} does not exist. Check the URL, or pass return_missing=True to get it back as "
                          f"an object with exists=False.")  # fmt: skip
    if isinstance(exc, obe.PermissionDeniedError | obe.UnauthenticatedError) or status in (401, 403):
        return S3AccessDenied(f"Access denied to {url} ({action}): {reason}. Check the AWS credentials "
                              f"(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the AWS profile) and that they "
                              f"may {action} this object.")  # fmt: skip
    if isinstance(exc, ValueError | obe.InvalidPathError):
        return S3URLException(f"Invalid S3 key in {url}: {reason}. Keys cannot contain empty segments ('//') "
                              f"or '.'/'..' segments.")  # fmt: skip
    if status == 416 or code == "InvalidRange":
        return S3InvalidRange(f"The range requested from {url} starts at or beyond the end of the object. "
                              f"Ask for a range inside the object (see S3Object.range_info.total_size).")  # fmt: skip
    if isinstance(exc, obe.PreconditionError) and action == "GET":
        return S3Exception(f"{url} changed while it was being downloaded. Try again once writers are done.")
    if is_transient(exc):
        return S3TransientError(f"{action} {url} failed after {attempts} attempt{'s' * (attempts > 1)}: {reason}. "
                                f"The store is overloaded or unreachable; try again later, lower "
                                f"S3Config.max_concurrency, or allow more retries (S3Config.retry).")  # fmt: skip
    return S3Exception(f"{action} {url} failed: {reason}.")


class LoopSlots:
    """A semaphore of ``size`` slots per event loop: a transport serves its private loop and callers' own loops,
    and an asyncio semaphore belongs to one loop."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._by_loop: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    def __call__(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._by_loop.get(loop)
        if semaphore is None:
            self._by_loop = {lp: s for lp, s in self._by_loop.items() if not lp.is_closed()}
            semaphore = self._by_loop[loop] = asyncio.Semaphore(self.size)
        return semaphore


class Retrier:
    """Runs one request at a time per call: bounded by a semaphore, retried with backoff while transient."""

    def __init__(self, bucket: str, config: S3Config) -> None:
        self.bucket = bucket
        self.config = config
        self.stats = TransportStats()
        self._rng = random.Random(config.seed)
        self._requests = LoopSlots(config.max_concurrency)

    def _inject(self, action: str, key: str, detail: object, attempt: int) -> None:
        rate = self.config.inject_failures
        if rate and random.Random(f"{self.config.seed}:{action}:{key}:{detail}:{attempt}").random() < rate:
            self.stats.injected_failures += 1
            raise InjectedFailure(f"injected transient failure (S3Config.inject_failures={rate})")

    async def call(self, action: str, key: str, request: Callable[[], Awaitable[T]], detail: object = "") -> T:
        """Await ``request()`` until it succeeds, a permanent error occurs, or the attempts run out.

        Failures are raised as :mod:`flowstone.s3.errors` exceptions naming ``s3://bucket/key``.
        """
        attempts = self.config.retry.attempts
        for attempt in range(1, attempts + 1):
            try:
                async with self._requests():
                    self.stats.requests += 1
                    self._inject(action, key, detail, attempt)
                    return await request()
            except Exception as exc:
                url = f"s3://{self.bucket}/{key}"
                if attempt == attempts or not is_transient(exc):
                    raise translate(exc, url, action, attempt, self.config.secrets()) from exc
                self.stats.retries += 1
                delay = self.config.retry.delay(attempt, self._rng)
                log.debug("%s %s: attempt %d failed (%s); retrying in %.3fs", action, url, attempt,
                          describe(exc, self.config.secrets()), delay)  # fmt: skip
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")
