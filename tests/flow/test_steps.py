"""How steps run: parameters (converted, read-only, seen even by joins), foreach over iterables, misuse of
``self.next``, ``current``, and the environment and resources decorators."""

from __future__ import annotations

import os

import pytest

from flowstone import FlowSpec, JSONType, Parameter, current, environment, resources, step
from flowstone.errors import ParameterError
from tests.flow.inline import run_inline


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
