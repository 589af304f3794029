"""The S3 storage backend: objects under ``s3://bucket/prefix``, over the batched transport of ``flowstone.s3``.

S3 gives what the datastore needs: a PUT (single or completed multipart) is atomic and durable when it returns,
and a conditional PUT (``If-None-Match: *``) creates a key only if it is free, so of racing writers exactly one
wins (for objects up to ``LARGE_OBJECT``; see ``_create_many``). ``sync`` has nothing to do. Payloads made of
several chunks are uploaded without joining them, so saving an artifact needs no second copy of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from flowstone.errors import StorageError
from flowstone.s3.config import S3Config
from flowstone.s3.errors import S3Exception
from flowstone.s3.locations import parse_url
from flowstone.s3.transport import S3Transport
from flowstone.s3.transport_values import Data
from flowstone.settings import Settings
from flowstone.storage.base import ListEntry, ObjectInfo, Payload, Storage, batches, check_key, iter_chunks

__all__ = ["S3Storage"]

#: Keys fetched per batch by load_bytes: enough to keep the connection pool busy, few enough to bound memory.
LOAD_BATCH = 128
#: Objects larger than this are uploaded as streamed multipart uploads, never joined into one buffer.
LARGE_OBJECT = 64 << 20


class S3Storage(Storage):
    """Bytes by key in an S3 bucket (or any S3-compatible store, via ``FLOWSTONE_S3_ENDPOINT_URL``)."""

    TYPE = "s3"

    def __init__(self, root: str, settings: Settings) -> None:
        try:
            _, bucket, prefix = parse_url(root)
        except S3Exception as exc:
            raise StorageError(f"The S3 datastore root must look like s3://bucket/prefix, not '{root}'.") from exc
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        super().__init__(f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}")
        self.settings = settings
        self._transport: S3Transport | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # connections and the I/O thread stay behind: the receiving process opens its own on first use
        return S3Storage, (self.root, self.settings)

    @property
    def transport(self) -> S3Transport:
        if self._transport is None:
            self._transport = S3Transport(self.bucket, S3Config.from_settings(self.settings))
        return self._transport

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _relative(self, full: str) -> str:
        return full[len(self.prefix) + 1 :] if self.prefix else full

    def _failed(self, action: str, exc: S3Exception) -> StorageError:
        return StorageError(f"Cannot {action} in the S3 datastore {self.root}: {exc}")

    # -- writes -----------------------------------------------------------------------------------
    def save_bytes(
        self, items: Iterable[tuple[str, Payload]], overwrite: bool = True, durable: bool = True
    ) -> list[bool]:
        batch: list[tuple[str, Data]] = [(self._key(key), list(iter_chunks(payload))) for key, payload in items]
        try:
            if overwrite:
                return self.transport.put_many(batch) if batch else []
            return self._create_many(batch)
        except S3Exception as exc:
            raise self._failed("write", exc) from exc

    def _create_many(self, batch: list[tuple[str, Data]]) -> list[bool]:
        """Create each key unless it exists. Small objects: one conditional PUT each (of racing writers exactly
        one wins). Large ones: a conditional PUT would need the whole object in one buffer, so they go up as
        streamed multipart uploads after a HEAD finds the key free; two racing writers may then both write
        (the datastore writes large objects only under content keys, where both write the same bytes)."""
        large = [i for i, (_, data) in enumerate(batch) if _size(data) > LARGE_OBJECT]
        if not large:
            return self.transport.put_many(batch, if_absent=True) if batch else []
        written = [False] * len(batch)
        small = [i for i in range(len(batch)) if i not in set(large)]
        for i, ok in zip(small, self.transport.put_many([batch[i] for i in small], if_absent=True), strict=True):
            written[i] = ok
        present = self.transport.head_many([batch[i][0] for i in large])
        absent = [i for i, info in zip(large, present, strict=True) if info is None]
        self.transport.put_many([batch[i] for i in absent])
        for i in absent:
            written[i] = True
        return written

    def put_if_absent(self, key: str, payload: Payload, durable: bool = True) -> bool:
        return self.save_bytes([(key, payload)], overwrite=False)[0]

    def delete(self, keys: Iterable[str]) -> None:
        full = [self._key(key) for key in keys]
        try:
            self.transport.delete_many(full)
        except S3Exception as exc:
            raise self._failed("delete", exc) from exc

    # -- reads ------------------------------------------------------------------------------------
    def load_bytes(self, keys: Iterable[str]) -> Iterator[tuple[str, memoryview | bytes | None]]:
        for batch in batches(keys, LOAD_BATCH):
            yield from self._load_batch(batch)

    def _load_batch(self, keys: Sequence[str]) -> Iterator[tuple[str, memoryview | bytes | None]]:
        try:
            loaded = self.transport.get_many([self._key(key) for key in keys])
        except S3Exception as exc:
            raise self._failed("read", exc) from exc
        yield from zip(keys, loaded, strict=True)

    def info(self, key: str) -> ObjectInfo | None:
        return self.info_many([key])[0]

    def info_many(self, keys: Iterable[str]) -> list[ObjectInfo | None]:
        keys = list(keys)
        try:
            found = self.transport.head_many([self._key(key) for key in keys])
        except S3Exception as exc:
            raise self._failed("read", exc) from exc
        return [None if f is None else ObjectInfo(k, f.size, f.last_modified) for k, f in zip(keys, found, strict=True)]

    def list_content(self, prefix: str) -> list[ListEntry]:
        prefix = prefix.strip("/")
        full = "/".join(part for part in (self.prefix, prefix) if part)
        try:
            objects, prefixes = self.transport.list_one_level(full)
        except S3Exception as exc:
            raise self._failed("list", exc) from exc
        children = {self._relative(p.rstrip("/")): False for p in prefixes}
        children.update({self._relative(o.key): True for o in objects})  # a name both object and prefix: object
        return [ListEntry(key, is_file) for key, is_file in sorted(children.items())]

    def list_tree(self, prefix: str) -> Iterator[ObjectInfo]:
        prefix = prefix.strip("/")
        full = "/".join(part for part in (self.prefix, prefix) if part)
        try:
            found = self.transport.list_recursive(full)  # pages of 1000 keys
        except S3Exception as exc:
            raise self._failed("list", exc) from exc
        for info in found:
            yield ObjectInfo(self._relative(info.key), info.size, info.last_modified)


def _size(data: Data) -> int:
    return sum(chunk.nbytes for chunk in data) if isinstance(data, list) else memoryview(data).nbytes  # type: ignore[arg-type]
