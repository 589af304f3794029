"""What ``self.next(...)`` records when a step ends: the next step(s), and for a foreach or a @parallel step how
many tasks follow. The shapes it accepts:

- ``self.next(self.a)`` and ``self.next(self.a, self.b)``: one step, or a static split;
- ``self.next(self.a, foreach="items")``: one task of ``a`` per item of ``self.items``;
- ``self.next(self.a, num_parallel=4)``: four tasks of the @parallel step ``a``, started together;
- ``self.next({"x": self.a, "y": self.b}, condition="kind")``: a switch; the value of ``self.kind`` picks the one
  step that runs next.

Each is checked against what the step's source says (the graph), so a step cannot go somewhere the checks did
not see. Errors name the step and the line of its ``self.next``.
"""

from __future__ import annotations

from typing import Any

from flowstone.errors import FlowSpecError
from flowstone.flow.artifacts import PARALLEL_VAR, count_items
from flowstone.flow.graph import SWITCH, DAGNode

__all__ = ["Transition", "make_transition"]


class Transition:
    """What ``self.next(...)`` recorded: the next steps and, for a foreach or @parallel, the number of tasks."""

    def __init__(self, steps: list[str], foreach: str | None = None, num_splits: int = 0) -> None:
        self.steps = steps
        self.foreach = foreach
        self.num_splits = num_splits


def make_transition(flow: Any, node: DAGNode, steps: tuple[Any, ...], options: dict[str, Any]) -> Transition:
    """The transition of ``self.next(*steps, **options)`` called at the end of ``node``'s step on ``flow``."""
    foreach, num_parallel, condition = (options.pop(k, None) for k in ("foreach", "num_parallel", "condition"))
    if options:
        raise _error(node, f"self.next() does not take {', '.join(options)}.")
    if condition is not None:
        if foreach is not None or num_parallel is not None:
            raise _error(node, "a switch (condition=...) cannot be combined with foreach or num_parallel.")
        return _switch(flow, node, steps, condition)
    if len(steps) == 1 and isinstance(steps[0], dict):
        raise _error(node, "a dictionary of cases needs condition='artifact_name' to pick one of them.")
    names = [_step_of(flow, node, target) for target in steps]
    if not _as_written(node, names, foreach, num_parallel):
        raise _error(node, f"self.next() went to {names} but the step's last statement says {node.out_funcs}. "
                           f"Call self.next() exactly once, unconditionally, as the last statement.")  # fmt: skip
    if num_parallel is not None:
        return Transition(names, PARALLEL_VAR, _count_parallel(node, num_parallel))
    if foreach is not None:
        return Transition(names, foreach, _count_foreach_splits(flow, node, foreach))
    return Transition(names)


def _as_written(node: DAGNode, names: list[str], foreach: Any, num_parallel: Any) -> bool:
    """Whether the call matches the step's last statement, as the graph read it."""
    return (
        names == node.out_funcs
        and node.type != SWITCH
        and (foreach is not None) == (node.foreach_param is not None)
        and (num_parallel is not None) == node.parallel_foreach
    )


def _error(node: DAGNode, message: str) -> FlowSpecError:
    return FlowSpecError(message, node.name, node.tail_next_lineno or None)


def _step_of(flow: Any, node: DAGNode, target: Any) -> str:
    name = getattr(target, "__name__", None)
    if name is None or not getattr(getattr(type(flow), name, None), "is_step", False):
        raise _error(node, f"self.next() takes steps such as self.{node.name}; got {target!r}.")
    return name


def _switch(flow: Any, node: DAGNode, steps: tuple[Any, ...], condition: Any) -> Transition:
    if len(steps) != 1 or not isinstance(steps[0], dict) or not steps[0]:
        raise _error(node, "a switch takes one non-empty dictionary of cases: "
                           "self.next({'a': self.a, 'b': self.b}, condition='artifact_name').")  # fmt: skip
    if node.type != SWITCH:
        raise _error(node, f"self.next() was called as a switch but the step's last statement says "
                           f"{node.out_funcs}. Call self.next() exactly once, as the last statement.")  # fmt: skip
    if not isinstance(condition, str):
        raise _error(node, f"condition= takes the name of an artifact, got {condition!r}.")
    cases: dict[Any, Any] = steps[0]
    try:
        value = getattr(flow, condition)
    except AttributeError:
        raise _error(node, f"the switch's condition '{condition}' names no artifact: set self.{condition} "
                           f"in this step or an earlier one.") from None  # fmt: skip
    try:
        chosen = cases[value]
    except (KeyError, TypeError):
        known = ", ".join(repr(case) for case in cases)
        raise _error(node, f"self.{condition} is {value!r}, which is none of the switch's cases ({known}); "
                           f"set it to one of them or add a case.") from None  # fmt: skip
    name = _step_of(flow, node, chosen)
    if name not in node.out_funcs:
        raise _error(node, f"the switch went to '{name}', which its last statement does not name "
                           f"({', '.join(node.out_funcs)}).")  # fmt: skip
    return Transition([name])


def _count_parallel(node: DAGNode, num_parallel: Any) -> int:
    if isinstance(num_parallel, bool) or not isinstance(num_parallel, int) or num_parallel < 1:
        raise _error(node, f"num_parallel= takes the number of tasks to start (1 or more), got {num_parallel!r}.")
    return num_parallel


def _count_foreach_splits(flow: Any, node: DAGNode, foreach: Any) -> int:
    if not isinstance(foreach, str):
        raise _error(node, f"foreach= takes the name of an artifact, got {foreach!r}.")
    try:
        values = getattr(flow, foreach)
    except AttributeError:
        raise _error(node, f"foreach='{foreach}' names no artifact: set self.{foreach} first.") from None
    try:
        num_splits = count_items(values)
    except TypeError:
        raise _error(node, f"foreach='{foreach}' must name an iterable artifact; self.{foreach} is a "
                           f"{type(values).__name__}.") from None  # fmt: skip
    limit = flow._task["max_num_splits"]
    if num_splits > limit:
        raise _error(node, f"foreach='{foreach}' would start {num_splits} tasks, more than --max-num-splits={limit}; "
                           f"raise the limit with 'run --max-num-splits {num_splits}'.")  # fmt: skip
    if num_splits == 0:
        raise _error(node, f"foreach='{foreach}' is empty: self.{foreach} has no items to run.")
    return num_splits
