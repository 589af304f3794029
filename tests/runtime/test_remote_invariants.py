"""What the datastore promises, on S3 and Azure as on local disk: concurrent runs of one flow, a damaged blob
found by the Client API and by a step, and a runner killed in the middle of a multipart upload."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from flowstone.client import context
from flowstone.client.runs import Run
from flowstone.datastore import layout
from flowstone.datastore.maintenance import fsck
from flowstone.errors import DataException
from tests.maintenance.helpers import assert_clean, flow_datastore, flowstone, read_everything, storage_for
from tests.runtime.helpers import FLOWS, run_flow


def _root(datastore: str) -> str:
    scheme = "s3" if datastore == "s3" else "azure"
    return f"{scheme}://flowstone-test/inv-{uuid.uuid4().hex[:12]}"


def _start(flow: str, root: str, datastore: str, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, str(FLOWS / flow), "--datastore", datastore, "--datastore-root", root, "run", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=FLOWS)


@pytest.mark.parametrize("datastore", ["s3", "azure"])
def test_concurrent_runs_of_one_flow(datastore: str, request: pytest.FixtureRequest) -> None:
    request.getfixturevalue(f"{datastore}_env")
    root = _root(datastore)
    seeds = [7, 7, 7, 8, 9]  # three runs write the same blobs at once; two their own as well
    procs = [_start("maintenance_flow.py", root, datastore, "--seed", str(s), "--width", "4") for s in seeds]
    outputs = [proc.communicate(timeout=240)[0] for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), outputs
    fds = flow_datastore(root, datastore)
    run_ids = fds.list_run_ids()
    assert len(set(run_ids)) == len(seeds)
    results = []
    for run_id in run_ids:
        assert read_everything(fds, run_id) > 0
        (end,) = fds.get_task_datastores(run_id=run_id, steps=["end"])
        results.append(bytes(end["own"][:7]).decode())
    assert sorted(results) == [f"seed {s} " for s in sorted(seeds)]
    storage = storage_for(root, datastore)
    keys = [info.key for info in storage.list_tree("data") if not info.key.startswith("data/_")]
    assert len(keys) == len(set(keys))
    assert_clean(storage)


def _flip_a_byte(storage: object, key: str) -> None:
    path = layout.blob_key(key)
    data = bytearray(bytes(storage.load_one(path)))  # type: ignore[attr-defined]
    data[-1] ^= 0x01
    storage.save_one(path, bytes(data))  # type: ignore[attr-defined]


@pytest.mark.usefixtures("s3_env")
def test_a_flipped_byte_on_s3_is_found_by_a_step_and_by_the_client_and_healed() -> None:
    root = _root("s3")
    first = run_flow("maintenance_flow.py", "--seed", "3", root=root, datastore="s3")
    assert first.ok, first.output
    key = first.task("start").records["own"].key
    storage = storage_for(root, "s3")
    _flip_a_byte(storage, key)
    # a step reads it as its input: the task fails, naming the blob (its origin, start, is cloned unread)
    resumed = run_flow("maintenance_flow.py", "--origin-run-id", str(first.run_id), "body", root=root,
                       datastore="s3", command="resume")  # fmt: skip
    assert resumed.proc.returncode == 1 and f"Blob {key}" in resumed.output and "corrupted" in resumed.output
    context.datastore("s3", root)
    context.namespace(None)
    try:
        with pytest.raises(DataException, match=f"Blob {key} .* is corrupted"):
            _ = Run(f"MaintenanceFlow/{first.run_id}")["start"].task.data.own
        assert [p.key for p in fsck(storage).problems] == [layout.blob_key(key)]
        # the read left a mark: a plain run does not reuse start, runs it, and its write repairs the blob
        healed = run_flow("maintenance_flow.py", "--seed", "3", root=root, datastore="s3")
        assert healed.ok, healed.output
        assert healed.task("start").load_metadata(["cache"])["cache"]["decision"] == "miss"
        assert Run(f"MaintenanceFlow/{first.run_id}")["start"].task.data.own.startswith(b"seed 3 ")
    finally:
        context.default_metadata()
        context.default_namespace()
    assert_clean(storage)


def _task_pid(proc: subprocess.Popen[str], step: str) -> int:
    assert proc.stdout is not None
    for line in proc.stdout:
        found = re.search(rf"/{step}/\d+ \(pid (\d+)\)\] Task is starting", line)
        if found:
            return int(found.group(1))
    raise AssertionError("the task never started")


def _wait_for_upload(pid: int, at_least: int) -> None:
    """Return once the task has sent ``at_least`` bytes (its upload is under way, not finished)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/io") as f:
            written = int(next(line for line in f if line.startswith("wchar:")).split()[1])
        if written >= at_least:
            return
        time.sleep(0.005)
    raise AssertionError("the upload never started")


@pytest.mark.usefixtures("s3_env")
def test_a_runner_killed_during_a_multipart_upload_on_s3_leaves_a_sound_datastore(tmp_path: Path) -> None:
    root = _root("s3")
    proc = _start("big_artifact_flow.py", root, "s3", "--mib", "96")
    _wait_for_upload(_task_pid(proc, "start"), 24 << 20)  # a quarter of it sent
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stdout.close()  # type: ignore[union-attr]
    storage = storage_for(root, "s3")
    assert all(info.size < 1 << 20 for info in storage.list_tree("data"))  # no part of the upload is visible
    fds = flow_datastore(root, "s3", "BigArtifactFlow")
    (run_id,) = fds.list_run_ids()
    assert fds.list_task_ids(run_id, "start") and not fds.get_task_datastores(run_id=run_id)  # nothing done
    assert fsck(storage).problems == []
    resumed = run_flow("big_artifact_flow.py", "--origin-run-id", run_id, root=root, datastore="s3",
                       command="resume")  # fmt: skip
    assert resumed.proc.returncode == 0, resumed.output
    new_run = max(fds.list_run_ids(), key=int)
    (end,) = fds.get_task_datastores(run_id=new_run, steps=["end"])
    assert end["size"] == 96 << 20
    gc = flowstone(root, "gc", "--grace", "0")
    assert gc.returncode == 0, gc.stderr
    assert_clean(storage)
