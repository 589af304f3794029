"""Batches of S3 requests, and what they say on stderr while they are slow.

A batch (one call of the transport: 1000 GETs, one listing) runs its requests concurrently. If it is still running
after ``S3Config.progress_after`` seconds, one line on stderr says so, and again every ``progress_after`` seconds:
what the batch does, against which endpoint, how far it got, and the last problem met (a retried timeout, say),
so a stalled server never makes a run wait without a word.

The requests of a batch find it through a context variable (asyncio tasks inherit it), so the retry loop and the
body readers report to it without it being passed through every call.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Sequence
from contextvars import ContextVar
from typing import TextIO, TypeVar

from flowstone.s3.config import MiB, S3Config

__all__ = ["Batch", "current_batch", "gather_all", "run_batch"]

T = TypeVar("T")

_current: ContextVar[Batch | None] = ContextVar("flowstone_s3_batch", default=None)


class Batch:
    """How far one batch got: requests done, bytes moved, the last problem met."""

    def __init__(self, action: str, total: int, config: S3Config, stream: TextIO | None = None) -> None:
        self.action, self.total, self.config = action, total, config
        self.stream = stream
        self.done = 0
        self.moved = 0
        self.problem: str | None = None
        self.started = time.monotonic()

    def count_bytes(self, nbytes: int) -> None:
        self.moved += nbytes

    def note_problem(self, url: str, attempt: int, reason: str) -> None:
        self.problem = f"attempt {attempt} at {url}: {reason}"

    def line(self) -> str:
        """The progress line printed while the batch is slow."""
        elapsed = time.monotonic() - self.started
        things = "object" if self.total == 1 else "objects"
        moved = f", {self.moved / MiB:.1f} MiB moved" if self.moved else ""
        problem = f"; retrying after {self.problem}" if self.problem else ""
        return (f"flowstone: S3 {self.action} of {self.total} {things} at {self.config.where()} still running after "
                f"{elapsed:.0f} s: {self.done} done{moved}{problem}")  # fmt: skip

    async def _report_while_slow(self) -> None:
        every = self.config.progress_after
        while True:
            await asyncio.sleep(every)
            stream = self.stream or sys.stderr
            stream.write(self.line() + "\n")
            stream.flush()


def current_batch() -> Batch | None:
    """The batch the running request belongs to, if any."""
    return _current.get()


async def gather_all(requests: Sequence[Awaitable[T]]) -> list[T]:
    """Await every request concurrently; then raise the first failure in input order, if any (no request is left
    half-done), else return the results in input order."""
    results = await asyncio.gather(*requests, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]


async def run_batch(action: str, requests: Sequence[Awaitable[T]], config: S3Config) -> list[T]:
    """:func:`gather_all` for the requests of one batch, reporting its progress on stderr while it is slow."""
    batch = Batch(action, len(requests), config)
    token = _current.set(batch)  # before the requests become tasks: they copy this context

    async def counted(request: Awaitable[T]) -> T:
        result = await request
        batch.done += 1
        return result

    reporter = asyncio.ensure_future(batch._report_while_slow()) if config.progress_after > 0 else None
    try:
        return await gather_all([counted(request) for request in requests])
    finally:
        _current.reset(token)
        if reporter is not None:
            reporter.cancel()
