"""dump, logs and tag (flow-file commands) and the standalone flowstone command."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtime.helpers import FlowRun, run_flow


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> FlowRun:
    root = tmp_path_factory.mktemp("inspect") / "ds"
    run = run_flow("client_flow.py", root=root)
    assert run.ok, run.output
    return run


def flow_cmd(done: FlowRun, *args: str) -> subprocess.CompletedProcess[str]:
    root = done.fds.datastore_root
    return subprocess.run([sys.executable, str(Path(__file__).parents[1] / "flows" / "client_flow.py"),
                           "--datastore-root", root, *args], capture_output=True, text=True)  # fmt: skip


def flowstone(done: FlowRun, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flowstone.cli.main", "--datastore-root", done.fds.datastore_root,
                           *args], capture_output=True, text=True)  # fmt: skip


def test_dump(done: FlowRun, tmp_path: Path) -> None:
    out = flow_cmd(done, "dump", f"{done.run_id}/start")
    assert out.returncode == 0, out.stderr
    assert f"Artifacts of ClientFlow/{done.run_id}/start/1 (attempt 0):" in out.stdout
    assert "  small: 'tiny'" in out.stdout and "  alpha: 0.5" in out.stdout
    assert "big: <builtins.bytes, 1048576 bytes; raise --max-value-size to show>" in out.stdout
    assert "_secret" not in out.stdout
    only = flow_cmd(done, "dump", f"{done.run_id}/start/1", "--include", "small,items")
    assert "small" in only.stdout and "items" in only.stdout and "alpha" not in only.stdout
    target = tmp_path / "dump.pkl"
    flow_cmd(done, "dump", f"{done.run_id}/work", "--file", str(target))
    dumped = pickle.loads(target.read_bytes())
    assert sorted(v["result"] for v in dumped.values()) == ["x-0", "y-1", "z-0"]


def test_logs(done: FlowRun) -> None:
    both = flow_cmd(done, "logs", f"{done.run_id}/start")
    assert both.stdout == "hello from start\n" and both.stderr == "warning from start\n"
    only_err = flow_cmd(done, "logs", f"{done.run_id}/start/1", "--stderr")
    assert only_err.stdout == "" and only_err.stderr == "warning from start\n"
    retried = next(t for t in done.tasks("work") if t.attempt == 1)
    first = flow_cmd(done, "logs", f"{done.run_id}/work/{retried.task_id}", "--attempt", "0", "--stderr")
    assert "first attempt of y fails" in first.stderr
    missing = flow_cmd(done, "logs", f"{done.run_id}")
    assert missing.returncode == 1 and "names no step or task" in missing.stderr


def test_tag_commands(done: FlowRun) -> None:
    assert "Tags of" in flow_cmd(done, "tag", "add", "--run-id", done.run_id, "one", "two").stdout
    flow_cmd(done, "tag", "replace", "--run-id", done.run_id, "two", "three")
    flow_cmd(done, "tag", "remove", "--run-id", done.run_id, "one")
    listed = flow_cmd(done, "tag", "list", "--run-id", done.run_id).stdout
    assert "User tags:   three" in listed and "user:" in listed
    assert done.fds.load_run_tags(done.run_id) == ["three"]


def test_standalone_command(done: FlowRun) -> None:
    flows = flowstone(done, "flows", "-A")
    assert flows.returncode == 0 and "ClientFlow" in flows.stdout and done.run_id in flows.stdout
    runs = flowstone(done, "runs", "ClientFlow", "-A")
    assert done.run_id in runs.stdout and "succeeded" in runs.stdout
    show_run = flowstone(done, "show", f"ClientFlow/{done.run_id}")
    work_rows = [line.split()[:3] for line in show_run.stdout.splitlines() if line.startswith("work")]
    assert work_rows == [["work", "3", "3"]]
    show_task = flowstone(done, "show", f"ClientFlow/{done.run_id}/start/1")
    assert "big" in show_task.stdout and "1.0 MiB" in show_task.stdout
    show_step = flowstone(done, "show", f"ClientFlow/{done.run_id}/work")
    assert show_step.stdout.count("done") == 3
    dump = flowstone(done, "dump", f"ClientFlow/{done.run_id}/end")
    assert "summary" in dump.stdout
    logs = flowstone(done, "logs", f"ClientFlow/{done.run_id}/start", "--stdout")
    assert logs.stdout == "hello from start\n"
    bad = flowstone(done, "show", "ClientFlow/nope")
    assert bad.returncode == 1 and "does not exist" in bad.stderr
