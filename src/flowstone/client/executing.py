"""A flow's run started by a Runner: the child process (``RunCommand``, with files holding its output, as
Metaflow's CommandManager has them) and the ``ExecutingRun`` handed to the user.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowstone.client.runner import Runner
    from flowstone.client.runs import Run

__all__ = ["ExecutingRun", "RunCommand"]

#: How often a log being streamed is checked for new lines.
_POLL_SECONDS = 0.02


class RunCommand:
    """One child process: its command line, ``process`` (``returncode`` is None while it runs) and
    ``log_files['stdout' | 'stderr']``, files that receive its output as it is printed."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: str) -> None:
        self.command, self.env, self.cwd = command, env, cwd
        self.process: Any = None  # subprocess.Popen, or asyncio.subprocess.Process for an asynchronous run
        self.timeout = False
        self.folder = tempfile.mkdtemp(prefix="flowstone-runner-")
        self.log_files = {stream: os.path.join(self.folder, f"{stream}.log") for stream in ("stdout", "stderr")}
        self._tees: list[threading.Thread] = []

    def start(self, show_output: bool) -> None:
        """Start the process; threads copy its output to the log files (and to this process's own streams)."""
        self.process = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE)  # fmt: skip
        for pipe, stream in ((self.process.stdout, "stdout"), (self.process.stderr, "stderr")):
            echo = (sys.stdout if stream == "stdout" else sys.stderr) if show_output else None
            tee = threading.Thread(target=_copy, args=(pipe, self.log_files[stream], echo), daemon=True)
            tee.start()
            self._tees.append(tee)

    async def async_start(self) -> None:
        """Start the process writing straight into the log files."""
        with open(self.log_files["stdout"], "wb") as out, open(self.log_files["stderr"], "wb") as err:
            self.process = await asyncio.create_subprocess_exec(*self.command, cwd=self.cwd, env=self.env,
                                                                stdout=out, stderr=err)  # fmt: skip

    def sync_wait(self) -> int:
        """Wait for a process started with ``start`` to end, and for its output to be copied."""
        returncode: int = self.process.wait()
        for tee in self._tees:
            tee.join()
        return returncode

    async def wait(self, timeout: float | None = None, stream: str | None = None) -> None:
        """Wait for the process (printing ``stream`` meanwhile, if given); past ``timeout`` seconds, stop it."""
        waiting = self.emit_logs(stream) if stream else self._exited()
        try:
            await asyncio.wait_for(waiting, timeout)
        except asyncio.TimeoutError:
            self.timeout = True
            print(f"Timeout: the process {self.process.pid} ({' '.join(self.command)}) did not finish within "
                  f"{timeout} seconds; it is stopped.")  # fmt: skip
            if isinstance(self.process, asyncio.subprocess.Process):
                await self.async_kill()
            else:
                await asyncio.to_thread(self.kill)

    async def _exited(self) -> None:
        if isinstance(self.process, asyncio.subprocess.Process):
            await self.process.wait()
        else:
            await asyncio.to_thread(self.sync_wait)

    async def stream_log(self, stream: str, position: int | None = None) -> AsyncIterator[tuple[int, str]]:
        """``(position, line)`` of the process's output as it is printed, until it ends; ``position`` (the offset
        after the line) resumes streaming from there in a later call."""
        if stream not in self.log_files:
            raise ValueError(f"No log '{stream}': use one of {', '.join(self.log_files)}.")
        with open(self.log_files[stream], "rb") as log:
            log.seek(position or 0)
            pending = b""
            while True:
                chunk = log.readline()
                if chunk:
                    pending += chunk
                    if pending.endswith(b"\n"):
                        yield log.tell(), pending.decode("utf-8", "replace").rstrip("\r\n")
                        pending = b""
                    continue
                if self.process.returncode is not None:
                    if pending:
                        yield log.tell(), pending.decode("utf-8", "replace")
                    return
                await asyncio.sleep(_POLL_SECONDS)

    async def emit_logs(self, stream: str = "stdout", custom_logger: Callable[..., None] = print) -> None:
        """Pass every line of ``stream`` to ``custom_logger`` (print by default) until the process ends."""
        async for _, line in self.stream_log(stream):
            custom_logger(line)

    def kill(self, termination_timeout: float = 2.0) -> None:
        """Stop the process as Ctrl-C would (its run then records the interruption); kill it if it lingers. A
        process started with ``async_start`` is killed at once (``async_kill`` lets it stop)."""
        if self.process is None or self.process.returncode is not None:
            return
        _signal(self.process.pid, signal.SIGINT)
        if isinstance(self.process, subprocess.Popen):
            try:
                self.process.wait(termination_timeout)
                return
            except subprocess.TimeoutExpired:
                pass
        _signal(self.process.pid, signal.SIGKILL)  # an asyncio process is reaped by its event loop

    async def async_kill(self, termination_timeout: float = 2.0) -> None:
        """``kill`` for a process started with ``async_start``."""
        if self.process is None or self.process.returncode is not None:
            return
        _signal(self.process.pid, signal.SIGINT)
        try:
            await asyncio.wait_for(self.process.wait(), termination_timeout)
        except asyncio.TimeoutError:
            _signal(self.process.pid, signal.SIGKILL)
            await self.process.wait()

    def cleanup(self) -> None:
        """Remove the log files (a process still running is stopped first)."""
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def _copy(pipe: IO[bytes], path: str, echo: Any) -> None:
    with open(path, "wb") as log:
        for line in iter(pipe.readline, b""):
            log.write(line)
            log.flush()
            if echo is not None:
                echo.write(line.decode("utf-8", "replace"))
                echo.flush()
    pipe.close()


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


class ExecutingRun:
    """A run started by a Runner: ``run`` (its client Run), ``status``, ``returncode``, ``stdout``, ``stderr``,
    and ``command_obj``, the child process with ``log_files`` and ``process``."""

    def __init__(self, runner: Runner, command_obj: RunCommand, run: Run) -> None:
        self.runner = runner
        self.command_obj = command_obj
        self.run = run

    @property
    def returncode(self) -> int | None:
        """The process's exit code (None while it runs)."""
        returncode: int | None = self.command_obj.process.returncode
        return returncode

    @property
    def status(self) -> str:
        """'running', 'successful', 'failed', or 'timeout' (``wait`` stopped it)."""
        if self.command_obj.timeout:
            return "timeout"
        if self.returncode is None:
            return "running"
        return "successful" if self.returncode == 0 else "failed"

    def _read(self, stream: str) -> str:
        with open(self.command_obj.log_files[stream], encoding="utf-8", errors="replace") as log:
            return log.read()

    @property
    def stdout(self) -> str:
        """The run's standard output so far (all of it once it has ended)."""
        return self._read("stdout")

    @property
    def stderr(self) -> str:
        return self._read("stderr")

    async def wait(self, timeout: float | None = None, stream: str | None = None) -> ExecutingRun:
        """Wait for the run to end, printing ``stream`` ('stdout' or 'stderr') meanwhile if given; past
        ``timeout`` seconds the run is stopped and ``status`` is 'timeout'."""
        await self.command_obj.wait(timeout, stream)
        return self

    async def stream_log(self, stream: str = "stdout", position: int | None = None) -> AsyncIterator[tuple[int, str]]:
        """``(position, line)`` of the run's output as it is printed (see ``RunCommand.stream_log``)."""
        async for item in self.command_obj.stream_log(stream, position):
            yield item

    def __enter__(self) -> ExecutingRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.runner.cleanup()

    async def __aenter__(self) -> ExecutingRun:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.runner.cleanup()
