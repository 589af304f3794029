"""The contract every executor meets. A backend's test module subclasses ``ExecutorTests`` with an ``executor``
fixture; ``isolates_crashes`` says whether a task dying may be tested without killing the test process."""

from __future__ import annotations

import functools
import sys
from typing import Any

from flowstone.executors.base import Event, Executor, Exited, OutputLine


def collect(executor: Executor, expected_exits: int) -> list[Event]:
    events: list[Event] = []
    while sum(isinstance(e, Exited) for e in events) < expected_exits:
        events.extend(executor.wait(timeout=30))
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


class ExecutorTests:
    isolates_crashes = False

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
