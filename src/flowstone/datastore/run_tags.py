"""A run's user tags: the tags it started with, then a log of changes.

Changing tags never rewrites a shared record. Each change (tags to remove, then tags to add) is a new object,
created with put-if-absent under the next number, so of two processes changing one run's tags at once each gets
its own number and neither change is lost, on every backend (local disk, S3, Azure). A number is only ever tried
after the one before it was seen, so the numbers have no gaps. The tags are the starting tags with every change
applied in number order. Every ``SNAPSHOT_EVERY`` changes, the writer of the last one also stores the result, so
a reader folds at most that many changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from flowstone.datastore import layout
from flowstone.datastore.records import dump_record, load_record
from flowstone.errors import DataException
from flowstone.storage import Storage

__all__ = ["RunTagLog", "TagChange"]

SNAPSHOT_EVERY = 16
#: Each lost race means another writer's change went in; this bounds one writer's tries under extreme contention.
MAX_TRIES = 1000


class TagChange(NamedTuple):
    remove: frozenset[str]
    add: frozenset[str]

    def applied_to(self, tags: frozenset[str]) -> frozenset[str]:
        """Removals first, then additions (a tag both removed and added ends up present)."""
        return (tags - self.remove) | self.add


class _Folded(NamedTuple):
    tags: frozenset[str]
    last: int  # the number of the last change folded in (-1: none)


class RunTagLog:
    """The user tags of one run, stored under ``run_prefix``."""

    def __init__(self, storage: Storage, run_prefix: str) -> None:
        self._storage = storage
        self._prefix = run_prefix
        self._changes: dict[int, TagChange] = {}  # changes are immutable: each is read once

    def save_initial(self, tags: Iterable[str]) -> None:
        self._storage.save_one(f"{self._prefix}/{layout.RUN_TAGS}", dump_record(sorted(set(tags))))

    def current(self) -> frozenset[str]:
        """The run's user tags now."""
        return self._fold().tags

    def change(self, remove: Iterable[str], add: Iterable[str]) -> frozenset[str]:
        """Apply one change atomically; return the tags as they are right after it."""
        change = TagChange(frozenset(remove), frozenset(add))
        payload = dump_record({"remove": sorted(change.remove), "add": sorted(change.add)})
        for _ in range(MAX_TRIES):
            folded = self._fold()
            number = folded.last + 1
            if self._storage.put_if_absent(layout.tag_change_key(self._prefix, number), payload):
                result = change.applied_to(folded.tags)
                if (number + 1) % SNAPSHOT_EVERY == 0:
                    snapshot = layout.tag_snapshot_key(self._prefix, number)
                    self._storage.put_if_absent(snapshot, dump_record(sorted(result)))
                return result
        raise DataException(f"The tags of run {self._prefix} changed too often to apply a change; try again.")

    def _fold(self) -> _Folded:
        numbers: list[int] = []
        snapshot = -1
        for entry in self._storage.list_content(f"{self._prefix}/{layout.RUN_TAG_CHANGES}"):
            parsed = layout.tag_change_number(entry.name) if entry.is_file else None
            if parsed is not None:
                number, is_snapshot = parsed
                if is_snapshot:
                    snapshot = max(snapshot, number)
                else:
                    numbers.append(number)
        tags = self._snapshot(snapshot) if snapshot >= 0 else self._initial()
        pending = sorted(n for n in numbers if n > snapshot)
        self._load_changes([n for n in pending if n not in self._changes])
        for number in pending:
            tags = self._changes[number].applied_to(tags)
        return _Folded(tags, max([snapshot, *pending]))

    def _load_changes(self, numbers: list[int]) -> None:
        keys = [layout.tag_change_key(self._prefix, n) for n in numbers]
        for number, (key, data) in zip(numbers, self._storage.load_bytes(keys), strict=True):
            if data is None:
                raise DataException(f"Tag change {key} was listed but cannot be read; the datastore may be damaged.")
            record = load_record(data, key)
            self._changes[number] = TagChange(frozenset(record["remove"]), frozenset(record["add"]))

    def _snapshot(self, number: int) -> frozenset[str]:
        key = layout.tag_snapshot_key(self._prefix, number)
        data = self._storage.load_one(key)
        if data is None:
            raise DataException(f"Tag snapshot {key} was listed but cannot be read; the datastore may be damaged.")
        return frozenset(load_record(data, key))

    def _initial(self) -> frozenset[str]:
        key = f"{self._prefix}/{layout.RUN_TAGS}"
        data = self._storage.load_one(key)
        return frozenset() if data is None else frozenset(load_record(data, key))
