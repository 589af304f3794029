"""Start and end steps with names of their own (``@step(start=True)``, ``@step(end=True)``, both on the step of a
one-step flow), run as a user runs them: the start step gets the parameters, the run ends with the end step, the
run's record names both, and resume works from them."""

from __future__ import annotations

from pathlib import Path

from tests.runtime.helpers import FlowRun, run_flow


def test_custom_start_and_end_steps(tmp_path: Path) -> None:
    run = run_flow("custom_steps_flow.py", "--greeting", "hi", root=tmp_path / "ds")
    assert run.ok, run.output
    assert run.task("finish")["result"] == "hi world"
    assert run.task("begin")["greeting"] == "hi"  # the start step stores the parameters
    graph = run.fds.load_run_record(run.run_id)["graph"]
    assert (graph["start_step"], graph["end_step"]) == ("begin", "finish")
    assert [s["type"] for s in graph["steps"]] == ["start", "linear", "end"]
    assert run.fds.load_run_end(run.run_id)["status"] == "succeeded"


def test_resume_from_a_custom_start_step(tmp_path: Path) -> None:
    failed = run_flow("custom_steps_flow.py", root=tmp_path / "ds", env={"FS_TEST_FAIL_AT": "middle"})
    assert failed.proc.returncode == 1 and "Step 'middle' failed" in failed.output
    done = run_flow("custom_steps_flow.py", root=tmp_path / "ds", command="resume")
    assert done.proc.returncode == 0, done.output
    run = FlowRun(done.proc, max(done.fds.list_run_ids(), key=int), done.fds)
    assert run.task("begin").load_metadata(["cache"])["cache"]["decision"] == "resumed"
    assert run.task("finish")["result"] == "hello world"


def test_a_one_step_flow(tmp_path: Path) -> None:
    run = run_flow("single_step_flow.py", "--size", "2", root=tmp_path / "ds")
    assert run.ok, run.output
    assert run.task("only")["result"] == [0, 1] and run.task("only")["size"] == 2
    graph = run.fds.load_run_record(run.run_id)["graph"]
    assert graph["start_step"] == graph["end_step"] == "only"
    show = run_flow("single_step_flow.py", root=tmp_path / "ds", command="show")
    assert "Step only  (start, end)" in show.output
