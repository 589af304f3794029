"""Mutators and user step decorators, in this process: what MutableFlow and MutableStep show and change, the
duplicates policies, what is refused in mutate, and what user decorators do around a step."""

from __future__ import annotations

from typing import Any

import pytest

from flowstone import (
    Config,
    FlowMutator,
    FlowSpec,
    Parameter,
    StepMutator,
    UserStepDecorator,
    catch,
    environment,
    project,
    retry,
    step,
    timeout,
    user_step_decorator,
)
from flowstone.errors import FlowSpecError
from flowstone.flow.configure import configure_flow
from flowstone.flow.flow_decorators import flow_decorators
from flowstone.flow.project import project_info
from tests.flow.inline import run_inline

SEEN: dict[str, Any] = {}


class Inspect(FlowMutator):
    def pre_mutate(self, mutable_flow):
        SEEN["flow_specs"] = list(mutable_flow.decorator_specs)
        SEEN["configs"] = list(mutable_flow.configs)
        SEEN["parameters"] = [name for name, _ in mutable_flow.parameters]
        SEEN["steps"] = sorted(name for name, _ in mutable_flow.steps)
        start = mutable_flow.start
        SEEN["start_specs"] = list(start.decorator_specs)
        start.add_decorator(retry, deco_kwargs={"times": 9}, duplicates=start.IGNORE)  # kept: the one there
        start.add_decorator("timeout:seconds=30", duplicates=start.OVERRIDE)  # replaced
        start.add_decorator(catch, deco_kwargs={"var": "caught"})  # new
        start.remove_decorator("environment")
        mutable_flow.remove_parameter("dropped")
        mutable_flow.add_decorator(project, deco_kwargs={"name": "overridden"}, duplicates=mutable_flow.OVERRIDE)


@Inspect
@project(name="original")
class InspectedFlow(FlowSpec):
    cfg = Config("cfg", default_value={"k": 1})
    kept = Parameter("kept", default=1)
    dropped = Parameter("dropped", default=2)

    @retry(times=1)
    @timeout(seconds=5)
    @environment(vars={"A": "1"})
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


def test_what_a_flow_mutator_sees_and_changes() -> None:
    configure_flow(InspectedFlow, {"cfg": {"k": 1}})
    assert SEEN["flow_specs"] == [
        ("project", "flowstone.flow.project.ProjectDecorator", [], {"name": "original", "branch": None,
                                                                    "production": False}),
        ("Inspect", "tests.flow.test_mutators.Inspect", [], {}),
    ]  # fmt: skip
    assert SEEN["configs"] == [("cfg", {"k": 1})] and SEEN["parameters"] == ["kept", "dropped"]
    assert SEEN["steps"] == ["end", "start"]
    assert ("environment", "flowstone.flow.decorators.EnvironmentDecorator", [], {"vars": {"A": "1"}}) in SEEN[
        "start_specs"
    ]
    decorators = {d.name: d.attributes for d in InspectedFlow.start.decorators}
    assert decorators == {"retry": {"times": 1, "minutes_between_retries": 2}, "catch": {"var": "caught",
                          "print_exception": True}, "timeout": {"seconds": 30, "minutes": 0, "hours": 0}}  # fmt: skip
    assert [name for name, _ in InspectedFlow._get_parameters()] == ["cfg", "kept"]
    (deco,) = flow_decorators(InspectedFlow, "project")
    assert deco.attributes["name"] == "overridden"


class RefusedInMutate(FlowMutator):
    def init(self, what):
        self.what = what

    def mutate(self, mutable_flow):
        if self.what == "parameter":
            mutable_flow.add_parameter("late", Parameter("late"))
        else:
            mutable_flow.add_decorator(project, deco_kwargs={"name": "late"})


@RefusedInMutate("parameter")
class LateParameterFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


class Duplicate(StepMutator):
    def pre_mutate(self, mutable_step):
        mutable_step.add_decorator(retry, duplicates=mutable_step.ERROR)


class DuplicateFlow(FlowSpec):
    @Duplicate
    @retry
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


class NeedsInit(FlowMutator):
    pass


def test_what_mutators_may_not_do() -> None:
    with pytest.raises(FlowSpecError, match="adding parameter 'late' is allowed in pre_mutate only"):
        configure_flow(LateParameterFlow, {})
    with pytest.raises(FlowSpecError, match=r"adds @retry\(.*\), which is already there"):
        configure_flow(DuplicateFlow, {})
    with pytest.raises(FlowSpecError, match="NeedsInit is given arguments but does not define init"):
        NeedsInit("x").initialize({})


TRACE: list[str] = []


@user_step_decorator
def outer(step_name, flow, inputs):
    TRACE.append(f"outer before {step_name}")
    yield
    TRACE.append("outer after")


class Inner(UserStepDecorator):
    def init(self, note="none"):
        self.note = note

    def pre_step(self, step_name, flow, inputs=None):
        TRACE.append(f"inner before ({self.note})")

    def post_step(self, step_name, flow, exception=None):
        TRACE.append(f"inner after ({type(exception).__name__})")
        return None  # swallows the step's exception


@user_step_decorator
def twice(step_name, flow, inputs):
    yield
    yield


@user_step_decorator
def join_replacement(step_name, flow, inputs):
    def instead(flow, inputs):
        flow.total = sum(i.value for i in inputs)
        return True

    yield instead


class WrappedFlow(FlowSpec):
    @outer
    @Inner(note="given")
    @step
    def start(self):
        TRACE.append("step")
        self.values = [1, 2]
        raise KeyError("swallowed")
        self.next(self.branch, foreach="values")  # what the decorators' default transition does

    @step
    def branch(self):
        self.value = self.input
        self.next(self.join)

    @join_replacement
    @step
    def join(self, inputs):
        self.total = -1
        self.next(self.end)

    @twice
    @step
    def end(self):
        pass


def test_user_decorators_nest_swallow_replace_and_yield_once() -> None:
    TRACE.clear()
    run = run_inline(WrappedFlow)
    assert TRACE[:5] == ["outer before start", "inner before (given)", "step", "inner after (KeyError)",
                         "outer after"]  # fmt: skip
    assert [t["value"] for t in run.tasks("branch")] == [1, 2]  # the swallowed step went on as it would have
    assert run.task("join")["total"] == 3
    assert not run.outcome.ok
    assert "@twice yields more than once" in run.exception("end")["message"]


def test_user_step_decorator_checks_its_function() -> None:
    with pytest.raises(FlowSpecError, match="decorates a generator function"):
        user_step_decorator(lambda step_name, flow, inputs: None)
    with pytest.raises(FlowSpecError, match=r"must take \(step_name, flow, inputs\[, attributes\]\), not 2"):

        @user_step_decorator
        def two(step_name, flow):
            yield

    with pytest.raises(FlowSpecError, match="@outer takes no arguments"):
        outer(when="now").initialize({})
    with pytest.raises(FlowSpecError, match="Inner must be placed above @step"):
        Inner(lambda self: None)


class ProjectFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


def test_project_branches() -> None:
    flow = project(name="fraud")(type("BranchFlow", (ProjectFlow,), {}))
    assert project_info(flow, None, False, "ann") == ("fraud", "user.ann", True, False, "fraud.user.ann.BranchFlow")
    assert project_info(flow, "exp1", False, "ann")[1:4] == ("test.exp1", False, False)
    assert project_info(flow, None, True, "ann")[1:] == ("prod", False, True, "fraud.prod.BranchFlow")
    assert project_info(flow, "exp1", True, "ann")[1] == "prod.exp1"
    assert project_info(ProjectFlow, None, False, "ann") is None
    with pytest.raises(FlowSpecError, match="branch name 'Exp-1' may contain only lowercase letters"):
        project_info(flow, "Exp-1", False, "ann")
    pinned = project(name="fraud", branch="pinned")(type("PinnedFlow", (ProjectFlow,), {}))
    assert project_info(pinned, None, False, "ann")[1] == "test.pinned"
    with pytest.raises(FlowSpecError, match="--branch is given on the command line and, differently, to @project"):
        project_info(pinned, "other", False, "ann")
    for bad, message in (("", "needs a name"), ("Fraud", "may contain only"), ("x" * 129, "longer than 128")):
        with pytest.raises(FlowSpecError, match=message):
            project(name=bad)(type("BadFlow", (ProjectFlow,), {}))
    with pytest.raises(FlowSpecError, match="applied twice"):
        project(name="a")(project(name="b")(type("TwiceFlow", (ProjectFlow,), {})))
