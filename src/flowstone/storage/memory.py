"""Storage in a dict, for tests and for code above the storage seam that needs no disk."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator

from flowstone.storage.base import ListEntry, ObjectInfo, Payload, Storage, check_key, iter_chunks

__all__ = ["MemoryStorage"]


class MemoryStorage(Storage):
    """Bytes by key in process memory. Thread-safe; objects are copied in, so callers may reuse buffers."""

    TYPE = "memory"

    def __init__(self, root: str = "memory://") -> None:
        super().__init__(root)
        self._objects: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _join(payload: Payload) -> bytes:
        return b"".join(iter_chunks(payload))

    def save_bytes(
        self, items: Iterable[tuple[str, Payload]], overwrite: bool = True, durable: bool = True
    ) -> list[bool]:
        written = []
        for key, payload in items:
            data = self._join(payload)
            check_key(key)
            with self._lock:
                if not overwrite and key in self._objects:
                    written.append(False)
                    continue
                self._objects[key] = (data, time.time())
            written.append(True)
        return written

    def put_if_absent(self, key: str, payload: Payload, durable: bool = True) -> bool:
        return self.save_bytes([(key, payload)], overwrite=False)[0]

    def delete(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._objects.pop(key, None)

    def load_bytes(self, keys: Iterable[str]) -> Iterator[tuple[str, memoryview | bytes | None]]:
        for key in keys:
            with self._lock:
                entry = self._objects.get(key)
            yield key, (entry[0] if entry else None)

    def info(self, key: str) -> ObjectInfo | None:
        with self._lock:
            entry = self._objects.get(key)
        return ObjectInfo(key, len(entry[0]), entry[1]) if entry else None

    def list_content(self, prefix: str) -> list[ListEntry]:
        prefix = prefix.strip("/")
        base = prefix + "/" if prefix else ""
        children: dict[str, bool] = {}
        with self._lock:
            keys = list(self._objects)
        for key in keys:
            if not key.startswith(base):
                continue
            head, sep, _ = key[len(base) :].partition("/")
            child = base + head
            # a name that is both an object and a prefix is reported as an object
            children[child] = children.get(child, False) or not sep
        return [ListEntry(k, is_file) for k, is_file in sorted(children.items())]

    def list_tree(self, prefix: str) -> Iterator[ObjectInfo]:
        base = prefix.strip("/") + "/" if prefix.strip("/") else ""
        with self._lock:
            found = [ObjectInfo(k, len(data), t) for k, (data, t) in self._objects.items() if k.startswith(base)]
        yield from sorted(found, key=lambda info: info.key)

    def set_modified(self, key: str, modified: float) -> None:
        """Change an object's modification time (for tests of what depends on age)."""
        with self._lock:
            self._objects[key] = (self._objects[key][0], modified)

    def corrupt(self, key: str, data: bytes) -> None:
        """Replace an object's bytes behind the datastore's back (for integrity tests)."""
        with self._lock:
            self._objects[key] = (data, time.time())
