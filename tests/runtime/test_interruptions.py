"""A run whose runner is killed, or interrupted with Ctrl-C, leaves a datastore that reads and resumes."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from flowstone.client import context
from flowstone.client.runs import Run
from flowstone.datastore import FlowDataStore
from flowstone.settings import Settings
from tests.runtime.helpers import FLOWS, run_flow


def _start_gated(tmp_path: Path, root: Path | str | None = None) -> tuple[subprocess.Popen[str], Path | str, str]:
    """Start client_flow.py and return once its join step is running (blocked on a FIFO)."""
    gate = str(tmp_path / "gate")
    os.mkfifo(gate + ".started")
    os.mkfifo(gate + ".release")
    root = root or tmp_path / "ds"
    proc = subprocess.Popen(
        [sys.executable, str(FLOWS / "client_flow.py"), "--datastore-root", str(root), "run"],
        env={**os.environ, "FS_TEST_GATE": gate}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    with open(gate + ".started") as f:
        assert f.read() == "started\n"
    return proc, root, gate


def _flow(root: Path | str, ds_type: str = "local", name: str = "ClientFlow") -> FlowDataStore:
    settings = Settings.from_env(default_datastore=ds_type, **{f"datastore_sysroot_{ds_type}": str(root)})
    return FlowDataStore(name, settings=settings)


@pytest.mark.parametrize("ds_type", ["local", "s3"])
def test_killed_runner_leaves_a_resumable_run(tmp_path: Path, ds_type: str, request: pytest.FixtureRequest) -> None:
    s3_root = None
    if ds_type == "s3":
        request.getfixturevalue("s3_env")
        s3_root = f"s3://flowstone-test/killed-{uuid.uuid4().hex[:12]}"
    proc, root, _ = _start_gated(tmp_path, s3_root)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    output = proc.stdout.read()  # type: ignore[union-attr]
    proc.stdout.close()  # type: ignore[union-attr]
    join_pid = int(re.search(r"/join/\d+ \(pid (\d+)\)\] Task is starting", output).group(1))  # type: ignore[union-attr]
    try:
        pidfd = os.pidfd_open(join_pid)
    except ProcessLookupError:
        pass  # already gone
    else:  # the kernel kills the task when its runner dies: wait for that, not for a fixed time
        readable, _, _ = select.select([pidfd], [], [], 30)
        os.close(pidfd)
        assert readable, "the task outlived its runner"
    fds = _flow(root, ds_type)
    (run_id,) = fds.list_run_ids()
    assert fds.load_run_end(run_id) is None, output  # never finished
    context.datastore(ds_type, str(root))
    context.namespace(None)
    assert Run(f"ClientFlow/{run_id}").status == "interrupted", output
    context.default_metadata()
    context.default_namespace()
    done = {t.step_name for t in fds.get_task_datastores(run_id=run_id)}
    assert done == {"start", "work"}, output
    resumed = run_flow("client_flow.py", "--origin-run-id", run_id, root=root, command="resume", datastore=ds_type)
    assert resumed.proc.returncode == 0, resumed.output
    new_run = max(fds.list_run_ids(), key=int)
    end = fds.get_datastore_for_task(new_run, "end", fds.list_task_ids(new_run, "end")[0])
    assert end["summary"]["results"] == ["x-0", "y-1", "z-0"]
    cloned = fds.get_task_datastores(run_id=new_run, steps=["start", "work"])
    assert all(t.load_metadata(["origin_run_id"])["origin_run_id"] == run_id for t in cloned)


def test_ctrl_c_stops_the_run_and_records_it(tmp_path: Path) -> None:
    proc, root, _ = _start_gated(tmp_path)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, output
    assert "the run was interrupted" in output
    fds = _flow(root)
    (run_id,) = fds.list_run_ids()
    assert fds.load_run_end(run_id)["status"] == "failed"
    join = fds.get_task_datastores(run_id=run_id, steps=["join"], allow_not_done=True)
    assert [t.is_done for t in join] == [False]
    assert join[0].load_metadata(["attempt_ok"]) == {"attempt_ok": False}, output


def test_ctrl_c_while_the_runner_records_a_started_task_still_stops_and_records_it(tmp_path: Path) -> None:
    """Ctrl-C landing between the executor starting a task and the runner noting it: the task is killed and its
    attempt recorded as failed, not left running unrecorded."""
    script = Path(__file__).with_name("interrupt_at_submit.py")
    proc = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parents[2])  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "KeyboardInterrupt" not in output and "Traceback" not in output, output
    fds = _flow(tmp_path, name="PausingFlow")
    (run_id,) = fds.list_run_ids()
    assert fds.load_run_end(run_id)["status"] == "failed", output
    (wait,) = fds.get_task_datastores(run_id=run_id, steps=["wait"], allow_not_done=True)
    assert not wait.is_done
    assert wait.load_metadata(["attempt_ok"]) == {"attempt_ok": False}, output
