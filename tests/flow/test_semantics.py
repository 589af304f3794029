"""What ``self.x = ...`` means: persistence, lazy loading, pass-through by reference, parameters, merge, foreach."""

from __future__ import annotations

import os

import pytest

from flowstone import FlowSpec, JSONType, Parameter, current, environment, resources, step
from flowstone.errors import ParameterError
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


class ParamFlow(FlowSpec):
    alpha = Parameter("alpha", default=0.5, help="learning rate")
    config = Parameter("config", type=JSONType, default='{"layers": 2}')
    name_list = Parameter("names", default="a,b", separator=",")
    required_one = Parameter("needed", type=int, required=True)
    flag = Parameter("flag", default=False)
    computed = Parameter("computed", default=lambda ctx: f"{ctx.flow_name}:{ctx.parameter_name}")

    @step
    def start(self):
        self.seen = (self.alpha, self.config, self.name_list, self.required_one, self.flag, self.computed)
        self.parameter_names = current.parameter_names
        self.next(self.a, self.b)

    @step
    def a(self):
        self.next(self.join)

    @step
    def b(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.alpha_in_join = self.alpha
        self.next(self.end)

    @step
    def end(self):
        self.alpha = 2.0  # parameters are read-only


def test_parameters_convert_and_propagate_even_to_joins() -> None:
    run = run_inline(ParamFlow, {"alpha": "0.25", "needed": "3", "flag": "true"})
    start = run.task("start")
    assert start["seen"] == (0.25, {"layers": 2}, ["a", "b"], 3, True, "ParamFlow:computed")
    assert start["alpha"] == 0.25 and start["required_one"] == 3
    assert run.task("join")["alpha_in_join"] == 0.25
    assert run.task("join").records["alpha"] == start.records["alpha"]
    assert not run.outcome.ok
    assert "Parameter 'alpha' is read-only" in run.exception("end")["message"]


def test_parameter_errors() -> None:
    with pytest.raises(ParameterError, match="Parameter 'needed' is required: pass --needed VALUE"):
        run_inline(ParamFlow, {})
    with pytest.raises(ParameterError, match="'abc' is not a valid float"):
        run_inline(ParamFlow, {"alpha": "abc", "needed": "1"})
    with pytest.raises(ParameterError, match="is not valid JSON"):
        run_inline(ParamFlow, {"config": "{oops", "needed": "1"})
    with pytest.raises(ParameterError, match="not a boolean"):
        run_inline(ParamFlow, {"flag": "maybe", "needed": "1"})
    with pytest.raises(ParameterError, match="reserved word"):
        Parameter("tags")


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
    assert exc["type"] == "flowstone.errors.UnhandledInMergeArtifactsException"
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
    assert set(run.task("join").records) == {"mode", "same", "only_in_a"}


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


class ForeachKindsFlow(FlowSpec):
    kind = Parameter("kind", default="list")

    @step
    def start(self):
        self.values = {"list": [10, 20, 30], "tuple": (1, 2), "dict": {"k1": 1, "k2": 2}, "range": range(3),
                       "empty": [], "big": list(range(200)), "number": 5}[self.kind]  # fmt: skip
        self.next(self.body, foreach="values")

    @step
    def body(self):
        self.item = self.input
        self.position = self.index
        self.next(self.join)

    @step
    def join(self, inputs):
        self.items = [(i.position, i.item) for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("list", [(0, 10), (1, 20), (2, 30)]),
        ("tuple", [(0, 1), (1, 2)]),
        ("dict", [(0, "k1"), (1, "k2")]),  # iterating a dict gives its keys
        ("range", [(0, 0), (1, 1), (2, 2)]),
    ],
)
def test_foreach_over_iterables(kind: str, expected: list) -> None:
    run = run_inline(ForeachKindsFlow, {"kind": kind})
    assert run.outcome.ok, run.output
    assert run.task("join")["items"] == expected
    assert "input" not in run.tasks("body")[0].records and "index" not in run.tasks("body")[0].records


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("empty", "foreach='values' is empty"),
        ("big", "would start 200 tasks, more than --max-num-splits=100"),
        ("number", "must name an iterable artifact; self.values is a int"),
    ],
)
def test_foreach_errors(kind: str, message: str) -> None:
    run = run_inline(ForeachKindsFlow, {"kind": kind})
    assert not run.outcome.ok
    assert message in run.exception("start")["message"]


class NextTwiceFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)
        self.next(self.end)

    @step
    def end(self):
        pass


class EarlyReturnFlow(FlowSpec):
    @step
    def start(self):
        if not os.environ.get("NEVER_SET_VARIABLE"):
            return
        self.next(self.end)

    @step
    def end(self):
        pass


def test_next_called_twice() -> None:
    run = run_inline(NextTwiceFlow)
    assert "self.next() was called more than once" in run.exception("start")["message"]


def test_returning_before_next() -> None:
    run = run_inline(EarlyReturnFlow)
    assert "the step finished without calling self.next()" in run.exception("start")["message"]


class CurrentFlow(FlowSpec):
    @step
    def start(self):
        self.info = {
            "flow": current.flow_name,
            "run": current.run_id,
            "step": current.step_name,
            "task": current.task_id,
            "pathspec": current.pathspec,
            "retry": current.retry_count,
            "running": current.is_running_flow,
            "namespace": current.namespace,
            "tempdir_exists": os.path.isdir(current.tempdir),
        }
        self.tempdir = current.tempdir
        self.next(self.end)

    @step
    def end(self):
        pass


def test_current() -> None:
    run = run_inline(CurrentFlow)
    info = run.task("start")["info"]
    assert info["flow"] == "CurrentFlow" and info["run"] == run.outcome.run_id
    assert info["step"] == "start" and info["task"] == "1" and info["retry"] == 0 and info["running"]
    assert info["pathspec"] == f"CurrentFlow/{run.outcome.run_id}/start/1"
    assert info["namespace"].startswith("user:") and info["tempdir_exists"]
    assert not os.path.exists(run.task("start")["tempdir"])  # removed when the task ended


class DecoratedFlow(FlowSpec):
    @environment(vars={"FS_TEST_FLAVOUR": "vanilla"})
    @resources(cpu=2, memory=1024)
    @step
    def start(self):
        self.flavour = os.environ.get("FS_TEST_FLAVOUR")
        self.next(self.end)

    @step
    def end(self):
        pass


def test_environment_and_resources() -> None:
    os.environ.pop("FS_TEST_FLAVOUR", None)
    run = run_inline(DecoratedFlow)
    start = run.task("start")
    assert start["flavour"] == "vanilla"
    decorators = {d["name"]: d["attributes"] for d in start.load_metadata(["decorators"])["decorators"]}
    assert decorators["resources"]["cpu"] == 2 and decorators["resources"]["memory"] == 1024
    assert decorators["environment"]["vars"] == {"FS_TEST_FLAVOUR": "vanilla"}
