"""The flow's graph, read from the source of its step methods (each step ends with ``self.next(...)``)."""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass, field
from typing import Any

from flowstone.errors import FlowSpecError

__all__ = ["DAGNode", "FlowGraph"]


@dataclass
class DAGNode:
    """One step: where it is defined, where it goes, and how it splits or joins."""

    name: str
    source_file: str
    func_lineno: int
    num_args: int
    doc: str = ""
    decorators: list[Any] = field(default_factory=list)
    has_next: bool = False
    next_lineno: int = 0
    out_funcs: list[str] = field(default_factory=list)
    foreach_param: str | None = None
    transition_error: str | None = None  # a self.next(...) call that could not be understood
    in_funcs: list[str] = field(default_factory=list)
    split_parents: list[str] = field(default_factory=list)  # enclosing splits, outermost first
    matching_join: str | None = None

    @property
    def is_join(self) -> bool:
        return self.num_args > 1

    @property
    def split_type(self) -> str | None:
        """'foreach' or 'split' if the step fans out, else None."""
        if self.foreach_param is not None:
            return "foreach"
        return "split" if len(self.out_funcs) > 1 else None

    @property
    def type(self) -> str:
        if self.name == "end":
            return "end"
        if self.split_type:
            return self.split_type
        if self.is_join:
            return "join"
        return "start" if self.name == "start" else "linear"

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "line": self.func_lineno,
            "next": list(self.out_funcs),
            "foreach": self.foreach_param,
            "decorators": [d.describe() for d in self.decorators],
            "doc": self.doc,
        }


def _parse_transition(node: DAGNode, func: ast.FunctionDef, line_offset: int) -> None:
    """Fill ``node``'s transition from the last statement, if it is ``self.next(...)``."""
    body = [s for s in func.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    tail = body[-1] if body else None
    if not (isinstance(tail, ast.Expr) and isinstance(tail.value, ast.Call)):
        return
    call = tail.value
    target = call.func
    if not (
        isinstance(target, ast.Attribute)
        and target.attr == "next"
        and isinstance(target.value, ast.Name)
        and target.value.id == "self"
    ):
        return
    node.has_next = True
    node.next_lineno = tail.lineno + line_offset
    for arg in call.args:
        if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) and arg.value.id == "self":
            node.out_funcs.append(arg.attr)
        else:
            node.transition_error = "self.next() takes steps written as self.<step_name>"
            return
    for kw in call.keywords:
        if kw.arg == "foreach":
            if isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                node.foreach_param = kw.value.value
            else:
                node.transition_error = "self.next(..., foreach=...) takes the artifact name as a string literal"
        else:
            node.transition_error = f"self.next() does not take the argument '{kw.arg}'"
    if not node.out_funcs:
        node.transition_error = "self.next() needs at least one step"


class FlowGraph:
    """The steps of a flow class and the edges between them."""

    def __init__(self, flow_cls: type) -> None:
        self.name = flow_cls.__name__
        self.doc = inspect.getdoc(flow_cls) or ""
        self.nodes: dict[str, DAGNode] = {}
        self.non_step_methods: dict[str, int] = {}  # methods that are not steps, with their line
        for cls in flow_cls.__mro__:
            if cls.__module__.startswith("flowstone.") or cls is object:
                continue
            self._parse_class(flow_cls, cls)
        self._link()

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
            )
            _parse_transition(node, item, offset)
            self.nodes[item.name] = node

    def _link(self) -> None:
        for node in self.nodes.values():
            for out in node.out_funcs:
                if out in self.nodes and node.name not in self.nodes[out].in_funcs:
                    self.nodes[out].in_funcs.append(node.name)
        if "start" in self.nodes:
            self._assign_split_parents()

    def _assign_split_parents(self) -> None:
        """Walk from start, recording each step's enclosing splits and each split's join (cycles ignored)."""

        def walk(name: str, parents: list[str], path: tuple[str, ...]) -> None:
            node = self.nodes[name]
            if node.is_join and parents:
                self.nodes[parents[-1]].matching_join = self.nodes[parents[-1]].matching_join or name
                parents = parents[:-1]
            node.split_parents = parents
            if node.split_type:
                parents = [*parents, name]
            for out in node.out_funcs:
                if out in self.nodes and out not in path:
                    walk(out, parents, (*path, out))

        walk("start", [], ("start",))

    # -- access -----------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> DAGNode:
        return self.nodes[name]

    def __contains__(self, name: object) -> bool:
        return name in self.nodes

    def __iter__(self) -> Any:
        return iter(self.nodes.values())

    def sorted_nodes(self) -> list[DAGNode]:
        """Steps in breadth-first order from start (unreachable ones last, by line)."""
        order: list[str] = []
        queue = ["start"] if "start" in self.nodes else []
        while queue:
            name = queue.pop(0)
            if name in order or name not in self.nodes:
                continue
            order.append(name)
            queue.extend(self.nodes[name].out_funcs)
        rest = sorted((n for n in self.nodes if n not in order), key=lambda n: self.nodes[n].func_lineno)
        return [self.nodes[n] for n in order + rest]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "doc": self.doc, "steps": [n.describe() for n in self.sorted_nodes()]}
