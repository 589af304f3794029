"""The authoring API: FlowSpec, @step, Parameter, decorators, the graph and its checks, ``current``.

Names load on first use, so importing one module of this layer does not import all of it.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FlowSpec": "flowstone.flow.flowspec",
    "JSONType": "flowstone.flow.parameters",
    "Parameter": "flowstone.flow.parameters",
    "current": "flowstone.flow.current",
    "catch": "flowstone.flow.decorators",
    "environment": "flowstone.flow.decorators",
    "resources": "flowstone.flow.decorators",
    "retry": "flowstone.flow.decorators",
    "step": "flowstone.flow.decorators",
    "timeout": "flowstone.flow.decorators",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flowstone.flow' has no attribute '{name}'")
    return getattr(importlib.import_module(module), name)
