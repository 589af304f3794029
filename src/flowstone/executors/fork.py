"""Run each task in its own process, forked from a fork server that has already imported the flow.

A task starts in milliseconds instead of paying for a new interpreter and its imports. Each task gets its own
process group (a timeout or failure kills what it spawned too); its stdout and stderr come back over pipes, read
here line by line, and what its function returns comes back pickled over a third pipe. Task functions must be
picklable (a ``functools.partial`` of a module-level function, say): they travel to the fork server.

A task that must run in another Python (a :class:`~flowstone.executors.remote.RemoteTask` with an
``interpreter``: a step's own environment) goes to a fork server spawned with that interpreter, started on first
use and warmed up by the task's ``prepare``; its output and exit come back the same way.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import selectors
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from flowstone._interrupt import interruptible
from flowstone.errors import ExecutorError
from flowstone.executors.base import Event, Executor, Exited, OutputLine
from flowstone.executors.fork_server import LENGTH, RECORD, start_server
from flowstone.executors.remote import RemoteTask
from flowstone.executors.spawned import SpawnedServer, spawn_fork_server

__all__ = ["ForkExecutor"]

_READ_SIZE = 1 << 16


@dataclass
class _Server:
    """A fork server: its pid and socket, the partial records read from it, and, for a spawned one, itself."""

    pid: int
    sock: socket.socket
    inbox: bytearray = field(default_factory=bytearray)
    spawned: SpawnedServer | None = None


@dataclass
class _Child:
    key: Hashable
    pid: int
    deadline: float | None
    fds: dict[int, str] = field(default_factory=dict)  # fd -> 'stdout' | 'stderr' | 'result'
    partial: dict[str, bytes] = field(default_factory=lambda: {"stdout": b"", "stderr": b""})
    result: bytearray = field(default_factory=bytearray)
    timed_out: bool = False


class ForkExecutor(Executor):
    """Tasks as children of a fork server; their output lines and exits as events.

    Create it before anything in the process starts threads: the fork server is forked at construction.
    """

    def __init__(self, server: tuple[int, socket.socket] | SpawnedServer | None = None) -> None:
        """``server``: a fork server started elsewhere (its pid and socket, or a spawned one); by default one is
        forked from this process now."""
        self._selector = selectors.DefaultSelector()
        self._servers: dict[Hashable, _Server] = {}  # None: the default server; (interpreter, warm-up key)
        self._add_server(None, server if server is not None else _fork_server_here())
        self._children: dict[int, _Child] = {}
        self._exits: list[tuple[int, int]] = []  # (pid, status) reported by a server, not yet handled
        self._next_request = 1

    def _add_server(self, name: Hashable, server: tuple[int, socket.socket] | SpawnedServer) -> _Server:
        if isinstance(server, SpawnedServer):
            entry = _Server(server.process.pid, server.sock, spawned=server)
        else:
            entry = _Server(server[0], server[1])
        self._servers[name] = entry
        self._selector.register(entry.sock, selectors.EVENT_READ, entry)
        return entry

    def _server_for(self, fn: Callable[[], Any]) -> tuple[_Server, Callable[[], Any], dict[str, str]]:
        """The server to fork ``fn`` from, what it runs, and variables the task gets on top of the runner's."""
        interpreter = getattr(fn, "interpreter", None)
        if interpreter is None:
            return self._servers[None], fn, getattr(fn, "environment", {})
        assert isinstance(fn, RemoteTask)
        name = (interpreter, fn.prepare_key)
        server = self._servers.get(name)
        if server is None:
            warmup = fn.prepare() if fn.prepare is not None else None
            spawned = spawn_fork_server(interpreter, fn.environment, pickle.dumps(warmup) if warmup else None)
            server = self._add_server(name, spawned)
        return server, fn.run, fn.environment

    @property
    def running(self) -> int:
        return len(self._children)

    # -- starting ---------------------------------------------------------------------------------
    def submit(self, key: Hashable, fn: Callable[[], Any], time_limit: float | None = None) -> int:
        request_id, self._next_request = self._next_request, self._next_request + 1
        server, function, variables = self._server_for(fn)
        # the task sees the runner's environment and directory as they are now, not as they were at the fork
        context = ({**os.environ, **variables}, os.getcwd())
        payload = pickle.dumps((request_id, pickle.dumps(function, protocol=pickle.HIGHEST_PROTOCOL), context))
        pipes = [os.pipe() for _ in range(3)]
        try:
            socket.send_fds(server.sock, [LENGTH.pack(len(payload))], [w for _, w in pipes])
            server.sock.sendall(payload)
        except OSError as exc:
            raise self._server_died(server) from exc
        finally:
            for _, w in pipes:
                os.close(w)
        pid = self._await_start(server, request_id)
        deadline = time.monotonic() + time_limit if time_limit else None
        child = _Child(key, pid, deadline)
        for (r, _), kind in zip(pipes, ("stdout", "stderr", "result"), strict=True):
            os.set_blocking(r, False)
            child.fds[r] = kind
            self._selector.register(r, selectors.EVENT_READ, (child, kind))
        self._children[pid] = child
        return pid

    def _read_records(self, server: _Server, block: bool) -> list[tuple[bytes, int, int, int]]:
        """Whole records from ``server``; with ``block``, wait for at least one."""
        server.sock.setblocking(block)
        try:
            data = server.sock.recv(1 << 16)
        except BlockingIOError:
            data = b""
        except OSError as exc:
            raise self._server_died(server) from exc
        finally:
            server.sock.setblocking(True)
        if block and not data:
            raise self._server_died(server)
        server.inbox += data
        records = []
        while len(server.inbox) >= RECORD.size:
            records.append(RECORD.unpack_from(server.inbox))
            del server.inbox[: RECORD.size]
        return records

    def _server_died(self, server: _Server) -> ExecutorError:
        log = f"\n{server.spawned.startup_log()}" if server.spawned is not None else ""
        return ExecutorError(f"The fork server stopped unexpectedly; the run cannot start more tasks.{log}")

    def _await_start(self, server: _Server, request_id: int) -> int:
        started = None
        while started is None:
            for kind, rid, pid, status in self._read_records(server, block=True):  # keep every record of the batch
                if kind == b"S" and rid == request_id:
                    started = pid
                elif kind == b"X":
                    self._exits.append((pid, status))
        return started

    # -- waiting ----------------------------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> list[Event]:
        events: list[Event] = []
        if not self._exits:
            deadline = self._next_deadline()
            if deadline is not None:
                until = max(deadline - time.monotonic(), 0.0)
                timeout = until if timeout is None else min(timeout, until)
            with interruptible():  # nothing is half-read while it blocks here
                ready = self._selector.select(timeout)
            for selector_key, _ in ready:
                if isinstance(selector_key.data, _Server):
                    records = self._read_records(selector_key.data, False)
                    self._exits.extend((pid, st) for kind, _, pid, st in records if kind == b"X")
                else:
                    child, kind = selector_key.data
                    self._read(child, selector_key.fd, kind, events)
        self._enforce_deadlines()
        exits, self._exits = self._exits, []
        for pid, status in exits:
            child = self._children.get(pid)
            if child is not None:
                events.extend(self._reap(child, status))
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

    def _reap(self, child: _Child, status: int) -> list[Event]:
        events: list[Event] = []
        for fd, kind in list(child.fds.items()):
            while self._read(child, fd, kind, events):
                pass  # drain what the task wrote before it exited (a grandchild may hold the pipe open)
            self._close_fd(child, fd)
        for stream, rest in child.partial.items():
            if rest:
                events.append(OutputLine(child.key, stream, rest, child.pid))
        del self._children[child.pid]
        result = None
        if child.result:
            with contextlib.suppress(Exception):
                result = pickle.loads(bytes(child.result))
        events.append(Exited(child.key, child.pid, os.waitstatus_to_exitcode(status), result, child.timed_out))
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
        for server in self._servers.values():
            server.sock.close()  # a server exits when its socket closes
            if server.spawned is not None:
                server.spawned.process.wait()
                server.spawned.log.close()
            else:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(server.pid, 0)

    @property
    def alive(self) -> bool:
        """Whether the default fork server still runs (a spawned one can end on its own: a failed warm-up)."""
        spawned = self._servers[None].spawned
        return spawned is None or spawned.process.poll() is None

    def startup_log(self) -> str:
        """What the default server printed, if it was spawned (its warm-up's traceback, say)."""
        spawned = self._servers[None].spawned
        return spawned.startup_log() if spawned is not None else ""


def _fork_server_here() -> tuple[int, socket.socket]:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()  # or the server's children would print the runner's buffered output again
    server = start_server()
    # Count the threads that lived through the fork. Native thread pools that are safe to fork (OpenBLAS,
    # which numpy loads at import) stop their threads in a pthread_atfork handler and start them again on
    # their next use; threads still here right after the fork were running during it, and a lock one of
    # them held stays locked forever in the server and in every task forked from it.
    others = _other_threads()
    if others:
        warnings.warn(
            f"The fork executor started in a process that runs {len(others)} other thread(s) "
            f"({', '.join(others)}); a task forked from it may deadlock on a lock one of them held. Start I/O "
            f"clients and background threads after the executor, or in the steps that use them.",
            RuntimeWarning,
            stacklevel=3,
        )
    return server


def _other_threads() -> list[str]:
    """The names of this process's threads besides the calling one, native ones included."""
    me = threading.get_native_id()
    try:
        tids = [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:  # no /proc: what Python's threading module knows
        return [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    python_names = {t.native_id: t.name for t in threading.enumerate()}
    names = []
    for tid in tids:
        if tid == me:
            continue
        if tid in python_names:
            names.append(python_names[tid])
            continue
        with contextlib.suppress(OSError), open(f"/proc/self/task/{tid}/comm") as f:
            names.append(f.read().strip() or str(tid))
    return names
