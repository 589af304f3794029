"""rm: a run's records and cache entries go, its blobs stay; running runs are refused; an interrupted removal
is invisible and finished by the next rm or gc."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from flowstone.client import context
from flowstone.client.runs import Flow
from flowstone.datastore import layout
from flowstone.datastore.maintenance import collect_garbage, remove_runs
from flowstone.datastore.maintenance.remove import remove_cache_entries
from flowstone.errors import DataException, RunInProgress
from tests.maintenance.helpers import (
    FLOW,
    assert_clean,
    blob_keys,
    flow_datastore,
    flowstone,
    make_run,
    read_everything,
    storage_for,
)


def _cache_entries(root: Path) -> list[Path]:
    return sorted((root / FLOW / "_cache").rglob("*.json"))


def test_rm_removes_records_and_cache_entries_not_blobs(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    first = make_run(root, 1)
    again = make_run(root, 1)  # every task reused from the first run, by reference
    assert _cache_entries(root)
    blobs = blob_keys(storage_for(root))
    done = flowstone(root, "rm", f"{FLOW}/{first.run_id}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Removed {FLOW}/{first.run_id}" in done.stdout
    assert not (root / FLOW / str(first.run_id)).exists()  # no empty folders left behind either
    assert _cache_entries(root) == [] and blob_keys(storage_for(root)) == blobs
    assert read_everything(flow_datastore(root), str(again.run_id)) > 0  # the reusing run still reads
    assert_clean(storage_for(root), notes=True)
    third = make_run(root, 1)
    decisions = {t.load_metadata(["cache"])["cache"]["decision"] for t in third.tasks()}
    assert decisions == {"miss"}  # the cache pointed into the removed run: nothing left to reuse


def test_a_running_run_is_refused_unless_forced(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    fds = flow_datastore(root)
    runner = {"pid": os.getpid(), "host": os.uname().nodename}  # this test process: alive
    run_id = fds.create_run({"created_at": time.time(), "runner": runner, "graph": {"steps": []}})
    with pytest.raises(RunInProgress, match="running"):
        remove_runs(storage_for(root), [f"{FLOW}/{run_id}"])
    refused = flowstone(root, "rm", f"{FLOW}/{run_id}")
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert flowstone(root, "rm", "--force", f"{FLOW}/{run_id}").returncode == 0
    assert fds.list_run_ids() == []
    with pytest.raises(DataException, match="does not exist"):
        remove_runs(storage_for(root), [f"{FLOW}/{run_id}"])
    assert flowstone(root, "rm", "NotAPathspec").returncode == 1


@pytest.mark.parametrize("finisher", ["rm", "gc"])
def test_an_interrupted_removal_is_invisible_and_finished_later(tmp_path: Path, finisher: str) -> None:
    root = tmp_path / "ds"
    first, second = make_run(root, 1), make_run(root, 2)
    storage = storage_for(root)
    remove_cache_entries(storage, FLOW, {str(first.run_id)})  # the first two steps of a removal, then killed
    storage.delete([f"{layout.run_prefix(FLOW, str(first.run_id))}/{layout.RUN_RECORD}"])
    context.datastore("local", str(root))
    context.namespace(None)
    try:
        assert [run.id for run in Flow(FLOW)] == [str(second.run_id)]
    finally:
        context.default_metadata()
        context.default_namespace()
    assert_clean(storage)  # a note, no problem
    if finisher == "rm":
        assert flowstone(root, "rm", f"{FLOW}/{first.run_id}").returncode == 0
    else:
        assert collect_garbage(storage, grace=0).finished_removals == [f"{FLOW}/{first.run_id}"]
    assert not (root / FLOW / str(first.run_id)).exists()
    assert_clean(storage, notes=True)
    assert read_everything(flow_datastore(root), str(second.run_id)) > 0
