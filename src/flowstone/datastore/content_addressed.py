"""The content-addressed store: blobs keyed by the BLAKE3 hash of their content.

One store serves every flow of a datastore, so equal content is kept once across tasks, runs and flows. A blob
is written with put-if-absent and never rewritten; every read re-hashes what it got and raises
:class:`DataException` naming the key if it does not match.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from flowstone.datastore import blob_format
from flowstone.datastore.hashing import hash_chunks, is_valid_key
from flowstone.errors import DataException, IntegrityError
from flowstone.storage.base import Payload, Storage, iter_chunks

__all__ = ["BLOB_PREFIX", "ContentAddressedStore", "StoredBlob"]

BLOB_PREFIX = "data"


class StoredBlob(NamedTuple):
    """The outcome of saving one blob."""

    key: str
    size: int  # content bytes, before encoding
    encoding: str  # 'raw' or 'zstd'
    written: bool  # False when an equal blob was already stored


class ContentAddressedStore:
    """Save and load blobs by content hash over any :class:`Storage`."""

    def __init__(self, storage: Storage, prefix: str = BLOB_PREFIX, compress_ratio_threshold: float = 0.5):
        self.storage = storage
        self.prefix = prefix.strip("/")
        self.compress_ratio_threshold = compress_ratio_threshold

    def blob_path(self, key: str) -> str:
        return f"{self.prefix}/{key[:2]}/{key}"

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
        if existing is not None:
            return StoredBlob(key, total, blob_format.encoding_of_stored_size(existing.size, total), False)
        encoding = blob_format.choose_encoding(chunks, total, self.compress_ratio_threshold)
        written = self.storage.put_if_absent(path, blob_format.encode(chunks, total, encoding), durable=durable)
        return StoredBlob(key, total, encoding, written)

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
        results: list[StoredBlob] = []
        to_write: dict[str, bytes] = {}
        for (key, chunks, total), path in zip(prepared, paths, strict=True):
            found = existing[path]
            if found is not None:
                results.append(StoredBlob(key, total, blob_format.encoding_of_stored_size(found.size, total), False))
                continue
            encoding = blob_format.choose_encoding(chunks, total, self.compress_ratio_threshold)
            if path not in to_write:
                to_write[path] = b"".join(blob_format.encode(chunks, total, encoding))
            results.append(StoredBlob(key, total, encoding, True))
        if to_write:
            self.storage.save_bytes(to_write.items(), overwrite=False)
        return results

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
            yield key, self._verified(key, stored, path)

    def load_blob(self, key: str) -> memoryview:
        for _, content in self.load_blobs([key]):
            return content
        raise AssertionError("unreachable")

    def _verified(self, key: str, stored: Any, path: str) -> memoryview:
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
            f"Delete the blob and re-run the task that produced it."
        )

    def exists(self, key: str) -> bool:
        return self.storage.exists(self.blob_path(key))
