"""A run's user tags under concurrent changes: no change is lost, on local disk, S3 and Azure."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from flowstone.datastore import FlowDataStore
from flowstone.datastore.run_tags import SNAPSHOT_EVERY
from flowstone.settings import Settings
from flowstone.storage import make_storage
from flowstone.storage.memory import MemoryStorage

WRITER = Path(__file__).with_name("tag_writer_proc.py")


def test_changes_apply_in_order_removals_first() -> None:
    fds = FlowDataStore("TagFlow", storage=MemoryStorage())
    fds.save_run_tags("1", ["a", "b"])
    assert fds.load_run_tags("1") == ["a", "b"]
    assert fds.change_run_tags("1", remove=["a", "b"], add=["b", "c"]) == ["b", "c"]
    assert fds.change_run_tags("1", remove=["nope"], add=[]) == ["b", "c"]
    assert fds.load_run_tags("1") == ["b", "c"] and fds.load_run_tags("2") == []


def test_snapshots_bound_what_a_reader_folds() -> None:
    storage = MemoryStorage()
    fds = FlowDataStore("TagFlow", storage=storage)
    fds.save_run_tags("1", ["start"])
    for i in range(SNAPSHOT_EVERY * 2 + 3):
        fds.change_run_tags("1", remove=[f"t{i - 1}"], add=[f"t{i}"])
    names = [e.name for e in storage.list_content("TagFlow/1/_tags")]
    assert sum(n.endswith(".snapshot.json") for n in names) == 2
    storage.delete([f"TagFlow/1/_tags/{n}" for n in names if n < f"{SNAPSHOT_EVERY * 2 - 1:010d}.snapshot"])
    assert fds.load_run_tags("1") == ["start", f"t{SNAPSHOT_EVERY * 2 + 2}"]  # read from the last snapshot on


def _race(ds_type: str, root: str, writers: int = 4, count: int = 12) -> None:
    fds = FlowDataStore("TagFlow", storage=make_storage(ds_type, Settings.from_env(), root))
    fds.save_run_tags("1", ["initial"])
    command = [sys.executable, str(WRITER), ds_type, root]
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    procs = [subprocess.Popen([*command, f"w{n}", str(count)], text=True, **pipes) for n in range(writers)]
    for proc in procs:  # all of them start changing at about the same time
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0 and out == "ok\n", err
    expected = {"initial"} | {f"w{n}-{i}" for n in range(writers) for i in range(count)}
    assert set(fds.load_run_tags("1")) == expected


def test_concurrent_processes_lose_no_change_on_local_disk(tmp_path: Path) -> None:
    _race("local", str(tmp_path / "ds"))


@pytest.mark.usefixtures("s3_env")
def test_concurrent_processes_lose_no_change_on_s3() -> None:
    _race("s3", f"s3://flowstone-test/tags-{uuid.uuid4().hex[:12]}", count=6)


@pytest.mark.usefixtures("azure_env")
def test_concurrent_processes_lose_no_change_on_azure() -> None:
    _race("azure", f"azure://flowstone-test/tags-{uuid.uuid4().hex[:12]}", count=6)
