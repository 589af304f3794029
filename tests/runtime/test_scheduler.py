"""The scheduler alone: graph + finished tasks -> ready tasks, no processes."""

from __future__ import annotations

from flowstone.flow.artifacts import PARALLEL_VAR
from flowstone.flow.graph import FlowGraph
from flowstone.runtime.scheduler import FinishedTask, Scheduler
from tests.flows.branch_in_foreach_flow import BranchInForeachFlow
from tests.flows.nested_foreach_flow import NestedForeachFlow
from tests.flows.parallel_flow import ParallelFlow
from tests.flows.switch_flow import SwitchFlow


def test_branch_inside_foreach_joins_per_item_then_across_items() -> None:
    scheduler = Scheduler(FlowGraph(BranchInForeachFlow))
    assert [p.step_name for p in scheduler.initial()] == ["start"]
    fans = scheduler.finished(FinishedTask("start", "1", (), ("fan",), "numbers", 2))
    assert [(p.step_name, p.foreach_stack[-1].index) for p in fans] == [("fan", 0), ("fan", 1)]
    ids = iter(range(10, 100))
    outer_inputs = []
    for fan in reversed(fans):  # items may finish in any order
        fan_id = str(next(ids))
        branches = scheduler.finished(FinishedTask("fan", fan_id, fan.foreach_stack, ("square", "cube")))
        assert [b.step_name for b in branches] == ["square", "cube"]
        cube_id, square_id = str(next(ids)), str(next(ids))
        assert scheduler.finished(FinishedTask("cube", cube_id, fan.foreach_stack, ("inner_join",))) == []
        (inner,) = scheduler.finished(FinishedTask("square", square_id, fan.foreach_stack, ("inner_join",)))
        assert inner.input_paths == (f"square/{square_id}", f"cube/{cube_id}")  # in the graph's order
        assert inner.foreach_stack == fan.foreach_stack
        join_id = str(next(ids))
        ready = scheduler.finished(FinishedTask("inner_join", join_id, inner.foreach_stack, ("outer_join",)))
        outer_inputs.append((fan.foreach_stack[-1].index, join_id, ready))
    first, last = outer_inputs
    assert first[2] == []
    (outer,) = last[2]
    assert outer.step_name == "outer_join" and outer.foreach_stack == ()
    assert outer.input_paths == (f"inner_join/{last[1]}", f"inner_join/{first[1]}")  # item 0 first
    assert [f.index for f in outer.input_frames] == [0, 1]
    assert scheduler.waiting_joins == 0


def test_nested_foreach_groups_inner_joins_by_outer_item() -> None:
    scheduler = Scheduler(FlowGraph(NestedForeachFlow))
    rows = scheduler.finished(FinishedTask("start", "1", (), ("row",), "rows", 2))
    cells = []
    for n, row in enumerate(rows):
        cells += scheduler.finished(FinishedTask("row", f"r{n}", row.foreach_stack, ("cell",), "cols", 3))
    assert len(cells) == 6 and {len(c.foreach_stack) for c in cells} == {2}
    joins = []
    for n, cell in enumerate(cells):
        joins += scheduler.finished(FinishedTask("cell", f"c{n}", cell.foreach_stack, ("join_cols",)))
    assert [j.input_paths for j in joins] == [("cell/c0", "cell/c1", "cell/c2"), ("cell/c3", "cell/c4", "cell/c5")]
    assert [j.foreach_stack[-1].index for j in joins] == [0, 1]


def test_end_schedules_nothing() -> None:
    scheduler = Scheduler(FlowGraph(NestedForeachFlow))
    assert scheduler.finished(FinishedTask("end", "9", (), ())) == []


def test_a_loop_counts_its_rounds_and_a_switch_schedules_its_one_case() -> None:
    scheduler = Scheduler(FlowGraph(SwitchFlow))
    (fan,) = scheduler.finished(FinishedTask("start", "1", (), ("fan",)))
    assert fan.step_name == "fan" and fan.iteration is None
    begins = scheduler.finished(FinishedTask("fan", "2", (), ("begin",), "words", 2))
    (work,) = scheduler.finished(FinishedTask("begin", "3", begins[0].foreach_stack, ("work",)))
    assert work.iteration == 0 and work.foreach_stack == begins[0].foreach_stack  # entering the loop
    (check,) = scheduler.finished(FinishedTask("work", "4", work.foreach_stack, ("check",), iteration=0))
    assert check.iteration == 0  # same round
    (again,) = scheduler.finished(FinishedTask("check", "5", check.foreach_stack, ("work",), iteration=0))
    assert (again.step_name, again.iteration, again.input_paths) == ("work", 1, ("check/5",))  # round 2
    (out,) = scheduler.finished(FinishedTask("check", "6", check.foreach_stack, ("finish",), iteration=1))
    assert out.step_name == "finish" and out.iteration is None  # leaving the loop


def test_parallel_tasks_are_a_foreach_of_node_indexes_joined_in_order() -> None:
    scheduler = Scheduler(FlowGraph(ParallelFlow))
    nodes = scheduler.finished(FinishedTask("start", "1", (), ("train",), PARALLEL_VAR, 3))
    assert [(p.step_name, p.foreach_stack[-1].index, p.foreach_stack[-1].is_parallel) for p in nodes] == [
        ("train", 0, True), ("train", 1, True), ("train", 2, True)
    ]  # fmt: skip
    ids = ["2", "2_node_1", "2_node_2"]
    assert scheduler.finished(FinishedTask("train", ids[2], nodes[2].foreach_stack, ("join",))) == []
    assert scheduler.finished(FinishedTask("train", ids[0], nodes[0].foreach_stack, ("join",))) == []
    (join,) = scheduler.finished(FinishedTask("train", ids[1], nodes[1].foreach_stack, ("join",)))
    assert join.input_paths == tuple(f"train/{i}" for i in ids) and join.foreach_stack == ()
