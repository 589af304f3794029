"""Decorators of a flow class (``@project``): validated attributes, kept on the class.

A flow decorator's arguments may be config expressions (``@project(name=config_expr("config").name)``); they
are resolved, and the attributes checked, when the flow's configs are read (see ``flow/configure.py``).
Decorators applied to a base flow class are inherited; one applied to the subclass replaces the base's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar

from flowstone.errors import FlowSpecError
from flowstone.flow.config_expr import UNPACK_PREFIX, contains_config_expr, unpack_config_exprs

__all__ = ["FLOW_DECORATORS", "FlowDecorator", "flow_decorators", "make_flow_decorator", "own_flow_decorators"]


class FlowDecorator:
    """Base class: validated attributes of a flow. Subclasses set ``name`` and ``defaults``."""

    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}
    allow_multiple: ClassVar[bool] = False

    def __init__(self, attributes: dict[str, Any] | None = None, statically_defined: bool = True) -> None:
        self.statically_defined = statically_defined
        self.owner: type | None = None  # the flow class it was applied to
        self._set_attributes(dict(attributes or {}))

    def _set_attributes(self, given: dict[str, Any]) -> None:
        unknown = sorted(k for k in given if k not in self.defaults and not k.startswith(UNPACK_PREFIX))
        if unknown:
            raise FlowSpecError(f"@{self.name} has no attribute {', '.join(map(repr, unknown))}; "
                                f"valid: {', '.join(self.defaults)}.")  # fmt: skip
        self._given = given
        self.attributes = {**self.defaults, **given}
        self.deferred = contains_config_expr(given)
        if not self.deferred:
            self._validate_attributes()

    @property
    def user_attributes(self) -> set[str]:
        """The attributes given (not left to their defaults)."""
        return {k for k in self._given if not k.startswith(UNPACK_PREFIX)}

    def resolve_config_exprs(self, configs: dict[str, Any]) -> None:
        """Evaluate config expressions among the attributes (the configs are known), then check them."""
        if self.deferred:
            self._set_attributes(unpack_config_exprs(self._given, configs))

    def _validate_attributes(self) -> None:
        """Check attribute types and values; raise FlowSpecError naming the decorator."""

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "attributes": dict(self.attributes), "static": self.statically_defined}

    def run_note(self, runtime: str) -> str | None:
        """A note for the user, printed once per run (``runtime`` is where tasks run: 'local', 'ray')."""
        return None

    def __repr__(self) -> str:
        return f"@{self.name}({', '.join(f'{k}={v!r}' for k, v in self.attributes.items())})"


#: Every flow decorator by name (for MutableFlow.add_decorator("name:attr=value")).
FLOW_DECORATORS: dict[str, type[FlowDecorator]] = {}


def own_flow_decorators(flow_cls: type) -> list[FlowDecorator]:
    """The flow class's list of decorators, its own (started from its bases' list), ready to be changed."""
    if "_flow_decorators" not in flow_cls.__dict__:
        flow_cls._flow_decorators = list(getattr(flow_cls, "_flow_decorators", []))  # type: ignore[attr-defined]
    return flow_cls._flow_decorators  # type: ignore[attr-defined]


def flow_decorators(flow_cls: type, name: str | None = None) -> list[FlowDecorator]:
    """The flow's decorators (those named ``name``, if given)."""
    decorators = getattr(flow_cls, "_flow_decorators", [])
    return [d for d in decorators if name is None or d.name == name]


def add_flow_decorator(flow_cls: type, decorator: FlowDecorator) -> None:
    """Put ``decorator`` on ``flow_cls``: it replaces an inherited one of the same name; twice on one class is an
    error (unless the decorator allows several)."""
    decorators = own_flow_decorators(flow_cls)
    if not decorator.allow_multiple:
        if any(d.name == decorator.name and d.owner is flow_cls for d in decorators):
            raise FlowSpecError(f"@{decorator.name} is applied twice to {flow_cls.__name__}.")
        decorators[:] = [d for d in decorators if d.name != decorator.name]
    decorator.owner = flow_cls
    decorators.append(decorator)


def make_flow_decorator(cls: type[FlowDecorator]) -> Callable[..., Any]:
    """The ``@name(attr=value)`` class decorator for ``cls``."""
    FLOW_DECORATORS[cls.name] = cls

    def decorator(flow_cls: Any = None, **attributes: Any) -> Any:
        def attach(target: Any) -> Any:
            if not (isinstance(target, type) and hasattr(target, "_get_graph")):
                raise FlowSpecError(f"@{cls.name} decorates a flow class (a FlowSpec subclass), not {target!r}.")
            add_flow_decorator(target, cls(attributes))
            return target

        return attach(flow_cls) if flow_cls is not None else attach

    functools.update_wrapper(decorator, cls, assigned=("__doc__",), updated=())
    decorator.__name__ = cls.name
    decorator.decorator_class = cls  # type: ignore[attr-defined]
    return decorator
