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
from collections.abc import Awaitable, Coroutine, Sequence
from contextvars import ContextVar
from typing import Any, TextIO, TypeVar

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


async def run_batch(action: str, requests: Sequence[Coroutine[Any, Any, T]], config: S3Config) -> list[T]:
    """Run the requests of one batch, ``S3Config.max_concurrency`` at a time, reporting progress on stderr while
    it is slow; like :func:`gather_all`, every request runs to its end, then the first failure in input order is
    raised, else the results come back in input order.

    A few workers each take the next request when done with one, rather than a task per request waiting for a
    slot: with thousands of small requests, those tasks and their wake-ups were a noticeable share of the CPU.
    """
    batch = Batch(action, len(requests), config)
    outcomes: list[Any] = [None] * len(requests)
    failed: list[int] = []
    waiting = iter(range(len(requests)))

    async def work() -> None:
        for index in waiting:
            try:
                outcomes[index] = await requests[index]
            except Exception as exc:  # recorded: the batch goes on, then raises the first in input order
                outcomes[index] = exc
                failed.append(index)
            batch.done += 1

    token = _current.set(batch)  # before the workers become tasks: they copy this context
    try:
        workers = [asyncio.ensure_future(work()) for _ in range(min(len(requests), config.max_concurrency))]
    finally:
        _current.reset(token)
    reporter = asyncio.ensure_future(batch._report_while_slow()) if config.progress_after > 0 else None
    try:
        await asyncio.gather(*workers)
    finally:
        if reporter is not None:
            reporter.cancel()
        for index in waiting:  # left unstarted by a cancelled batch
            requests[index].close()
    if failed:
        raise outcomes[min(failed)]
    return outcomes
