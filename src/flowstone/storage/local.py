"""Storage on a local (or network-mounted POSIX) file system.

Writes go to a temporary file in the destination folder, are optionally fsynced, and are renamed into place, so a
reader sees an object whole or not at all, and a process killed mid-write leaves only a ``.tmp-*`` file that no
reader looks at. Large objects are read by memory-mapping them copy-on-write: no copy into the process, yet the
returned buffer is writable (writes stay private to the process).
"""

from __future__ import annotations

import errno
import mmap
import os
import shutil
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from flowstone.errors import StorageError
from flowstone.storage.base import ListEntry, ObjectInfo, Payload, Storage, check_key, iter_chunks

__all__ = ["LocalStorage"]

TMP_PREFIX = ".tmp-"
# Objects at least this large have their writeback started chunk by chunk as they are written, so the final
# fsync finds little left to flush (measured: 1 GiB saved in 0.5 s instead of 1.25 s).
EARLY_WRITEBACK_MIN_BYTES = 64 << 20
# Objects at least this large are memory-mapped on load instead of read into a new buffer.
MMAP_MIN_BYTES = 1 << 20
WRITE_CHUNK = 16 << 20


class LocalStorage(Storage):
    """Bytes by key under a folder; keys map to relative file paths."""

    TYPE = "local"
    maps_files = True

    def __init__(self, root: str, fsync: bool = True) -> None:
        super().__init__(os.path.abspath(os.path.expanduser(root)))
        self.fsync = fsync
        self._made_dirs: set[str] = set()
        self._unsynced_dirs: set[str] = set()  # folders with renames not yet made durable (see sync)

    # -- paths ------------------------------------------------------------------------------------
    def path(self, key: str) -> str:
        return os.path.join(self.root, *[p for p in check_key(key).split("/") if p])

    def _ensure_dir(self, folder: str) -> None:
        if folder not in self._made_dirs:
            os.makedirs(folder, exist_ok=True)
            self._made_dirs.add(folder)

    def _fsync_dir(self, folder: str) -> None:
        try:
            fd = os.open(folder, os.O_RDONLY)
        except FileNotFoundError:  # emptied and removed since: nothing in it to make durable
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _create_temp(self, final_path: str) -> tuple[str, int]:
        """A new temporary file beside ``final_path``: (its path, an open descriptor)."""
        folder = os.path.dirname(final_path)
        tmp = os.path.join(folder, f"{TMP_PREFIX}{os.path.basename(final_path)}-{os.urandom(6).hex()}")
        for _ in range(3):
            self._ensure_dir(folder)
            try:
                return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileNotFoundError:  # the folder was removed as empty (by gc or rm) since this process made it
                self._made_dirs.discard(folder)
        return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)

    def _write_temp(self, final_path: str, payload: Payload, durable: bool = True) -> str:
        tmp, fd = self._create_temp(final_path)
        try:
            written = 0
            for chunk in iter_chunks(payload):
                for start in range(0, chunk.nbytes, WRITE_CHUNK):
                    part = chunk[start : start + WRITE_CHUNK]
                    while part.nbytes:
                        n = os.write(fd, part)
                        part = part[n:]
                        written += n
                    if self.fsync and durable and written >= EARLY_WRITEBACK_MIN_BYTES:
                        _start_writeback(fd, written - WRITE_CHUNK, WRITE_CHUNK)
            if self.fsync and durable:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            _unlink_quietly(tmp)
            raise
        os.close(fd)
        return tmp

    # -- writes -----------------------------------------------------------------------------------
    def save_bytes(
        self, items: Iterable[tuple[str, Payload]], overwrite: bool = True, durable: bool = True
    ) -> list[bool]:
        written = []
        for key, payload in items:
            path = self.path(key)
            if not overwrite and os.path.exists(path):
                written.append(False)
                continue
            try:
                written.append(self._publish(path, payload, overwrite, durable))
            except OSError as exc:
                raise _storage_error("write", path, exc) from exc
        return written

    def _publish(self, path: str, payload: Payload, overwrite: bool, durable: bool = True) -> bool:
        tmp = self._write_temp(path, payload, durable)
        try:
            if overwrite:
                os.replace(tmp, path)
            else:
                try:
                    os.link(tmp, path)  # fails if the path exists: a no-overwrite rename
                except FileExistsError:
                    return False
                finally:
                    _unlink_quietly(tmp)
        except BaseException:
            _unlink_quietly(tmp)
            raise
        if self.fsync and durable:
            self._unsynced_dirs.add(os.path.dirname(path))
        return True

    def sync(self) -> None:
        """fsync the folders that gained entries, so the renames survive a machine crash."""
        while self._unsynced_dirs:
            self._fsync_dir(self._unsynced_dirs.pop())

    def put_if_absent(self, key: str, payload: Payload, durable: bool = True) -> bool:
        path = self.path(key)
        if os.path.exists(path):
            return False
        try:
            return self._publish(path, payload, overwrite=False, durable=durable)
        except OSError as exc:
            raise _storage_error("write", path, exc) from exc

    def delete(self, keys: Iterable[str]) -> None:
        """Remove the files, and the folders they leave empty (a writer recreates a folder it needs)."""
        emptied = set()
        for key in keys:
            path = self.path(key)
            _unlink_quietly(path)
            emptied.add(os.path.dirname(path))
        for folder in sorted(emptied, key=len, reverse=True):
            self._prune(folder)

    def delete_tree(self, prefix: str) -> None:
        folder = self.path(prefix)
        if not prefix.strip("/") or not os.path.isdir(folder):
            return
        shutil.rmtree(folder, ignore_errors=True)  # a writer racing it recreates the folders it needs
        self._made_dirs = {made for made in self._made_dirs if not made.startswith(folder)}
        self._prune(os.path.dirname(folder))

    def _prune(self, folder: str) -> None:
        while folder != self.root and folder.startswith(self.root + os.sep):
            try:
                os.rmdir(folder)
            except OSError:  # not empty (or gone): stop
                return
            self._made_dirs.discard(folder)
            folder = os.path.dirname(folder)

    # -- reads ------------------------------------------------------------------------------------
    def load_bytes(self, keys: Iterable[str]) -> Iterator[tuple[str, memoryview | bytes | None]]:
        for key in keys:
            yield key, self._read(self.path(key))

    def _read(self, path: str) -> memoryview | bytes | None:
        try:
            with open(path, "rb", buffering=0) as f:
                size = os.fstat(f.fileno()).st_size
                if size < MMAP_MIN_BYTES:
                    return f.read()
                return memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _storage_error("read", path, exc) from exc

    def info(self, key: str) -> ObjectInfo | None:
        try:
            st = os.stat(self.path(key))
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return None
        return ObjectInfo(key=key, size=st.st_size, modified=st.st_mtime)

    def list_content(self, prefix: str) -> list[ListEntry]:
        prefix = prefix.strip("/")
        folder = self.path(prefix) if prefix else self.root
        try:
            with os.scandir(folder) as it:
                entries = [
                    ListEntry(key=f"{prefix}/{e.name}" if prefix else e.name, is_file=not e.is_dir())
                    for e in it
                    if not e.name.startswith(TMP_PREFIX)
                ]
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(entries, key=lambda e: e.key)

    def list_tree(self, prefix: str) -> Iterator[ObjectInfo]:
        yield from self._walk(prefix.strip("/"), unfinished=False)

    def list_unfinished(self, prefix: str) -> Iterator[ObjectInfo]:
        """The temporary files of writes that never finished (their writer was killed)."""
        yield from self._walk(prefix.strip("/"), unfinished=True)

    def _walk(self, prefix: str, unfinished: bool) -> Iterator[ObjectInfo]:
        """Objects (or temporary files) under ``prefix``, depth first, in key order."""
        folder = self.path(prefix) if prefix else self.root
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            key = f"{prefix}/{entry.name}" if prefix else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    yield from self._walk(key, unfinished)
                elif entry.name.startswith(TMP_PREFIX) == unfinished:
                    st = entry.stat()
                    yield ObjectInfo(key=key, size=st.st_size, modified=st.st_mtime)
            except FileNotFoundError:
                continue  # removed while listed


_sync_file_range: Any = None


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a range to disk now, without waiting (Linux; elsewhere a no-op)."""
    global _sync_file_range
    if _sync_file_range is None:
        _sync_file_range = False
        if sys.platform.startswith("linux"):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if hasattr(libc, "sync_file_range"):
                _sync_file_range = libc.sync_file_range
                _sync_file_range.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
    if _sync_file_range:
        _sync_file_range(fd, max(offset, 0), length, _SYNC_FILE_RANGE_WRITE)


_SYNC_FILE_RANGE_WRITE = 2


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _storage_error(action: str, path: str, exc: OSError) -> StorageError:
    hint = {
        errno.ENOSPC: "The disk is full; free space or point the datastore elsewhere.",
        errno.EACCES: "Permission denied; check the datastore folder's permissions.",
        errno.EROFS: "The file system is read-only; point the datastore at a writable folder.",
    }.get(exc.errno or 0, "Check that the datastore folder exists and is accessible.")
    return StorageError(f"Could not {action} '{path}': {exc.strerror or exc}. {hint}")
