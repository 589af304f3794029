"""``flowstone gc``: apply a retention rule to runs, then delete the blobs that nothing refers to any more.

1. Runs the rule lets go are removed as ``flowstone rm`` removes them (and removals left unfinished are finished).
2. Every record of every flow is read (blobs are shared by all flows): the blobs they refer to stay. So do the
   blobs written, or claimed by a writer, within the grace period: those of runs in progress.
3. Each remaining blob is marked for deletion, its times are read again (a writer may have claimed it since),
   and it is deleted if they are still older than the grace period; then the mark goes.

Safe while runs write, on every backend: the argument is in docs/datastore.md ("Collecting garbage safely").
Killed at any point, it leaves a valid datastore (a run half removed is invisible; a mark is ignored once stale);
the next gc finishes the work.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from flowstone.datastore import layout
from flowstone.datastore.blob_claims import DELETING_HOLD_SECONDS, DELETING_STALE_SECONDS, BlobClaims
from flowstone.datastore.flow_datastore import FlowDataStore
from flowstone.datastore.maintenance.blobs import DataFolder, default_jobs, list_data
from flowstone.datastore.maintenance.fsck import Progress
from flowstone.datastore.maintenance.inventory import (
    REFERRING_KINDS,
    RunObjects,
    blob_references,
    cache_entries,
    flow_names,
    list_run,
    list_runs,
    read_records,
    run_ids,
)
from flowstone.datastore.maintenance.remove import remove_cache_entries, remove_listed
from flowstone.datastore.maintenance.retention import RetentionRule, runs_to_remove
from flowstone.settings import Settings
from flowstone.storage.base import ObjectInfo, Storage

__all__ = ["DEFAULT_GRACE_SECONDS", "GcReport", "collect_garbage", "safe_grace_seconds"]

DEFAULT_GRACE_SECONDS = 3600.0
#: How soon a writer's record refers to a blob it wrote or found (see docs/datastore.md): gc's grace period
#: must exceed the writers' claim age by this much to be safe while runs write.
RECORD_WITHIN_SECONDS = 20 * 60.0
#: Blobs marked, re-read and deleted together.
DELETE_BATCH = 256


@dataclass
class GcReport:
    dry_run: bool
    removed_runs: list[str] = field(default_factory=list)  # Flow/run_id, removed (or to remove) by the rule
    finished_removals: list[str] = field(default_factory=list)  # run folders an interrupted removal left
    blobs: int = 0  # blobs deleted (or that would be)
    blob_bytes: int = 0
    young: int = 0  # blobs nothing refers to, kept because they are within the grace period
    kept_changed: int = 0  # blobs a writer claimed, or another gc held, while this one deleted
    cleaned: int = 0  # cache entries, claims, marks and temporary files removed (or that would be)
    unreadable: list[str] = field(default_factory=list)  # records that could not be read (see inventory)
    records: int = 0  # records read for their references
    seconds: float = 0.0


def safe_grace_seconds(settings: Settings) -> float:
    """The shortest grace period that is safe while runs write with ``settings``."""
    return settings.blob_claim_after_seconds + RECORD_WITHIN_SECONDS


def collect_garbage(storage: Storage, flow: str | None = None, keep_last: int | None = None,
                    older_than_days: float | None = None, keep_tags: Iterable[str] = (),
                    grace: float = DEFAULT_GRACE_SECONDS, dry_run: bool = False, jobs: int | None = None,
                    progress: Progress | None = None) -> GcReport:  # fmt: skip
    """Remove the runs of ``flow`` (of every flow, if None) that the retention rule lets go, then delete the
    blobs of the datastore that nothing refers to and that are older than ``grace`` seconds. ``dry_run``: only
    report what would go."""
    started = time.monotonic()
    tell = progress or (lambda phase, done, total: None)
    report = GcReport(dry_run)
    rule = RetentionRule(keep_last, older_than_days, tuple(keep_tags))
    excluded = _apply_retention(storage, [flow] if flow else flow_names(storage), rule, report, tell)
    cutoff = time.time() - grace
    jobs = jobs or default_jobs(storage)
    referenced = _references(storage, excluded, cutoff, report, jobs, tell)
    data = list_data(storage, jobs)
    doomed = _unreferenced(data, referenced, cutoff, report)
    claims = BlobClaims(storage, layout.BLOB_PREFIX, 0.0)
    _clean_marks(storage, data, cutoff, report)  # first: the marks a gc that died left would stop this one
    if dry_run:
        report.blobs, report.blob_bytes = len(doomed), sum(info.size for info in doomed)
    else:
        _delete_blobs(claims, doomed, cutoff, report, tell)
    report.seconds = time.monotonic() - started
    return report


def _apply_retention(storage: Storage, flows: list[str], rule: RetentionRule, report: GcReport,
                     tell: Progress) -> set[str]:  # fmt: skip
    """Remove (or, dry, only choose) the runs to go, and finish interrupted removals; return their prefixes."""
    excluded: set[str] = set()
    for number, flow in enumerate(flows, 1):
        ids = run_ids(storage, flow)
        records = storage.info_many([f"{layout.run_prefix(flow, run_id)}/{layout.RUN_RECORD}" for run_id in ids])
        present = [run_id for run_id, record in zip(ids, records, strict=True) if record is not None]
        fds = FlowDataStore(flow, storage=storage, settings=Settings())
        doomed = runs_to_remove(fds, present, rule)
        listed = [list_run(storage, flow, run_id) for run_id in doomed + sorted(set(ids) - set(present))]
        unrecorded = [run for run in listed[len(doomed) :] if not _being_made(storage, run.prefix)]
        leftovers = [run for run in unrecorded if run.objects]
        for run in unrecorded:
            if not run.objects and not report.dry_run:
                storage.delete_tree(run.prefix)  # empty folders (on local disk): nothing to report
        report.removed_runs += [f"{flow}/{run_id}" for run_id in doomed]
        report.finished_removals += [f"{run.flow}/{run.run_id}" for run in leftovers]
        gone = listed[: len(doomed)] + leftovers
        excluded |= {run.prefix for run in gone}
        if not report.dry_run:
            remove_cache_entries(storage, flow, {run.run_id for run in gone})
            for run in gone:
                remove_listed(storage, run)
        tell("runs", number, len(flows))
    return excluded


def _being_made(storage: Storage, prefix: str) -> bool:
    """Whether a run folder without a run record is a run being created (its record's write is under way)."""
    return any(info.modified > time.time() - RECORD_WITHIN_SECONDS for info in storage.list_unfinished(prefix))


def _references(storage: Storage, excluded: set[str], cutoff: float, report: GcReport, jobs: int,
                tell: Progress) -> set[str]:  # fmt: skip
    """Every blob key a record (of a run that stays) refers to; cache entries pointing nowhere are removed."""
    referenced: set[str] = set()
    for flow in flow_names(storage):
        done_tasks: set[str] = set()
        for run in list_runs(storage, flow, run_ids(storage, flow), jobs):
            if run.prefix not in excluded:
                referenced |= _run_references(storage, run, report, done_tasks)
                tell("records", report.records, None)
        _clean_cache(storage, flow, done_tasks, cutoff, report)
    return referenced


def _run_references(storage: Storage, run: RunObjects, report: GcReport, done_tasks: set[str]) -> set[str]:
    """The blobs one run's records refer to. A done attempt's DONE record holds its final records and metadata,
    so its in-progress records are read only if the DONE record cannot be."""
    first = [(info.key, kind) for info, kind in run.objects if kind in ("run", "done")]
    found = _read_references(storage, first, report, done_tasks)
    rest = [(info.key, kind) for info, kind in run.objects
            if kind in REFERRING_KINDS - {"run", "done"} and _attempt_of(info.key) not in done_tasks]  # fmt: skip
    return found | _read_references(storage, rest, report, done_tasks)


def _read_references(storage: Storage, keyed: list[tuple[str, str]], report: GcReport,
                     done_tasks: set[str]) -> set[str]:  # fmt: skip
    """The blobs the ``(key, kind)`` records refer to; the attempts whose DONE record reads go to ``done_tasks``."""
    found: set[str] = set()
    for record in read_records(storage, keyed):
        report.records += 1
        found |= blob_references(record)
        if record.error is not None:
            report.unreadable.append(record.key)
        elif record.kind == "done":
            done_tasks.add(_attempt_of(record.key))
    return found


def _attempt_of(key: str) -> str:
    """'Flow/run/step/task/0' of the key of one of its files ('.../0.DONE', '.../0.data.json')."""
    folder, _, name = key.rpartition("/")
    return f"{folder}/{name.split('.', 1)[0]}"


def _clean_cache(storage: Storage, flow: str, done_tasks: set[str], cutoff: float, report: GcReport) -> None:
    """Remove the flow's cache entries that are damaged or point to no done task (older than the grace period:
    a task's entry is written just after its DONE record, which the listing may have missed)."""
    old = [(info.key, "cache") for info in cache_entries(storage, flow) if info.modified < cutoff]
    useless = []
    for record in read_records(storage, old):
        entry = record.value if isinstance(record.value, dict) else {}
        task = "/".join(str(entry.get(k)) for k in ("run_id", "step", "task_id", "attempt"))
        if record.error is not None or f"{flow}/{task}" not in done_tasks:
            useless.append(record.key)
    report.cleaned += len(useless)
    if not report.dry_run:
        storage.delete(useless)


def _unreferenced(data: DataFolder, referenced: set[str], cutoff: float, report: GcReport) -> list[ObjectInfo]:
    """The blobs nothing refers to that were last written and claimed before ``cutoff``."""
    claims = data.marks[layout.CLAIMS_DIR]
    doomed = []
    for key, info in data.blobs.items():
        if key in referenced:
            continue
        claim = claims.get(key)
        if max(info.modified, claim.modified if claim else 0.0) < cutoff:
            doomed.append(info)
        else:
            report.young += 1
    return doomed


def _delete_blobs(claims: BlobClaims, doomed: list[ObjectInfo], cutoff: float, report: GcReport,
                  tell: Progress) -> None:  # fmt: skip
    for start in range(0, len(doomed), DELETE_BATCH):
        batch = {info.key.rsplit("/", 1)[-1]: info for info in doomed[start : start + DELETE_BATCH]}
        marked = claims.mark_deleting(list(batch))
        held_since = time.monotonic()
        try:
            last = claims.last_written(marked)
            gone = [key for key in marked if (last[key] or 0.0) < cutoff]
            report.kept_changed += len(batch) - len(gone)
            if time.monotonic() - held_since > DELETING_HOLD_SECONDS:  # too slow: a writer may stop waiting
                report.kept_changed += len(gone)
                continue
            paths = [claims.blob_path(k) for k in gone] + [claims.claim_path(k) for k in gone]
            claims.storage.delete(paths + [layout.blob_mark_key(layout.DAMAGED_DIR, k) for k in gone])
            report.blobs += sum(1 for k in gone if last[k] is not None)
            report.blob_bytes += sum(batch[k].size for k in gone if last[k] is not None)
        finally:
            claims.unmark(marked)
        tell("blobs", start + len(batch), len(doomed))


def _clean_marks(storage: Storage, data: DataFolder, cutoff: float, report: GcReport) -> None:
    """Claims and damage marks of blobs that are gone, stale deletion marks, temporary files of killed writes."""
    now = time.time()
    leftovers = [
        mark.key
        for name in (layout.CLAIMS_DIR, layout.DAMAGED_DIR)
        for key, mark in data.marks[name].items()
        if key not in data.blobs and mark.modified < cutoff
    ]
    leftovers += [
        mark.key for mark in data.marks[layout.DELETING_DIR].values() if mark.modified < now - DELETING_STALE_SECONDS
    ]
    leftovers += [info.key for info in data.unfinished if info.modified < cutoff]
    report.cleaned += len(leftovers)
    if not report.dry_run:
        storage.delete(leftovers)
