"""Graph checks for switches, loops, @parallel steps and custom start and end steps: good shapes pass, each bad
one gets an error naming the step and its line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from flowstone.flow.graph import FlowGraph
from flowstone.flow.lint import check_graph
from tests.flow.test_lint import GOOD_END, line_of, lint_error, load_flow


def passes(tmp_path: Path, body: str, end: str = GOOD_END) -> None:
    check_graph(FlowGraph(load_flow(tmp_path, textwrap.dedent(body) + end)))


SWITCH_CASES_MEET_WITHOUT_JOIN = """
@step
def start(self):
    self.kind = "a"
    self.next({"a": self.a, "b": self.b}, condition="kind")
@step
def a(self):
    self.next(self.end)
@step
def b(self):
    self.next(self.end)
"""


def test_switch_cases_meet_without_a_join(tmp_path: Path) -> None:
    passes(tmp_path, SWITCH_CASES_MEET_WITHOUT_JOIN)


def test_switch_inside_a_branch_meets_the_other_branch_at_the_join(tmp_path: Path) -> None:
    body = """
    @step
    def start(self):
        self.next(self.a, self.b)
    @step
    def a(self):
        self.next({"x": self.c, "y": self.d}, condition="kind")
    @step
    def b(self):
        self.next(self.join)
    @step
    def c(self):
        self.next(self.join)
    @step
    def d(self):
        self.next(self.join)
    @step
    def join(self, inputs):
        self.next(self.end)
    """
    passes(tmp_path, body)


def test_recursive_switch_and_loop_through_steps_pass(tmp_path: Path) -> None:
    body = """
    @step
    def start(self):
        self.next(self.a)
    @step
    def a(self):
        self.next({"again": self.a, "on": self.b}, condition="state")
    @step
    def b(self):
        self.next({"back": self.a, "on": self.end}, condition="state")
    """
    passes(tmp_path, body)


def test_a_cycle_must_go_back_through_a_switch(tmp_path: Path) -> None:
    body = """
    @step
    def start(self):
        self.next(self.a)
    @step
    def a(self):
        self.next({"x": self.b, "y": self.end}, condition="state")
    @step
    def b(self):
        self.next(self.a)
    """
    err = lint_error(tmp_path, body)
    assert err.step_name == "b" and err.line_no == line_of(tmp_path, "def b") + 1
    assert "the steps form a cycle: a -> b -> a. Only a switch may go back to an earlier step" in str(err)


def test_a_loop_holds_no_split(tmp_path: Path) -> None:
    body = """
    @step
    def start(self):
        self.next(self.fan)
    @step
    def fan(self):
        self.next(self.x, self.y)
    @step
    def x(self):
        self.next(self.join)
    @step
    def y(self):
        self.next(self.join)
    @step
    def join(self, inputs):
        self.next(self.decide)
    @step
    def decide(self):
        self.next({"again": self.fan, "done": self.end}, condition="state")
    """
    err = lint_error(tmp_path, body)
    assert err.step_name == "fan" and err.line_no == line_of(tmp_path, "def fan")
    assert "the step is a split step inside the loop" in str(err) and "Move the split step out" in str(err)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ('self.next({"a": self.end})', "a dictionary of cases needs condition='artifact_name'"),
        ('self.next({"a": self.end}, condition=self.kind)', "takes the artifact name as a string literal"),
        ('self.next({KIND: self.end, "b": self.end}, condition="kind")', "not variables"),
        ('self.next({"a": "end", "b": self.end}, condition="kind")', "a step written as self.<step_name>"),
        ('self.next({"a": self.end}, condition="kind")', "a switch needs at least two cases"),
        ('self.next(self.end, condition="kind")', "condition=... needs a dictionary of cases"),
        ('self.next({"a": self.end, "b": self.end}, condition="k", foreach="x")', "cannot be combined"),
    ],
)
def test_bad_switch_calls(tmp_path: Path, call: str, message: str) -> None:
    err = lint_error(tmp_path, f"@step\ndef start(self):\n    {call}\n")
    assert err.step_name == "start" and err.line_no == line_of(tmp_path, call)
    assert message in str(err)


def test_a_join_cannot_be_a_switch(tmp_path: Path) -> None:
    body = SWITCH_CASES_MEET_WITHOUT_JOIN.replace("def start(self):", "def start(self, inputs):")
    err = lint_error(tmp_path, body)
    assert err.step_name == "start" and "the step takes 'inputs' (a join) and also splits" in str(err)


def test_catch_on_a_switch_is_refused(tmp_path: Path) -> None:
    err = lint_error(tmp_path, "@catch\n" + SWITCH_CASES_MEET_WITHOUT_JOIN.lstrip())
    assert err.step_name == "start" and "@catch is not supported on a switch step" in str(err)


def test_branches_of_a_split_meet_only_in_a_join_even_after_a_switch(tmp_path: Path) -> None:
    body = """
    @step
    def start(self):
        self.next(self.a, self.b)
    @step
    def a(self):
        self.next({"x": self.c, "y": self.b}, condition="kind")
    @step
    def b(self):
        self.next(self.join)
    @step
    def c(self):
        self.next(self.join)
    @step
    def join(self, inputs):
        self.next(self.end)
    """
    err = lint_error(tmp_path, body)
    assert err.step_name == "b" and "reached from 'a', 'start', so it must be a join step" in str(err)


PARALLEL = """
@step
def start(self):
    self.next(self.train, num_parallel=2)
@parallel
@step
def train(self):
    self.next(self.join)
@step
def join(self, inputs):
    self.next(self.end)
"""


def test_parallel_shapes(tmp_path: Path) -> None:
    passes(tmp_path, PARALLEL)
    err = lint_error(tmp_path, PARALLEL.replace("@parallel\n", ""))
    assert err.step_name == "start" and "which is not a @parallel step; decorate it with @parallel" in str(err)
    err = lint_error(tmp_path, PARALLEL.replace("num_parallel=2", 'foreach="xs"'))
    assert err.step_name == "train" and "goes to it without num_parallel" in str(err)
    err = lint_error(tmp_path, PARALLEL.replace("def join(self, inputs)", "def join(self)"))
    assert err.step_name == "train" and "the step after a @parallel step is a join" in str(err)
    err = lint_error(tmp_path, PARALLEL.replace("self.next(self.train, num_parallel=2)",
                                                "self.next(self.train, self.join, num_parallel=2)"))  # fmt: skip
    assert "num_parallel goes to exactly one step" in str(err)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("@step(start=True)\ndef a(self):\n    self.next(self.end)\n@step(start=True)\ndef b(self):\n"
         "    self.next(self.end)\n", "Steps 'a', 'b' are all marked @step(start=True)"),
        ("@step\ndef begin(self):\n    self.next(self.end)\n",
         "The flow has no 'start' step. Every flow needs a start and an end step"),
        ("@step(start=True)\ndef begin(self):\n    self.next(self.start)\n@step\ndef start(self):\n"
         "    self.next(self.end)\n", "the step is marked @step(start=True), but a step named 'start' exists"),
    ],
)  # fmt: skip
def test_start_step_problems(tmp_path: Path, body: str, message: str) -> None:
    assert message in str(lint_error(tmp_path, body))


def test_custom_end_step_must_not_go_on(tmp_path: Path) -> None:
    body = "@step(start=True)\ndef begin(self):\n    self.next(self.finish)\n@step(end=True)\ndef finish(self):\n"
    passes(tmp_path, body + "    pass\n", end="")
    err = lint_error(tmp_path, body + "    self.next(self.begin)\n", with_end=False)
    assert err.step_name == "finish" and "the end step must not call self.next()" in str(err)
    err = lint_error(tmp_path, "@step(start=True)\ndef begin(self):\n    self.next(self.begin)\n@step(end=True)\n"
                               "def finish(self):\n    pass\n", with_end=False)  # fmt: skip
    assert "no step may go to the start step 'begin'" in str(err)


def test_a_switch_case_leaving_a_branch_for_the_end_is_an_unjoined_split(tmp_path: Path) -> None:
    body = """
    @step
    def start(self):
        self.next(self.a, self.b)
    @step
    def a(self):
        self.next({"x": self.join, "y": self.end}, condition="kind")
    @step
    def b(self):
        self.next(self.join)
    @step
    def join(self, inputs):
        self.next(self.end)
    """
    err = lint_error(tmp_path, body)
    assert err.step_name == "start" and "the split started here is never joined: 'end' is reached first" in str(err)


def test_a_parallel_step_cannot_be_a_switch(tmp_path: Path) -> None:
    switch = '    self.next({"a": self.join, "b": self.end}, condition="k")\n'
    body = PARALLEL.replace("    self.next(self.join)\n", switch, 1)
    err = lint_error(tmp_path, body)
    assert err.step_name == "train" and "a @parallel step cannot be a switch" in str(err)
