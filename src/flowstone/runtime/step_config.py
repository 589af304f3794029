"""Each step's decorators: those written on the step, plus those given with ``--with`` for every step; and
what they have to say about a run."""

from __future__ import annotations

from collections.abc import Iterable

from flowstone.errors import FlowSpecError
from flowstone.flow.decorator_specs import parse_decorator_spec
from flowstone.flow.decorators import StepDecorator
from flowstone.flow.flow_decorators import flow_decorators
from flowstone.flow.graph import FlowGraph

__all__ = ["run_notes", "step_decorators"]


def step_decorators(graph: FlowGraph, decospecs: Iterable[str] = ()) -> dict[str, tuple[StepDecorator, ...]]:
    """Step name -> its decorators; a decorator written on a step wins over the same one given by --with (unless
    a step may have several of it, as with @card)."""
    extra = [parse_decorator_spec(spec) for spec in decospecs]
    result = {}
    for node in graph:
        decorators = list(node.decorators)
        present = {d.name for d in decorators}
        for deco in extra:
            if deco.name not in present or deco.allow_multiple:
                decorators.append(deco)
                present.add(deco.name)
        for deco in decorators:
            try:
                deco.check(node.name, node.type)
            except FlowSpecError as exc:
                origin = "" if deco.statically_defined else f" (added by --with {deco.name})"
                raise FlowSpecError(exc.message + origin) from None
        result[node.name] = tuple(decorators)
    return result


def run_notes(flow_cls: type, decorators: dict[str, tuple[StepDecorator, ...]], runtime: str) -> list[str]:
    """What the flow's and the steps' decorators have to say about a run on ``runtime``: each note once (a step
    decorator's with its steps)."""
    flow_notes = [note for note in (d.run_note(runtime) for d in flow_decorators(flow_cls)) if note]
    notes: dict[str, list[str]] = {}
    for step_name, step_decos in decorators.items():
        for deco in step_decos:
            note = deco.run_note(runtime)
            if note:
                notes.setdefault(note, []).append(step_name)
    return [f"Note: {note}" for note in flow_notes] + [
        f"Note: {note} (steps: {', '.join(steps)})" for note, steps in notes.items()
    ]
