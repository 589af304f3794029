"""Class-level constants are read-only in steps and stored with every task; Metaflow's private names of a flow
(`_graph`, `_current_step`, `_foreach_stack`) and its `name` artifact are there."""

from __future__ import annotations

from pathlib import Path

from tests.runtime.helpers import run_flow


def test_constants_are_readable_read_only_and_stored_with_every_task(tmp_path: Path) -> None:
    run = run_flow("constants_flow.py", root=tmp_path / "ds")
    assert run.ok, run.output
    tasks = run.tasks()
    assert {t.step_name for t in tasks} == {"start", "each", "join", "end"}
    for task in tasks:
        assert task["RATE"] == 0.5 and task["LABELS"] == ("x", "y") and task["scale"] == 3, task.pathspec
        assert task["name"] == "ConstantsFlow"
    start = run.task("start")
    assert "'RATE' is a constant of flow ConstantsFlow" in start["refused"]
    assert start["parameter_names_seen"] == ["scale"]
    assert run.task("join")["parameter_names_in_join"] == ["scale"]  # in every step, not only the first
    assert run.task("join")["rates"] == [1.5, 1.5] and run.task("join")["rate_in_join"] == 0.5


def test_metaflows_private_names_of_a_flow(tmp_path: Path) -> None:
    run = run_flow("constants_flow.py", root=tmp_path / "ds")
    assert run.ok, run.output
    assert run.task("start")["steps_seen"] == ["start"]
    each = run.tasks("each")
    assert [t["frames"] for t in each] == [[("items", 0)], [("items", 1)]]
    assert run.task("end")["node_type"] == "end"


def test_a_changed_constant_runs_the_first_step_again(tmp_path: Path) -> None:
    flow = tmp_path / "constant_change_flow.py"
    source = (Path(__file__).parents[1] / "flows" / "constants_flow.py").read_text()
    flow.write_text(source)
    first = run_flow(flow, root=tmp_path / "ds")
    assert first.ok, first.output
    assert run_flow(flow, root=tmp_path / "ds").output.count("Cache hit") == 5  # unchanged: all reused
    flow.write_text(source.replace("RATE = 0.5", "RATE = 0.25"))
    changed = run_flow(flow, root=tmp_path / "ds")
    assert changed.ok, changed.output
    assert "Cache hit" not in changed.output  # the stored constant changed, and with it every step's inputs
    assert changed.task("start")["RATE"] == 0.25 and changed.task("join")["rates"] == [0.75, 0.75]


def test_current_gives_client_objects_and_the_runs_user_tags(tmp_path: Path) -> None:
    run = run_flow("current_flow.py", "--tag", "one", "--tag", "two", root=tmp_path / "ds")
    assert run.ok, run.output
    start = run.task("start")
    assert start["tags_seen"] == {"one", "two"} and run.task("end")["tags_in_end"] == {"one", "two"}
    assert start["task_obj"].pathspec == f"CurrentObjectsFlow/{run.run_id}/start/{start.task_id}"
    assert start["run_obj"].pathspec == f"CurrentObjectsFlow/{run.run_id}"
    assert start["has_step_name"] is True and start["missing"] == "default"


def test_current_outside_a_flow_is_empty() -> None:
    from flowstone import current

    assert not current.is_running_flow
    assert current.flow_name is None and current.pathspec is None and current.task is None and current.run is None
    assert current.tags is None and current.parameter_names == [] and current.tempdir is None
    assert "flow_name" not in current and current.get("project_name", "none") == "none"
