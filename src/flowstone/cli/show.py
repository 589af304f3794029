"""``python flow.py show``: the flow's steps in order, what each one is and where it goes."""

from __future__ import annotations

from flowstone.flow.flow_decorators import flow_decorators
from flowstone.flow.graph import SWITCH, DAGNode, FlowGraph

__all__ = ["show_lines"]

_PLAIN_TYPES = ("start", "end", "linear")


def _kind(graph: FlowGraph, node: DAGNode) -> str:
    """What the step is, when that is more than a plain step: '(foreach)', '(switch on x)', '(@parallel)'..."""
    kinds = []
    if node.name == graph.start_step and node.name != "start":
        kinds.append("start")
    if node.name == graph.end_step and node.name != "end":
        kinds.append("end")
    if node.type == SWITCH:
        kinds.append(f"switch on {node.condition}")
    elif node.type not in _PLAIN_TYPES:
        kinds.append(node.type)
    if node.parallel_step:
        kinds.append("@parallel")
    return f"  ({', '.join(kinds)})" if kinds else ""


def _arrow(graph: FlowGraph, node: DAGNode) -> str:
    """Where the step goes: '=> a, b', with the cases of a switch and the size of a foreach or @parallel."""
    if node.type == SWITCH:
        cases = ", ".join(f"{case!r}: {step}" for case, step in node.switch_cases.items())
        back = sorted({target for source, target in graph.back_edges if source == node.name})
        loop = f"; loops back to {', '.join(back)}" if back else ""
        return f"    => {' or '.join(node.out_funcs)}  ({cases}{loop})"
    arrow = f"    => {', '.join(node.out_funcs)}"
    if node.foreach_param:
        return arrow + f"  (foreach {node.foreach_param})"
    if node.parallel_foreach:
        return arrow + f"  ({node.num_parallel or 'num_parallel'} tasks started together)"
    return arrow


def show_lines(graph: FlowGraph, flow_cls: type | None = None) -> list[str]:
    """The lines ``show`` prints: the flow's doc and decorators, then each step."""
    lines = [graph.doc, ""] if graph.doc else []
    decorators = flow_decorators(flow_cls) if flow_cls is not None else []
    if decorators:
        lines += [f"Flow decorators: {', '.join(repr(d) for d in decorators)}", ""]
    for node in graph.sorted_nodes():
        lines.append(f"Step {node.name}{_kind(graph, node)}")
        lines.extend(f"    {line}" for line in (node.doc or "?").splitlines())
        if node.out_funcs:
            lines.append(_arrow(graph, node))
        lines.append("")
    return lines
