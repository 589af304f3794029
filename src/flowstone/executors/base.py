"""The executor seam: where a task's function runs. The scheduler submits work and waits for events.

An executor runs ``fn()`` somewhere isolated from the caller and reports, as :class:`Event` objects, each line
the task printed and, at the end, its exit: return value, exit code or signal. Executors know nothing of flows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

__all__ = ["Event", "Executor", "Exited", "OutputLine"]


class OutputLine(NamedTuple):
    """One line a task wrote to ``stream`` ('stdout' or 'stderr'), without its newline."""

    key: Hashable
    stream: str
    line: bytes
    pid: int


class Exited(NamedTuple):
    """A task ended. ``result`` is what ``fn()`` returned, or None if it raised or the process died."""

    key: Hashable
    pid: int
    returncode: int  # negative: killed by that signal
    result: Any
    timed_out: bool = False

    @property
    def description(self) -> str:
        if self.timed_out:
            return "was killed after exceeding its time limit"
        if self.returncode < 0:
            import signal

            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            return f"was killed by {name}"
        return f"exited with code {self.returncode}"


Event = OutputLine | Exited


class Executor(ABC):
    """Runs task functions in isolation and reports their output and exits."""

    @abstractmethod
    def submit(self, key: Hashable, fn: Callable[[], Any], time_limit: float | None = None) -> int:
        """Start ``fn()``; return its process id. ``time_limit`` seconds after start, the task is killed."""

    @abstractmethod
    def wait(self, timeout: float | None = None) -> list[Event]:
        """Block until at least one event (or ``timeout`` seconds) and return the events."""

    @abstractmethod
    def kill(self, key: Hashable) -> None:
        """Stop a running task (its exit is still reported)."""

    @property
    @abstractmethod
    def running(self) -> int:
        """How many submitted tasks have not been reported as exited."""

    def shutdown(self) -> None:  # noqa: B027 - optional
        """Kill what still runs and release resources."""
