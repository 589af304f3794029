"""What a datastore holds, read the way fsck and gc need it: the flows, each run's objects (one recursive listing
per run), the records (read in batches, verified) and what they refer to.

References: a run record refers to its code package and its included files; a task attempt's records (DONE,
data.json while it runs, metadata.json) to the blobs of its artifacts, its run's code package, the sources of
its cache key (``why`` shows their diffs) and its cards; a cache entry to a task. A record that cannot be read
is reported, and the blob keys still legible in its bytes count as its references, so gc never deletes what it
may need.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from flowstone.datastore import layout
from flowstone.datastore.hashing import is_valid_key
from flowstone.datastore.records import load_record
from flowstone.errors import IntegrityError
from flowstone.storage.base import ObjectInfo, Storage

__all__ = [
    "NOT_FLOWS",
    "Record",
    "RunObjects",
    "blob_references",
    "cache_entries",
    "flow_names",
    "list_run",
    "list_runs",
    "read_records",
    "run_ids",
]

#: Folders at the root of a datastore that are not flows: the blobs, and the S3 client's objects of runs
#: (``S3(run=self)``, under ``<root>/userdata`` unless configured elsewhere).
NOT_FLOWS = frozenset({layout.BLOB_PREFIX, "userdata"})
#: The metadata entry of a task attempt that lists its cards (``flowstone.cards.storage.CARDS_METADATA``; the
#: cards layer sits above this one).
CARDS_METADATA = "cards"
#: Records that refer to blobs.
REFERRING_KINDS = frozenset({"run", "done", "data", "metadata"})
_KEY_IN_BYTES = re.compile(rb"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")


class RunObjects(NamedTuple):
    """One run's folder: every object in it, with its kind (see ``layout.run_object_kind``)."""

    flow: str
    run_id: str
    objects: list[tuple[ObjectInfo, str | None]]

    @property
    def prefix(self) -> str:
        return layout.run_prefix(self.flow, self.run_id)

    @property
    def has_record(self) -> bool:
        """Whether its run record exists (a folder without one is what an interrupted removal left)."""
        return any(kind == "run" for _, kind in self.objects)

    def keys(self, kinds: Iterable[str]) -> list[str]:
        wanted = set(kinds)
        return [info.key for info, kind in self.objects if kind in wanted]

    @property
    def size(self) -> int:
        return sum(info.size for info, _ in self.objects)


class Record(NamedTuple):
    """A record read from storage: its value, or the error that made it unreadable (then ``value`` is None)."""

    key: str
    kind: str
    value: Any
    error: str | None
    raw: bytes


def flow_names(storage: Storage) -> list[str]:
    """The flows of the datastore: the folders at its root, less the blobs and other non-flows."""
    return [e.name for e in storage.list_content("")
            if not e.is_file and e.name not in NOT_FLOWS and not e.name.startswith((".", "_"))]  # fmt: skip


def run_ids(storage: Storage, flow: str) -> list[str]:
    """The run folders of a flow, oldest first (names starting with '_' hold flow-wide records)."""
    names = [e.name for e in storage.list_content(flow) if not e.is_file and not e.name.startswith("_")]
    return sorted(names, key=lambda name: (int(name), name) if name.isdigit() else (-1, name))


def list_run(storage: Storage, flow: str, run_id: str) -> RunObjects:
    prefix = layout.run_prefix(flow, run_id)
    objects = [(info, layout.run_object_kind(info.key[len(prefix) + 1 :])) for info in storage.list_tree(prefix)]
    return RunObjects(flow, run_id, objects)


def list_runs(storage: Storage, flow: str, ids: list[str], jobs: int) -> Iterator[RunObjects]:
    """``list_run`` of each run, in order, ``jobs`` listings at once (remote stores answer each in a round trip)."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(lambda run_id: list_run(storage, flow, run_id), ids)


def cache_entries(storage: Storage, flow: str) -> list[ObjectInfo]:
    return [info for info in storage.list_tree(layout.cache_prefix(flow)) if info.key.endswith(".json")]


def read_records(storage: Storage, keyed: Iterable[tuple[str, str]]) -> Iterator[Record]:
    """Read and verify each ``(key, kind)`` record, in batches (remote backends fetch a batch concurrently).
    A record gone since it was listed is skipped."""
    pending = list(keyed)
    kinds = dict(pending)
    for key, data in storage.load_bytes([key for key, _ in pending]):
        if data is None:
            continue
        raw = bytes(data)
        try:
            yield Record(key, kinds[key], load_record(raw, key), None, raw)
        except IntegrityError as exc:
            yield Record(key, kinds[key], None, str(exc), raw)


def blob_references(record: Record) -> set[str]:
    """The blob keys a record refers to (for an unreadable record: every key legible in its bytes)."""
    if record.value is None:
        return {match.decode("ascii") for match in _KEY_IN_BYTES.findall(record.raw)}
    value = record.value if isinstance(record.value, dict) else {}
    if record.kind == "run":
        return _run_references(value)
    if record.kind == "done":
        return _artifact_references(value.get("records")) | _metadata_references(value.get("metadata"))
    if record.kind == "data":
        return _artifact_references(value.get("artifacts"))
    if record.kind == "metadata":
        return _metadata_references(value)
    return set()


def _run_references(record: dict[str, Any]) -> set[str]:
    found = {record.get("code_package")}
    for value in (record.get("parameters") or {}).values():
        if isinstance(value, dict) and "included_file" in value:
            found.add(value.get("key"))
    return {key for key in found if isinstance(key, str) and is_valid_key(key)}


def _artifact_references(artifacts: Any) -> set[str]:
    if not isinstance(artifacts, dict):
        return set()
    return {rec["key"] for rec in artifacts.values()
            if isinstance(rec, dict) and rec.get("inline") is None and is_valid_key(str(rec.get("key")))}  # fmt: skip


def _metadata_references(entries: Any) -> set[str]:
    """The code package and the cache key's sources named in a task's metadata entries."""
    if not isinstance(entries, dict):
        return set()

    def value(name: str) -> Any:
        entry = entries.get(name)
        return entry.get("value") if isinstance(entry, dict) else None

    found = [value("code_package")]
    cache = value("cache")
    if isinstance(cache, dict):
        code = (cache.get("components") or {}).get("code") or {}
        found.extend((code.get("sources") or {}).values())
    for card in value(CARDS_METADATA) or []:  # each rendered card (HTML) and its latest data update (JSON)
        if isinstance(card, dict):
            found.extend((card.get("key"), card.get("data_key")))
    return {key for key in found if isinstance(key, str) and is_valid_key(key)}
