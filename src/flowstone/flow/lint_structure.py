"""Graph checks of how steps fit together: loops, splits and their joins, @parallel steps.

Where branches meet: the branches of a split (a static split, a foreach, a @parallel step) meet only in a join
step, which closes that split and no other. The cases of a switch are alternatives: only one runs, so they may
meet in any step, and a switch opens nothing that needs a join. A switch may also go back to itself or to an
earlier step: the steps on such a cycle form a loop, which holds only linear steps and switches (a split or a
join inside a loop would mix the tasks of different rounds).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from flowstone.errors import FlowSpecError
from flowstone.flow.graph import SWITCH, DAGNode, FlowGraph

__all__ = ["Problems", "check_loops", "check_parallel_steps", "check_split_join_balance", "error", "names"]

Problems = Iterator[FlowSpecError]
#: Where a task stands among the splits it is in: (split step, branch taken) for each, outermost first.
Context = tuple[tuple[str, str], ...]


def error(node: DAGNode, msg: str, line: int | None = None) -> FlowSpecError:
    return FlowSpecError(msg, node.name, line or node.func_lineno)


def names(steps: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in steps)


# -- loops ------------------------------------------------------------------------------------------------------
def _path_within(graph: FlowGraph, first: str, last: str, steps: frozenset[str]) -> list[str]:
    """A shortest path of steps from ``first`` to ``last`` that stays among ``steps``."""
    before: dict[str, str | None] = {first: None}
    queue = deque([first])
    while queue and last not in before:
        name = queue.popleft()
        for out in graph[name].out_funcs:
            if out in steps and out not in before:
                before[out] = name
                queue.append(out)
    path: list[str] = []
    at: str | None = last
    while at is not None:
        path.append(at)
        at = before.get(at)
    return path[::-1]


def check_loops(graph: FlowGraph) -> Problems:
    """Only a switch goes back to an earlier step; the steps of a loop are linear steps and switches."""
    for source, target in sorted(graph.back_edges):
        node = graph[source]
        cycle = [*_path_within(graph, target, source, graph.loops[source]), target]
        if node.type != SWITCH:
            yield error(node, f"the steps form a cycle: {' -> '.join(cycle)}. Only a switch may go back to an "
                              f"earlier step (self.next({{...}}, condition=...)); remove the transition back to "
                              f"'{target}'.", node.tail_next_lineno)  # fmt: skip
            continue
        for name in sorted(graph.loops[source], key=lambda n: graph[n].func_lineno):
            step = graph[name]
            if step.type not in ("linear", SWITCH) or step.parallel_step:
                kind = "@parallel step" if step.parallel_step else f"{step.type} step"
                yield error(step, f"the step is a {kind} inside the loop {' -> '.join(cycle)}; a loop holds "
                                  f"only steps with one next step and switches. Move the {kind} out of the "
                                  f"loop.")  # fmt: skip
                return


# -- @parallel --------------------------------------------------------------------------------------------------
def check_parallel_steps(graph: FlowGraph) -> Problems:
    """num_parallel goes to a @parallel step, a @parallel step is reached only that way, and a join follows it."""
    for node in graph:
        if node.parallel_foreach and not all(graph[out].parallel_step for out in node.out_funcs):
            yield error(node, f"self.next(..., num_parallel=...) goes to {names(node.out_funcs)}, which is not a "
                              f"@parallel step; decorate it with @parallel.", node.tail_next_lineno)  # fmt: skip
        if not node.parallel_step:
            continue
        plain = [name for name in node.in_funcs if not graph[name].parallel_foreach]
        if plain:
            yield error(
                node,
                f"the step is a @parallel step, but {names(plain)} goes to it without "
                f"num_parallel=...; start it with self.next(self.{node.name}, num_parallel=N).",
            )
        after = [out for out in node.out_funcs if graph[out].type != "join"]
        if after:
            yield error(node, f"the step after a @parallel step is a join: define '{after[0]}' as "
                              f"'def {after[0]}(self, inputs)'.", node.tail_next_lineno)  # fmt: skip


# -- splits and joins -------------------------------------------------------------------------------------------
def check_split_join_balance(graph: FlowGraph) -> Problems:
    """Every split is closed by one join before the end step, and branches meet only in a join."""
    if graph.start_step is None:
        return
    contexts: dict[str, Context] = {}
    merge_problems = list(_assign_contexts(graph, contexts))
    if merge_problems:
        yield from merge_problems
        return
    for node in graph.sorted_nodes():
        if node.is_split and any(graph[out].is_join for out in node.out_funcs if out in graph):
            kind = "foreach" if node.type == "foreach" else "split"
            yield error(node, f"the {kind} goes straight to a join step; add at least one step for the {kind} to "
                              f"run on each branch.")  # fmt: skip
            return
    for node in graph.sorted_nodes():
        if node.is_join and node.name in contexts:
            problem = _join_problem(graph, node, contexts)
            if problem is not None:
                yield problem
                return
    end_context = contexts.get(graph.end_step or "", ())
    if end_context:
        yield _never_joined(graph, end_context)


def _never_joined(graph: FlowGraph, context: Context) -> FlowSpecError:
    split = graph[context[-1][0]]
    kind = "foreach" if split.type == "foreach" else "split"
    return error(split, f"the {kind} started here is never joined: '{graph.end_step}' is reached first. Add a "
                        f"join step (a step taking 'inputs') before '{graph.end_step}'.")  # fmt: skip


def _leaving(graph: FlowGraph, name: str, out: str, contexts: dict[str, Context]) -> Context:
    """The context a task of ``out`` has when it follows a task of ``name``."""
    node = graph[name]
    return (*contexts[name], (name, out)) if node.is_split else contexts[name]


def _assign_contexts(graph: FlowGraph, contexts: dict[str, Context]) -> Problems:
    """Give each step its context, walking from the start step (not along back edges); a step other than a join
    reached with two different contexts is where branches meet without a join."""
    assert graph.start_step is not None
    contexts[graph.start_step] = ()
    queue = deque([graph.start_step])
    while queue:
        name = queue.popleft()
        for out in graph[name].out_funcs:
            if out not in graph or (name, out) in graph.back_edges:
                continue
            arriving = _leaving(graph, name, out, contexts)
            context = arriving[:-1] if graph[out].is_join else arriving
            if out not in contexts:
                contexts[out] = context
                queue.append(out)
            elif contexts[out] != context and not graph[out].is_join:
                node = graph[out]
                if out == graph.end_step and not (contexts[out] and context):  # a path skipped the join
                    yield _never_joined(graph, contexts[out] or context)
                else:
                    yield error(node, f"the step is reached from {names(node.in_funcs)}, so it must be a join "
                                      f"step: define it as 'def {out}(self, inputs)'.")  # fmt: skip
                return


def _join_problem(graph: FlowGraph, node: DAGNode, contexts: dict[str, Context]) -> FlowSpecError | None:
    arrivals = [_leaving(graph, name, node.name, contexts) for name in node.in_funcs if name in contexts]
    if not any(arrivals):
        return error(node, "the step takes 'inputs', so it is a join, but no split leads to it; remove the "
                           "'inputs' argument.")  # fmt: skip
    closed = {arriving[-1][0] if arriving else None for arriving in arrivals}
    outer = {arriving[:-1] for arriving in arrivals}
    if len(closed) > 1 or len(outer) > 1:
        return error(node, f"the join's inputs {names(node.in_funcs)} come from different splits; join the "
                           f"branches of one split in one join step, and close inner splits first.")  # fmt: skip
    split = graph[next(iter(closed)) or ""]
    branches = {arriving[-1][1] for arriving in arrivals}
    if branches != set(split.out_funcs):
        expected = len(split.out_funcs)
        paths = "1 path" if expected == 1 else f"{expected} paths ({names(split.out_funcs)})"
        return error(node, f"the join's inputs do not match: it joins {names(node.in_funcs)}, but the "
                           f"{split.type} in step '{split.name}' (line {split.func_lineno}) opens {paths}. "
                           f"Join the branches of one split in one join step.")  # fmt: skip
    return None
