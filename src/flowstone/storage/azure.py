"""The Azure Blob Storage backend: blobs under ``azure://container/prefix``, through the official SDK.

Azure gives what the datastore needs. A Put Blob, and the commit of a block list, is atomic and durable when it
returns, so ``sync`` has nothing to do. Both take conditional headers: with ``If-None-Match: *`` a blob is created
only if its name is free, so of racing writers exactly one wins, whatever the blob's size. Large blobs go up as
staged blocks (sent concurrently, with bounded memory) and become visible only when their block list is committed:
an upload killed half-way leaves nothing visible.

Configuration and credentials: :mod:`flowstone.storage._azure_config`; requests and errors:
:mod:`flowstone.storage._azure_client`; the SDK's clients and retry policy: :mod:`flowstone.storage._azure_sdk`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from typing import Any

from flowstone.errors import StorageError
from flowstone.settings import Settings
from flowstone.storage._azure_client import AzureTransport
from flowstone.storage._azure_config import AzureConfig
from flowstone.storage.base import ListEntry, ObjectInfo, Payload, Storage, batches, check_key, iter_chunks

__all__ = ["AzureStorage"]

#: Keys fetched per batch by load_bytes: enough to keep the connections busy, few enough to bound memory.
LOAD_BATCH = 128
#: Small blobs are sent in batches of at most this many bytes joined from chunks (bounding the copies held).
SMALL_BATCH_BYTES = 64 << 20
_CONTAINER = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


class AzureStorage(Storage):
    """Bytes by key in an Azure Blob Storage container (or the Azurite emulator)."""

    TYPE = "azure"

    def __init__(self, root: str, settings: Settings, config: AzureConfig | None = None) -> None:
        container, prefix = parse_root(root)
        self.container = container
        self.prefix = prefix
        super().__init__(f"azure://{container}/{prefix}" if prefix else f"azure://{container}")
        self.settings = settings
        self._config = config  # None: built from the settings and the environment on first use
        self._transport: AzureTransport | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # clients, connections and the I/O thread stay behind: the receiving process opens its own on first use
        return AzureStorage, (self.root, self.settings, self._config)

    @property
    def transport(self) -> AzureTransport:
        if self._transport is None:
            config = self._config or AzureConfig.from_settings(self.settings)
            self._transport = AzureTransport(config, self.container)
        return self._transport

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _relative(self, name: str) -> str:
        return name[len(self.prefix) + 1 :] if self.prefix else name

    # -- writes -----------------------------------------------------------------------------------
    def save_bytes(
        self, items: Iterable[tuple[str, Payload]], overwrite: bool = True, durable: bool = True
    ) -> list[bool]:
        """Small payloads go up in concurrent batches of single Put Blobs; each large one as staged blocks,
        read from its chunks as they are sent (a generator payload is never held whole)."""
        limit = self.transport.config.single_put_max
        written: list[bool] = []
        batch: list[tuple[int, str, bytes]] = []
        batch_bytes = 0
        for key, payload in items:
            name = self._name(key)
            head, rest = _take(iter_chunks(payload), limit)
            if rest is not None:
                written.append(self.transport.put_blocks(name, chain(head, rest), if_absent=not overwrite))
                continue
            data = _joined(head)
            batch.append((len(written), name, data))
            written.append(False)
            batch_bytes += len(data)
            if batch_bytes >= SMALL_BATCH_BYTES:
                self._send(batch, written, overwrite)
                batch, batch_bytes = [], 0
        self._send(batch, written, overwrite)
        return written

    def _send(self, batch: list[tuple[int, str, bytes]], written: list[bool], overwrite: bool) -> None:
        results = self.transport.put_many([(name, data) for _, name, data in batch], if_absent=not overwrite)
        for (index, _, _), ok in zip(batch, results, strict=True):
            written[index] = ok

    def put_if_absent(self, key: str, payload: Payload, durable: bool = True) -> bool:
        return self.save_bytes([(key, payload)], overwrite=False)[0]

    def delete(self, keys: Iterable[str]) -> None:
        self.transport.delete_many([self._name(key) for key in keys])

    # -- reads ------------------------------------------------------------------------------------
    def load_bytes(self, keys: Iterable[str]) -> Iterator[tuple[str, memoryview | bytes | None]]:
        for batch in batches(keys, LOAD_BATCH):
            yield from self._load_batch(batch)

    def _load_batch(self, keys: Sequence[str]) -> Iterator[tuple[str, memoryview | bytes | None]]:
        loaded = self.transport.get_many([self._name(key) for key in keys])
        yield from zip(keys, loaded, strict=True)

    def info(self, key: str) -> ObjectInfo | None:
        return self.info_many([key])[0]

    def info_many(self, keys: Iterable[str]) -> list[ObjectInfo | None]:
        keys = list(keys)
        found = self.transport.head_many([self._name(key) for key in keys])
        return [None if f is None else ObjectInfo(k, f.size, f.modified) for k, f in zip(keys, found, strict=True)]

    def list_content(self, prefix: str) -> list[ListEntry]:
        prefix = prefix.strip("/")
        if prefix:
            check_key(prefix)
        full = "/".join(part for part in (self.prefix, prefix) if part)
        blobs, prefixes = self.transport.list_one_level(f"{full}/" if full else "")
        children = {self._relative(p.rstrip("/")): False for p in prefixes}
        children.update({self._relative(name): True for name in blobs})  # a name both blob and prefix: blob
        return [ListEntry(key, is_file) for key, is_file in sorted(children.items())]

    def list_tree(self, prefix: str) -> Iterator[ObjectInfo]:
        prefix = prefix.strip("/")
        if prefix:
            check_key(prefix)
        full = "/".join(part for part in (self.prefix, prefix) if part)
        for name, info in self.transport.list_tree(f"{full}/" if full else ""):
            yield ObjectInfo(self._relative(name), info.size, info.modified)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


def parse_root(root: str) -> tuple[str, str]:
    """``(container, prefix)`` of ``azure://container/prefix`` (or Metaflow's ``container/prefix``)."""
    rest = root[len("azure://") :] if root.startswith("azure://") else root
    container, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    if ("://" in root and not root.startswith("azure://")) or not _CONTAINER.match(container):
        raise StorageError(
            f"The Azure datastore root must look like azure://container/prefix, not '{root}'. A container name "
            f"has 3 to 63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit."
        )
    if prefix:
        check_key(prefix)
    return container, prefix


def _take(chunks: Iterator[memoryview], limit: int) -> tuple[list[memoryview], Iterator[memoryview] | None]:
    """The first chunks, until they hold more than ``limit`` bytes; and the iterator of the rest, or None if the
    first chunks are all there is (the payload is small)."""
    head: list[memoryview] = []
    total = 0
    for chunk in chunks:
        head.append(chunk)
        total += chunk.nbytes
        if total > limit:
            return head, chunks
    return head, None


def _joined(chunks: list[memoryview]) -> bytes:
    """The chunks as one ``bytes`` (the SDK's Put Blob needs it), without a copy when it is one whole bytes."""
    if len(chunks) == 1 and isinstance(chunks[0].obj, bytes) and chunks[0].nbytes == len(chunks[0].obj):
        return chunks[0].obj
    return b"".join(chunks)
