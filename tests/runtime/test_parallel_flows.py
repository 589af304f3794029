"""@parallel steps run as a user runs them: N tasks started together with Metaflow's task ids, each knowing its
place through ``current.parallel``; the join receives all N; a failing node stops its peers and the whole step is
retried; a resume reuses the N tasks all together or not at all (the cache too: tests/flow/test_parallel_runs.py)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.runtime.helpers import FlowRun, run_flow


def _decisions(run: FlowRun, step: str) -> list[str]:
    return [t.load_metadata(["cache"])["cache"]["decision"] for t in run.tasks(step)]


def test_tasks_start_together_and_the_join_receives_them_all(tmp_path: Path) -> None:
    run = run_flow("parallel_flow.py", root=tmp_path / "ds")
    assert run.ok, run.output
    train = run.tasks("train")
    assert [t.task_id for t in train] == ["2", "2_node_1", "2_node_2"]
    result = run.end_result()
    assert result["total"] == 33
    assert result["seen"] == [
        (0, 3, "2", "127.0.0.1", True, 0, "2"),
        (1, 3, "2", "127.0.0.1", True, 1, "2_node_1"),
        (2, 3, "2", "127.0.0.1", True, 2, "2_node_2"),
    ]
    assert result["outside"] == (False, (("127.0.0.1", 1, 0, None)))
    join = run.task("join").load_metadata(["input_paths"])["input_paths"]
    assert join == [f"{run.run_id}/train/{t}" for t in ("2", "2_node_1", "2_node_2")]
    assert train[1].load_metadata(["parallel"])["parallel"] == {
        "main_ip": "127.0.0.1", "num_nodes": 3, "node_index": 1, "control_task_id": "2"
    }  # fmt: skip


def test_a_failing_node_stops_its_peers_and_the_step_is_retried_as_a_whole(tmp_path: Path) -> None:
    started = time.monotonic()
    run = run_flow("parallel_flow.py", root=tmp_path / "ds", env={"FAIL_NODE": "1", "PEERS_WAIT": "1"}, timeout=50)
    assert run.ok, run.output
    assert time.monotonic() - started < 40  # the waiting peers were stopped, not waited for
    assert "node 1 failed" in run.output
    assert "The task was stopped because task 2_node_1 of its @parallel step failed." in run.output
    for task in run.tasks("train"):
        assert task.attempt == 1
        assert task.load_metadata(["attempt"])["attempt"] == 1
    assert run.end_result()["total"] == 33


def test_a_node_failing_for_good_fails_the_run(tmp_path: Path) -> None:
    run = run_flow("parallel_flow.py", root=tmp_path / "ds", env={"FAIL_NODE": "2", "FAIL_TIMES": "2"})
    assert run.proc.returncode == 1
    assert "Step 'train' failed" in run.output and "/train/2_node_2" in run.output
    assert run.tasks("join") == []


def test_resume_runs_all_tasks_again_if_one_failed(tmp_path: Path) -> None:
    failed = run_flow("parallel_flow.py", root=tmp_path / "ds", env={"FAIL_NODE": "1", "FAIL_TIMES": "2",
                                                                     "PEERS_FIRST": "1"})  # fmt: skip
    assert failed.proc.returncode == 1, failed.output
    done = {t.task_id for t in failed.tasks("train")}
    assert done == {"2", "2_node_2"}  # the two other nodes succeeded
    resumed = run_flow("parallel_flow.py", root=tmp_path / "ds", command="resume")
    assert resumed.proc.returncode == 0, resumed.output
    run = FlowRun(resumed.proc, max(resumed.fds.list_run_ids(), key=int), resumed.fds)
    assert _decisions(run, "start") == ["resumed"]
    caches = [t.load_metadata(["cache"])["cache"] for t in run.tasks("train")]
    assert "resumed" not in [c["decision"] for c in caches]  # node 1 runs again, so the others do too
    for cache in (caches[0], caches[2]):
        assert cache["reason"] == "other tasks of its @parallel step run, so it runs too"
    assert run.end_result()["total"] == 33
