"""``flowstone fsck``: check a datastore (or one flow's part of it) and say what is wrong and what to do.

Every record is read and verified against its checksum, every blob re-hashed (only those the flow refers to,
when a flow is named), and every reference followed: record -> blob, cache entry -> task, run -> code package.
A problem is something a reader would trip over; a note is something harmless (the leftovers of an interrupted
removal, of a killed write, or of a gc that died), which ``flowstone gc`` cleans up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from flowstone.datastore import layout
from flowstone.datastore.blob_claims import DELETING_STALE_SECONDS
from flowstone.datastore.content_addressed import ContentAddressedStore
from flowstone.datastore.maintenance import advice
from flowstone.datastore.maintenance.blobs import DataFolder, default_jobs, list_data, verify_blobs
from flowstone.datastore.maintenance.inventory import (
    RunObjects,
    blob_references,
    cache_entries,
    flow_names,
    list_runs,
    read_records,
    run_ids,
)
from flowstone.storage.base import ObjectInfo, Storage

__all__ = ["FsckReport", "Problem", "Progress", "fsck"]

#: ``progress(phase, done, total)``: called as work is done ('records', 'blobs'); total is None while unknown.
Progress = Callable[[str, int, int | None], None]


class Problem(NamedTuple):
    key: str  # the storage key of the object concerned
    what: str  # what is wrong
    todo: str  # what to do about it


@dataclass
class FsckReport:
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    records: int = 0
    blobs: int = 0
    blob_bytes: int = 0
    references: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Scan:
    """What the record pass found: each referenced blob with one record that refers to it, and done tasks."""

    referrers: dict[str, str] = field(default_factory=dict)
    done_tasks: set[str] = field(default_factory=set)  # "flow/run/step/task/attempt"
    leftovers: set[str] = field(default_factory=set)  # run prefixes without a run record


def fsck(storage: Storage, flow: str | None = None, jobs: int | None = None,
         progress: Progress | None = None) -> FsckReport:  # fmt: skip
    """Check the datastore in ``storage`` (only ``flow``'s records and the blobs they refer to, if given)."""
    started = time.monotonic()
    jobs = jobs or default_jobs(storage)
    report, scan = FsckReport(), _Scan()
    tell = progress or (lambda phase, done, total: None)
    data = list_data(storage, jobs)
    for name in [flow] if flow else flow_names(storage):
        _check_flow(storage, name, report, scan, jobs, tell)
    blobs = [info for key, info in data.blobs.items() if flow is None or key in scan.referrers]
    _check_blobs(storage, blobs, scan, report, jobs, tell)
    _check_references(data, scan, report)
    if flow is None:
        _check_data_folder(data, report)
    report.seconds = time.monotonic() - started
    return report


def _check_flow(storage: Storage, flow: str, report: FsckReport, scan: _Scan, jobs: int, tell: Progress) -> None:
    for run in list_runs(storage, flow, run_ids(storage, flow), jobs):
        _check_run(storage, run, report, scan)
        tell("records", report.records, None)
    _check_cache(storage, flow, report, scan)


def _check_run(storage: Storage, run: RunObjects, report: FsckReport, scan: _Scan) -> None:
    if not run.has_record:
        scan.leftovers.add(run.prefix)
        if not run.objects:
            return  # an empty folder (a store may list a prefix whose objects are gone): nothing to say
        report.notes.append(Problem(run.prefix, "a run folder without a run record, left by an interrupted "
                                    "removal", advice.finish_removal(run.flow, run.run_id)))  # fmt: skip
        return
    for info, kind in run.objects:
        if kind is None:
            report.notes.append(Problem(info.key, "an object that is no part of the datastore's layout",
                                        "Nothing reads it; remove it if it is not yours."))  # fmt: skip
    records = [(info.key, kind) for info, kind in run.objects if kind not in (None, "log")]
    for record in read_records(storage, records):
        report.records += 1
        if record.error is not None:
            report.problems.append(Problem(record.key, record.error, advice.damaged_record(record.kind, run)))
        elif record.kind == "done":
            scan.done_tasks.add(record.key[: -len(layout.DONE)].rstrip("."))
        for key in blob_references(record):
            scan.referrers.setdefault(key, record.key)


def _check_cache(storage: Storage, flow: str, report: FsckReport, scan: _Scan) -> None:
    entries = [(info.key, "cache") for info in cache_entries(storage, flow)]
    for record in read_records(storage, entries):
        report.records += 1
        entry = record.value if isinstance(record.value, dict) else None
        try:
            task = "/".join(str(entry[k]) for k in ("run_id", "step", "task_id", "attempt")) if entry else None
        except KeyError:
            task = None
        if record.error is not None or task is None:
            report.problems.append(Problem(record.key, record.error or "a cache entry that names no task",
                                           advice.bad_cache_entry()))  # fmt: skip
            continue
        report.references += 1
        if f"{flow}/{task}" not in scan.done_tasks:
            report.problems.append(Problem(record.key, f"the cache entry points to task attempt {flow}/{task}, "
                                           f"which is missing or not done", advice.bad_cache_entry()))  # fmt: skip


def _check_blobs(storage: Storage, blobs: list[ObjectInfo], scan: _Scan, report: FsckReport, jobs: int,
                 tell: Progress) -> None:  # fmt: skip
    ca_store = ContentAddressedStore(storage)
    total = len(blobs)

    def done(info: ObjectInfo, error: str | None) -> None:
        report.blobs += 1
        report.blob_bytes += info.size
        if error is not None:
            key = info.key.rsplit("/", 1)[-1]
            report.problems.append(Problem(info.key, error, advice.damaged_blob(scan.referrers.get(key))))
        tell("blobs", report.blobs, total)

    verify_blobs(ca_store, blobs, jobs, done)


def _check_references(data: DataFolder, scan: _Scan, report: FsckReport) -> None:
    for key, referrer in sorted(scan.referrers.items(), key=lambda item: item[1]):
        report.references += 1
        if key not in data.blobs and not referrer.startswith(tuple(scan.leftovers)):
            report.problems.append(Problem(layout.blob_key(key), f"blob {key} is missing; {referrer} refers to it",
                                           advice.missing_blob(referrer)))  # fmt: skip


def _check_data_folder(data: DataFolder, report: FsckReport) -> None:
    damaged = {problem.key.rsplit("/", 1)[-1] for problem in report.problems}
    for key, mark in data.marks[layout.DAMAGED_DIR].items():
        if key in data.blobs and key not in damaged:
            report.problems.append(Problem(mark.key, f"blob {key} is marked damaged but reads intact",
                                           advice.stale_damage_mark(mark.key)))  # fmt: skip
        elif key not in data.blobs:
            report.notes.append(Problem(mark.key, "the mark of a blob that is gone", advice.GC_CLEANS))
    now = time.time()
    for mark in data.marks[layout.DELETING_DIR].values():
        if mark.modified < now - DELETING_STALE_SECONDS:
            report.notes.append(Problem(mark.key, "a deletion mark left by a gc that stopped", advice.GC_CLEANS))
    for info in data.strays:
        report.problems.append(Problem(info.key, "an object in the blob folder that is not a blob (its name is "
                                       "not its content's hash, or it is in another blob's folder)",
                                       "Nothing reads it: move it out of the datastore, or delete it."))  # fmt: skip
    for info in data.unfinished:
        report.notes.append(Problem(info.key, "the temporary file of a write that did not finish", advice.GC_CLEANS))
