"""Run each task in a process forked from the (already imported) caller: isolation at the cost of a fork.

The child inherits the imported flow module, so a task starts in milliseconds instead of paying for a new
interpreter and its imports. It gets its own process group (so a timeout or failure kills what it spawned too),
its stdout and stderr go to pipes read line by line here, and what ``fn()`` returns comes back pickled over a
third pipe. The caller must not run other threads while forking; flowstone's scheduling loop has none.
"""

from __future__ import annotations

import contextlib
import faulthandler
import io
import os
import pickle
import selectors
import signal
import sys
import time
import traceback
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from flowstone.executors.base import Event, Executor, Exited, OutputLine

__all__ = ["ForkExecutor"]

_READ_SIZE = 1 << 16
_HAS_PIDFD = hasattr(os, "pidfd_open")
_POLL_INTERVAL = 0.05  # only where pidfd is unavailable


@dataclass
class _Child:
    key: Hashable
    pid: int
    deadline: float | None
    fds: dict[int, str] = field(default_factory=dict)  # fd -> 'stdout' | 'stderr' | 'result' | 'pidfd'
    partial: dict[str, bytes] = field(default_factory=lambda: {"stdout": b"", "stderr": b""})
    result: bytearray = field(default_factory=bytearray)
    timed_out: bool = False


_PR_SET_PDEATHSIG = 1


def _find_prctl() -> Any:
    """libc's prctl on Linux (looked up once, in the runner, so forked tasks need not import ctypes)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    return getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)


def _die_with_parent(prctl: Any, parent_pid: int) -> None:  # pragma: no cover - runs in the child
    """Have the kernel kill this task if the runner dies, so no task outlives its run unseen."""
    if prctl is None:
        return
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the runner died before the request took effect
        os._exit(1)


class ForkExecutor(Executor):
    """Fork a child per task; report its output lines and its exit."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._children: dict[int, _Child] = {}
        self._prctl = _find_prctl()

    @property
    def running(self) -> int:
        return len(self._children)

    # -- starting ---------------------------------------------------------------------------------
    def submit(self, key: Hashable, fn: Callable[[], Any], time_limit: float | None = None) -> int:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()  # or the child would print the parent's buffered output again
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        res_r, res_w = os.pipe()
        parent_pid = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, reported through its exit
            os.close(out_r)
            os.close(err_r)
            os.close(res_r)
            self._run_child(fn, out_w, err_w, res_w, parent_pid)
        for fd in (out_w, err_w, res_w):
            os.close(fd)
        deadline = time.monotonic() + time_limit if time_limit else None
        child = _Child(key, pid, deadline)
        for fd, kind in ((out_r, "stdout"), (err_r, "stderr"), (res_r, "result")):
            os.set_blocking(fd, False)
            child.fds[fd] = kind
            self._selector.register(fd, selectors.EVENT_READ, (child, kind))
        if _HAS_PIDFD:
            pidfd = os.pidfd_open(pid)
            child.fds[pidfd] = "pidfd"
            self._selector.register(pidfd, selectors.EVENT_READ, (child, "pidfd"))
        self._children[pid] = child
        return pid

    def _run_child(  # pragma: no cover - runs in the child, reported through its exit
        self, fn: Callable[[], Any], out_w: int, err_w: int, res_w: int, parent_pid: int
    ) -> None:
        code = 1
        try:
            os.setpgid(0, 0)
            _die_with_parent(self._prctl, parent_pid)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            for child in self._children.values():
                for fd in child.fds:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            with contextlib.suppress(Exception):
                self._selector.close()
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            os.close(out_w)
            os.close(err_w)
            # fresh line-buffered streams on the pipes, whatever sys.stdout was in the parent (a notebook's,
            # a test runner's capture): the task's prints must reach the pipes, line by line
            sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True, errors="replace")
            sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True, errors="replace")
            faulthandler.enable(file=sys.stderr)  # a crash in native code leaves a Python traceback in the log
            result = fn()
            payload = memoryview(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
            while payload:
                payload = payload[os.write(res_w, payload) :]
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            with contextlib.suppress(Exception):
                traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(code)

    # -- waiting ----------------------------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> list[Event]:
        events: list[Event] = []
        deadline = self._next_deadline()
        if deadline is not None:
            until = max(deadline - time.monotonic(), 0.0)
            timeout = until if timeout is None else min(timeout, until)
        if not _HAS_PIDFD and self._children:
            timeout = _POLL_INTERVAL if timeout is None else min(timeout, _POLL_INTERVAL)
        exited: list[_Child] = []
        for selector_key, _ in self._selector.select(timeout):
            child, kind = selector_key.data
            if kind == "pidfd":
                exited.append(child)
            else:
                self._read(child, selector_key.fd, kind, events)
        self._enforce_deadlines()
        for child in exited:
            events.extend(self._reap(child))
        if not _HAS_PIDFD:
            events.extend(self._poll_exits())
        return events

    def _read(self, child: _Child, fd: int, kind: str, events: list[Event]) -> bool:
        """Read what is available on one pipe; True if something was read (at end of file, the pipe is closed)."""
        try:
            data = os.read(fd, _READ_SIZE)
        except BlockingIOError:
            return False
        if not data:
            self._close_fd(child, fd)
            return False
        if kind == "result":
            child.result += data
            return True
        lines = (child.partial[kind] + data).split(b"\n")
        child.partial[kind] = lines.pop()
        events.extend(OutputLine(child.key, kind, line, child.pid) for line in lines)
        return True

    def _close_fd(self, child: _Child, fd: int) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(fd)
        with contextlib.suppress(OSError):
            os.close(fd)
        child.fds.pop(fd, None)

    def _reap(self, child: _Child, status: int | None = None) -> list[Event]:
        if status is None:
            _, status = os.waitpid(child.pid, 0)
        events: list[Event] = []
        for fd, kind in list(child.fds.items()):
            if kind != "pidfd":
                while self._read(child, fd, kind, events):
                    pass  # drain what the child wrote before it exited (a grandchild may hold the pipe open)
            self._close_fd(child, fd)
        for stream, rest in child.partial.items():
            if rest:
                events.append(OutputLine(child.key, stream, rest, child.pid))
        del self._children[child.pid]
        result = None
        if child.result:
            with contextlib.suppress(Exception):
                result = pickle.loads(bytes(child.result))
        returncode = os.waitstatus_to_exitcode(status)
        events.append(Exited(child.key, child.pid, returncode, result, child.timed_out))
        return events

    def _poll_exits(self) -> list[Event]:
        events: list[Event] = []
        for pid, child in list(self._children.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                events.extend(self._reap(child, status))
        return events

    def _next_deadline(self) -> float | None:
        deadlines = [c.deadline for c in self._children.values() if c.deadline is not None and not c.timed_out]
        return min(deadlines) if deadlines else None

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for child in self._children.values():
            if child.deadline is not None and not child.timed_out and now >= child.deadline:
                child.timed_out = True
                self._kill_group(child.pid)

    # -- stopping ---------------------------------------------------------------------------------
    @staticmethod
    def _kill_group(pid: int) -> None:
        for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                target()
                return

    def kill(self, key: Hashable) -> None:
        for child in self._children.values():
            if child.key == key:
                self._kill_group(child.pid)

    def shutdown(self) -> None:
        for child in list(self._children.values()):
            self._kill_group(child.pid)
        while self._children:
            self.wait(1.0)
        self._selector.close()
