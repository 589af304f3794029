"""Run each task in the calling process, one at a time: no isolation, for tests and debugging.

Output is captured by swapping ``sys.stdout``/``sys.stderr`` while the task runs, so only Python-level writes are
seen; a crash of the task crashes the caller.
"""

from __future__ import annotations

import contextlib
import io
import os
import traceback
from collections.abc import Callable, Hashable
from typing import Any

from flowstone.executors.base import Event, Executor, Exited, OutputLine

__all__ = ["InlineExecutor"]


class InlineExecutor(Executor):
    """Runs ``fn()`` at submit time in this process; its events are returned by the next ``wait``."""

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._pending = 0

    @property
    def running(self) -> int:
        return self._pending

    def submit(self, key: Hashable, fn: Callable[[], Any], time_limit: float | None = None) -> int:
        out, err = io.StringIO(), io.StringIO()
        result, code = None, 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                result = fn()
            except Exception:
                traceback.print_exc()
                code = 1
        pid = os.getpid()
        for stream, buffer in (("stdout", out), ("stderr", err)):
            text = buffer.getvalue()
            lines = text.split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            self._events.extend(OutputLine(key, stream, line.encode(), pid) for line in lines)
        self._events.append(Exited(key, pid, code, result))
        self._pending += 1
        return pid

    def wait(self, timeout: float | None = None) -> list[Event]:
        events, self._events = self._events, []
        self._pending -= sum(isinstance(e, Exited) for e in events)
        return events

    def kill(self, key: Hashable) -> None:
        """Nothing to stop: tasks have already run by the time they are reported."""

    def shutdown(self) -> None:
        self._events.clear()
        self._pending = 0
