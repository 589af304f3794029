"""The graph read from a flow's source: node types and attributes with Metaflow's meanings, switches, loops,
@parallel steps and custom start and end steps."""

from __future__ import annotations

import textwrap
from pathlib import Path

from flowstone.flow.graph import FlowGraph
from tests.flow.test_lint import GOOD_END, load_flow


def graph_of(tmp_path: Path, body: str, end: str = GOOD_END) -> FlowGraph:
    return FlowGraph(load_flow(tmp_path, textwrap.dedent(body) + end))


SWITCH_IN_BRANCH = """
@step
def start(self):
    self.next(self.a, self.b)
@step
def a(self):
    self.condition = "one"
    self.next({"one": self.c, "two": self.d}, condition="condition")
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


def test_a_switch_in_a_branch(tmp_path: Path) -> None:
    graph = graph_of(tmp_path, SWITCH_IN_BRANCH)
    switch = graph["a"]
    assert switch.type == "split-switch" and switch.condition == "condition"
    assert switch.switch_cases == {"one": "c", "two": "d"} and switch.out_funcs == ["c", "d"]
    assert switch.matching_join is None and switch.split_parents == ["start"] and switch.split_branches == ["a"]
    assert graph["c"].split_branches == ["a"] and graph["b"].split_branches == ["b"]
    # a join counts the split it closes among its parents, as in Metaflow
    assert graph["join"].in_funcs == ["b", "c", "d"]
    assert graph["join"].split_parents == ["start"] and graph["join"].split_branches == []
    assert graph["start"].matching_join == "join" and graph["end"].split_parents == []
    assert not graph.back_edges and not graph.loops


def test_a_recursive_switch_is_a_loop(tmp_path: Path) -> None:
    body = """
    @step
    def start(self):
        self.items = [1, 2]
        self.next(self.body, foreach="items")
    @step
    def body(self):
        self.again = "no"
        self.next({"yes": self.body, "no": self.join}, condition="again")
    @step
    def join(self, inputs):
        self.next(self.end)
    """
    graph = graph_of(tmp_path, body)
    assert graph.back_edges == {("body", "body")}
    assert graph.loops == {"body": frozenset({"body"})}
    assert graph["body"].in_funcs == ["body", "start"] and graph["body"].is_inside_foreach
    assert not graph["join"].is_inside_foreach and graph["start"].matching_join == "join"


def test_a_loop_through_several_steps(tmp_path: Path) -> None:
    body = """
    @step
    def start(self):
        self.next(self.a)
    @step
    def a(self):
        self.next(self.b)
    @step
    def b(self):
        self.go = "back"
        self.next({"back": self.a, "on": self.end}, condition="go")
    """
    graph = graph_of(tmp_path, body)
    assert graph.back_edges == {("b", "a")}
    assert graph.loops["a"] == graph.loops["b"] == frozenset({"a", "b"}) and "start" not in graph.loops


def test_parallel_split_and_step(tmp_path: Path) -> None:
    body = """
    @step
    def start(self):
        self.next(self.train, num_parallel=4)
    @parallel
    @step
    def train(self):
        self.next(self.join)
    @step
    def join(self, inputs):
        self.next(self.end)
    """
    graph = FlowGraph(load_flow(tmp_path, textwrap.dedent(body) + GOOD_END))
    split = graph["start"]
    assert split.type == "foreach" and split.parallel_foreach and split.num_parallel == 4
    assert split.foreach_param is None and split.matching_join == "join"
    assert graph["train"].parallel_step and not split.parallel_step
    assert graph.describe()["steps"][0]["num_parallel"] == 4


def test_custom_start_and_end_steps(tmp_path: Path) -> None:
    body = """
    @step(start=True)
    def begin(self):
        self.next(self.middle)
    @step
    def middle(self):
        self.next(self.finish)
    @step(end=True)
    def finish(self):
        pass
    """
    graph = graph_of(tmp_path, body, end="")
    assert (graph.start_step, graph.end_step) == ("begin", "finish")
    assert [graph[n].type for n in ("begin", "middle", "finish")] == ["start", "linear", "end"]
    assert graph["begin"].is_start_step and not graph["middle"].is_end_step
    described = graph.describe()
    assert (described["start_step"], described["end_step"]) == ("begin", "finish")


def test_a_one_step_flow_starts_and_ends_with_it(tmp_path: Path) -> None:
    graph = graph_of(tmp_path, "@step(start=True, end=True)\ndef only(self):\n    pass\n", end="")
    assert graph.start_step == graph.end_step == "only" and graph["only"].type == "end"
    graph = graph_of(tmp_path, "@step\ndef lonely(self):\n    pass\n", end="")
    assert graph.start_step == graph.end_step == "lonely"


def test_switch_description_and_doc(tmp_path: Path) -> None:
    graph = graph_of(tmp_path, SWITCH_IN_BRANCH)
    (switch,) = [s for s in graph.describe()["steps"] if s["name"] == "a"]
    assert switch["type"] == "split-switch" and switch["condition"] == "condition"
    assert switch["switch_cases"] == {"one": "c", "two": "d"} and switch["next"] == ["c", "d"]
    assert graph.doc == ""  # a flow without a docstring has none (not FlowSpec's)
