"""The storage interface: bytes by key, nothing more.

A key is a '/'-separated path relative to the storage root (``"data/ab/abcd..."``). Storage knows nothing of
flows, runs or artifacts. Every backend passes the conformance suite in ``tests/storage/conformance.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, NamedTuple

from flowstone.errors import StorageError

__all__ = [
    "ListEntry",
    "ObjectInfo",
    "Payload",
    "Storage",
    "batches",
    "byte_view",
    "check_key",
    "iter_chunks",
]

#: What can be saved: anything exposing the buffer protocol, or an iterable of such chunks (written in order).
Payload = bytes | bytearray | memoryview | Iterable[Any]


def byte_view(obj: Any) -> memoryview:
    """A flat, unsigned-byte memoryview of any C-contiguous buffer, without copying."""
    view = memoryview(obj)
    return view if (view.format == "B" and view.ndim == 1) else view.cast("B")


def iter_chunks(payload: Payload) -> Iterator[memoryview]:
    """Yield the payload as a sequence of byte memoryviews, without copying."""
    try:
        view = byte_view(payload)
    except TypeError:
        for chunk in payload:
            yield byte_view(chunk)
        return
    yield view


def batches(items: Iterable[str], size: int) -> Iterator[list[str]]:
    """``items`` in lists of ``size`` (the last may be shorter), for backends that fetch a batch at once."""
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid relative key, else raise :class:`StorageError`."""
    parts = key.split("/")
    if key.startswith("/") or "\\" in key or any(p in ("..", ".") for p in parts):
        raise StorageError(f"Invalid storage key '{key}': keys are relative paths without '.' or '..'.")
    return key


class ObjectInfo(NamedTuple):
    """What storage knows of one stored object."""

    key: str
    size: int
    modified: float  # seconds since the epoch


class ListEntry(NamedTuple):
    """One child of a listed prefix: a stored object (``is_file``) or a deeper prefix."""

    key: str
    is_file: bool

    @property
    def name(self) -> str:
        return self.key.rstrip("/").rsplit("/", 1)[-1]


class Storage(ABC):
    """Bytes by key. Writes are atomic: an object is visible whole or not at all."""

    TYPE: ClassVar[str]
    #: ``load_bytes`` may return views of memory-mapped files (cheap for large objects).
    maps_files: ClassVar[bool] = False

    def __init__(self, root: str) -> None:
        self.root = root

    # -- writes -----------------------------------------------------------------------------------
    @abstractmethod
    def save_bytes(
        self, items: Iterable[tuple[str, Payload]], overwrite: bool = True, durable: bool = True
    ) -> list[bool]:
        """Store each ``(key, payload)``; return, per item, whether it was written.

        With ``overwrite=False`` an existing object is left untouched (and reported as not written). Every write
        is atomic; ``durable=False`` skips making it survive a machine crash (for records that are either
        rewritten later or covered by a durable one).
        """

    @abstractmethod
    def put_if_absent(self, key: str, payload: Payload, durable: bool = True) -> bool:
        """Atomically create ``key`` only if it does not exist; True if this call created it.

        Of several concurrent callers for one key, exactly one gets True.
        """

    @abstractmethod
    def delete(self, keys: Iterable[str]) -> None:
        """Remove the given objects; missing ones are ignored."""

    def delete_tree(self, prefix: str) -> None:
        """Remove every object under ``prefix`` (and, on local disk, its folders and unfinished writes)."""
        self.delete([info.key for info in self.list_tree(prefix)])

    # -- reads ------------------------------------------------------------------------------------
    @abstractmethod
    def load_bytes(self, keys: Iterable[str]) -> Iterator[tuple[str, memoryview | bytes | None]]:
        """Yield ``(key, data)`` for each key, in order; ``data`` is None for a missing object."""

    @abstractmethod
    def info(self, key: str) -> ObjectInfo | None:
        """Size and modification time of ``key``, or None if it does not exist."""

    @abstractmethod
    def list_content(self, prefix: str) -> list[ListEntry]:
        """The direct children of ``prefix`` (one level, no recursion), sorted by key."""

    def list_tree(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object under ``prefix``, at any depth, with its size and modification time, in key order.

        The default walks ``list_content`` folder by folder; remote backends list the tree in pages instead.
        """
        entries = self.list_content(prefix)
        files = [entry.key for entry in entries if entry.is_file]
        found = {info.key: info for info in self.info_many(files) if info is not None}
        for entry in entries:
            if entry.is_file:
                if entry.key in found:  # deleted since it was listed: skipped
                    yield found[entry.key]
            else:
                yield from self.list_tree(entry.key)

    def list_unfinished(self, prefix: str) -> Iterator[ObjectInfo]:
        """Leftovers of writes that never finished (a writer killed half-way) under ``prefix``, at any depth.

        Readers never see them. The default yields none: remote backends keep unfinished uploads out of sight and
        expire them themselves (see docs/datastore.md); on local disk they are temporary files.
        """
        return iter(())

    # -- conveniences written once on top of the primitives ----------------------------------------
    def exists(self, key: str) -> bool:
        return self.info(key) is not None

    def info_many(self, keys: Iterable[str]) -> list[ObjectInfo | None]:
        """``info`` of each key, in order (remote backends answer a batch at once)."""
        return [self.info(key) for key in keys]

    def load_one(self, key: str) -> memoryview | bytes | None:
        for _, data in self.load_bytes([key]):
            return data
        return None

    def save_one(self, key: str, payload: Payload, overwrite: bool = True, durable: bool = True) -> bool:
        return self.save_bytes([(key, payload)], overwrite=overwrite, durable=durable)[0]

    def describe(self, key: str = "") -> str:
        """A human-readable location for ``key`` (used in error messages)."""
        return f"{self.root.rstrip('/')}/{key}" if key else self.root

    def sync(self) -> None:  # noqa: B027 - optional hook
        """Make every write made so far durable. Writes are atomic at once; durability across a machine crash
        may be deferred to this call (a task's DONE marker is written only after it)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections or pools; the default holds none."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.root!r})"
