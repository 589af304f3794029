"""Mutators: code of the user's that changes a flow once its configs are known.

A ``FlowMutator`` decorates the flow class; a ``StepMutator`` decorates a step. Each has two methods, called
when the flow's configs have been read (``flow/configure.py``), before anything runs:

- ``pre_mutate(mutable)``: may add or remove parameters and flow decorators (FlowMutator), and decorators and
  step mutators (StepMutator);
- ``mutate(mutable)``: may change the steps' decorators, not the flow's parameters or decorators.

``mutable`` is a :class:`~flowstone.flow.mutable.MutableFlow` or :class:`~flowstone.flow.mutable.MutableStep`.
Arguments given to a mutator (``@AddParameters("section")``; config expressions allowed) reach its ``init``.
"""

from __future__ import annotations

from typing import Any

from flowstone.errors import FlowSpecError
from flowstone.flow.user_decorators import StepAttachedDecorator, UserDecoratorArguments

__all__ = ["FlowMutator", "StepMutator", "flow_mutators", "own_flow_mutators", "step_mutators"]


def _is_flow_class(value: Any) -> bool:
    return isinstance(value, type) and hasattr(value, "_get_graph")


class FlowMutator(UserDecoratorArguments):
    """Base class of a flow mutator: override ``pre_mutate`` and/or ``mutate`` (and ``init`` to take
    arguments). Apply it to the flow class: ``@MyMutator`` or ``@MyMutator(arguments)``."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if args and _is_flow_class(args[0]):  # bare: @MyMutator above the class
            instance = super().__new__(cls)
            cls.__init__(instance, *args[1:], **kwargs)
            return instance(args[0])  # the module keeps the flow class itself
        return super().__new__(cls)

    def __call__(self, flow_cls: Any) -> Any:
        if not _is_flow_class(flow_cls):
            raise FlowSpecError(f"{type(self).__name__} decorates a flow class (a FlowSpec subclass), "
                                f"not {flow_cls!r}.")  # fmt: skip
        self.flow_cls = flow_cls
        own_flow_mutators(flow_cls).append(self)
        return flow_cls

    def pre_mutate(self, mutable_flow: Any) -> None:
        """Called once the configs are read: may add or remove parameters and flow decorators, change steps."""

    def mutate(self, mutable_flow: Any) -> None:
        """Called after every pre_mutate: may change the steps' decorators (not the flow's)."""


class StepMutator(StepAttachedDecorator):
    """Base class of a step mutator: override ``pre_mutate`` and/or ``mutate`` (and ``init`` to take
    arguments). Apply it above ``@step``: ``@MyMutator`` or ``@MyMutator(arguments)``."""

    _step_list = "mutators"

    def pre_mutate(self, mutable_step: Any) -> None:
        """Called once the configs are read: may add or remove the step's decorators and step mutators."""

    def mutate(self, mutable_step: Any) -> None:
        """Called after every pre_mutate: may add or remove the step's decorators."""


def own_flow_mutators(flow_cls: type) -> list[FlowMutator]:
    """The flow class's list of mutators, its own (started from its bases' list), ready to be changed."""
    if "_flow_mutators" not in flow_cls.__dict__:
        flow_cls._flow_mutators = list(getattr(flow_cls, "_flow_mutators", []))  # type: ignore[attr-defined]
    return flow_cls._flow_mutators  # type: ignore[attr-defined]


def flow_mutators(flow_cls: type) -> list[FlowMutator]:
    return list(getattr(flow_cls, "_flow_mutators", []))


def step_mutators(step_function: Any) -> list[StepMutator]:
    """The step function's list of mutators (changed in place by MutableStep)."""
    return step_function.__dict__.setdefault("mutators", [])
