"""``flowstone rm``: remove runs' records. Blobs stay (``flowstone gc`` deletes those nothing refers to).

A run is removed in an order that keeps the datastore valid if the removal is killed at any point:

1. the cache entries that point into the run: the cache stops reusing its tasks;
2. its run record: readers (the Client API, resume) no longer see the run;
3. everything else in its folder.

A folder left without its run record is invisible; removing the run again (or ``flowstone gc``) finishes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from flowstone.datastore.flow_datastore import FlowDataStore
from flowstone.datastore.maintenance.inventory import RunObjects, cache_entries, list_run, read_records
from flowstone.datastore.run_status import run_state
from flowstone.errors import DataException, RunInProgress
from flowstone.settings import Settings
from flowstone.storage.base import Storage

__all__ = ["RemovedRun", "remove_cache_entries", "remove_listed", "remove_runs", "split_run_pathspec"]


class RemovedRun(NamedTuple):
    pathspec: str  # Flow/run_id
    objects: int  # objects removed (records, logs, cache entries)
    size: int  # their bytes


def split_run_pathspec(pathspec: str) -> tuple[str, str]:
    parts = [p for p in pathspec.strip("/").split("/") if p]
    if len(parts) != 2:
        raise DataException(f"'{pathspec}' is not a run: name it as FlowName/run_id.")
    return parts[0], parts[1]


def remove_runs(storage: Storage, pathspecs: Iterable[str], force: bool = False) -> list[RemovedRun]:
    """Remove the runs ``pathspecs`` (``Flow/run_id``) with their cache entries; their blobs stay.

    A run still running is refused (:class:`RunInProgress`) unless ``force``: a run whose runner was on
    another machine counts as running until it ends, so ``force`` is how to remove one whose runner died there.
    """
    runs = [split_run_pathspec(p) for p in pathspecs]
    listed: dict[tuple[str, str], RunObjects] = {}
    for flow, run_id in runs:
        run = listed[flow, run_id] = list_run(storage, flow, run_id)
        if not run.objects:
            raise DataException(f"Run {flow}/{run_id} does not exist in the datastore {storage.root}.")
        if run.has_record and not force:
            _refuse_if_running(storage, flow, run_id)
    removed = []
    for flow in dict.fromkeys(flow for flow, _ in runs):
        ids = {run_id for f, run_id in runs if f == flow}
        entries = remove_cache_entries(storage, flow, ids)
        for run_id in ids:
            objects, size = remove_listed(storage, listed[flow, run_id])
            removed.append(RemovedRun(f"{flow}/{run_id}", objects + entries.get(run_id, 0), size))
    return removed


def _refuse_if_running(storage: Storage, flow: str, run_id: str) -> None:
    fds = FlowDataStore(flow, storage=storage, settings=Settings())
    if run_state(fds, run_id).status == "running":
        raise RunInProgress(
            f"Run {flow}/{run_id} is running (or its runner was on another machine and cannot be checked from "
            f"here): remove it once it has ended, or with --force if its runner is gone."
        )


def remove_cache_entries(storage: Storage, flow: str, run_ids: set[str]) -> dict[str, int]:
    """Delete the cache entries of ``flow`` that point into ``run_ids``; return how many per run."""
    doomed: list[str] = []
    counts: dict[str, int] = {}
    for record in read_records(storage, [(info.key, "cache") for info in cache_entries(storage, flow)]):
        run_id = record.value.get("run_id") if isinstance(record.value, dict) else None
        if run_id in run_ids:
            doomed.append(record.key)
            counts[run_id] = counts.get(run_id, 0) + 1
    storage.delete(doomed)
    return counts


def remove_listed(storage: Storage, run: RunObjects) -> tuple[int, int]:
    """Remove a listed run folder: its run record first, then the rest. Returns (objects, bytes) removed."""
    storage.delete(run.keys(["run"]))
    storage.delete_tree(run.prefix)
    return len(run.objects), run.size
