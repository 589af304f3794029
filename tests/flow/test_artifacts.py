"""What ``self.x = ...`` means: artifacts persist, load lazily, pass on by reference, and cannot hold the flow or
its inputs; and how a join merges its branches' artifacts (``merge_artifacts``)."""

from __future__ import annotations

import pytest

from flowstone import FlowSpec, Parameter, step
from tests.flow.inline import run_inline

UNPICKLED: list[str] = []


def _revive(label: str) -> Tracked:
    UNPICKLED.append(label)
    return Tracked(label)


class Tracked:
    """Records every time it is unpickled, so a test can tell whether an artifact was loaded."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __reduce__(self):
        return _revive, (self.label,)


class LazyFlow(FlowSpec):
    @step
    def start(self):
        self.big = Tracked("big")
        self.small = 1
        self.numbers = [1, 2]
        self._private = "not an artifact"
        self.next(self.middle)

    @step
    def middle(self):
        self.seen_small = self.small  # reads small only: big must not be loaded
        self.numbers.append(3)  # changed in place: must be stored again
        self.next(self.end)

    @step
    def end(self):
        self.label = self.big.label


def test_artifacts_load_lazily_and_pass_through_by_reference() -> None:
    UNPICKLED.clear()
    run = run_inline(LazyFlow)
    assert run.outcome.ok, run.output
    start, middle, end = run.task("start"), run.task("middle"), run.task("end")
    assert "_private" not in start.records and "input" not in start.records and "index" not in start.records
    assert middle.records["big"] == start.records["big"]  # passed on unread, by reference
    assert middle.records["small"] == start.records["small"]  # read, immutable: by reference
    assert middle["numbers"] == [1, 2, 3] and middle.records["numbers"].key != start.records["numbers"].key
    assert end["label"] == "big"
    # unpickled once in 'end' (in-process runs also unpickle when the test reads artifacts back)
    assert UNPICKLED[:1] == ["big"]


class AssignSelfFlow(FlowSpec):
    @step
    def start(self):
        self.me = self
        self.next(self.end)

    @step
    def end(self):
        pass


class AssignInputsFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.next(self.join)

    @step
    def b(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.saved = inputs
        self.next(self.end)

    @step
    def end(self):
        pass


class StoreSelfInContainerFlow(FlowSpec):
    @step
    def start(self):
        self.holder = {"flow": self}
        self.next(self.end)

    @step
    def end(self):
        pass


@pytest.mark.parametrize(
    ("flow", "step_name", "message"),
    [
        (AssignSelfFlow, "start", "Cannot assign self to self.me"),
        (AssignInputsFlow, "join", "Cannot assign Inputs to self.saved"),
        (StoreSelfInContainerFlow, "start", "'holder' cannot be serialized"),
    ],
)
def test_storing_the_flow_or_inputs_is_a_clear_error(flow: type, step_name: str, message: str) -> None:
    run = run_inline(flow)
    assert not run.outcome.ok
    assert message in run.exception(step_name)["message"]


class MergeFlow(FlowSpec):
    mode = Parameter("mode", default="plain")

    @step
    def start(self):
        self.shared = "same everywhere"
        self.next(self.a, self.b)

    @step
    def a(self):
        self.score = 0.95
        self.only_in_a = "a"
        self.same = [1, 2]
        self.next(self.join)

    @step
    def b(self):
        self.score = 0.93
        self.same = [1, 2]
        self.other = {"x": 1}
        self.next(self.join)

    @step
    def join(self, inputs):
        if self.mode == "resolved":
            self.score = max(inp.score for inp in inputs)
            self.merge_artifacts(inputs)
        elif self.mode == "exclude":
            self.merge_artifacts(inputs, exclude=["score"])
        elif self.mode == "include":
            self.merge_artifacts(inputs, include=["same", "only_in_a"])
        elif self.mode == "include_missing":
            self.merge_artifacts(inputs, include=["same", "nowhere"])
        elif self.mode == "both":
            self.merge_artifacts(inputs, include=["same"], exclude=["score"])
        else:
            self.merge_artifacts(inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


def test_merge_conflict_names_artifacts_and_branches() -> None:
    run = run_inline(MergeFlow)
    exc = run.exception("join")
    assert exc["type"] == "metaflow.exception.UnhandledInMergeArtifactsException"  # Metaflow's name, as it reports
    assert "cannot merge artifacts whose values differ between branches: score" in exc["message"]
    a, b = run.task("a").pathspec, run.task("b").pathspec
    assert f"score: {a} | {b}" in exc["message"]


def test_merge_values_set_before_win_and_equal_values_merge() -> None:
    run = run_inline(MergeFlow, {"mode": "resolved"})
    assert run.outcome.ok, run.output
    join = run.task("join")
    assert join["score"] == 0.95 and join["same"] == [1, 2]
    assert join["only_in_a"] == "a" and join["other"] == {"x": 1}  # present in one branch only: merged
    assert join["shared"] == "same everywhere"
    assert join.records["same"] == run.task("a").records["same"]  # merged by reference


def test_merge_exclude_and_include() -> None:
    run = run_inline(MergeFlow, {"mode": "exclude"})
    assert run.outcome.ok and "score" not in run.task("join").records
    run = run_inline(MergeFlow, {"mode": "include"})
    assert run.outcome.ok
    assert set(run.task("join").records) == {"mode", "same", "only_in_a", "name"}  # every task records `name`


def test_merge_include_missing_and_both_are_errors() -> None:
    exc = run_inline(MergeFlow, {"mode": "include_missing"}).exception("join")
    assert exc["type"].endswith("MissingInMergeArtifactsException") and "nowhere" in exc["message"]
    exc = run_inline(MergeFlow, {"mode": "both"}).exception("join")
    assert "merge_artifacts takes include or exclude, not both" in exc["message"]


class MergeOutsideJoinFlow(FlowSpec):
    @step
    def start(self):
        self.merge_artifacts([])
        self.next(self.end)

    @step
    def end(self):
        pass


def test_merge_outside_a_join() -> None:
    exc = run_inline(MergeOutsideJoinFlow).exception("start")
    assert "merge_artifacts can only be called in a join step; 'start' is not one" in exc["message"]
