from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flowstone.datastore import FlowDataStore
from flowstone.errors import DataException, IntegrityError, UnpicklableArtifactException
from flowstone.settings import Settings
from flowstone.storage.local import LocalStorage
from flowstone.storage.memory import MemoryStorage


def _write_task(fds: FlowDataStore, task_id: str = "1", attempt: int = 0, done: bool = True, **artifacts):
    ds = fds.get_datastore_for_task("r1", "start", task_id, attempt=attempt, mode="w")
    ds.init_task()
    ds.save_artifacts(artifacts.items())
    if done:
        ds.done()
    return ds


def test_artifacts_roundtrip(flow_datastore: FlowDataStore) -> None:
    array = np.random.default_rng(1).random(300_000)
    _write_task(flow_datastore, x=1, name="exp", blob=b"\0" * 10, arr=array, nested={"a": [1, (2, 3)]})
    ds = flow_datastore.get_datastore_for_task("r1", "start", "1")
    assert ds.is_done and ds.attempt == 0
    loaded = dict(ds.load_artifacts(["x", "name", "blob", "arr", "nested"]))
    assert loaded["x"] == 1 and loaded["name"] == "exp" and loaded["blob"] == b"\0" * 10
    assert loaded["nested"] == {"a": [1, (2, 3)]}
    np.testing.assert_array_equal(loaded["arr"], array)
    assert "x" in ds and "missing" not in ds
    assert ds["name"] == "exp"


def test_records_describe_each_artifact(flow_datastore: FlowDataStore) -> None:
    _write_task(flow_datastore, small=True, big=np.zeros(100_000), text="t" * 5000)
    records = flow_datastore.get_datastore_for_task("r1", "start", "1").records
    assert records["small"].encoding == "inline" and records["small"].type == "builtins.bool"
    assert records["big"].type == "numpy.ndarray" and records["big"].serializer == "pickle"
    assert records["big"].encoding == "zstd" and records["big"].size > 800_000
    assert records["text"].serializer == "str" and records["text"].size == 5000
    assert all(len(r.key) == 64 for r in records.values())


def test_small_values_need_no_blob(tmp_path: Path) -> None:
    fds = FlowDataStore("F", storage=LocalStorage(str(tmp_path)))
    _write_task(fds, none=None, flag=False, short="abc", number=3.5)
    assert not (tmp_path / "data").exists()
    assert dict(fds.get_datastore_for_task("r1", "start", "1").load_artifacts(["none", "flag", "short", "number"])) == {
        "none": None,
        "flag": False,
        "short": "abc",
        "number": 3.5,
    }


def test_equal_artifacts_share_one_blob(tmp_path: Path) -> None:
    fds = FlowDataStore("F", storage=LocalStorage(str(tmp_path)))
    payload = np.random.default_rng(2).random(10_000)
    for task in ("1", "2", "3"):
        _write_task(fds, task_id=task, data=payload, copy=payload.copy())
    keys = {fds.get_datastore_for_task("r1", "start", t).records[n].key for t in "123" for n in ("data", "copy")}
    assert len(keys) == 1
    assert len([p for p in (tmp_path / "data").rglob("*") if p.is_file()]) == 1


def test_unpicklable_artifact_names_artifact_and_cause(flow_datastore: FlowDataStore) -> None:
    ds = flow_datastore.get_datastore_for_task("r1", "start", "1", mode="w")
    with pytest.raises(UnpicklableArtifactException, match=r"'lock' cannot be serialized.*TypeError") as info:
        ds.save_artifacts([("ok", 1), ("lock", threading.Lock())])
    assert info.value.artifact_name == "lock"
    assert isinstance(info.value.__cause__, TypeError)


def test_not_done_task_is_hidden_unless_asked(flow_datastore: FlowDataStore) -> None:
    _write_task(flow_datastore, done=False, x=1)
    with pytest.raises(DataException, match="no completed attempt"):
        flow_datastore.get_datastore_for_task("r1", "start", "1")
    ds = flow_datastore.get_datastore_for_task("r1", "start", "1", allow_not_done=True)
    assert not ds.is_done and ds["x"] == 1


def test_attempts_are_separate_and_latest_done_wins(flow_datastore: FlowDataStore) -> None:
    _write_task(flow_datastore, attempt=0, done=False, x="first")
    _write_task(flow_datastore, attempt=1, done=True, x="second")
    _write_task(flow_datastore, attempt=2, done=False, x="third, failed")
    ds = flow_datastore.get_datastore_for_task("r1", "start", "1")
    assert ds.attempt == 1 and ds["x"] == "second"
    # a later failed attempt never shadows the successful one, even when unfinished attempts are allowed
    assert flow_datastore.get_datastore_for_task("r1", "start", "1", allow_not_done=True).attempt == 1
    last = flow_datastore.get_datastore_for_task("r1", "start", "1", attempt=2, allow_not_done=True)
    assert last["x"] == "third, failed"
    early = flow_datastore.get_datastore_for_task("r1", "start", "1", attempt=0, allow_not_done=True)
    assert early["x"] == "first"
    assert sorted(ds.attempts()) == [0, 1, 2]


def test_done_attempt_cannot_be_reopened_for_write(flow_datastore: FlowDataStore) -> None:
    _write_task(flow_datastore, x=1)
    with pytest.raises(DataException, match="already done"):
        flow_datastore.get_datastore_for_task("r1", "start", "1", attempt=0, mode="w")


def test_read_mode_refuses_writes(flow_datastore: FlowDataStore) -> None:
    _write_task(flow_datastore, x=1)
    ds = flow_datastore.get_datastore_for_task("r1", "start", "1")
    with pytest.raises(DataException, match="read-only"):
        ds.save_artifacts([("y", 2)])


def test_missing_artifact_is_a_clear_error(flow_datastore: FlowDataStore) -> None:
    _write_task(flow_datastore, x=1)
    ds = flow_datastore.get_datastore_for_task("r1", "start", "1")
    with pytest.raises(DataException, match="has no artifact named 'nope'"):
        list(ds.load_artifacts(["x", "nope"]))


def test_references_record_without_serializing(flow_datastore: FlowDataStore) -> None:
    parent = _write_task(flow_datastore, task_id="1", big=np.arange(50_000), small=7)
    child = flow_datastore.get_datastore_for_task("r1", "next", "2", mode="w")
    child.save_artifact_refs(parent.records.items())
    child.save_artifacts([("new", "value")])
    child.done()
    reread = flow_datastore.get_datastore_for_task("r1", "next", "2")
    assert reread.records["big"] == parent.records["big"]
    np.testing.assert_array_equal(reread["big"], np.arange(50_000))
    assert reread["small"] == 7 and reread["new"] == "value"


def test_metadata(flow_datastore: FlowDataStore) -> None:
    ds = flow_datastore.get_datastore_for_task("r1", "start", "1", mode="w")
    ds.save_metadata({"duration": 120.5, "status": "success"})
    ds.save_metadata({"status": "done", "tags": ["a", "b"]})
    ds.done()
    reread = flow_datastore.get_datastore_for_task("r1", "start", "1")
    assert reread.load_metadata(["duration", "status", "absent"]) == {"duration": 120.5, "status": "done"}
    assert reread.load_metadata()["tags"] == ["a", "b"]
    assert reread.metadata_entries()["duration"]["timestamp"] > 0


def test_a_second_writer_of_an_attempt_adds_to_the_first(flow_datastore: FlowDataStore) -> None:
    first = flow_datastore.get_datastore_for_task("r1", "start", "1", mode="w")
    first.save_metadata({"from_task": 1})
    first.save_artifacts([("x", 1)])
    second = flow_datastore.get_datastore_for_task("r1", "start", "1", mode="w")
    second.save_metadata({"from_runtime": 2})
    second.save_artifacts([("y", 2)])
    second.done()
    reread = flow_datastore.get_datastore_for_task("r1", "start", "1")
    assert reread.load_metadata() == {"from_task": 1, "from_runtime": 2}
    assert dict(reread.load_artifacts(["x", "y"])) == {"x": 1, "y": 2}


def test_metadata_must_be_json(flow_datastore: FlowDataStore) -> None:
    ds = flow_datastore.get_datastore_for_task("r1", "start", "1", mode="w")
    with pytest.raises(DataException, match="JSON-serializable"):
        ds.save_metadata({"bad": object()})


def test_logs_per_attempt(flow_datastore: FlowDataStore) -> None:
    ds = flow_datastore.get_datastore_for_task("r1", "start", "1", mode="w")
    ds.save_log("stdout", "Log message\n", attempt=0)
    ds.save_log("stderr", b"err \xff\n")
    ds1 = flow_datastore.get_datastore_for_task("r1", "start", "1", attempt=1, mode="w")
    ds1.save_log("stdout", "retry output\n")
    ds1.done()
    reread = flow_datastore.get_datastore_for_task("r1", "start", "1")
    assert reread.load_log("stdout") == "retry output\n"
    assert reread.load_log("stdout", attempt=0) == "Log message\n"
    assert reread.load_log("stderr", attempt=0) == "err \ufffd\n"
    assert reread.load_log("stderr") == ""
    with pytest.raises(DataException, match="Unknown log stream"):
        ds.save_log("stdlog", "x")
    with pytest.raises(DataException, match="is done; it cannot change"):
        ds1.save_log("stdout", "after the end")


def test_done_marker_and_times(flow_datastore: FlowDataStore) -> None:
    ds = flow_datastore.get_datastore_for_task("r1", "start", "1", mode="w")
    ds.init_task()
    assert not ds.is_done and ds.done_info() is None
    ds.done()
    assert ds.is_done
    info, started = ds.done_info(), ds.attempt_info()
    assert info is not None and started is not None and info["finished_at"] >= started["started_at"]


def test_unknown_mode(flow_datastore: FlowDataStore) -> None:
    with pytest.raises(DataException, match="Unknown task datastore mode"):
        flow_datastore.get_datastore_for_task("r1", "start", "1", mode="a")


def test_corrupted_inline_record_is_detected(tmp_path: Path) -> None:
    fds = FlowDataStore("F", storage=LocalStorage(str(tmp_path)))
    _write_task(fds, word="hello")
    record_file = tmp_path / "F" / "r1" / "start" / "1" / "0.DONE"  # a done attempt is read from its DONE record
    record_file.write_text(record_file.read_text().replace('"aGVsbG8="', '"aGVsbG0="'))
    with pytest.raises(IntegrityError, match=r"F/r1/start/1/0\.DONE does not match its checksum"):
        fds.get_datastore_for_task("r1", "start", "1")["word"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda text: "{}", "holds no artifact records"),  # emptied, as by a careless edit
        (lambda text: text[: len(text) // 2], "truncated or malformed"),  # cut short, as by a full disk
        (lambda text: text.replace('"finished_at":', '"finished_At":'), "does not match its checksum"),
    ],
)
def test_a_damaged_done_record_is_detected(tmp_path: Path, damage: Any, message: str) -> None:
    fds = FlowDataStore("F", storage=LocalStorage(str(tmp_path)))
    _write_task(fds, word="hello")
    record_file = tmp_path / "F" / "r1" / "start" / "1" / "0.DONE"
    record_file.write_text(damage(record_file.read_text()))
    with pytest.raises(IntegrityError, match=message):
        dict(fds.get_datastore_for_task("r1", "start", "1").records)


def test_records_written_before_checksums_are_read(tmp_path: Path) -> None:
    fds = FlowDataStore("F", storage=LocalStorage(str(tmp_path)))
    _write_task(fds, word="hello")
    record_file = tmp_path / "F" / "r1" / "start" / "1" / "0.DONE"
    stored = json.loads(record_file.read_text())
    record_file.write_text(json.dumps(stored["record"]))  # the plain JSON of an earlier version
    assert fds.get_datastore_for_task("r1", "start", "1")["word"] == "hello"


class _CountingStorage(MemoryStorage):
    """Counts the calls a remote backend would pay a round trip for."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def info(self, key: str) -> Any:
        self.calls.append("info")
        return super().info(key)

    def info_many(self, keys: Iterable[str]) -> list[Any]:
        self.calls.append("info_many")
        return [MemoryStorage.info(self, key) for key in keys]

    def save_bytes(self, items: Iterable[tuple[str, Any]], overwrite: bool = True, durable: bool = True) -> list[bool]:
        self.calls.append("save_bytes")
        return super().save_bytes(items, overwrite=overwrite, durable=durable)

    def put_if_absent(self, key: str, payload: Any, durable: bool = True) -> bool:
        self.calls.append("put_if_absent")
        return super().put_if_absent(key, payload, durable)


def test_many_small_artifacts_cost_a_few_storage_calls(settings: Settings) -> None:
    storage = _CountingStorage()
    fds = FlowDataStore("TestFlow", storage=storage, settings=settings)
    task = fds.get_datastore_for_task("1", "start", "1", 0, "w")
    task.init_task()
    storage.calls.clear()
    values = {f"a{i}": bytes([i]) * 4096 for i in range(50)}  # above the inline size: blobs
    values["dup"] = values["a0"]  # equal content: one blob
    values["big"] = bytes(range(256)) * 8192  # 2 MiB: streamed on its own
    task.save_artifacts(values.items())
    calls = storage.calls
    assert calls.count("info_many") == 1  # the 50 small blobs: one existence check ...
    assert calls.count("info") == 1 and calls.count("put_if_absent") == 1  # the big one, alone
    assert len(calls) <= 6, calls  # ... and a write of the new ones: not one round trip per artifact
    task.done()
    loaded = dict(fds.get_datastore_for_task("1", "start", "1").load_artifacts(values))
    assert loaded == values
    # saved again (a re-run): everything exists, nothing is written
    again = fds.get_datastore_for_task("2", "start", "1", 0, "w")
    again.init_task()
    storage.calls.clear()
    again.save_artifacts(values.items())
    assert "put_if_absent" not in storage.calls and storage.calls.count("info_many") == 1
