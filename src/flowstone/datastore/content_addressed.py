"""The content-addressed store: blobs keyed by the BLAKE3 hash of their content.

One store serves every flow of a datastore, so equal content is kept once across tasks, runs and flows. A blob
is written with put-if-absent and never rewritten; every read re-hashes what it got and raises
:class:`IntegrityError` naming the key if it does not match.

Damage heals: a write that finds its blob already stored verifies the stored copy, and replaces it (atomically)
when it is truncated or does not match its hash; so running the task that produced it again repairs the store
and every run that refers to the blob reads again. A read that finds a blob damaged (twice, to rule out a bad
read) leaves a mark beside it (``data/_damaged/<key>``): the cross-run cache and resume do not reuse a task that
needs a marked blob, so the next plain run produces it again, and that write heals the blob and lifts the mark.

A blob found stored long ago is claimed before the caller comes to refer to it, so that a ``flowstone gc`` running
meanwhile does not delete it (:mod:`flowstone.datastore.blob_claims`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from flowstone.datastore import blob_format, layout
from flowstone.datastore.blob_claims import BlobClaims
from flowstone.datastore.hashing import hash_chunks, is_valid_key
from flowstone.errors import DataException, IntegrityError
from flowstone.storage.base import Payload, Storage, iter_chunks

__all__ = ["BLOB_PREFIX", "ContentAddressedStore", "StoredBlob"]

BLOB_PREFIX = layout.BLOB_PREFIX
#: Existing blobs up to this size are read and verified when written again (larger remote ones: by size).
VERIFY_READ_MAX = 64 << 20


class StoredBlob(NamedTuple):
    """The outcome of saving one blob."""

    key: str
    size: int  # content bytes, before encoding
    encoding: str  # 'raw' or 'zstd'
    written: bool  # False when an equal blob was already stored


class ContentAddressedStore:
    """Save and load blobs by content hash over any :class:`Storage`."""

    def __init__(self, storage: Storage, prefix: str = BLOB_PREFIX, compress_ratio_threshold: float = 0.5,
                 claim_after: float = 600.0) -> None:  # fmt: skip
        self.storage = storage
        self.prefix = prefix.strip("/")
        self.compress_ratio_threshold = compress_ratio_threshold
        self.claims = BlobClaims(storage, self.prefix, claim_after)

    def blob_path(self, key: str) -> str:
        return layout.blob_key(key, self.prefix)

    def damage_mark_path(self, key: str) -> str:
        return layout.blob_mark_key(layout.DAMAGED_DIR, key, self.prefix)

    def damaged(self, keys: Iterable[str]) -> set[str]:
        """The keys among ``keys`` that a read found damaged and no write has healed since."""
        keys = list(dict.fromkeys(keys))
        marks = self.storage.info_many([self.damage_mark_path(k) for k in keys])
        return {key for key, mark in zip(keys, marks, strict=True) if mark is not None}

    def _healed(self, keys: Iterable[str]) -> None:
        self.storage.delete([self.damage_mark_path(k) for k in keys])

    # -- writes -----------------------------------------------------------------------------------
    def put(self, payload: Payload, key: str | None = None, durable: bool = True) -> StoredBlob:
        """Store one blob (a buffer or a sequence of buffers) unless an equal one exists.

        ``key`` may be passed when the caller has already hashed the content. ``durable=False`` is for blobs
        nothing depends on for correctness (a lost one is merely missing after a machine crash).
        """
        chunks = list(iter_chunks(payload))
        total = sum(c.nbytes for c in chunks)
        key = key or hash_chunks(chunks, total)
        path = self.blob_path(key)
        existing = self.storage.info(path)
        encoding = blob_format.choose_encoding(chunks, total, self.compress_ratio_threshold)
        if existing is not None and self._intact(key, path, existing.size, total, encoding):
            if not self.claims.secure({key: existing.modified}):
                return StoredBlob(key, total, blob_format.encoding_of_stored_size(existing.size, total), False)
            existing = None  # deleted by a gc since it was seen: stored again
        encoded = blob_format.encode(chunks, total, encoding)
        if existing is None:
            written = self.storage.put_if_absent(path, encoded, durable=durable)
        else:  # damaged: replaced whole, atomically (a reader sees the old bytes or the new ones)
            written = self.storage.save_one(path, encoded, overwrite=True, durable=durable)
            self._healed([key])
        return StoredBlob(key, total, encoding, written)

    def _intact(self, key: str, path: str, stored_size: int, total: int, encoding: str) -> bool:
        """Whether the stored blob at ``path`` is whole and matches ``key``. It is read and hashed when that is
        cheap (memory-mapped storage, or up to VERIFY_READ_MAX bytes); a larger remote blob is checked by size
        when its expected size is known (stored raw), and otherwise left to reads, which verify it."""
        if not self.storage.maps_files and stored_size > VERIFY_READ_MAX:
            return encoding != "raw" or stored_size == total + blob_format.HEADER_SIZE
        stored = self.storage.load_one(path)
        if stored is None:
            return False
        try:
            self.verified(key, stored, path)
        except IntegrityError:
            return False
        return True

    def put_many(self, payloads: Iterable[Payload]) -> list[StoredBlob]:
        """Store several (small) blobs in two batched storage calls: which exist, then create the others.

        Each blob is encoded in memory whole: for large ones, use :meth:`put`, which streams.
        """
        prepared = []
        for payload in payloads:
            chunks = list(iter_chunks(payload))
            total = sum(c.nbytes for c in chunks)
            prepared.append((hash_chunks(chunks, total), chunks, total))
        paths = [self.blob_path(key) for key, _, _ in prepared]
        existing = dict(zip(paths, self.storage.info_many(paths), strict=True))
        damaged = self._damaged({key: path for (key, _, _), path in zip(prepared, paths, strict=True)
                                 if existing[path] is not None})  # fmt: skip
        kept = {key: info.modified for (key, _, _), path in zip(prepared, paths, strict=True)
                if (info := existing[path]) is not None and path not in damaged}  # fmt: skip
        for key in self.claims.secure(kept):  # deleted by a gc since it was seen: stored again
            existing[self.blob_path(key)] = None
        results: list[StoredBlob] = []
        to_write: dict[str, bytes] = {}
        for (key, chunks, total), path in zip(prepared, paths, strict=True):
            found = existing[path]
            if found is not None and path not in damaged:
                results.append(StoredBlob(key, total, blob_format.encoding_of_stored_size(found.size, total), False))
                continue
            encoding = blob_format.choose_encoding(chunks, total, self.compress_ratio_threshold)
            if path not in to_write:
                to_write[path] = b"".join(blob_format.encode(chunks, total, encoding))
            results.append(StoredBlob(key, total, encoding, True))
        fresh = [(p, data) for p, data in to_write.items() if p not in damaged]
        if fresh:
            self.storage.save_bytes(fresh, overwrite=False)
        if damaged:  # replaced whole, atomically
            self.storage.save_bytes([(p, data) for p, data in to_write.items() if p in damaged], overwrite=True)
            self._healed(p.rsplit("/", 1)[-1] for p in damaged)
        return results

    def _damaged(self, stored: dict[str, str]) -> set[str]:
        """The paths among ``stored`` (key -> path of an existing blob) whose blob is not whole and right."""
        found = set()
        by_path = {path: key for key, path in stored.items()}
        for path, data in self.storage.load_bytes(list(by_path)):
            try:
                if data is None:
                    raise IntegrityError("gone")
                self.verified(by_path[path], data, path)
            except IntegrityError:
                found.add(path)
        return found

    def save_blobs(self, blobs: Iterable[Any], len_hint: int = 0) -> list[str]:
        """Store each blob and return their keys, in order.

        An item is a payload (bytes-like or a sequence of bytes-like chunks) or a ``(label, payload)`` pair.
        ``len_hint`` is accepted for API compatibility; blobs are streamed one at a time either way.
        """
        keys = []
        for item in blobs:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
                item = item[1]
            keys.append(self.put(item).key)
        return keys

    # -- reads ------------------------------------------------------------------------------------
    def load_blobs(self, keys: Iterable[str]) -> Iterator[tuple[str, memoryview]]:
        """Yield ``(key, content)`` for each key, verified against the key."""
        keys = list(keys)
        for key in keys:
            if not is_valid_key(key):
                raise DataException(f"'{key}' is not a blob key (expected 64 hex characters).")
        paths = {self.blob_path(k): k for k in keys}
        for path, stored in self.storage.load_bytes(list(dict.fromkeys(paths))):
            key = paths[path]
            if stored is None:
                raise DataException(
                    f"Blob {key} is missing from {self.storage.describe(path)}. The datastore is incomplete: "
                    f"it may have been partly deleted or copied; re-run the task that produced it."
                )
            yield key, self._checked(key, stored, path)

    def _checked(self, key: str, stored: Any, path: str) -> memoryview:
        """The verified content; a damaged blob is marked (when a second read confirms it) before it raises."""
        try:
            return self.verified(key, stored, path)
        except IntegrityError:
            self._mark_if_damaged(key, path)
            raise

    def _mark_if_damaged(self, key: str, path: str) -> None:
        """Read the blob again; if it is still damaged (not a bad read), mark it so the cache stops reusing it."""
        again = self.storage.load_one(path)
        try:
            if again is not None:
                self.verified(key, again, path)
                return
        except IntegrityError as exc:
            self.storage.save_one(self.damage_mark_path(key), str(exc).encode("utf-8"))

    def load_blob(self, key: str) -> memoryview:
        for _, content in self.load_blobs([key]):
            return content
        raise AssertionError("unreachable")

    def verified(self, key: str, stored: Any, path: str) -> memoryview:
        """The content of a stored blob (as read from ``path``), checked against ``key``; IntegrityError if not."""
        try:
            content, _ = blob_format.decode(stored)
        except blob_format.BlobFormatError as exc:
            raise self._corrupt(key, path, str(exc)) from exc
        if hash_chunks([content], content.nbytes) != key:
            raise self._corrupt(key, path, "its content does not match its hash")
        return content

    def _corrupt(self, key: str, path: str, why: str) -> IntegrityError:
        return IntegrityError(
            f"Blob {key} at {self.storage.describe(path)} is corrupted: {why}. The value was not loaded. "
            f"Run the flow again: the task that produced it runs again (the cache does not reuse it) and its "
            f"write repairs the blob."
        )

    def exists(self, key: str) -> bool:
        return self.storage.exists(self.blob_path(key))
