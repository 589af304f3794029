"""Decorator specs as ``--with`` gives them (``retry:times=2,minutes_between_retries=0``): parsing them, and
the registry of every step decorator they can name (the built-in ones and those made with make_step_decorator).
"""

from __future__ import annotations

import ast
from typing import Any

from flowstone.errors import FlowstoneException
from flowstone.flow.decorators import DECORATORS, StepDecorator

__all__ = ["parse_decorator_spec", "registered_decorators", "split_decorator_spec"]


def _split_top_level(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside brackets and quotes."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


#: Modules of built-in decorators beside this one (imported when a decorator is named on the command line).
_BUILTIN_MODULES = (
    "flowstone.flow.compute_decorators",
    "flowstone.flow.secrets_decorator",
    "flowstone.flow.environment_decorators",
    "flowstone.flow.card_decorator",
)


def registered_decorators() -> dict[str, type[StepDecorator]]:
    """Every step decorator by name, the built-in ones of other modules included (imported now)."""
    import importlib

    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    return DECORATORS


def split_decorator_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``'retry:times=2,minutes_between_retries=0'`` -> ``('retry', {'times': 2, ...})`` (values are Python
    literals; anything else is kept as a string)."""
    name, _, rest = spec.partition(":")
    attributes: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in _split_top_level(rest, ","))):
        key, eq, raw = item.partition("=")
        if not eq:
            raise FlowstoneException(f"Cannot parse '{item}' in --with {spec!r}: expected attribute=value.")
        try:
            attributes[key.strip()] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            attributes[key.strip()] = raw.strip()
    return name.strip(), attributes


def parse_decorator_spec(spec: str) -> StepDecorator:
    """``'retry:times=2,minutes_between_retries=0'`` -> a RetryDecorator (as given by ``--with``)."""
    name = spec.partition(":")[0].strip()
    decorators = registered_decorators()
    if name not in decorators:
        raise FlowstoneException(
            f"Unknown decorator '{name}' in --with {spec!r}; available: {', '.join(sorted(decorators))}."
        )
    return decorators[name](split_decorator_spec(spec)[1], statically_defined=False)
