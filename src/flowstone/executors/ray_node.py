"""The node side of the Ray executor: inside a Ray worker process, run one task and stream its output back.

A Ray worker process runs threads (Ray's own), so it must not fork a task itself. Instead it starts, once, a
fork server in a fresh interpreter (``python -c ...zygote_main()``), which runs the tasks' warm-up (importing
the flow from its code package) and then forks one child per task, exactly as the local fork executor does.
A task therefore starts in milliseconds, isolated in its own process group: a crash, ``os._exit`` or segfault
ends the task, not the Ray worker, and is reported with its real exit status.

:func:`run_on_node` is the body of the Ray task: a generator whose items travel back to the runner as they are
produced (Ray's streaming generators): batches of output lines, then the task's exit.
"""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

from flowstone._environ import temporary_environ
from flowstone.errors import ExecutorError
from flowstone.executors.base import Exited, OutputLine
from flowstone.executors.fork import ForkExecutor
from flowstone.executors.remote import Warmup

__all__ = ["FLUSH_SECONDS", "run_on_node", "zygote_main"]

#: Output lines are sent back in batches, at most this long after they were printed.
FLUSH_SECONDS = 0.05
#: A batch is sent at once when it holds this many lines.
FLUSH_LINES = 2000
#: The longest the worker blocks without returning to Python (so Ray's cancellation gets through).
_POLL_SECONDS = 0.5
_TASK = "task"


class _Pickled:
    """A task function kept pickled until the forked child calls it (the Ray worker never unpickles it)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __call__(self) -> Any:
        return pickle.loads(self.data)()


class _SpawnedForkExecutor(ForkExecutor):
    """The fork executor, with its server started as a fresh interpreter instead of forked from this (threaded)
    process. The server runs ``warmup`` before it forks any task."""

    def __init__(self, warmup: bytes | None) -> None:
        runner_end, server_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in shutdown
        code = "from flowstone.executors.ray_node import zygote_main; zygote_main()"
        process = subprocess.Popen(
            [sys.executable, "-c", code, str(server_end.fileno()), str(os.getpid())],
            stdin=subprocess.PIPE, stdout=self._log, stderr=self._log, pass_fds=(server_end.fileno(),),
        )  # fmt: skip
        server_end.close()
        assert process.stdin is not None
        process.stdin.write(warmup or b"")
        process.stdin.close()
        self._process = process
        super().__init__(server=(process.pid, runner_end))

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def startup_log(self) -> str:
        """What the server printed (its warm-up's traceback, if it failed)."""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")[-4000:]

    def shutdown(self) -> None:
        super().shutdown()
        self._process.returncode = 0  # reaped by the parent's shutdown
        self._log.close()


def zygote_main() -> None:  # pragma: no cover - runs in the server's own interpreter
    """Entry of the fork server: run the warm-up read from stdin, then serve fork requests on the socket."""
    from flowstone.executors.fork_server import find_prctl, serve

    sock = socket.socket(fileno=int(sys.argv[1]))
    parent = int(sys.argv[2])
    warmup = sys.stdin.buffer.read()
    if warmup:
        pickle.loads(warmup)()
    serve(sock, find_prctl(), parent)


_servers: dict[str, _SpawnedForkExecutor] = {}


def _server_for(prepare_key: str, prepare: bytes | None) -> _SpawnedForkExecutor:
    """This worker's fork server for tasks prepared under ``prepare_key`` (one at a time: a new key replaces it)."""
    server = _servers.get(prepare_key)
    if server is not None and server.alive:
        return server
    for old in _servers.values():
        old.shutdown()
    _servers.clear()
    warmup: Warmup | None = None
    if prepare is not None:
        warmup = pickle.loads(prepare)()  # fetches what the tasks need into this node's cache
    server = _SpawnedForkExecutor(pickle.dumps(warmup) if warmup is not None else None)
    _servers[prepare_key] = server
    return server


def run_on_node(
    task: bytes,
    prepare: bytes | None,
    prepare_key: str,
    time_limit: float | None,
    environment: dict[str, str],
    gpu_ids: Callable[[], list[Any]] | None = None,
) -> Iterator[tuple[Any, ...]]:
    """Run the pickled task in a child of this worker's fork server; yield ``("out", [(stream, line), ...])``
    batches, then ``("exit", returncode, result, timed_out, hostname, pid)``."""
    server = _server_for(prepare_key, prepare)
    variables = dict(environment)
    if gpu_ids is not None:  # the task sees the GPUs Ray gave it, and no others
        variables["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in gpu_ids())
    try:
        with temporary_environ(variables):  # the child is given the environment as it is at submit
            pid = server.submit(_TASK, _Pickled(task), time_limit)
    except ExecutorError as exc:
        raise ExecutorError(f"{exc}\n{server.startup_log()}") from None
    batch: list[tuple[str, bytes]] = []
    flushed = time.monotonic()
    try:
        while True:
            timeout = _POLL_SECONDS
            if batch:
                timeout = max(0.0, min(timeout, flushed + FLUSH_SECONDS - time.monotonic()))
            for event in server.wait(timeout):
                if isinstance(event, OutputLine):
                    batch.append((event.stream, event.line))
                elif isinstance(event, Exited):
                    if batch:
                        yield ("out", batch)
                    yield ("exit", event.returncode, event.result, event.timed_out, os.uname().nodename, pid)
                    return
            if batch and (len(batch) >= FLUSH_LINES or time.monotonic() - flushed >= FLUSH_SECONDS):
                yield ("out", batch)
                batch, flushed = [], time.monotonic()
    finally:
        if server.running:  # cancelled (Ray raised KeyboardInterrupt here): the task goes too
            server.kill(_TASK)
            while server.running:
                server.wait(1.0)
