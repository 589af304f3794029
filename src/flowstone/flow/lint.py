"""Graph checks run by ``flow.py check`` and before every run: each problem is reported with its step and line."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from flowstone.errors import FlowSpecError
from flowstone.flow.graph import DAGNode, FlowGraph

__all__ = ["check_graph", "lint_graph"]

RESERVED_STEP_NAMES = frozenset({"name", "next", "input", "index", "cmd", "foreach_stack", "merge_artifacts"})
_STEP_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")

Problems = Iterator[FlowSpecError]


def _error(node: DAGNode, msg: str, line: int | None = None) -> FlowSpecError:
    return FlowSpecError(msg, node.name, line or node.func_lineno)


def check_basic_steps(graph: FlowGraph) -> Problems:
    for name in ("start", "end"):
        if name not in graph:
            yield FlowSpecError(
                f"The flow has no '{name}' step. Every flow needs steps named 'start' and 'end', "
                f"each a method decorated with @step."
            )


def check_step_names(graph: FlowGraph) -> Problems:
    for node in graph:
        if node.name in RESERVED_STEP_NAMES:
            yield _error(node, f"'{node.name}' is a reserved word; give the step another name.")
        elif not _STEP_NAME.match(node.name):
            yield _error(node, "step names may contain only lowercase letters, digits and '_' (not first).")


def check_decorators(graph: FlowGraph) -> Problems:
    for node in graph:
        for deco in node.decorators:
            try:
                deco.check(node.name, node.type)
            except FlowSpecError as exc:
                yield FlowSpecError(exc.message, node.name, node.func_lineno) if exc.line_no is None else exc


def check_transitions(graph: FlowGraph) -> Problems:
    for node in graph:
        line = node.next_lineno or node.func_lineno
        if node.name == "end":
            if node.has_next:
                yield _error(node, "the 'end' step must not call self.next().", line)
            continue
        if not node.has_next:
            yield _error(node, "the step does not end with self.next(...); add it as the step's last statement.")
            continue
        if node.transition_error:
            yield _error(node, node.transition_error + ".", line)
            continue
        if node.foreach_param is not None and len(node.out_funcs) != 1:
            yield _error(node, "a foreach goes to exactly one step: self.next(self.step, foreach='name').", line)
        for out in node.out_funcs:
            if out in graph:
                continue
            if out in graph.non_step_methods:
                yield _error(node, f"self.next() goes to '{out}', which is a method but not a step; decorate "
                             f"'{out}' (line {graph.non_step_methods[out]}) with @step.", line)  # fmt: skip
            else:
                yield _error(node, f"self.next() goes to '{out}', which is not a step of this flow.", line)


def check_start_and_end(graph: FlowGraph) -> Problems:
    if "start" in graph and graph["start"].in_funcs:
        yield _error(
            graph["start"], f"no step may go to 'start' (it is reached from {_names(graph['start'].in_funcs)})."
        )
    if "start" in graph and graph["start"].is_join:
        yield _error(graph["start"], "the 'start' step cannot be a join: it takes only self.")


def check_arguments(graph: FlowGraph) -> Problems:
    for node in graph:
        if node.num_args > 2:
            yield _error(node, "a step takes self, and a join step self and inputs; nothing else.")
        elif node.num_args == 0:
            yield _error(node, "a step is a method: it must take self.")


def check_acyclic(graph: FlowGraph) -> Problems:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    found: list[FlowSpecError] = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for out in graph[name].out_funcs:
            if out not in graph:
                continue
            if state.get(out) == 1:
                cycle = [*path[path.index(out) :], out]
                node = graph[name]
                found.append(_error(node, f"the steps form a cycle: {' -> '.join(cycle)}. A flow must be "
                                    f"acyclic; remove the transition back to '{out}'.", node.next_lineno))  # fmt: skip
            elif out not in state:
                visit(out, [*path, out])
        state[name] = 2

    for name in graph.nodes:
        if name not in state and (name == "start" or "start" not in graph):
            visit(name, [name])
    yield from found[:1]


def check_reachable(graph: FlowGraph) -> Problems:
    if "start" not in graph:
        return
    seen, stack = set(), ["start"]
    while stack:
        name = stack.pop()
        if name in seen or name not in graph:
            continue
        seen.add(name)
        stack.extend(graph[name].out_funcs)
    for node in graph.sorted_nodes():
        if node.name not in seen:
            yield _error(node, "the step cannot be reached from 'start'; go to it with self.next() or remove it.")


def check_split_join_balance(graph: FlowGraph) -> Problems:
    """Every split is joined by one join step before 'end', and every join closes the split it sits in."""
    problems: dict[str, FlowSpecError] = {}

    def report(node: DAGNode, msg: str) -> None:
        problems.setdefault(node.name, _error(node, msg))

    def walk(name: str, stack: list[str], path: tuple[str, ...]) -> None:
        node = graph[name]
        if node.is_join:
            if not stack:
                report(node, "the step takes 'inputs', so it is a join, but no split leads to it; "
                       "remove the 'inputs' argument.")  # fmt: skip
                return
            split = graph[stack[-1]]
            expected = 1 if split.split_type == "foreach" else len(split.out_funcs)
            unrelated = [f for f in node.in_funcs if graph[f].split_parents[-1:] != [split.name]]
            if unrelated or len(node.in_funcs) != expected:
                paths = "1 path" if expected == 1 else f"{expected} paths ({_names(split.out_funcs)})"
                report(node, f"the join's inputs do not match: it joins {_names(node.in_funcs)}, but the "
                       f"{split.split_type} in step '{split.name}' (line {split.func_lineno}) opens {paths}. "
                       f"Join the branches of one split in one join step.")  # fmt: skip
                return
            stack = stack[:-1]
        elif len(node.in_funcs) > 1:
            report(node, f"the step is reached from {_names(node.in_funcs)}, so it must be a join step: "
                   f"define it as 'def {node.name}(self, inputs)'.")  # fmt: skip
            return
        if node.name == "end" and stack:
            split = graph[stack[-1]]
            kind = "foreach" if split.split_type == "foreach" else "split"
            report(split, f"the {kind} started here is never joined: 'end' is reached first. Add a join step "
                   f"(a step taking 'inputs') before 'end'.")  # fmt: skip
            return
        if node.split_type == "foreach" and node.out_funcs and graph.nodes.get(node.out_funcs[0], node).is_join:
            report(node, "the foreach goes straight to a join step; add at least one step for the foreach to run.")
            return
        if node.split_type:
            stack = [*stack, name]
        for out in node.out_funcs:
            if out in graph and out not in path:
                walk(out, stack, (*path, out))

    if "start" in graph:
        walk("start", [], ("start",))
    yield from problems.values()


CHECKS: list[Callable[[FlowGraph], Problems]] = [
    check_basic_steps,
    check_step_names,
    check_arguments,
    check_transitions,
    check_decorators,
    check_start_and_end,
    check_acyclic,
    check_reachable,
    check_split_join_balance,
]


def lint_graph(graph: FlowGraph) -> list[FlowSpecError]:
    """Every problem found, in check order; later checks run only when earlier ones found none."""
    for check in CHECKS:
        problems = list(check(graph))
        if problems:
            return problems
    return []


def check_graph(graph: FlowGraph) -> None:
    """Raise the problems found: one error, whose message lists every problem of the first failing check."""
    problems = lint_graph(graph)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        combined = FlowSpecError("\n".join(p.message for p in problems))
        combined.step_name, combined.line_no = problems[0].step_name, problems[0].line_no
        raise combined


def _names(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)
