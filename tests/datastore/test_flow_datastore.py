from __future__ import annotations

from pathlib import Path

import pytest

from flowstone.datastore import FlowDataStore
from flowstone.errors import DataException
from flowstone.settings import Settings


def _task(fds: FlowDataStore, run: str, step: str, task: str, done: bool = True) -> None:
    ds = fds.get_datastore_for_task(run, step, task, mode="w")
    ds.save_artifacts([("where", f"{run}/{step}/{task}")])
    if done:
        ds.done()


def test_properties(tmp_path: Path) -> None:
    fds = FlowDataStore("MyFlow", settings=Settings(datastore_sysroot_local=str(tmp_path)))
    assert fds.TYPE == "local" and fds.datastore_root == str(tmp_path)
    assert fds.ca_store.storage is fds.storage


def test_get_task_datastores_by_run_and_steps(flow_datastore: FlowDataStore) -> None:
    for step, task in [("start", "1"), ("train", "2"), ("train", "3"), ("evaluate", "4")]:
        _task(flow_datastore, "12345", step, task)
    _task(flow_datastore, "12345", "train", "5", done=False)
    _task(flow_datastore, "other", "train", "9")
    stores = flow_datastore.get_task_datastores(run_id="12345", steps=["train", "evaluate"], mode="r")
    assert sorted(s.pathspec for s in stores) == [
        "TestFlow/12345/evaluate/4",
        "TestFlow/12345/train/2",
        "TestFlow/12345/train/3",
    ]
    everything = flow_datastore.get_task_datastores(run_id="12345", allow_not_done=True)
    assert len(everything) == 5
    assert flow_datastore.list_steps("12345") == ["evaluate", "start", "train"]
    assert flow_datastore.list_run_ids() == ["12345", "other"]


def test_get_task_datastores_by_pathspec(flow_datastore: FlowDataStore) -> None:
    _task(flow_datastore, "7", "start", "1")
    _task(flow_datastore, "7", "end", "2", done=False)
    stores = flow_datastore.get_task_datastores(pathspecs=["7/start/1", "TestFlow/7/end/2"])
    assert [s.pathspec for s in stores] == ["TestFlow/7/start/1"]
    assert flow_datastore.get_task_datastores(pathspecs=["7/end/2"], attempt=0) == []
    (running,) = flow_datastore.get_task_datastores(pathspecs=["7/end/2"], allow_not_done=True)
    assert not running.is_done
    with pytest.raises(DataException, match="not a task pathspec"):
        flow_datastore.get_task_datastores(pathspecs=["7/start"])


def test_attempt_selection(flow_datastore: FlowDataStore) -> None:
    for attempt in (0, 1):
        ds = flow_datastore.get_datastore_for_task("1", "s", "1", attempt=attempt, mode="w")
        ds.save_artifacts([("a", attempt)])
        ds.done()
    (first,) = flow_datastore.get_task_datastores(run_id="1", attempt=0)
    assert first["a"] == 0


def test_invalid_flow_names(tmp_path: Path) -> None:
    settings = Settings(datastore_sysroot_local=str(tmp_path))
    for bad in ("data", "has/slash", "", "1abc"):
        with pytest.raises(DataException, match="cannot be a flow name"):
            FlowDataStore(bad, settings=settings)
