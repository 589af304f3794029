"""Resume: the failed step and what follows run; what succeeded before is cloned, unless its code changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowstone.client import context
from flowstone.client.runs import Flow
from tests.cache.project import ALL_TASKS, Project

BEFORE = {
    "start": [],
    "square": ["start", "square[0]"],
    "join": ["start", "square[0]", "square[1]", "square[2]"],
    "scale": ["start", "square[0]", "square[1]", "square[2]", "join"],
    "end": ["start", "square[0]", "square[1]", "square[2]", "join", "scale", "threshold", "versioned"],
}


@pytest.mark.parametrize("failing", list(BEFORE))
def test_resume_after_a_failure(tmp_path: Path, failing: str) -> None:
    project = Project(tmp_path)
    failed = project.run("--max-workers", "1", env={"FAIL_AT": failing})
    assert failed.returncode == 1 and f"planned failure in {failing}" in failed.stdout + failed.stderr
    origin = project.latest_run_id()
    resumed = project.run(command="resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    run_id = project.latest_run_id()
    decisions = project.decisions(run_id)
    assert set(decisions) == set(ALL_TASKS)
    cloned = sorted(name for name, decision in decisions.items() if decision == "resumed")
    assert cloned == sorted(BEFORE[failing])
    assert resumed.stdout.count("Cloned from CacheFlow/") == len(BEFORE[failing])
    fds = project.fds
    for task in fds.get_task_datastores(run_id=run_id):
        meta = task.load_metadata(["origin_pathspec", "origin_run_id", "cache"])
        assert meta["origin_run_id"] == origin
        if meta["cache"]["decision"] == "resumed":
            assert meta["origin_pathspec"].startswith(f"CacheFlow/{origin}/{task.step_name}/")
    context.datastore("local", str(project.datastore))
    context.namespace(None)
    try:
        latest = Flow("CacheFlow").latest_run
        assert latest.id == run_id and latest.successful and latest.origin_run_id == origin
    finally:
        context.default_metadata()
        context.default_namespace()


def test_resume_reruns_a_successful_step_whose_code_changed(tmp_path: Path) -> None:
    project = Project(tmp_path)
    assert project.run(env={"FAIL_AT": "end"}).returncode == 1
    project.edit(
        "cache_flow.py", "[v * self.factor for v in self.values]", "[v * self.factor * 10 for v in self.values]"
    )
    resumed = project.run(command="resume")
    assert resumed.returncode == 0
    assert "Running again, not cloning CacheFlow/" in resumed.stdout
    assert "code: cache_flow.py:CacheFlow.scale changed" in resumed.stdout
    decisions = project.decisions()
    assert decisions["scale"] == "miss" and decisions["join"] == "resumed"
    assert decisions["threshold"] != "resumed"  # its input changed, so it ran too


def test_clone_only_restores_blind_cloning(tmp_path: Path) -> None:
    project = Project(tmp_path)
    assert project.run(env={"FAIL_AT": "end"}).returncode == 1
    project.edit(
        "cache_flow.py", "[v * self.factor for v in self.values]", "[v * self.factor * 10 for v in self.values]"
    )
    assert project.run("--clone-only", command="resume").returncode == 0
    decisions = project.decisions()
    assert decisions["scale"] == "resumed" and decisions["versioned"] == "resumed"
    assert decisions["end"] != "resumed"


def test_resume_from_a_step_reruns_it_and_everything_after(tmp_path: Path) -> None:
    project = Project(tmp_path)
    assert project.run().returncode == 0
    assert project.run("scale", command="resume").returncode == 0
    decisions = project.decisions()
    assert {n for n, d in decisions.items() if d == "resumed"} == {
        "start",
        "square[0]",
        "square[1]",
        "square[2]",
        "join",
    }
    assert {n for n, d in decisions.items() if d == "rerun"} == {"scale", "threshold", "versioned", "end"}


def test_resume_runs_again_a_task_whose_data_was_deleted(tmp_path: Path) -> None:
    project = Project(tmp_path)
    assert project.run(env={"FAIL_AT": "end"}).returncode == 1
    start = project.fds.get_task_datastores(run_id=project.latest_run_id(), steps=["start"])[0]
    key = start.records["blob"].key
    (project.datastore / "data" / key[:2] / key).unlink()
    resumed = project.run(command="resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"not cloning CacheFlow/{start.run_id}/start/{start.task_id}: the origin task lost the data of blob" in (
        resumed.stdout
    )
    decisions = project.decisions()
    assert decisions["start"] != "resumed"
    assert (project.datastore / "data" / key[:2] / key).exists()  # produced again


def test_resume_runs_again_a_task_whose_record_is_damaged_and_says_so(tmp_path: Path) -> None:
    project = Project(tmp_path)
    assert project.run(env={"FAIL_AT": "end"}).returncode == 1
    origin = project.latest_run_id()
    join = project.fds.get_task_datastores(run_id=origin, steps=["join"])[0]
    done = project.datastore / "CacheFlow" / origin / "join" / join.task_id / f"{join.attempt}.DONE"
    done.write_bytes(done.read_bytes()[:30])
    resumed = project.run(command="resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "not cloning tasks of the origin run whose records are damaged" in resumed.stdout
    assert f"CacheFlow/{origin}/join/{join.task_id}" in resumed.stdout
    decisions = project.decisions()
    assert decisions["start"] == "resumed" and decisions["join"] != "resumed"
