"""Retries with backoff, the deadline of an operation, and failure injection.

This is the only retry mechanism (obstore's own retries are off), so what is retried, how often, for how long, and
what the caller sees in the end are decided here, and the failure-injection hook can exercise all of it.

Injected failures follow Metaflow's ``inject_failure_rate``: the rate of the first attempt is capped at 90%, falls
on later attempts (a third, then half as much again, and so on, down to 0 by the 12th attempt), LIST requests are
never failed, and injected failures do not use up ``retry.attempts`` (they stand for failures that pass). A rate
of 1.0 is the exception: every attempt fails and counts, to exercise running out of attempts.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from flowstone.s3._failures import (
    DeadlineExceeded,
    InjectedFailure,
    StalledResponse,
    describe,
    is_transient,
    translate,
)
from flowstone.s3._progress import current_batch
from flowstone.s3._watch import Expired, Watchdog
from flowstone.s3.config import S3Config

__all__ = ["PerLoop", "Retrier", "TransportStats", "injected_percent", "loop_slots"]

T = TypeVar("T")
V = TypeVar("V")
log = logging.getLogger("flowstone.s3")


@dataclass
class TransportStats:
    """Counters of what a transport did: requests attempted (injected failures included), retries, injections."""

    requests: int = 0
    retries: int = 0
    injected_failures: int = 0


class PerLoop(Generic[V]):
    """One ``make(loop)`` per event loop: a transport serves its private loop and callers' own loops, and asyncio
    objects (a semaphore, a watchdog's timer) belong to one loop."""

    def __init__(self, make: Callable[[asyncio.AbstractEventLoop], V]) -> None:
        self._make = make
        self._by_loop: dict[asyncio.AbstractEventLoop, V] = {}

    def __call__(self, loop: asyncio.AbstractEventLoop | None = None) -> V:
        loop = loop or asyncio.get_running_loop()
        value = self._by_loop.get(loop)
        if value is None:
            self._by_loop = {lp: v for lp, v in self._by_loop.items() if not lp.is_closed()}
            value = self._by_loop[loop] = self._make(loop)
        return value


def loop_slots(size: int) -> PerLoop[asyncio.Semaphore]:
    """A semaphore of ``size`` slots per event loop."""
    return PerLoop(lambda _loop: asyncio.Semaphore(size))


#: The watchdog of each loop, shared by every transport on it.
_watchdog = PerLoop(Watchdog)


def injected_percent(rate: float, attempt: int) -> int:
    """The percentage of attempt number ``attempt`` (1 for the first) that failure injection at ``rate`` fails."""
    if rate >= 1.0:
        return 100
    percent = min(90, round(rate * 100))
    for previous in range(1, attempt):
        percent = percent // 3 if previous % 2 else min(90, percent * 3 // 2)
    return percent


class _Attempts:
    """The state of one operation's attempts: how many, how many real failures, since when, the last failure."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.tries = self.failures = 0
        self.started: float | None = None
        self.last: BaseException | None = None

    def remaining(self) -> float:
        """Seconds left before the deadline (its clock starts with the first attempt)."""
        if self.started is None:
            self.started = time.monotonic()
        return self.deadline - (time.monotonic() - self.started)

    def overdue(self) -> DeadlineExceeded:
        last = f"; the last problem: {describe(self.last)}" if self.last is not None else ""
        return DeadlineExceeded(f"timed out: no result within {self.deadline:g} s (FLOWSTONE_S3_DEADLINE){last}")


class Retrier:
    """Runs requests bounded by a semaphore, retried with backoff while transient, within the deadline."""

    def __init__(self, bucket: str, config: S3Config) -> None:
        self.bucket = bucket
        self.config = config
        self.stats = TransportStats()
        self._rng = random.Random(config.seed)
        self._requests = loop_slots(config.max_concurrency)
        self._tick = Watchdog.tick_for(config.read_timeout, config.deadline)

    def _inject(self, action: str, key: str, detail: object, attempt: int) -> None:
        rate = self.config.inject_failures
        if not rate or action == "LIST":
            return
        draw = random.Random(f"{self.config.seed}:{action}:{key}:{detail}:{attempt}").random()
        if draw * 100 < injected_percent(rate, attempt):
            self.stats.injected_failures += 1
            raise InjectedFailure(f"injected transient failure (S3Config.inject_failures={rate})")

    async def call(self, action: str, key: str, request: Callable[[], Awaitable[T]], detail: object = "",
                   deadlines: int | None = 1) -> T:  # fmt: skip
        """Await ``request()`` until it succeeds, a permanent error occurs, the attempts run out or the deadline
        passes: ``deadlines`` times ``S3Config.deadline`` (an upload gets one per round of parts); None for a
        request of unknown length whose every wait ``read_timeout`` bounds instead (obstore's own listing).

        Failures are raised as :mod:`flowstone.s3.errors` exceptions naming ``s3://bucket/key``.
        """
        state = _Attempts(self.config.deadline * deadlines if deadlines is not None else math.inf)
        loop = asyncio.get_running_loop()
        slots, watchdog = self._requests(loop), _watchdog(loop)
        while True:
            state.tries += 1
            try:
                async with slots:
                    remaining = state.remaining()
                    self.stats.requests += 1
                    if remaining <= 0:
                        raise state.overdue()
                    self._inject(action, key, detail, state.tries)
                    with watchdog.watch(remaining, self._tick):
                        return await request()
            except Expired as expired:
                await self._judge(action, key, self._expired(expired, state), state)
            except Exception as exc:  # every failure is judged: retried, or raised translated
                await self._judge(action, key, exc, state)

    @staticmethod
    def _expired(expired: Expired, state: _Attempts) -> Exception:
        if expired.silence is None:
            return state.overdue()
        return StalledResponse(f"timed out: nothing came for {expired.silence:g} s (FLOWSTONE_S3_READ_TIMEOUT)")

    async def _judge(self, action: str, key: str, exc: Exception, state: _Attempts) -> None:
        """Return after waiting out the backoff if ``exc`` deserves another attempt, else raise it translated."""
        config, url = self.config, f"s3://{self.bucket}/{key}"
        injected = isinstance(exc, InjectedFailure)
        if not injected or config.inject_failures >= 1.0:
            state.failures += 1
        if not injected:
            state.last = exc
        if state.failures >= config.retry.attempts or not is_transient(exc):
            raise translate(exc, url, action, state.tries, config) from (exc if config.debug else None)
        self.stats.retries += 1
        reason = describe(exc, config.secrets())
        # injected failures stand for no load on the server: no need to back off
        delay = 0.0 if injected else min(config.retry.delay(state.failures, self._rng),
                                         max(0.0, state.remaining()))  # fmt: skip
        batch = current_batch()
        if batch is not None and not injected:
            batch.note_problem(url, state.tries, reason)
        log.debug("%s %s: attempt %d failed (%s); retrying in %.3fs", action, url, state.tries, reason, delay)
        await asyncio.sleep(delay)
