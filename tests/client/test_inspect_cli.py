"""dump, logs and tag (flow-file commands) and the standalone flowstone command."""

from __future__ import annotations

import pickle
import re
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
    assert "  small: 'tiny'" in flow_cmd(done, "dump", f"{done.run_id}/start", "--private").stdout
    only = flow_cmd(done, "dump", f"{done.run_id}/start/1", "--include", "small,items")
    assert "small" in only.stdout and "items" in only.stdout and "alpha" not in only.stdout
    target = tmp_path / "dump.pkl"
    flow_cmd(done, "dump", f"{done.run_id}/work", "--file", str(target))
    dumped = pickle.loads(target.read_bytes())
    assert sorted(v["result"] for v in dumped.values()) == ["x-0", "y-1", "z-0"]


def test_logs_print_content_on_stdout(done: FlowRun) -> None:
    both = flow_cmd(done, "logs", f"{done.run_id}/start")
    assert both.stdout == "hello from start\nwarning from start\n"  # stdout first, then stderr, as in Metaflow
    assert f"Dumping logs of run_id={done.run_id} step=start task_id=1" in both.stderr and "stderr\n" in both.stderr
    only_err = flow_cmd(done, "--quiet", "logs", f"{done.run_id}/start/1", "--stderr")
    assert (only_err.stdout, only_err.stderr) == ("warning from start\n", "")
    assert flow_cmd(done, "--quiet", "logs", f"{done.run_id}/start", "--stdout", "--stderr").stdout == both.stdout
    assert flow_cmd(done, "--quiet", "logs", f"{done.run_id}/start", "--no-both").stdout == ""
    stamped = flow_cmd(done, "--quiet", "logs", f"{done.run_id}/start", "--stdout", "--timestamps").stdout
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} hello from start\n", stamped)
    retried = next(t for t in done.tasks("work") if t.attempt == 1)
    first = flow_cmd(done, "--quiet", "logs", f"{done.run_id}/work/{retried.task_id}", "--attempt", "0", "--stderr")
    assert "first attempt of y fails" in first.stdout
    missing = flow_cmd(done, "logs", f"{done.run_id}")
    assert missing.returncode == 1 and "names no step or task" in missing.stderr


def test_tag_commands(done: FlowRun) -> None:
    run_id = done.run_id
    added = flow_cmd(done, "tag", "add", "--run-id", run_id, "one", "two", "user:tester")
    assert "Operation successful. New tags:" in added.stdout and "*one*" in added.stdout
    assert added.stderr.startswith("flowstone ") and "executing ClientFlow for user:" in added.stderr
    flow_cmd(done, "tag", "replace", "--run-id", run_id, "--remove", "two", "--add", "three", "--add", "four")
    flow_cmd(done, "tag", "replace", "--run-id", run_id, "four", "five")  # the short form: OLD NEW
    flow_cmd(done, "tag", "remove", "--run-id", run_id, "one")
    flat = flow_cmd(done, "tag", "list", "--flat", "--hide-system-tags", "--run-id", run_id)
    assert flat.stderr.splitlines()[1:] == ["five", "three"] and flat.stdout == ""  # after the banner
    every = flow_cmd(done, "tag", "list", "--flat", "--run-id", run_id).stderr.splitlines()[1:]
    assert {"five", "three"} < set(every) and any(t.startswith("user:") for t in every)
    quiet = flow_cmd(done, "--quiet", "tag", "list", run_id).stdout
    assert quiet.startswith(f"ClientFlow/{run_id} ; ") and quiet.rstrip().endswith(" ; five,three")
    assert done.run_id in flow_cmd(done, "--quiet", "tag", "list").stdout  # every run of the flow
    assert done.fds.load_run_tags(run_id) == ["five", "three"]
    refusals = {("remove", "--run-id", run_id, "five", "user:tester"): "system tag",
                ("replace", "--run-id", run_id, "--add", "x"): "at least one tag to add (--add) and one tag",
                ("add", "--run-id", run_id, "a" * 501): "too long",
                ("add", "one"): f"Your latest run of ClientFlow in namespace user:tester is {run_id}",
                ("add", "--run-id", run_id, "--namespace", "user:nobody", "x"): "namespace user:nobody"}  # fmt: skip
    for args, why in refusals.items():
        refused = flow_cmd(done, "tag", *args)
        assert refused.returncode == 1 and why in refused.stderr, refused.stderr
    assert done.fds.load_run_tags(run_id) == ["five", "three"]  # a refused change changes nothing


def test_tags_must_be_utf8(done: FlowRun) -> None:
    root = done.fds.datastore_root
    script = str(Path(__file__).parents[1] / "flows" / "client_flow.py")
    args = [sys.executable.encode(), script.encode(), b"--datastore-root", root.encode(), b"tag", b"add",
            b"--run-id", done.run_id.encode(), b"\xff\xfe"]  # fmt: skip
    refused = subprocess.run(args, capture_output=True, text=True)
    assert refused.returncode == 1 and "UTF-8" in refused.stderr


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
    tagged = flowstone(done, "tag", "add", "--run-id", f"ClientFlow/{done.run_id}", "from-anywhere")
    assert tagged.returncode == 0 and "*from-anywhere*" in tagged.stdout
    flowstone(done, "tag", "remove", "--run-id", f"ClientFlow/{done.run_id}", "from-anywhere")
    bad = flowstone(done, "show", "ClientFlow/nope")
    assert bad.returncode == 1 and "does not exist" in bad.stderr
