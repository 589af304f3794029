"""Graph checks, message by message: each bad flow gets an error naming the step and its line."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from itertools import count
from pathlib import Path

import pytest

from flowstone.errors import FlowSpecError
from flowstone.flow.graph import FlowGraph
from flowstone.flow.lint import check_graph

_ids = count()


def load_flow(tmp_path: Path, body: str) -> type:
    source = "from flowstone import FlowSpec, step, retry, catch, parallel\n\n\nclass BadFlow(FlowSpec):\n"
    source += textwrap.indent(body, "    ")
    path = tmp_path / f"flow_{next(_ids)}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # inspect finds a class's source through its module
    spec.loader.exec_module(module)
    return module.BadFlow  # type: ignore[no-any-return]


def lint_error(tmp_path: Path, body: str, with_end: bool = True) -> FlowSpecError:
    with pytest.raises(FlowSpecError) as info:
        check_graph(FlowGraph(load_flow(tmp_path, textwrap.dedent(body) + (GOOD_END if with_end else ""))))
    return info.value


def line_of(tmp_path: Path, text: str) -> int:
    newest = max(tmp_path.glob("flow_*.py"), key=lambda p: int(p.stem.split("_")[1]))
    return next(i for i, line in enumerate(newest.read_text().splitlines(), 1) if text in line)


GOOD_END = """
@step
def end(self):
    pass
"""


def test_good_flow_passes(tmp_path: Path) -> None:
    flow = load_flow(tmp_path, "@step\ndef start(self):\n    self.next(self.end)\n" + GOOD_END)
    check_graph(FlowGraph(flow))


def test_missing_start(tmp_path: Path) -> None:
    err = lint_error(tmp_path, "@step\ndef begin(self):\n    self.next(self.end)\n")
    assert "The flow has no 'start' step" in str(err)


def test_missing_end(tmp_path: Path) -> None:
    err = lint_error(
        tmp_path,
        "@step\ndef start(self):\n    self.next(self.finish)\n@step\ndef finish(self):\n    pass\n",
        with_end=False,
    )
    assert "no 'end' step" in str(err)


def test_step_not_decorated(tmp_path: Path) -> None:
    body = (
        "@step\ndef start(self):\n    self.next(self.middle)\ndef middle(self):\n    self.next(self.end)\n" + GOOD_END
    )
    err = lint_error(tmp_path, body)
    assert err.step_name == "start" and err.line_no == line_of(tmp_path, "self.next(self.middle)")
    assert (
        f"'middle', which is a method but not a step; decorate 'middle' (line {line_of(tmp_path, 'def middle')})"
        in str(err)
    )
    assert "with @step" in str(err)


def test_step_without_next(tmp_path: Path) -> None:
    err = lint_error(tmp_path, "@step\ndef start(self):\n    self.x = 1\n")
    assert err.step_name == "start" and err.line_no == line_of(tmp_path, "def start")
    assert "does not end with self.next(...)" in str(err)
    assert f"Step 'start' (line {err.line_no})" in str(err)


def test_next_not_last_statement(tmp_path: Path) -> None:
    err = lint_error(tmp_path, "@step\ndef start(self):\n    self.next(self.end)\n    self.x = 1\n")
    assert "does not end with self.next(...)" in str(err)


def test_next_to_unknown_step(tmp_path: Path) -> None:
    err = lint_error(tmp_path, "@step\ndef start(self):\n    self.next(self.nowhere)\n")
    assert err.step_name == "start" and err.line_no == line_of(tmp_path, "self.next(self.nowhere)")
    assert "goes to 'nowhere', which is not a step of this flow" in str(err)


def test_end_calling_next(tmp_path: Path) -> None:
    err = lint_error(
        tmp_path,
        "@step\ndef start(self):\n    self.next(self.end)\n@step\ndef end(self):\n    self.next(self.start)\n",
        with_end=False,
    )
    assert err.step_name == "end" and "must not call self.next()" in str(err)


def test_unreachable_step(tmp_path: Path) -> None:
    body = (
        "@step\ndef start(self):\n    self.next(self.end)\n@step\ndef orphan(self):\n    self.next(self.end)\n"
        + GOOD_END
    )
    err = lint_error(tmp_path, body)
    assert err.step_name == "orphan" and err.line_no == line_of(tmp_path, "def orphan")
    assert "cannot be reached from 'start'" in str(err)


def test_foreach_without_join(tmp_path: Path) -> None:
    body = """
    @step
    def start(self):
        self.items = [1, 2]
        self.next(self.body, foreach="items")
    @step
    def body(self):
        self.next(self.end)
    """
    err = lint_error(tmp_path, body)
    assert err.step_name == "start" and err.line_no == line_of(tmp_path, "def start")
    assert "the foreach started here is never joined: 'end' is reached first" in str(err)


def test_split_without_join(tmp_path: Path) -> None:
    body = """
    @step
    def start(self):
        self.next(self.a, self.b)
    @step
    def a(self):
        self.next(self.end)
    @step
    def b(self):
        self.next(self.end)
    """
    err = lint_error(tmp_path, body)
    assert err.step_name == "end" and err.line_no == line_of(tmp_path, "def end")
    assert "the step is reached from 'a', 'b', so it must be a join step: define it as 'def end(self, inputs)'" in str(
        err
    )


def test_join_inputs_do_not_match(tmp_path: Path) -> None:
    body = """
    @step
    def start(self):
        self.next(self.a, self.b, self.c)
    @step
    def a(self):
        self.next(self.join1)
    @step
    def b(self):
        self.next(self.join1)
    @step
    def c(self):
        self.next(self.join2)
    @step
    def join1(self, inputs):
        self.next(self.join2)
    @step
    def join2(self, inputs):
        self.next(self.end)
    """
    err = lint_error(tmp_path, body)
    assert err.step_name == "join1" and err.line_no == line_of(tmp_path, "def join1")
    assert "the join's inputs do not match: it joins 'a', 'b'" in str(err)
    assert "opens 3 paths ('a', 'b', 'c')" in str(err)


def test_join_without_inputs_argument(tmp_path: Path) -> None:
    body = """
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
    def join(self):
        self.next(self.end)
    """
    err = lint_error(tmp_path, body)
    assert err.step_name == "join" and err.line_no == line_of(tmp_path, "def join")
    assert "reached from 'a', 'b', so it must be a join step: define it as 'def join(self, inputs)'" in str(err)


def test_join_with_no_split(tmp_path: Path) -> None:
    body = (
        "@step\ndef start(self):\n    self.next(self.j)\n@step\ndef j(self, inputs):\n    self.next(self.end)\n"
        + GOOD_END
    )
    err = lint_error(tmp_path, body)
    assert err.step_name == "j" and "takes 'inputs', so it is a join, but no split leads to it" in str(err)


def test_cycle(tmp_path: Path) -> None:
    body = """
    @step
    def start(self):
        self.next(self.a)
    @step
    def a(self):
        self.next(self.b)
    @step
    def b(self):
        self.next(self.a)
    """
    err = lint_error(tmp_path, body)
    assert err.step_name == "b" and err.line_no == line_of(tmp_path, "def b") + 1
    assert "the steps form a cycle: a -> b -> a" in str(err)


def test_foreach_straight_to_join(tmp_path: Path) -> None:
    body = """
    @step
    def start(self):
        self.items = [1]
        self.next(self.join, foreach="items")
    @step
    def join(self, inputs):
        self.next(self.end)
    """
    err = lint_error(tmp_path, body)
    assert "goes straight to a join step" in str(err)


def test_reserved_and_invalid_step_names(tmp_path: Path) -> None:
    err = lint_error(
        tmp_path,
        "@step\ndef start(self):\n    self.next(self.input)\n@step\ndef input(self):\n    self.next(self.end)\n",
    )
    assert "'input' is a reserved word" in str(err)
    err = lint_error(
        tmp_path, "@step\ndef start(self):\n    self.next(self.Up)\n@step\ndef Up(self):\n    self.next(self.end)\n"
    )
    assert "lowercase letters" in str(err) and err.step_name == "Up"


def test_bad_next_arguments(tmp_path: Path) -> None:
    err = lint_error(tmp_path, "@step\ndef start(self):\n    self.next('end')\n")
    assert "self.next() takes steps written as self.<step_name>" in str(err)
    err = lint_error(tmp_path, "@step\ndef start(self):\n    self.next(self.end, foreach=self.x)\n")
    assert "string literal" in str(err)
    err = lint_error(tmp_path, "@step\ndef start(self):\n    self.next(self.end, retries=3)\n")
    assert "does not take the argument 'retries'" in str(err)


def test_extra_arguments(tmp_path: Path) -> None:
    err = lint_error(tmp_path, "@step\ndef start(self, a, b):\n    self.next(self.end)\n")
    assert "a join step self and inputs; nothing else" in str(err)


def test_catch_on_foreach_is_a_check_error(tmp_path: Path) -> None:
    body = """
    @catch
    @step
    def start(self):
        self.items = [1]
        self.next(self.body, foreach="items")
    @step
    def body(self):
        self.next(self.join)
    @step
    def join(self, inputs):
        self.next(self.end)
    """
    err = lint_error(tmp_path, body)
    assert err.step_name == "start" and "@catch is not supported on a foreach split step" in str(err)


def test_decorator_below_step_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FlowSpecError, match="@retry must be placed above @step"):
        load_flow(tmp_path, "@step\n@retry\ndef start(self):\n    self.next(self.end)\n" + GOOD_END)


def test_graph_structure(tmp_path: Path) -> None:
    body = """
    @step
    def start(self):
        self.items = [1]
        self.next(self.body, foreach="items")
    @step
    def body(self):
        self.next(self.join)
    @step
    def join(self, inputs):
        self.next(self.end)
    """
    graph = FlowGraph(load_flow(tmp_path, textwrap.dedent(body) + GOOD_END))
    assert [n.name for n in graph.sorted_nodes()] == ["start", "body", "join", "end"]
    assert graph["start"].type == "foreach" and graph["start"].matching_join == "join"
    assert graph["body"].split_parents == ["start"] and graph["join"].type == "join"
    assert graph["join"].in_funcs == ["body"]
