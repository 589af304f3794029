"""Switches at run time: only the chosen case runs, cases meet without a join, each foreach item or branch picks
its own case, a loop runs its step again as new tasks, and a bad condition fails the step with a clear error."""

from __future__ import annotations

import inspect

import pytest

from flowstone import FlowSpec, Parameter, step
from tests.flow.inline import run_inline


class PickFlow(FlowSpec):
    kind = Parameter("kind", default="b")

    @step
    def start(self):
        self.next({"a": self.a, "b": self.b, "nested": self.inner}, condition="kind")

    @step
    def a(self):
        self.path = "A"
        self.next(self.end)

    @step
    def b(self):
        self.path = "B"
        self.next(self.end)

    @step
    def inner(self):
        self.deep = 2
        self.next({1: self.a, 2: self.b}, condition="deep")

    @step
    def end(self):
        self.result = self.path


@pytest.mark.parametrize(("kind", "ran"), [("a", ["a"]), ("b", ["b"]), ("nested", ["inner", "b"])])
def test_only_the_chosen_case_runs(kind: str, ran: list[str]) -> None:
    run = run_inline(PickFlow, {"kind": kind})
    assert run.outcome.ok, run.output
    assert run.task("end")["result"] == ("A" if kind == "a" else "B")
    for name in ("a", "b", "inner"):
        assert len(run.tasks(name)) == (1 if name in ran else 0)
    assert run.task("start").load_metadata(["next_steps"])["next_steps"] == [ran[0]]


class ItemsFlow(FlowSpec):
    @step
    def start(self):
        self.items = [3, -1, 5]
        self.next(self.classify, self.other)

    @step
    def classify(self):
        self.next(self.item, foreach="items")

    @step
    def item(self):
        self.sign = "neg" if self.input < 0 else "pos"
        self.next({"neg": self.negative, "pos": self.positive}, condition="sign")

    @step
    def negative(self):
        self.out = f"-{abs(self.input)}"
        self.next(self.join_items)

    @step
    def positive(self):
        self.out = f"+{self.input}"
        self.next(self.join_items)

    @step
    def join_items(self, inputs):
        self.outs = [i.out for i in inputs]
        self.next(self.join)

    @step
    def other(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.outs = inputs.join_items.outs
        self.order = [i.step_name for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


def test_each_item_picks_its_case_and_joins_meet_them() -> None:
    run = run_inline(ItemsFlow)
    assert run.outcome.ok, run.output
    assert run.task("join")["outs"] == ["+3", "-1", "+5"]  # in item order, whichever case each took
    assert run.task("join")["order"] == ["join_items", "other"]  # in the split's order
    assert len(run.tasks("positive")) == 2 and len(run.tasks("negative")) == 1


class CountFlow(FlowSpec):
    @step
    def start(self):
        self.count = 0
        self.next(self.step_up)

    @step
    def step_up(self):
        self.count += 1
        self.next(self.check)

    @step
    def check(self):
        self.state = "more" if self.count < 3 else "done"
        self.next({"more": self.step_up, "done": self.idle}, condition="state")

    @step
    def idle(self):
        self.polls = getattr(self, "polls", 0) + 1
        self.waiting = "yes" if self.polls < 3 else "no"  # the loop's inputs repeat from the second round
        self.next({"yes": self.idle, "no": self.end}, condition="waiting")

    @step
    def end(self):
        self.result = (self.count, self.polls)


def test_loops_run_their_steps_again_as_new_tasks() -> None:
    run = run_inline(CountFlow)
    assert run.outcome.ok, run.output
    assert run.task("end")["result"] == (3, 3)
    steps = run.tasks("step_up")
    assert [t["count"] for t in steps] == [1, 2, 3] and len({t.task_id for t in steps}) == 3
    assert [t.load_metadata(["iteration"])["iteration"] for t in steps] == [0, 1, 2]
    assert [t.load_metadata(["iteration"])["iteration"] for t in run.tasks("check")] == [0, 1, 2]
    assert run.task("start").load_metadata(["iteration"])["iteration"] is None


def test_each_round_of_a_loop_has_its_own_cache_key() -> None:
    run = run_inline(CountFlow)
    idle = [t.load_metadata(["cache"])["cache"] for t in run.tasks("idle")]
    assert [c["components"]["iteration"] for c in idle] == [0, 1, 2]
    assert len({c["key"] for c in idle}) == 3 and {c["decision"] for c in idle} == {"miss"}


class BadConditionFlow(FlowSpec):
    case = Parameter("case", default="missing")

    @step
    def start(self):
        if self.case == "unhashable":
            self.value = ["a"]
        elif self.case == "unknown":
            self.value = "zzz"
        self.next({"a": self.end, "b": self.end}, condition="value")

    @step
    def end(self):
        pass


_lines, _first = inspect.getsourcelines(BadConditionFlow)
NEXT_LINE = _first + next(i for i, line in enumerate(_lines) if "condition=" in line)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "the switch's condition 'value' names no artifact: set self.value"),
        ("unknown", "self.value is 'zzz', which is none of the switch's cases ('a', 'b')"),
        ("unhashable", "self.value is ['a'], which is none of the switch's cases"),
    ],
)
def test_a_bad_condition_fails_the_step_naming_it(case: str, message: str) -> None:
    run = run_inline(BadConditionFlow, {"case": case})
    assert not run.outcome.ok
    error = run.exception("start")
    assert error["type"] == "flowstone.errors.FlowSpecError"
    assert f"Step 'start' (line {NEXT_LINE}): {message}" in error["message"]
