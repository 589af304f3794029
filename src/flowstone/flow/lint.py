"""Graph checks run by ``flow.py check`` and before every run: each problem is reported with its step and line.

The checks of how steps fit together (loops, splits and joins, @parallel) are in ``flow/lint_structure.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flowstone.errors import FlowSpecError
from flowstone.flow.graph import SWITCH, FlowGraph
from flowstone.flow.lint_structure import (
    Problems,
    check_loops,
    check_parallel_steps,
    check_split_join_balance,
    error,
    names,
)
from flowstone.flow.parameters import parameter_name_problems

__all__ = ["check_graph", "lint_graph"]

RESERVED_STEP_NAMES = frozenset({"name", "next", "input", "index", "cmd", "foreach_stack", "merge_artifacts"})
_STEP_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_ENDPOINTS = (("start", "is_start_step"), ("end", "is_end_step"))


def check_parameter_names(graph: FlowGraph) -> Problems:
    get_parameters = getattr(graph.flow_cls, "_get_parameters", None)
    for problem in parameter_name_problems(get_parameters() if get_parameters else []):
        yield FlowSpecError(problem)


def check_basic_steps(graph: FlowGraph) -> Problems:
    """A flow has one start step and one end step: named so, or marked with @step(start=True) / (end=True)."""
    for (role, marker), found in zip(_ENDPOINTS, (graph.start_step, graph.end_step), strict=True):
        marked = [node.name for node in graph if getattr(node, marker)]
        if len(marked) > 1:
            yield FlowSpecError(f"Steps {names(marked)} are all marked @step({role}=True); a flow has one {role} "
                                f"step, so mark exactly one.")  # fmt: skip
        elif found is None:
            yield FlowSpecError(
                f"The flow has no '{role}' step. Every flow needs a start and an end step: steps named 'start' "
                f"and 'end', or steps marked @step(start=True) and @step(end=True)."
            )
        elif found != role and role in graph and len(graph.nodes) > 1:
            yield error(graph[found], f"the step is marked @step({role}=True), but a step named '{role}' exists "
                                      f"too; rename '{role}' or remove the mark.")  # fmt: skip


def check_step_names(graph: FlowGraph) -> Problems:
    for node in graph:
        if node.name in RESERVED_STEP_NAMES:
            yield error(node, f"'{node.name}' is a reserved word; give the step another name.")
        elif not _STEP_NAME.match(node.name):
            yield error(node, "step names may contain only lowercase letters, digits and '_' (not first).")


def check_decorators(graph: FlowGraph) -> Problems:
    for node in graph:
        for deco in node.decorators:
            try:
                deco.check(node.name, node.type)
            except FlowSpecError as exc:
                yield FlowSpecError(exc.message, node.name, node.func_lineno) if exc.line_no is None else exc


def check_transitions(graph: FlowGraph) -> Problems:
    for node in graph:
        line = node.tail_next_lineno or node.func_lineno
        if node.name == graph.end_step:
            if node.has_tail_next:
                yield error(node, "the end step must not call self.next().", line)
            continue
        if not node.has_tail_next:
            yield error(node, "the step does not end with self.next(...); add it as the step's last statement.")
            continue
        if node.transition_error:
            yield error(node, node.transition_error + ".", line)
            continue
        yield from _check_targets(graph, node.name, line)


def _check_targets(graph: FlowGraph, name: str, line: int) -> Problems:
    node = graph[name]
    if node.foreach_param is not None and len(node.out_funcs) != 1:
        yield error(node, "a foreach goes to exactly one step: self.next(self.step, foreach='name').", line)
    if node.parallel_foreach and len(node.out_funcs) != 1:
        yield error(node, "num_parallel goes to exactly one step: self.next(self.step, num_parallel=4).", line)
    if node.type == SWITCH and len(node.switch_cases) < 2:
        yield error(node, "a switch needs at least two cases: self.next({'a': self.a, 'b': self.b}, "
                          "condition='name').", line)  # fmt: skip
    for out in node.out_funcs:
        if out in graph:
            continue
        if out in graph.non_step_methods:
            yield error(node, f"self.next() goes to '{out}', which is a method but not a step; decorate "
                        f"'{out}' (line {graph.non_step_methods[out]}) with @step.", line)  # fmt: skip
        else:
            yield error(node, f"self.next() goes to '{out}', which is not a step of this flow.", line)


def check_start_and_end(graph: FlowGraph) -> Problems:
    if graph.start_step is None or graph.end_step is None or graph.start_step == graph.end_step:
        return
    start, end = graph[graph.start_step], graph[graph.end_step]
    if start.in_funcs:
        yield error(start, f"no step may go to the start step '{start.name}' (it is reached from "
                           f"{names(start.in_funcs)}).")  # fmt: skip
    if start.is_join:
        yield error(start, f"the start step '{start.name}' cannot be a join: it takes only self.")
    if end.is_join:
        yield error(end, f"the end step '{end.name}' cannot be a join: add a join step before it.")


def check_arguments(graph: FlowGraph) -> Problems:
    for node in graph:
        if node.num_args > 2:
            yield error(node, "a step takes self, and a join step self and inputs; nothing else.")
        elif node.num_args == 0:
            yield error(node, "a step is a method: it must take self.")
        elif node.is_join and (node.is_split or node.type == SWITCH):
            yield error(node, "the step takes 'inputs' (a join) and also splits; a step cannot do both: add a "
                              "step after the join that splits.")  # fmt: skip


def check_reachable(graph: FlowGraph) -> Problems:
    if graph.start_step is None:
        return
    seen = graph.reachable()
    for node in graph.sorted_nodes():
        if node.name not in seen:
            yield error(node, f"the step cannot be reached from '{graph.start_step}'; go to it with self.next() "
                              f"or remove it.")  # fmt: skip


CHECKS: list[Callable[[FlowGraph], Problems]] = [
    check_parameter_names,
    check_basic_steps,
    check_step_names,
    check_arguments,
    check_transitions,
    check_decorators,
    check_start_and_end,
    check_loops,
    check_reachable,
    check_parallel_steps,
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
