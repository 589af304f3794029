"""Where downloaded bytes go: memory (one buffer per object) or a local file (written at offsets, part by part).

A sink learns the length of what it will receive from the first response, then takes writes at offsets, in any
order, from parts downloaded in parallel. Writing again at an offset (a retried part) is harmless.
"""

from __future__ import annotations

import contextlib
import os
from typing import Protocol

__all__ = ["FileSink", "MemorySink", "Sink"]


class Sink(Protocol):
    #: Whether parts should be streamed in chunks (bounded memory) rather than collected whole.
    streams: bool

    def prepare(self, length: int) -> None: ...
    def write(self, offset: int, data: memoryview | bytes) -> None: ...
    def finish(self) -> memoryview | None: ...
    def abort(self) -> None: ...


class MemorySink:
    """Collects an object in memory; a single-part object keeps the buffer it arrived in (no copy)."""

    streams = False

    def __init__(self) -> None:
        self._length = 0
        self._whole: memoryview | None = None
        self._buffer: bytearray | None = None

    def prepare(self, length: int) -> None:
        self._length, self._whole, self._buffer = length, None, None

    def write(self, offset: int, data: memoryview | bytes) -> None:
        view = memoryview(data)
        if offset == 0 and view.nbytes == self._length:
            self._whole = view
            return
        if self._buffer is None:
            self._buffer = bytearray(self._length)
        self._buffer[offset : offset + view.nbytes] = view

    def finish(self) -> memoryview:
        if self._whole is not None:
            return self._whole
        return memoryview(self._buffer if self._buffer is not None else b"")

    def abort(self) -> None:
        self._whole = self._buffer = None


class FileSink:
    """Writes an object into a local file at ``path`` (removed on failure).

    The file is created by the first write (or, for an empty object, at the end), not when the answer's headers
    arrive: creating a file is the slowest step of a small download, and the request for the body is under way
    meanwhile.
    """

    streams = True

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path
        self._fd: int | None = None

    def prepare(self, length: int) -> None:
        if self._fd is not None:  # a retried first response: start over (the writes cover the whole length)
            os.ftruncate(self._fd, length)

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        return self._fd

    def write(self, offset: int, data: memoryview | bytes) -> None:
        fd, view = self._open(), memoryview(data)
        while view.nbytes:
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written

    def finish(self) -> None:
        os.close(self._open())
        self._fd = None

    def abort(self) -> None:
        if self._fd is not None:  # only a file this sink made is removed
            os.close(self._fd)
            self._fd = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
