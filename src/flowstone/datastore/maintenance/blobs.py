"""The blob folder, listed and checked: which objects are blobs (and which are marks or strays), and each blob
re-hashed, concurrently, in batches of bounded size (remote backends fetch a batch's blobs at once; on local
disk, large blobs are memory-mapped and hashed by several threads)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from flowstone.datastore import layout
from flowstone.datastore.content_addressed import ContentAddressedStore
from flowstone.datastore.hashing import is_valid_key
from flowstone.errors import IntegrityError
from flowstone.storage.base import ObjectInfo, Storage

__all__ = ["DataFolder", "default_jobs", "list_data", "verify_blobs"]

MARK_DIRS = (layout.DAMAGED_DIR, layout.CLAIMS_DIR, layout.DELETING_DIR)
#: Blobs checked together: at most this many, of at most this many bytes (one larger blob goes alone).
BATCH_COUNT = 64
BATCH_BYTES = 64 << 20


@dataclass
class DataFolder:
    """What ``data/`` holds."""

    blobs: dict[str, ObjectInfo] = field(default_factory=dict)  # blob key -> its object
    marks: dict[str, dict[str, ObjectInfo]] = field(default_factory=dict)  # mark dir -> blob key -> the mark
    strays: list[ObjectInfo] = field(default_factory=list)  # objects that are neither blobs nor marks
    unfinished: list[ObjectInfo] = field(default_factory=list)  # anywhere: leftovers of writes killed half-way


def default_jobs(storage: Storage) -> int:
    """Concurrent checks: one per core on memory-mapped storage, more for remote stores (requests wait)."""
    return max(2, os.cpu_count() or 2) if storage.maps_files else 16


def list_data(storage: Storage, jobs: int) -> DataFolder:
    """List ``data/``: its folders are listed concurrently."""
    folder = DataFolder(marks={name: {} for name in MARK_DIRS})
    children = storage.list_content(layout.BLOB_PREFIX)
    folder.strays.extend(info for info in storage.info_many([e.key for e in children if e.is_file]) if info)
    prefixes = [e.key for e in children if not e.is_file]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        listings = pool.map(lambda prefix: (prefix, list(storage.list_tree(prefix))), prefixes)
        for prefix, infos in listings:
            _sort_into(folder, prefix.rsplit("/", 1)[-1], infos)
    folder.unfinished = list(storage.list_unfinished(""))
    return folder


def _sort_into(folder: DataFolder, name: str, infos: list[ObjectInfo]) -> None:
    for info in infos:
        parts = info.key.split("/")
        key = parts[-1]
        if name in folder.marks and len(parts) == 3 and is_valid_key(key):
            folder.marks[name][key] = info
        elif len(parts) == 3 and is_valid_key(key) and key[:2] == name:
            folder.blobs[key] = info
        else:
            folder.strays.append(info)


def verify_blobs(ca_store: ContentAddressedStore, blobs: Iterable[ObjectInfo], jobs: int,
                 done: Callable[[ObjectInfo, str | None], None]) -> None:  # fmt: skip
    """Re-hash each blob; ``done(blob, error)`` is called for each (error: why it is damaged, or None)."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        pending: set[Future[list[tuple[ObjectInfo, str | None]]]] = set()
        for batch in _batches(blobs):
            if len(pending) >= 2 * jobs:  # bounded memory: at most this many batches read at once
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                _report(finished, done)
            pending.add(pool.submit(_verify_batch, ca_store, batch))
        _report(set(pending), done)


def _report(finished: set[Future[list[tuple[ObjectInfo, str | None]]]],
            done: Callable[[ObjectInfo, str | None], None]) -> None:  # fmt: skip
    for future in finished:
        for info, error in future.result():
            done(info, error)


def _batches(blobs: Iterable[ObjectInfo]) -> Iterator[list[ObjectInfo]]:
    batch: list[ObjectInfo] = []
    size = 0
    for info in blobs:
        if batch and (len(batch) >= BATCH_COUNT or size + info.size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(info)
        size += info.size
    if batch:
        yield batch


def _verify_batch(ca_store: ContentAddressedStore, batch: list[ObjectInfo]) -> list[tuple[ObjectInfo, str | None]]:
    results: list[tuple[ObjectInfo, str | None]] = []
    infos = {info.key: info for info in batch}
    for path, stored in ca_store.storage.load_bytes(list(infos)):
        info = infos[path]
        if stored is None:
            continue  # deleted since it was listed
        try:
            ca_store.verified(path.rsplit("/", 1)[-1], stored, path)
            results.append((info, None))
        except IntegrityError as exc:
            results.append((info, str(exc)))
        del stored
    return results
