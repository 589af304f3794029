"""Local files and network connections a step opened, seen through Python's audit hooks (``sys.addaudithook``).

One hook per process, installed the first time a task is watched. A hook cannot be removed, so it does nothing
while no task is watched (a task run in the caller's process, by the inline executor, leaves it inert). Every
audit event of the process passes through it: it returns at once for the events it does not watch, and does the
rest of its work only for opens and connections the step made (``flowstone/reads/callers.py``).

Files: an ``open`` for reading of a file outside the excluded folders (the Python installation, installed
packages, flowstone, the datastore, the task's scratch folder, ``/proc``, ``/sys``, ``/dev``) and outside the
project's Python sources (the code package) is noted; files the step opened for writing are not inputs. When the
step ends, each noted file is described by its size, modification time and (within :data:`HASH_LIMIT` and
:data:`HASH_BUDGET`) the hash of its content, or as missing.

Network: a ``socket.connect`` (or ``sendto``) made by the step's code. flowstone's own traffic (the datastore,
the S3 client, the Client API) is made by flowstone's code, and obstore's S3 traffic is native and raises no
event at all; either way it is not the step's.
"""

from __future__ import annotations

import os
import socket
import stat
import sys
from typing import Any

from flowstone.datastore.hashing import hash_chunks
from flowstone.reads.callers import made_by_step

__all__ = ["HASH_BUDGET", "HASH_LIMIT", "WATCHERS", "FileWatch", "describe_file", "watch_files"]

#: Files up to this size are hashed when the step ends, until this many bytes were hashed for the step; the
#: others are known by size and modification time (a newer time is then a change).
HASH_LIMIT = 256 * 1024 * 1024
HASH_BUDGET = 1024 * 1024 * 1024
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_SKIP_FLAGS = getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_PATH", 0)
_SYSTEM_FOLDERS = ("/proc/", "/sys/", "/dev/")
#: How the files of the watching code (``runtime/watch*.py``) start: their frames are passed over in a stack.
WATCHERS = os.path.join(os.path.dirname(__file__), "watch")


class FileWatch:
    """What one step opened: files it read, files it wrote, addresses it connected to."""

    def __init__(self, excluded: tuple[str, ...], code_root: str) -> None:
        self.excluded = excluded + _SYSTEM_FOLDERS  # path prefixes (a folder's ends with os.sep)
        self.code_root = code_root.rstrip(os.sep) + os.sep
        self.read: dict[str, None] = {}  # in the order they were opened
        self.written: set[str] = set()
        self.connected: dict[str, None] = {}

    def is_code(self, path: str) -> bool:
        return path.startswith(self.code_root) and (path.endswith((".py", ".pyc")) or "__pycache__" in path)

    def on_open(self, args: tuple[Any, ...]) -> None:
        path, mode, flags = args[:3]
        if isinstance(path, int) or (isinstance(flags, int) and flags & _SKIP_FLAGS):
            return
        path = os.path.abspath(os.fsdecode(path))
        if path.startswith(self.excluded) or self.is_code(path):
            return
        writing = flags & _WRITE_FLAGS if isinstance(flags, int) else any(c in (mode or "") for c in "wax+")
        if writing:
            self.written.add(path)
            self.read.pop(path, None)  # a file the step writes is its own, whatever it held before
        elif path not in self.read and path not in self.written and made_by_step(through=WATCHERS):
            self.read[path] = None

    def on_connect(self, args: tuple[Any, ...]) -> None:
        sock, address = args[:2]
        if made_by_step(through=WATCHERS):
            self.connected[_address(sock, address)] = None

    def file_answers(self) -> list[list[Any]]:
        """``[path, size, mtime_ns, content hash]`` of each file read (``[path, None, None, None]`` if missing)."""
        answers, budget = [], HASH_BUDGET
        for path in self.read:
            if path not in self.written:
                answers.append(describe_file(path, budget))
                budget -= answers[-1][1] if answers[-1][3] else 0
        return answers


def describe_file(path: str, budget: int = HASH_LIMIT) -> list[Any]:
    """What identifies a file's content now: its size, modification time and hash (None for a file larger than
    :data:`HASH_LIMIT` or ``budget``); a missing file (or a folder) is ``[path, None, None, None]``."""
    try:
        info = os.stat(path)
    except OSError:
        return [path, None, None, None]
    if not stat.S_ISREG(info.st_mode):
        return [path, None, None, None]
    digest = None
    if info.st_size <= min(HASH_LIMIT, budget):
        try:
            with open(path, "rb") as f:
                digest = hash_chunks(iter(lambda: f.read(1024 * 1024), b""))
        except OSError:
            return [path, None, None, None]
    return [path, info.st_size, info.st_mtime_ns, digest]


def _address(sock: Any, address: Any) -> str:
    family = getattr(sock, "family", None)
    if family == socket.AF_UNIX or isinstance(address, (str, bytes)):
        return f"unix:{os.fsdecode(address) if isinstance(address, bytes) else address}"
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return repr(address)


_watch: list[FileWatch] = []
_hooked: list[bool] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _watch:
        return
    try:
        if event == "open":
            _watch[-1].on_open(args)
        elif event == "socket.connect" or event == "socket.sendto":
            _watch[-1].on_connect(args)
    except Exception:
        pass


def watch_files(watch: FileWatch | None) -> None:
    """Send the process's opens and connections to ``watch`` (None: to nothing)."""
    if not _hooked:
        sys.addaudithook(_audit)
        _hooked.append(True)
    _watch[:] = [watch] if watch is not None else []
