"""The flow's graph, read from the source of its step methods (each step ends with ``self.next(...)``).

A node carries Metaflow's attributes, with Metaflow's meanings, since flows and tools read them through
``flow._graph``: ``type`` (start, end, linear, join, split, foreach, split-switch), ``in_funcs``, ``out_funcs``,
``split_parents`` and ``split_branches`` (the enclosing splits and the branch taken in each; a join counts the
split it closes), ``matching_join``, ``is_inside_foreach``, ``switch_cases`` and ``condition``, ``foreach_param``,
``num_parallel``, ``parallel_foreach`` and ``parallel_step``. The graph knows its ``start_step`` and ``end_step``
(named so, or marked with ``@step(start=True)`` / ``@step(end=True)``) and its loops: a switch may go back to
itself or to an earlier step, and the steps on such a cycle form a loop.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass, field
from typing import Any

from flowstone.errors import FlowSpecError
from flowstone.flow.graph_walk import find_back_edges, find_loops, reachable_from

__all__ = ["SWITCH", "DAGNode", "FlowGraph"]

#: The type of a step that ends with ``self.next({...}, condition=...)``.
SWITCH = "split-switch"


@dataclass(eq=False)
class DAGNode:
    """One step: where it is defined, where it goes, and how it splits or joins."""

    name: str
    source_file: str
    func_lineno: int
    num_args: int
    doc: str = ""
    decorators: list[Any] = field(default_factory=list)
    is_start_step: bool = False  # marked with @step(start=True)
    is_end_step: bool = False  # marked with @step(end=True)
    # what the self.next(...) ending the step says
    has_tail_next: bool = False
    tail_next_lineno: int = 0
    out_funcs: list[str] = field(default_factory=list)
    foreach_param: str | None = None
    num_parallel: int = 0  # as written, when it is a literal
    parallel_foreach: bool = False  # self.next(self.step, num_parallel=...)
    switch_cases: dict[Any, str] = field(default_factory=dict)  # case value -> step
    condition: str | None = None  # the artifact whose value picks the case
    transition_error: str | None = None  # a self.next(...) call that could not be understood
    # found by walking the graph
    type: str = "linear"
    in_funcs: list[str] = field(default_factory=list)
    split_parents: list[str] = field(default_factory=list)  # enclosing splits, outermost first
    split_branches: list[str] = field(default_factory=list)  # the branch taken in each enclosing split
    matching_join: str | None = None
    is_inside_foreach: bool = False

    @property
    def invalid_tail_next(self) -> bool:
        return self.transition_error is not None

    @property
    def is_join(self) -> bool:
        return self.num_args > 1

    @property
    def is_split(self) -> bool:
        """Whether the step starts branches that a join closes (a static split, a foreach or a @parallel)."""
        return self.type in ("split", "foreach")

    @property
    def parallel_step(self) -> bool:
        """Whether the step is a @parallel step (its tasks start together, ``num_parallel`` of them)."""
        return any(getattr(d, "is_parallel", False) for d in self.decorators)

    def describe(self) -> dict[str, Any]:
        description = {
            "name": self.name,
            "type": self.type,
            "line": self.func_lineno,
            "next": list(self.out_funcs),
            "foreach": self.foreach_param,
            "decorators": [d.describe() for d in self.decorators],
            "doc": self.doc,
        }
        if self.type == SWITCH:
            description["condition"] = self.condition
            description["switch_cases"] = {str(case): step for case, step in self.switch_cases.items()}
        if self.parallel_foreach:
            description["num_parallel"] = self.num_parallel
        if self.matching_join:
            description["matching_join"] = self.matching_join
        return description


# -- reading self.next(...) ------------------------------------------------------------------------------------
def _step_name(expr: ast.expr) -> str | None:
    """'name' for ``self.name``, else None."""
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id == "self":
        return expr.attr
    return None


def _case_key(expr: ast.expr | None) -> tuple[bool, Any]:
    """(True, key) for a literal key or ``self.<config>.<key>``; (False, None) for anything else."""
    if isinstance(expr, ast.Constant) and not isinstance(expr.value, bytes):
        return True, expr.value
    if isinstance(expr, ast.Attribute) and _step_name(expr.value) is not None:
        return True, f"config:{_step_name(expr.value)}.{expr.attr}"
    return False, None


def _parse_switch(node: DAGNode, cases: ast.Dict, keywords: dict[str, ast.expr]) -> None:
    condition = keywords.pop("condition")
    literal = condition.value if isinstance(condition, ast.Constant) else None
    node.condition = literal if isinstance(literal, str) else None
    if keywords:
        node.transition_error = "a switch cannot be combined with foreach or num_parallel"
    elif node.condition is None:
        node.transition_error = "self.next({...}, condition=...) takes the artifact name as a string literal"
    for key_expr, value in zip(cases.keys, cases.values, strict=True):
        ok, key = _case_key(key_expr)
        target = _step_name(value)
        if not ok:
            node.transition_error = "switch cases are literals (strings, numbers) or self.<config>.<key>, not variables"
        elif target is None:
            node.transition_error = "a switch maps each case to a step written as self.<step_name>"
        else:
            node.switch_cases[key] = target
    node.type = SWITCH
    node.out_funcs = list(dict.fromkeys(node.switch_cases.values()))


def _parse_keywords(node: DAGNode, keywords: dict[str, ast.expr]) -> None:
    if "foreach" in keywords and "num_parallel" in keywords:
        node.transition_error = "self.next() takes foreach or num_parallel, not both"
    for name, value in keywords.items():
        literal = value.value if isinstance(value, ast.Constant) else None
        if name == "foreach":
            if isinstance(literal, str):
                node.foreach_param = literal
            else:
                node.transition_error = "self.next(..., foreach=...) takes the artifact name as a string literal"
        elif name == "num_parallel":
            node.parallel_foreach = True
            node.num_parallel = literal if isinstance(literal, int) and not isinstance(literal, bool) else 0
        elif name == "condition":
            node.transition_error = "condition=... needs a dictionary of cases: self.next({'a': self.a}, condition=...)"
        else:
            node.transition_error = f"self.next() does not take the argument '{name}'"


def _parse_transition(node: DAGNode, func: ast.FunctionDef, line_offset: int) -> None:
    """Fill ``node``'s transition from the last statement, if it is ``self.next(...)``."""
    body = [s for s in func.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    tail = body[-1] if body else None
    if not (isinstance(tail, ast.Expr) and isinstance(tail.value, ast.Call)):
        return
    call = tail.value
    if _step_name(call.func) != "next":  # not self.next(...)
        return
    node.has_tail_next = True
    node.tail_next_lineno = tail.lineno + line_offset
    keywords = {kw.arg or "**": kw.value for kw in call.keywords}
    if len(call.args) == 1 and isinstance(call.args[0], ast.Dict):
        if "condition" in keywords:
            _parse_switch(node, call.args[0], keywords)
        else:
            node.transition_error = "a dictionary of cases needs condition='artifact_name' to pick one"
        return
    for arg in call.args:
        name = _step_name(arg)
        if name is None:
            node.transition_error = "self.next() takes steps written as self.<step_name>"
            return
        node.out_funcs.append(name)
    _parse_keywords(node, keywords)
    if not node.out_funcs:
        node.transition_error = "self.next() needs at least one step"


# -- the graph --------------------------------------------------------------------------------------------------
class FlowGraph:
    """The steps of a flow class and the edges between them."""

    def __init__(self, flow_cls: type) -> None:
        self.flow_cls = flow_cls  # its parameters are checked with the graph (flow/lint.py)
        self.name = flow_cls.__name__
        self.doc = inspect.cleandoc(flow_cls.__doc__) if flow_cls.__doc__ else ""  # its own, not FlowSpec's
        self.nodes: dict[str, DAGNode] = {}
        self.non_step_methods: dict[str, int] = {}  # methods that are not steps, with their line
        for cls in flow_cls.__mro__:
            if cls.__module__.startswith("flowstone.") or cls is object:
                continue
            self._parse_class(flow_cls, cls)
        self.start_step = self._endpoint("is_start_step", "start")
        self.end_step = self._endpoint("is_end_step", "end")
        self._assign_types()
        self._link()
        #: edges (from, to) that go back to a step already on the path from the start: only switches may have them
        self.back_edges: set[tuple[str, str]] = set()
        #: step -> the steps of the loop it is on (steps on no loop are not keys)
        self.loops: dict[str, frozenset[str]] = {}
        if self.start_step is not None:
            successors = {name: node.out_funcs for name, node in self.nodes.items()}
            self.back_edges = find_back_edges(successors, self.start_step)
            self.loops = find_loops(successors)
            self._assign_split_parents()
        self._mark_inside_foreach()

    def _parse_class(self, flow_cls: type, cls: type) -> None:
        try:
            lines, first_line = inspect.getsourcelines(cls)
            source_file = inspect.getsourcefile(cls) or "<unknown>"
        except (OSError, TypeError) as exc:
            raise FlowSpecError(f"Cannot read the source of flow class '{cls.__name__}' ({exc}).") from exc
        tree = ast.parse(textwrap.dedent("".join(lines)))
        class_def = next(n for n in tree.body if isinstance(n, ast.ClassDef))
        offset = first_line - 1
        for item in class_def.body:
            if not isinstance(item, ast.FunctionDef) or item.name in self.nodes:
                continue
            func = getattr(flow_cls, item.name, None)
            if not getattr(func, "is_step", False):
                self.non_step_methods.setdefault(item.name, item.lineno + offset)
                continue
            node = DAGNode(
                name=item.name,
                source_file=source_file,
                func_lineno=item.lineno + offset,
                num_args=len(item.args.args),
                doc=inspect.getdoc(func) or "",
                decorators=list(getattr(func, "decorators", [])),
                is_start_step=bool(getattr(func, "is_start_step", False)),
                is_end_step=bool(getattr(func, "is_end_step", False)),
            )
            _parse_transition(node, item, offset)
            self.nodes[item.name] = node

    def _endpoint(self, marker: str, default_name: str) -> str | None:
        """The one step marked with ``marker``, else the step named ``default_name``; the only step of a one-step
        flow is both. None if there is none, or more than one is marked (the checks say which)."""
        if len(self.nodes) == 1:
            return next(iter(self.nodes))
        marked = [name for name, node in self.nodes.items() if getattr(node, marker)]
        if marked:
            return marked[0] if len(marked) == 1 else None
        return default_name if default_name in self.nodes else None

    def _assign_types(self) -> None:
        for node in self.nodes.values():
            if node.type == SWITCH:
                continue
            if node.foreach_param is not None or node.parallel_foreach:
                node.type = "foreach"
            elif len(node.out_funcs) > 1:
                node.type = "split"
            else:
                node.type = "join" if node.is_join else "linear"
        if self.start_step is not None and self.nodes[self.start_step].type == "linear":
            self.nodes[self.start_step].type = "start"
        if self.end_step is not None:
            self.nodes[self.end_step].type = "end"

    def _link(self) -> None:
        for node in self.nodes.values():
            for out in node.out_funcs:
                if out in self.nodes and node.name not in self.nodes[out].in_funcs:
                    self.nodes[out].in_funcs.append(node.name)
        for node in self.nodes.values():
            node.in_funcs.sort()

    def _assign_split_parents(self) -> None:
        """Walk from the start step (not along back edges), recording each step's enclosing splits and branches
        and each split's join. Each step is walked once per distinct place it is reached from."""
        seen: set[tuple[str, tuple[str, ...], tuple[str, ...]]] = set()

        def walk(name: str, parents: tuple[str, ...], branches: tuple[str, ...]) -> None:
            if (name, parents, branches) in seen:
                return
            seen.add((name, parents, branches))
            node = self.nodes[name]
            node.split_parents, node.split_branches = list(parents), list(branches)
            if node.type == "join" and parents:
                self.nodes[parents[-1]].matching_join = name
                node.split_branches = list(branches[:-1])
                parents, branches = parents[:-1], branches[:-1]
            for out in node.out_funcs:
                if out in self.nodes and (name, out) not in self.back_edges:
                    if node.is_split:
                        walk(out, (*parents, name), (*branches, out))
                    else:
                        walk(out, parents, branches)

        assert self.start_step is not None
        walk(self.start_step, (), ())

    def _mark_inside_foreach(self) -> None:
        """A step is inside a foreach if one of its enclosing foreaches is not the one it joins (as in Metaflow)."""
        for node in self.nodes.values():
            foreaches = [p for p in node.split_parents if self.nodes[p].type == "foreach"]
            node.is_inside_foreach = any(self.nodes[f].matching_join != node.name for f in foreaches)

    # -- access -----------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> DAGNode:
        return self.nodes[name]

    def __contains__(self, name: object) -> bool:
        return name in self.nodes

    def __iter__(self) -> Any:
        return iter(self.nodes.values())

    def reachable(self) -> set[str]:
        """The steps reachable from the start step."""
        if self.start_step is None:
            return set()
        return reachable_from({n: node.out_funcs for n, node in self.nodes.items()}, self.start_step)

    def sorted_nodes(self) -> list[DAGNode]:
        """Steps in breadth-first order from the start step (unreachable ones last, by line)."""
        order: list[str] = []
        queue = [self.start_step] if self.start_step is not None else []
        while queue:
            name = queue.pop(0)
            if name in order or name not in self.nodes:
                continue
            order.append(name)
            queue.extend(self.nodes[name].out_funcs)
        rest = sorted((n for n in self.nodes if n not in order), key=lambda n: self.nodes[n].func_lineno)
        return [self.nodes[n] for n in order + rest]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "doc": self.doc,
            "start_step": self.start_step,
            "end_step": self.end_step,
            "steps": [n.describe() for n in self.sorted_nodes()],
        }
