"""The time limits of S3 requests, kept by one watchdog per event loop rather than a timer per wait.

Each attempt of a request carries a :class:`Watch`: when it must be over (its share of ``S3Config.deadline``),
and, while it waits for the server, since when and for how long the server may stay silent
(``S3Config.read_timeout``). A :class:`Watchdog` looks at the watches of its loop every tenth of the shortest
limit (at most every half second) and cancels the task of one that ran out; the attempt turns that into
:class:`Expired`, which says which limit it was. So a limit holds to within a tenth of itself.

Why not ``asyncio.timeout`` around every wait: each one schedules a timer, pushes it on the loop's heap and
cancels it again, on every request and on every piece of a streamed body. For a batch of a thousand small objects
that was about a third of the client's own Python work; a watch costs a few attribute writes.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Awaitable
from contextvars import ContextVar
from typing import Any, TypeVar

__all__ = ["Expired", "Watch", "Watchdog", "answered", "unbounded"]

T = TypeVar("T")

#: The watch of the attempt running in this task (asyncio tasks each have their own context).
_current: ContextVar[Watch | None] = ContextVar("flowstone_s3_watch", default=None)
#: The watchdog looks this often at most rarely, and at least this rarely often (seconds).
_LONGEST_TICK, _SHORTEST_TICK = 0.5, 0.005


class Expired(Exception):
    """An attempt ran out of time: ``silence`` is the read timeout it exceeded, or None for its deadline."""

    def __init__(self, silence: float | None) -> None:
        super().__init__("silence" if silence is not None else "deadline")
        self.silence = silence


class Watch:
    """The clocks of one attempt, run by ``task``: it ends by ``ends`` (monotonic seconds); while ``silence`` is
    set, the server must send something within ``silence`` seconds of ``heard``.

    A context manager around the attempt (see :meth:`Watchdog.watch`): inside it, :func:`answered` marks each wait
    for the server; leaving it on the watchdog's cancellation raises :class:`Expired` instead.
    """

    __slots__ = ("cancelling", "ends", "expired", "heard", "silence", "task", "token", "watchdog")

    def __init__(self, watchdog: Watchdog, task: asyncio.Task[Any], ends: float) -> None:
        self.watchdog, self.task, self.ends = watchdog, task, ends
        self.silence: float | None = None
        self.heard = 0.0
        self.expired: Expired | None = None
        # cancellations already asked of the task when the watch began: one more than that is the watchdog's own
        self.cancelling = 0
        if sys.version_info >= (3, 11):
            self.cancelling = task.cancelling()

    def check(self, now: float) -> bool:
        """Whether a limit ran out by ``now`` (it is then recorded in ``expired``)."""
        if now >= self.ends:
            self.expired = Expired(None)
        elif self.silence is not None and now - self.heard >= self.silence:
            self.expired = Expired(self.silence)
        return self.expired is not None

    def __enter__(self) -> Watch:
        self.token = _current.set(self)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self.watchdog.watches.discard(self)
        _current.reset(self.token)
        if kind is None or not issubclass(kind, asyncio.CancelledError) or self.expired is None:
            return
        if sys.version_info >= (3, 11) and self.task.uncancel() > self.cancelling:
            return  # not (only) the watchdog's doing: the caller cancelled too
        raise self.expired from None


class Watchdog:
    """The watches of one event loop, looked at every ``tick`` seconds while there are any."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.watches: set[Watch] = set()
        self.tick = math.inf
        self._next: asyncio.TimerHandle | None = None

    @staticmethod
    def tick_for(*limits: float) -> float:
        """How often to look for limits this short: a tenth of the shortest, within 5 ms and 0.5 s."""
        return min(max(min(limits) / 10, _SHORTEST_TICK), _LONGEST_TICK)

    def watch(self, seconds: float, tick: float) -> Watch:
        """The watch of an attempt (of the running task) that must end within ``seconds`` (``math.inf``: no
        deadline), looked at every ``tick`` seconds at least: ``with watchdog.watch(...): await request()``."""
        task = asyncio.current_task(self.loop)
        assert task is not None, "an S3 request runs in an asyncio task"
        watch = Watch(self, task, time.monotonic() + seconds)
        self._add(watch, tick)
        return watch

    def _add(self, watch: Watch, tick: float) -> None:
        self.watches.add(watch)
        if tick < self.tick or self._next is None:
            if self._next is not None:
                self._next.cancel()
            self.tick = min(tick, self.tick)
            self._next = self.loop.call_later(self.tick, self._look)

    def _look(self) -> None:
        self._next = None
        if not self.watches:
            self.tick = math.inf
            return
        now = time.monotonic()
        for watch in self.watches:
            if watch.expired is None and watch.check(now):
                watch.task.cancel()
        self._next = self.loop.call_later(self.tick, self._look)


def answered(awaitable: Awaitable[T], seconds: float) -> Awaitable[T]:
    """``awaitable``, marked as a wait for the server, which must send something within ``seconds`` (the first
    byte of an answer, or the next piece of a body): ``await answered(request, read_timeout)``. The mark holds
    until the next one, or :func:`unbounded`, or the end of the attempt. Only inside a :class:`Watch`."""
    watch = _current.get()
    assert watch is not None, "answered() runs inside an attempt"
    watch.silence, watch.heard = seconds, time.monotonic()
    return awaitable


def unbounded() -> None:
    """From now on the attempt's waits have no silence limit (only its deadline), until the next :func:`answered`."""
    watch = _current.get()
    if watch is not None:
        watch.silence = None
