"""Crash safety and concurrency of the local datastore, with real processes and real SIGKILLs."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from flowstone.datastore import FlowDataStore
from flowstone.errors import DataException
from flowstone.settings import Settings
from tests.datastore.writer_proc import FLOW, expected_artifacts, write_task

WRITER = str(Path(__file__).with_name("writer_proc.py"))
pytestmark = pytest.mark.slow


def _run_writer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, WRITER, *args], capture_output=True, text=True, timeout=120)


def _flow(root: Path) -> FlowDataStore:
    return FlowDataStore(FLOW, settings=Settings(datastore_sysroot_local=str(root)))


def _assert_equal(value: object, expected: object) -> None:
    if isinstance(expected, np.ndarray):
        np.testing.assert_array_equal(value, expected)
    else:
        assert value == expected


def assert_datastore_sound(root: Path) -> set[str]:
    """Every visible blob verifies; every done task loads exactly what was written. Returns done task ids."""
    fds = _flow(root)
    data = root / "data"
    blob_keys = (
        [p.name for p in data.rglob("*") if p.is_file() and not p.name.startswith(".tmp-")] if data.exists() else []
    )
    verified = dict(fds.ca_store.load_blobs(blob_keys))  # raises DataException on any bad blob
    assert set(verified) == set(blob_keys)
    done = set()
    for task_id in fds.list_task_ids("run1", "step"):
        try:
            ds = fds.get_datastore_for_task("run1", "step", task_id)
        except DataException:
            continue  # not done: must be invisible to readers, and is
        expected = expected_artifacts(task_id)
        assert set(ds.records) == set(expected)
        for name, value in ds.load_artifacts(expected):
            _assert_equal(value, expected[name])
        assert ds.load_metadata(["task"]) == {"task": task_id}
        done.add(task_id)
    return done


def test_sigkill_at_every_file_system_call_leaves_a_sound_datastore(tmp_path: Path) -> None:
    total, done_published_at = map(int, _run_writer("task", str(tmp_path / "probe"), "1").stdout.split())
    assert total > 20 and done_published_at >= total - 2
    for die_at in range(1, total + 1):
        root = tmp_path / f"ds{die_at}"  # a fresh root each time, so the calls come in the probe's order
        result = _run_writer("task", str(root), "1", "--die-at", str(die_at))
        assert result.returncode == -signal.SIGKILL, result.stderr
        done = assert_datastore_sound(root)
        # the DONE marker is published last: a writer killed before that never looks done
        assert done == ({"1"} if die_at > done_published_at else set())
        # an interrupted task can be written again, and then reads back whole
        if not done:
            write_task(_flow(root), "1")
        assert assert_datastore_sound(root) == {"1"}


def test_sigkill_at_random_moments_leaves_a_sound_datastore(tmp_path: Path) -> None:
    rng = random.Random(20261124)
    root = tmp_path / "ds"
    first = 1
    for _ in range(15):
        tasks_before_kill = rng.randint(0, 3)
        proc = subprocess.Popen(
            [sys.executable, WRITER, "tasks", str(root), str(first), "50"], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        for _ in range(tasks_before_kill):
            assert proc.stdout.readline().startswith("done")
        proc.send_signal(signal.SIGKILL)  # lands wherever the writer is in the next task's save
        proc.wait()
        proc.stdout.close()
        done = assert_datastore_sound(root)
        assert {str(i) for i in range(first, first + tasks_before_kill)} <= done
        first += 50


def test_concurrent_writers_lose_nothing_and_store_one_copy(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    procs = [
        subprocess.Popen(
            [sys.executable, WRITER, "blobs", str(root), str(seed)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    outputs = [p.communicate("go\n", timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outputs]
    key_lists = [out.split() for out, _ in outputs]
    assert key_lists[0][:20] == key_lists[1][:20]  # the shared blobs got the same keys
    all_keys = set(key_lists[0]) | set(key_lists[1])
    assert len(all_keys) == 60
    files = [p for p in (root / "data").rglob("*") if p.is_file()]
    assert sorted(p.name for p in files) == sorted(all_keys)  # one copy each, no temp files left
    loaded = dict(_flow(root).ca_store.load_blobs(all_keys))
    assert len(loaded) == 60


def test_concurrent_tasks_of_one_run(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    procs = [
        subprocess.Popen([sys.executable, WRITER, "tasks", str(root), str(first), "5"], stdout=subprocess.PIPE)
        for first in (1, 6, 11)
    ]
    for p in procs:
        p.communicate(timeout=120)
        assert p.returncode == 0
    assert assert_datastore_sound(root) == {str(i) for i in range(1, 16)}
