"""The watchdog that keeps an attempt's deadline and the server's longest silence, and the worker pool of a batch:
unit tests on an event loop of their own (no server); the faults they stand for are tested against a real
server in test_faults.py."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Coroutine
from typing import Any

import pytest

from flowstone.s3._progress import run_batch
from flowstone.s3._watch import Expired, Watchdog, answered, unbounded
from flowstone.s3.config import S3Config

pytestmark = pytest.mark.timeout(30)
TICK = 0.01


async def _attempt(awaitable: Coroutine[Any, Any, Any] | asyncio.Future[Any], seconds: float,
                   silence: float | None = None) -> Any:  # fmt: skip
    """One attempt, as the retry loop runs it: under a watch, waiting for ``awaitable`` as a wait for the server
    when ``silence`` is given."""
    watchdog = Watchdog(asyncio.get_running_loop())
    with watchdog.watch(seconds, TICK):
        return await (answered(awaitable, silence) if silence is not None else awaitable)


def _never() -> asyncio.Future[None]:
    return asyncio.get_running_loop().create_future()  # a server that never answers


def test_an_answer_in_time_is_returned_and_the_watch_is_gone() -> None:
    async def main() -> tuple[Any, int]:
        watchdog = Watchdog(asyncio.get_running_loop())
        with watchdog.watch(5.0, TICK):
            value = await answered(asyncio.sleep(0, "answer"), 5.0)
        return value, len(watchdog.watches)

    assert asyncio.run(main()) == ("answer", 0)


def test_a_silent_server_ends_the_attempt_with_the_silence_it_exceeded() -> None:
    async def main() -> None:
        await _attempt(_never(), math.inf, silence=0.05)

    with pytest.raises(Expired) as expired:
        asyncio.run(main())
    assert expired.value.silence == 0.05


def test_a_deadline_ends_an_attempt_even_while_the_server_talks() -> None:
    async def chatty() -> None:
        while True:  # each piece comes quickly (no silence), but the whole never ends
            await answered(asyncio.sleep(0.005), 1.0)

    async def main() -> None:
        await _attempt(chatty(), 0.1)

    with pytest.raises(Expired) as expired:
        asyncio.run(main())
    assert expired.value.silence is None


def test_waits_after_unbounded_have_only_the_deadline() -> None:
    async def body() -> str:
        await answered(asyncio.sleep(0), 0.02)  # the first byte came in time
        unbounded()  # a large body read in one piece: obstore's own request timeout bounds it
        await asyncio.sleep(0.1)  # longer than the silence allowed before
        return "whole body"

    async def main() -> str:
        return await _attempt(body(), 5.0)

    assert asyncio.run(main()) == "whole body"


def test_a_caller_cancelling_is_not_taken_for_a_timeout() -> None:
    async def main() -> None:
        task = asyncio.ensure_future(_attempt(_never(), 5.0, silence=5.0))
        await asyncio.sleep(0)  # the attempt starts waiting
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(main())


def test_the_watchdog_stops_looking_when_no_attempt_runs() -> None:
    async def main() -> Watchdog:
        watchdog = Watchdog(asyncio.get_running_loop())
        with watchdog.watch(5.0, TICK):
            await asyncio.sleep(0)
        while watchdog._next is not None:  # its next look finds nothing to watch and schedules no other
            await asyncio.sleep(TICK)
        return watchdog

    assert asyncio.run(main()).watches == set()


def test_a_batch_finishes_every_request_then_raises_the_first_failure_in_input_order() -> None:
    finished: list[int] = []

    async def request(i: int) -> int:
        await asyncio.sleep(0.001 * (10 - i))  # later requests end first
        finished.append(i)
        if i in (3, 7):
            raise ValueError(f"request {i} failed")
        return i

    config = S3Config(max_concurrency=4, progress_after=0)
    with pytest.raises(ValueError, match="request 3 failed"):
        asyncio.run(run_batch("GET", [request(i) for i in range(10)], config))
    assert sorted(finished) == list(range(10))
    assert asyncio.run(run_batch("GET", [request(i) for i in (1, 2, 4)], config)) == [1, 2, 4]


def test_a_batch_runs_at_most_max_concurrency_requests_at_once() -> None:
    running, most = 0, 0

    async def request() -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.001)
        running -= 1

    asyncio.run(run_batch("PUT", [request() for _ in range(50)], S3Config(max_concurrency=8, progress_after=0)))
    assert most == 8


def test_a_cancelled_batch_closes_the_requests_it_never_started() -> None:
    started: list[int] = []
    requests: list[Coroutine[Any, Any, None]] = []

    async def request(i: int) -> None:
        started.append(i)
        await _never()

    async def main() -> None:
        requests.extend(request(i) for i in range(20))
        batch = asyncio.ensure_future(run_batch("GET", requests, S3Config(max_concurrency=2, progress_after=0)))
        while len(started) < 2:
            await asyncio.sleep(0)
        batch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await batch

    asyncio.run(main())
    assert started == [0, 1]
    assert all(r.cr_frame is None for r in requests)  # closed: no "never awaited" warning, nothing left to run
