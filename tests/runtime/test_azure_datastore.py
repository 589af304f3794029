"""Every flow feature on the Azure Blob datastore, against Azurite: runs, logs, the Client API, the cache, resume,
IncludeFile, and a runner killed mid-run."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from flowstone.client import context
from flowstone.client.runs import Flow, Run
from tests.runtime.helpers import FlowRun, run_flow
from tests.runtime.test_interruptions import _flow, _start_gated


def _root() -> str:
    return f"azure://flowstone-test/ds-{uuid.uuid4().hex[:12]}"


def _decisions(run: FlowRun) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for task in run.tasks():
        found.setdefault(task.step_name, set()).add(task.load_metadata(["cache"])["cache"]["decision"])
    return found


def test_run_client_cache_and_resume_on_azure(azure_env: dict[str, str]) -> None:
    root = _root()
    first = run_flow("client_flow.py", root=root, datastore="azure")
    assert first.ok, first.output
    assert first.task("end")["summary"]["results"] == ["x-0", "y-1", "z-0"]
    context.datastore("azure", root)
    context.namespace(None)
    try:
        run = Run(f"ClientFlow/{first.run_id}")
        assert run.successful and run.data.summary["results"] == ["x-0", "y-1", "z-0"]
        assert "hello from start" in run["start"].task.stdout
        assert run["start"].task.data.big == bytes(range(256)) * 4096
        assert run["start"].task.metadata_dict["custom_metric"] == 0.95
        assert Flow("ClientFlow").latest_run.id == first.run_id
    finally:
        context.default_metadata()
        context.default_namespace()
    # the flowstone command reads the Azure datastore, its type taken from the root's scheme
    listed = subprocess.run([str(Path(sys.executable).parent / "flowstone"), "--datastore-root", root, "runs",
                             "ClientFlow", "-A"], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert listed.returncode == 0 and str(first.run_id) in listed.stdout, listed.stdout + listed.stderr
    # a failed run resumes on Azure
    failed = run_flow("linear_flow.py", root=root, datastore="azure", env={"FS_TEST_FAIL_AT": "add"})
    assert not failed.ok
    resumed = run_flow("linear_flow.py", "--origin-run-id", str(failed.run_id), root=root, datastore="azure",
                       command="resume")  # fmt: skip
    assert resumed.proc.returncode == 0, resumed.output


def test_include_file_cache_and_resume_on_azure(azure_env: dict[str, str], tmp_path: Path) -> None:
    root = _root()
    table = tmp_path / "table.csv"
    table.write_text("a,1\nb,2\n")
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 10)
    args = ("--table", str(table), "--blob", str(blob))
    run = run_flow("include_flow.py", *args, root=root, datastore="azure")
    assert run.ok, run.output
    assert run.task("end")["seen"] == {"table": "a,1\nb,2\n", "type": "str", "blob": bytes(range(256)) * 10}
    assert set().union(*_decisions(run).values()) == {"miss"}
    context.datastore("azure", root)
    context.namespace(None)
    try:
        assert Run(f"IncludeFlow/{run.run_id}").data.table == "a,1\nb,2\n"
    finally:
        context.default_metadata()
        context.default_namespace()
    # unchanged: every task is reused from the cache, nothing runs
    again = run_flow("include_flow.py", *args, root=root, datastore="azure")
    assert again.ok, again.output
    assert set().union(*_decisions(again).values()) == {"hit"} and "Task is starting" not in again.output
    # the same content under another name is still a hit; an edited file is a miss
    copy = tmp_path / "same.csv"
    copy.write_text("a,1\nb,2\n")
    same = run_flow("include_flow.py", "--table", str(copy), "--blob", str(blob), root=root, datastore="azure")
    assert same.ok and _decisions(same)["start"] == {"hit"}, same.output
    copy.write_text("a,1\nb,3\n")
    edited = run_flow("include_flow.py", "--table", str(copy), "--blob", str(blob), root=root, datastore="azure")
    assert edited.ok and _decisions(edited)["start"] == {"miss"}, edited.output
    # a failed run resumes: its successful tasks are reused, the failed step runs again
    failed = run_flow("include_flow.py", *args, "--no-cache", root=root, datastore="azure",
                      env={"FS_TEST_FAIL_IN_END": "1"})  # fmt: skip
    assert not failed.ok
    resumed = run_flow("include_flow.py", "--origin-run-id", str(failed.run_id), root=root, datastore="azure",
                       command="resume")  # fmt: skip
    assert resumed.proc.returncode == 0, resumed.output
    new_run = max(resumed.fds.list_run_ids(), key=int)
    cloned = resumed.fds.get_task_datastores(run_id=new_run, steps=["start", "middle"])
    assert [t.load_metadata(["origin_run_id"])["origin_run_id"] for t in cloned] == [failed.run_id] * 2
    end = resumed.fds.get_task_datastores(run_id=new_run, steps=["end"])[0]
    assert end["seen"]["blob"] == bytes(range(256)) * 10


def test_killed_runner_leaves_a_resumable_run_on_azure(azure_env: dict[str, str], tmp_path: Path) -> None:
    proc, root, _ = _start_gated(tmp_path, _root())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    output = proc.stdout.read()  # type: ignore[union-attr]
    proc.stdout.close()  # type: ignore[union-attr]
    join_pid = int(re.search(r"/join/\d+ \(pid (\d+)\)\] Task is starting", output).group(1))  # type: ignore[union-attr]
    try:
        pidfd = os.pidfd_open(join_pid)
    except ProcessLookupError:
        pass
    else:  # the kernel kills the task when its runner dies: wait for that, not for a fixed time
        readable, _, _ = select.select([pidfd], [], [], 30)
        os.close(pidfd)
        assert readable, "the task outlived its runner"
    fds = _flow(root, "azure")
    (run_id,) = fds.list_run_ids()
    assert fds.load_run_end(run_id) is None
    assert {t.step_name for t in fds.get_task_datastores(run_id=run_id)} == {"start", "work"}
    resumed = run_flow("client_flow.py", "--origin-run-id", run_id, root=root, command="resume", datastore="azure")
    assert resumed.proc.returncode == 0, resumed.output
    new_run = max(fds.list_run_ids(), key=int)
    end = fds.get_datastore_for_task(new_run, "end", fds.list_task_ids(new_run, "end")[0])
    assert end["summary"]["results"] == ["x-0", "y-1", "z-0"]
