"""Which runs a retention rule removes: a run goes only if every rule given lets it go.

- ``keep_last=N``: the N newest runs of each flow stay;
- ``older_than_days=D``: runs started within the last D days stay;
- ``keep_tags``: runs with any of these tags (user or system) stay;
- a run still running always stays.

With neither ``keep_last`` nor ``older_than_days`` no run is removed (gc then only deletes unreferenced blobs).
A run whose record cannot be read counts as started when its id says (ids are start times in microseconds), and
stays if tags protect runs (its tags cannot be known).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, NamedTuple

from flowstone.datastore.flow_datastore import FlowDataStore
from flowstone.datastore.run_status import run_state
from flowstone.errors import IntegrityError

__all__ = ["RetentionRule", "runs_to_remove"]


class RetentionRule(NamedTuple):
    keep_last: int | None = None
    older_than_days: float | None = None
    keep_tags: tuple[str, ...] = ()

    @property
    def removes_runs(self) -> bool:
        return self.keep_last is not None or self.older_than_days is not None


def runs_to_remove(fds: FlowDataStore, run_ids: Iterable[str], rule: RetentionRule,
                   now: float | None = None) -> list[str]:  # fmt: skip
    """The runs of ``fds``'s flow (among ``run_ids``) that ``rule`` removes, oldest first."""
    if not rule.removes_runs:
        return []
    now = time.time() if now is None else now
    newest_first = sorted(run_ids, key=_started_from_id, reverse=True)
    kept_by_count = set(newest_first[: rule.keep_last]) if rule.keep_last is not None else set()
    doomed = []
    for run_id in newest_first:
        if run_id in kept_by_count:
            continue
        record = _record(fds, run_id)
        if record is None and not _folder_has_objects(fds, run_id):
            continue
        if _kept(fds, run_id, record, rule, now):
            continue
        doomed.append(run_id)
    return doomed[::-1]


def _kept(fds: FlowDataStore, run_id: str, record: dict[str, Any] | None, rule: RetentionRule, now: float) -> bool:
    started = float(record.get("created_at", 0.0)) if record else _started_from_id(run_id)
    if rule.older_than_days is not None and started > now - rule.older_than_days * 86400:
        return True
    if rule.keep_tags:
        user_tags = _user_tags(fds, run_id) if record is not None else None
        if user_tags is None:
            return True  # its tags cannot be read: it may be protected
        if (set(record.get("system_tags", [])) | set(user_tags)) & set(rule.keep_tags):  # type: ignore[union-attr]
            return True
    return record is not None and run_state(fds, run_id, record).status == "running"


def _record(fds: FlowDataStore, run_id: str) -> dict[str, Any] | None:
    try:
        return fds.load_run_record(run_id)
    except IntegrityError:
        return None


def _user_tags(fds: FlowDataStore, run_id: str) -> list[str] | None:
    try:
        return fds.load_run_tags(run_id)
    except IntegrityError:
        return None


def _folder_has_objects(fds: FlowDataStore, run_id: str) -> bool:
    return bool(fds.storage.list_content(f"{fds.flow_name}/{run_id}"))


def _started_from_id(run_id: str) -> float:
    return int(run_id) / 1e6 if run_id.isdigit() else 0.0
