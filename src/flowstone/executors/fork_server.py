"""The fork server: a small process, forked from the runner before the runner starts any thread, that forks one
child per task on request.

Why a separate process: forking a process that runs threads (the S3 client's I/O runtime, say) gives a child
with locks held by threads that do not exist in it. The server is forked early, is single-threaded, and never
runs I/O libraries itself, so every task starts from a clean, already-imported copy of the flow.

Protocol over a Unix socket pair. Runner to server: an 8-byte length carrying three file descriptors (the task's
stdout, stderr and result pipes), then that many bytes: the pickled task function with the runner's current
environment and working directory. Server to runner: fixed-size records, ``S`` (started: request id, pid) and
``X`` (exited: pid, wait status).
"""

from __future__ import annotations

import contextlib
import faulthandler
import io
import os
import pickle
import selectors
import signal
import socket
import struct
import sys
from typing import Any

__all__ = ["LENGTH", "RECORD", "die_with_parent", "find_prctl", "serve", "start_server"]

#: kind (S or X), request id, pid, wait status
RECORD = struct.Struct("<cqqq")
LENGTH = _LENGTH = struct.Struct("<Q")
_PR_SET_PDEATHSIG = 1


def find_prctl() -> Any:
    """libc's prctl on Linux, else None (looked up before forking, so children need not import ctypes)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    return getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)


def die_with_parent(prctl: Any, parent_pid: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux)."""
    if prctl is None:
        return
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def start_server() -> tuple[int, socket.socket]:
    """Fork the server; return its pid and the runner's end of the socket."""
    runner_end, server_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    prctl = find_prctl()
    runner_pid = os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the server process
        runner_end.close()
        try:
            serve(server_end, prctl, runner_pid)
        finally:
            os._exit(0)
    server_end.close()
    return pid, runner_end


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return bytes(data)


def serve(sock: socket.socket, prctl: Any, runner_pid: int) -> None:  # pragma: no cover - the server process
    die_with_parent(prctl, runner_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's to handle
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ, "request")
    selector.register(wake_r, selectors.EVENT_READ, "child")
    children: set[int] = set()
    while True:
        for key, _ in selector.select():
            if key.data == "child":
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 4096)
                _report_exits(sock, children)
                continue
            try:
                header, fds, _, _ = socket.recv_fds(sock, _LENGTH.size, 3)
                if not header:
                    raise EOFError
                if len(header) < _LENGTH.size:
                    header += _recv_exactly(sock, _LENGTH.size - len(header))
                payload = _recv_exactly(sock, _LENGTH.unpack(header)[0])
            except (EOFError, ConnectionError, OSError):
                for pid in children:  # the runner is gone: so are its tasks
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
                return
            request_id, data, context = pickle.loads(payload)
            pid = os.fork()
            if pid == 0:
                selector.close()
                sock.close()
                os.close(wake_r)
                os.close(wake_w)
                _run_child(data, context, fds, prctl, os.getppid())
            for fd in fds:
                os.close(fd)
            children.add(pid)
            sock.sendall(RECORD.pack(b"S", request_id, pid, 0))


def _report_exits(sock: socket.socket, children: set[int]) -> None:  # pragma: no cover - the server process
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        sock.sendall(RECORD.pack(b"X", 0, pid, status))


def _report(exc: BaseException) -> str:
    """What a child prints when the task function itself fails: short for flowstone's own errors, unless the task's
    settings (its environment is the run's) ask for tracebacks with FLOWSTONE_DEBUG."""
    from flowstone.errors import FlowstoneException, failure_report
    from flowstone.settings import Settings

    try:
        debug = Settings.from_env().debug
    except FlowstoneException:
        debug = True
    return failure_report(exc, debug)


def _run_child(
    data: bytes, context: tuple[dict[str, str], str], fds: list[int], prctl: Any, server_pid: int
) -> None:  # pragma: no cover - a task
    """Run the task function with stdout/stderr on the given pipes; send back its pickled result; exit."""
    out_w, err_w, res_w = fds
    code = 1
    try:
        environ, cwd = context
        os.environ.clear()
        os.environ.update(environ)
        os.chdir(cwd)
        os.setpgid(0, 0)  # its own process group: a timeout or a failed run kills what it spawned too
        die_with_parent(prctl, server_pid)
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.close(out_w)
        os.close(err_w)
        # fresh line-buffered streams on the pipes, whatever sys.stdout was (a notebook's, a test runner's)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True, errors="replace")
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True, errors="replace")
        faulthandler.enable(file=sys.stderr)  # a crash in native code leaves a Python traceback in the log
        fn = pickle.loads(data)
        result = fn()
        payload = memoryview(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        while payload:
            payload = payload[os.write(res_w, payload) :]
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # flowstone's own work around the step failed (the step's errors are reported)
        with contextlib.suppress(Exception):
            sys.stderr.write(_report(exc))
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)
