"""gc beside running flows loses nothing they record, and gc killed at any point leaves a valid datastore, on
local disk, S3 and Azure."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from flowstone.datastore import layout
from flowstone.datastore.blob_claims import DELETING_STALE_SECONDS
from flowstone.datastore.content_addressed import ContentAddressedStore
from flowstone.datastore.maintenance import collect_garbage, fsck
from flowstone.storage import Storage
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
from tests.runtime.helpers import FLOWS

GC_PROC = str(Path(__file__).with_name("gc_proc.py"))
SEEDS = (1, 2, 3, 4)


def _start_runs(
    root: str, datastore: str, scratch: Path, env: dict[str, str]
) -> list[tuple[subprocess.Popen[str], Path]]:
    started = []
    for seed in SEEDS:
        id_file = scratch / f"run-id-{seed}-{uuid.uuid4().hex[:6]}"
        command = [sys.executable, str(FLOWS / "maintenance_flow.py"), "--datastore", datastore, "--datastore-root",
                   root, "run", "--seed", str(seed), "--width", "6", "--run-id-file", str(id_file)]  # fmt: skip
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, **env}, cwd=FLOWS)  # fmt: skip
        started.append((proc, id_file))
    return started


def _race(root: str, datastore: str, scratch: Path, grace: float, env: dict[str, str],
          make_old: Callable[[Storage], None], fillers: int = 3000) -> None:  # fmt: skip
    """Runs of each seed, removed, their blobs made old; then the same runs again, with gc running the whole
    time: the new runs find those blobs, unreferenced and old, just as gc would delete them."""
    storage = storage_for(root, datastore)
    for seed in SEEDS:
        make_run(root, seed, "--width", "6", datastore=datastore, env=env)
    removed = flowstone(root, "rm", *[f"{FLOW}/{run_id}" for run_id in flow_datastore(root, datastore).list_run_ids()])
    assert removed.returncode == 0, removed.stderr
    store = ContentAddressedStore(storage)
    for first in range(0, fillers, 500):  # unreferenced too: gc takes a while deleting, while the runs start
        store.put_many([f"filler {i} ".encode() * 200 for i in range(first, min(first + 500, fillers))])
    make_old(storage)
    runs = _start_runs(root, datastore, scratch, env)
    collections = deleted = 0
    deadline = time.monotonic() + 240
    while any(proc.poll() is None for proc, _ in runs) and time.monotonic() < deadline:
        deleted += collect_garbage(storage, grace=grace).blobs
        collections += 1
    outputs = [proc.communicate(timeout=60)[0] for proc, _ in runs]
    assert all(proc.returncode == 0 for proc, _ in runs), outputs
    assert collections >= 1 and deleted >= fillers  # gc did delete while the runs wrote
    fds = flow_datastore(root, datastore)
    for _, id_file in runs:
        assert read_everything(fds, id_file.read_text()) > 0
    collect_garbage(storage, grace=grace)
    assert_clean(storage)


def _backdate(root: Path) -> Callable[[Storage], None]:
    def make_old(storage: Storage) -> None:
        old = time.time() - 2 * 3600
        for path in (root / "data").rglob("*"):
            os.utime(path, (old, old))

    return make_old


def test_gc_beside_running_flows_on_local_disk(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    _race(str(root), "local", tmp_path, 3600, {}, _backdate(root))


def _wait_until_older_than(seconds: float) -> Callable[[Storage], None]:
    """Blobs on S3 and Azure cannot be backdated: wait (boundedly) until the newest is older than ``seconds``."""

    def make_old(storage: Storage) -> None:
        newest = max(info.modified for info in storage.list_tree("data"))
        deadline = time.monotonic() + seconds + 30
        while time.time() - newest <= seconds and time.monotonic() < deadline:
            time.sleep(0.2)

    return make_old


#: Writers claim every blob they find (not only those older than ten minutes), so that a short grace period is
#: as safe as the default one is with the default claim age.
CLAIM_ALL = {"FLOWSTONE_BLOB_CLAIM_AFTER_SECONDS": "0"}


@pytest.mark.usefixtures("s3_env")
def test_gc_beside_running_flows_on_s3(tmp_path: Path) -> None:
    root = f"s3://flowstone-test/gc-{uuid.uuid4().hex[:12]}"
    _race(root, "s3", tmp_path, 8, CLAIM_ALL, _wait_until_older_than(8), fillers=1000)


@pytest.mark.usefixtures("azure_env")
def test_gc_beside_running_flows_on_azure(tmp_path: Path) -> None:
    root = f"azure://flowstone-test/gc-{uuid.uuid4().hex[:12]}"
    _race(root, "azure", tmp_path, 8, CLAIM_ALL, _wait_until_older_than(8), fillers=500)


def _gc_proc(datastore: str, root: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, GC_PROC, datastore, str(root), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def _assert_valid_after_a_kill(datastore: str, root: Path | str, die_at: int) -> None:
    report = fsck(storage_for(root, datastore))
    assert report.problems == [], (die_at, report.problems)
    fds = flow_datastore(root, datastore)
    for run_id in fds.list_run_ids():
        if fds.load_run_record(run_id) is not None:  # a run the client lists reads whole
            assert read_everything(fds, run_id) > 0


def test_gc_killed_at_any_point_leaves_a_valid_datastore(tmp_path: Path) -> None:
    pristine = tmp_path / "pristine"
    for seed in (1, 2, 3):
        make_run(pristine, seed)
    newest = max(flow_datastore(pristine).list_run_ids(), key=int)
    probe = tmp_path / "probe"
    shutil.copytree(pristine, probe)
    finished = _gc_proc("local", probe)
    total = int(finished.stdout)
    assert total > 30, finished.stderr
    expected = blob_keys(storage_for(probe))
    step = max(1, total // 40)
    for die_at in sorted({*range(1, total + 1, step), total - 1, total}):
        root = tmp_path / f"ds{die_at}"
        shutil.copytree(pristine, root)
        killed = _gc_proc("local", root, "--die-at", str(die_at))
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        _assert_valid_after_a_kill("local", root, die_at)
        stale = time.time() - DELETING_STALE_SECONDS - 1  # time passes: the marks the killed gc held go stale
        for mark in (root / "data").glob(f"{layout.DELETING_DIR}/*"):
            os.utime(mark, (stale, stale))
        assert _gc_proc("local", root).returncode == 0
        assert flow_datastore(root).list_run_ids() == [newest] and blob_keys(storage_for(root)) == expected
        assert_clean(storage_for(root), notes=True)
        shutil.rmtree(root)


@pytest.mark.parametrize("datastore", ["s3", "azure"])
def test_gc_killed_at_any_storage_change_leaves_a_valid_datastore(datastore: str,
                                                                  request: pytest.FixtureRequest) -> None:  # fmt: skip
    """On S3 and Azure, gc is killed before each of its writes and deletes in turn; each time the datastore is
    valid, and the next gc goes on from where it stopped."""
    request.getfixturevalue(f"{datastore}_env")
    root = f"{'s3' if datastore == 's3' else 'azure'}://flowstone-test/gckill-{uuid.uuid4().hex[:12]}"
    for seed in (1, 2, 3):
        make_run(root, seed, datastore=datastore)
    newest = max(flow_datastore(root, datastore).list_run_ids(), key=int)
    die_at = 1
    while True:  # each kill lands one change further in the remaining work
        killed = _gc_proc(datastore, root, "--die-at", str(die_at))
        if killed.returncode == 0:
            break
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        _assert_valid_after_a_kill(datastore, root, die_at)
        die_at += 1
    assert die_at > 3  # it was killed several times before it could finish
    fds = flow_datastore(root, datastore)
    assert [run_id for run_id in fds.list_run_ids() if fds.load_run_record(run_id)] == [newest]
    assert_clean(storage_for(root, datastore))
