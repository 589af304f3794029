"""The node side of the Ray executor: inside a Ray worker process, run one task and stream its output back.

A Ray worker process runs threads (Ray's own), so it must not fork a task itself. Instead it starts, once, a
fork server in a fresh interpreter (``executors/spawned.py``), which runs the tasks' warm-up (importing
the flow from its code package) and then forks one child per task, exactly as the local fork executor does.
A task therefore starts in milliseconds, isolated in its own process group: a crash, ``os._exit`` or segfault
ends the task, not the Ray worker, and is reported with its real exit status.

:func:`run_on_node` is the body of the Ray task: a generator whose items travel back to the runner as they are
produced (Ray's streaming generators): batches of output lines, then the task's exit.
"""

from __future__ import annotations

import os
import pickle
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from flowstone._environ import temporary_environ
from flowstone.executors.base import Exited, OutputLine
from flowstone.executors.fork import ForkExecutor
from flowstone.executors.remote import Warmup
from flowstone.executors.spawned import spawn_fork_server

__all__ = ["FLUSH_SECONDS", "run_on_node"]

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


_servers: dict[str, ForkExecutor] = {}


def _server_for(prepare_key: str, prepare: bytes | None, environment: dict[str, str]) -> ForkExecutor:
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
    spawned = spawn_fork_server(sys.executable, environment, pickle.dumps(warmup) if warmup is not None else None)
    server = ForkExecutor(server=spawned)
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
    server = _server_for(prepare_key, prepare, environment)
    variables = dict(environment)
    if gpu_ids is not None:  # the task sees the GPUs Ray gave it, and no others
        variables["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in gpu_ids())
    with temporary_environ(variables):  # the child is given the environment as it is at submit
        pid = server.submit(_TASK, _Pickled(task), time_limit)  # a failed warm-up's traceback is in its error
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
