"""A fork server started as a fresh interpreter, instead of forked from the caller.

Two callers need one: a process that runs threads and must not fork (a Ray worker), and a task that must run in
another Python (a step's own environment). The server runs a warm-up first (loading the flow from its code
package, say), then forks one child per task, exactly as a server forked from the runner does.
"""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import tempfile
from typing import IO, NamedTuple

__all__ = ["METAFLOW_IMPORTS", "SpawnedServer", "spawn_fork_server", "zygote_main"]

#: Set (to "1") in a process whose `metaflow` imports flowstone serves; spawned servers serve them too.
METAFLOW_IMPORTS = "FLOWSTONE_METAFLOW_IMPORTS"


class SpawnedServer(NamedTuple):
    """A fork server in its own interpreter: the process, the runner's end of its socket, and its log (what
    it printed: a failed warm-up's traceback)."""

    process: subprocess.Popen[bytes]
    sock: socket.socket
    log: IO[bytes]

    def startup_log(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")[-4000:]


def spawn_fork_server(python: str, environment: dict[str, str], warmup: bytes | None) -> SpawnedServer:
    """Start ``python`` as a fork server (with ``environment`` on top of this process's); it runs the pickled
    ``warmup`` before serving."""
    runner_end, server_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the server
    code = "from flowstone.executors.spawned import zygote_main; zygote_main()"
    process = subprocess.Popen(
        [python, "-c", code, str(server_end.fileno()), str(os.getpid())],
        stdin=subprocess.PIPE, stdout=log, stderr=log, pass_fds=(server_end.fileno(),),
        env={**os.environ, **environment},
    )  # fmt: skip
    server_end.close()
    assert process.stdin is not None
    process.stdin.write(warmup or b"")
    process.stdin.close()
    return SpawnedServer(process, runner_end, log)


def zygote_main() -> None:  # pragma: no cover - runs in the server's own interpreter
    """Entry of a spawned fork server: run the warm-up read from stdin, then serve fork requests."""
    from flowstone.executors.fork_server import find_prctl, serve

    sock = socket.socket(fileno=int(sys.argv[1]))
    parent = int(sys.argv[2])
    warmup = sys.stdin.buffer.read()
    if os.environ.get(METAFLOW_IMPORTS):  # the runner serves `import metaflow` (flowstone exec): so does this
        import importlib

        importlib.import_module("flowstone.compat.metaflow_alias").install()
    if warmup:
        pickle.loads(warmup)()
    serve(sock, find_prctl(), parent)
