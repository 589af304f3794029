"""The contract every executor meets. A backend's test module subclasses ``ExecutorTests`` with an ``executor``
fixture and says what it can do: ``isolates_crashes`` (a task dying may be tested without killing the test
process), ``stops_running_tasks`` (``kill`` and time limits end a task that is still running).

Every wait is bounded (:data:`DEADLINE`), so a broken executor fails its tests instead of hanging the suite.
"""

from __future__ import annotations

import functools
import sys
import time
from typing import Any

import pytest

from flowstone.executors.base import Event, Executor, Exited, OutputLine

#: The longest a conformance test waits for the executor's events.
DEADLINE = 60.0


def collect(executor: Executor, expected_exits: int, seconds: float = DEADLINE) -> list[Event]:
    """Events until ``expected_exits`` tasks have exited; fails after ``seconds``."""
    return collect_until(executor, lambda events: sum(isinstance(e, Exited) for e in events) >= expected_exits,
                         seconds)  # fmt: skip


def collect_until(executor: Executor, condition: Any, seconds: float = DEADLINE) -> list[Event]:
    """Events until ``condition(events)`` holds; fails after ``seconds``."""
    events: list[Event] = []
    deadline = time.monotonic() + seconds
    while not condition(events):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"the executor did not get there within {seconds:g} s; events so far: {events}"
        events.extend(executor.wait(timeout=min(remaining, 5.0)))
    return events


def lines_of(events: list[Event], key: Any, stream: str = "stdout") -> list[str]:
    return [e.line.decode() for e in events if isinstance(e, OutputLine) and e.key == key and e.stream == stream]


def exit_of(events: list[Event], key: Any) -> Exited:
    (exited,) = [e for e in events if isinstance(e, Exited) and e.key == key]
    return exited


def _talk() -> str:
    print("first line")
    print("warn", file=sys.stderr)
    print("second line")
    sys.stdout.write("no newline at the end")
    return "returned value"


def _numbered(i: int) -> int:
    print(f"task {i}")
    return i * i


def _raise() -> None:
    print("before the error")
    raise ValueError("boom")


def _announce_and_sleep() -> str:
    print("started", flush=True)
    time.sleep(600)
    return "slept"


def _started(key: Any) -> Any:
    return lambda events: "started" in lines_of(events, key)


class ExecutorTests:
    isolates_crashes = False
    stops_running_tasks = True

    def _needs_stopping(self) -> None:
        if not self.stops_running_tasks:
            pytest.skip("this executor runs each task to its end at submit")

    def test_output_lines_and_result(self, executor: Executor) -> None:
        pid = executor.submit("t1", _talk)
        assert pid > 0
        events = collect(executor, 1)
        assert lines_of(events, "t1") == ["first line", "second line", "no newline at the end"]
        assert lines_of(events, "t1", "stderr") == ["warn"]
        exited = exit_of(events, "t1")
        assert exited.returncode == 0 and exited.result == "returned value" and exited.pid == pid
        assert events[-1] is exited  # output comes before the exit
        assert executor.running == 0

    def test_exception_is_a_failed_exit_with_traceback(self, executor: Executor) -> None:
        executor.submit("bad", _raise)
        events = collect(executor, 1)
        exited = exit_of(events, "bad")
        assert exited.returncode != 0 and exited.result is None
        assert "before the error" in lines_of(events, "bad")
        assert any("ValueError: boom" in line for line in lines_of(events, "bad", "stderr"))

    def test_many_tasks_are_told_apart(self, executor: Executor) -> None:
        for i in range(5):
            executor.submit(i, functools.partial(_numbered, i))
        events = collect(executor, 5)
        for i in range(5):
            assert lines_of(events, i) == [f"task {i}"]
            assert exit_of(events, i).result == i * i

    def test_kill_ends_a_running_task_and_spares_the_others(self, executor: Executor) -> None:
        self._needs_stopping()
        executor.submit("doomed", _announce_and_sleep)
        executor.submit("spared", functools.partial(_numbered, 7))
        events = collect_until(executor, _started("doomed"))
        executor.kill("doomed")
        events += collect(executor, 2 - sum(isinstance(e, Exited) for e in events))
        doomed = exit_of(events, "doomed")
        assert doomed.returncode != 0 and doomed.result is None and not doomed.timed_out
        assert exit_of(events, "spared").result == 49
        assert executor.running == 0

    def test_time_limit_ends_a_task_that_runs_too_long(self, executor: Executor) -> None:
        self._needs_stopping()
        started = time.monotonic()
        executor.submit("slow", _announce_and_sleep, time_limit=1.0)
        exited = exit_of(collect(executor, 1), "slow")
        assert exited.timed_out and exited.result is None and exited.returncode != 0
        assert exited.description == "was killed after exceeding its time limit"
        assert time.monotonic() - started < DEADLINE / 2

    def test_time_limit_leaves_a_quick_task_alone(self, executor: Executor) -> None:
        executor.submit("quick", functools.partial(_numbered, 3), time_limit=30.0)
        exited = exit_of(collect(executor, 1), "quick")
        assert exited.result == 9 and not exited.timed_out
