"""Graph shapes crossed with behaviours, each run as a user runs it: ``python flow.py run`` in a subprocess."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flowstone.errors import ExceptionWrapper
from tests.runtime.helpers import FlowRun, run_flow


@dataclass(frozen=True)
class Shape:
    file: str
    steps: tuple[str, ...]
    tasks: int  # tasks in a successful run
    target: str  # the step where misbehaviour is injected
    result: Any
    run_args: tuple[str, ...] = ()
    has_foreach: bool = False


SHAPES = {
    "linear": Shape("linear_flow.py", ("start", "double", "add", "end"), 4, "double", {"total": 12, "scale": 2}),
    "branch": Shape(
        "branch_flow.py", ("start", "a", "b", "join", "end"), 5, "b",
        {"a": 6, "b": 3, "common": "same", "shared": [1, 2, 3]},
    ),
    "nested_branch": Shape(
        "nested_branch_flow.py",
        ("start", "left", "left_a", "left_b", "left_join", "right", "join", "end"), 8, "left_b",
        {"left": 23, "right": 20, "base": 10},
    ),
    "foreach": Shape(
        "foreach_flow.py", ("start", "body", "join", "end"), 7, "body",
        {"outs": ["item-0!@0", "item-1!@1", "item-2!@2", "item-3!@3"], "indexes": [0, 1, 2, 3], "count": 4},
        has_foreach=True,
    ),
    "nested_foreach": Shape(
        "nested_foreach_flow.py", ("start", "row", "cell", "join_cols", "join_rows", "end"), 13, "cell",
        {"grid": [[f"r{r}:{c}:[({r}, 2), ({c}, 3)]" for c in range(3)] for r in range(2)]},
        has_foreach=True,
    ),
    "foreach_1000": Shape(
        "foreach_flow.py", ("start", "body", "join", "end"), 1003, "body",
        {"outs": [f"item-{i}!@{i}" for i in range(1000)], "indexes": list(range(1000)), "count": 1000},
        run_args=("--count", "1000", "--max-num-splits", "1000", "--max-workers", "8"),
        has_foreach=True,
    ),
    "branch_in_foreach": Shape(
        "branch_in_foreach_flow.py", ("start", "fan", "square", "cube", "inner_join", "outer_join", "end"), 15,
        "cube", {"pairs": [(1, 1, 1), (2, 4, 8), (3, 9, 27)]}, has_foreach=True,
    ),
}  # fmt: skip
SMALL_SHAPES = [name for name in SHAPES if name != "foreach_1000"]


def _run(shape: Shape, tmp_path: Path, env: dict[str, str] | None = None, top_args: tuple[str, ...] = ()) -> FlowRun:
    return run_flow(shape.file, *shape.run_args, root=tmp_path / "ds", env={"FS_TEST_INDEX": "1", **(env or {})},
                    top_args=top_args)  # fmt: skip


def _assert_failed_at(run: FlowRun, shape: Shape, message: str) -> None:
    assert run.proc.returncode == 1, run.output
    assert f"Step '{shape.target}' failed" in run.output
    assert message in run.output
    assert run.fds.load_run_end(run.run_id)["status"] == "failed"
    assert run.tasks("end") == []
    not_done = [t for t in run.tasks(allow_not_done=True) if not t.is_done]
    assert any(t.step_name == shape.target for t in not_done), "the failing task is recorded, and not as done"
    assert all(t.load_metadata(["attempt_ok"]) == {"attempt_ok": False} for t in not_done)


@pytest.mark.parametrize("name", list(SHAPES))
def test_success_propagates_artifacts_and_records_everything(name: str, tmp_path: Path) -> None:
    shape = SHAPES[name]
    run = _run(shape, tmp_path)
    assert run.ok, run.output
    assert run.end_result() == shape.result
    tasks = run.tasks(allow_not_done=True)
    assert len(tasks) == shape.tasks and all(t.is_done for t in tasks)
    assert {t.step_name for t in tasks} == set(shape.steps)
    record = run.fds.load_run_record(run.run_id)
    for task in tasks[:50]:
        meta = task.load_metadata()
        assert meta["attempt"] == 0 and meta["attempt_ok"] is True
        assert meta["finished_at"] >= meta["started_at"]
        assert meta["code_package"] == record["code_package"]
        assert all(p.startswith(f"{run.run_id}/") for p in meta["input_paths"])
        assert (meta["input_paths"] == []) == (task.step_name == "start")
        where = f"{task.step_name}/{task.task_id}"
        assert f"stdout of {where} attempt 0" in task.load_log("stdout")
        assert f"stderr of {where} attempt 0" in task.load_log("stderr")
    assert run.fds.load_run_end(run.run_id)["status"] == "succeeded"


@pytest.mark.parametrize("name", SMALL_SHAPES)
def test_exception_fails_the_run_naming_the_step(name: str, tmp_path: Path) -> None:
    shape = SHAPES[name]
    run = _run(shape, tmp_path, {"FS_TEST_FAIL_AT": shape.target})
    _assert_failed_at(run, shape, f"ValueError: planned failure in {shape.target}")
    failed = [t for t in run.tasks(shape.target, allow_not_done=True) if not t.is_done]
    exceptions = [t.load_metadata(["exception"])["exception"] for t in failed]
    planned = [e for e in exceptions if e["type"] == "builtins.ValueError"]
    assert planned and all("Traceback" in e["traceback"] and "misbehave" in e["traceback"] for e in planned)
    assert any("planned failure" in t.load_log("stderr") for t in failed)


@pytest.mark.parametrize("name", SMALL_SHAPES)
@pytest.mark.parametrize(("kind", "message"), [("EXIT", "exited with code 3"), ("SEGV", "killed by SIGSEGV")])
def test_crashing_task_process_fails_the_run(name: str, kind: str, message: str, tmp_path: Path) -> None:
    shape = SHAPES[name]
    run = _run(shape, tmp_path, {f"FS_TEST_{kind}_AT": shape.target})
    _assert_failed_at(run, shape, message)


@pytest.mark.parametrize("name", list(SHAPES))
def test_retry_recovers_and_keeps_each_attempt(name: str, tmp_path: Path) -> None:
    shape = SHAPES[name]
    run = _run(shape, tmp_path, {"FS_TEST_FLAKY_AT": shape.target},
               top_args=("--with", "retry:times=1,minutes_between_retries=0"))  # fmt: skip
    assert run.ok, run.output
    assert run.end_result() == shape.result
    retried = [t for t in run.tasks(shape.target) if t.attempt == 1]
    assert retried, "the flaky task must have succeeded on its second attempt"
    for task in retried:
        assert sorted(task.attempts()) == [0, 1]
        assert "flaky failure" in task.load_log("stderr", attempt=0)
        assert "attempt 1" in task.load_log("stdout", attempt=1)
        first = run.fds.get_datastore_for_task(run.run_id, task.step_name, task.task_id, attempt=0,
                                               allow_not_done=True)  # fmt: skip
        assert not first.is_done and first.load_metadata(["attempt_ok"]) == {"attempt_ok": False}


@pytest.mark.parametrize("name", [n for n in SMALL_SHAPES if not SHAPES[n].has_foreach])
def test_catch_stores_the_exception_and_continues(name: str, tmp_path: Path) -> None:
    shape = SHAPES[name]
    run = _run(shape, tmp_path, {"FS_TEST_FAIL_AT": shape.target}, top_args=("--with", "catch:var=caught"))
    assert run.ok, run.output
    caught = run.task(shape.target)["caught"]
    assert isinstance(caught, ExceptionWrapper) and caught.type == "builtins.ValueError"
    assert "planned failure" in str(caught)
    assert run.task("start")["caught"] is None


@pytest.mark.parametrize("name", [n for n in SMALL_SHAPES if SHAPES[n].has_foreach])
def test_catch_on_foreach_split_is_refused(name: str, tmp_path: Path) -> None:
    run = _run(SHAPES[name], tmp_path, top_args=("--with", "catch"))
    assert run.proc.returncode == 1
    assert "@catch is not supported on a foreach split step" in run.output
    assert "(added by --with catch)" in run.output


def test_catch_fallback_after_a_crash(tmp_path: Path) -> None:
    shape = SHAPES["linear"]
    run = _run(shape, tmp_path, {"FS_TEST_EXIT_AT": shape.target}, top_args=("--with", "catch:var=caught"))
    assert run.ok, run.output
    task = run.task(shape.target)
    assert task.attempt == 1 and task.load_metadata(["fallback"]) == {"fallback": True}
    assert "crashed" in str(task["caught"])
    assert run.end_result()["total"] is not None


@pytest.mark.parametrize("name", SMALL_SHAPES)
def test_timeout_stops_a_hanging_step(name: str, tmp_path: Path) -> None:
    shape = SHAPES[name]
    run = _run(shape, tmp_path, {"FS_TEST_HANG_AT": shape.target}, top_args=("--with", "timeout:seconds=1"))
    _assert_failed_at(run, shape, "TimeoutException")
