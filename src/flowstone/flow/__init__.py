"""The authoring API: FlowSpec, @step, Parameter, decorators, the graph and its checks, ``current``.

Names load on first use, so importing one module of this layer does not import all of it.
"""

from __future__ import annotations

from flowstone._lazy import lazy_exports

_EXPORTS = {
    "FlowSpec": "flowstone.flow.flowspec",
    "JSONType": "flowstone.flow.parameters",
    "Parameter": "flowstone.flow.parameters",
    "StepDecorator": "flowstone.flow.decorators",
    "make_step_decorator": "flowstone.flow.decorators",
    "current": "flowstone.flow.current",
    "cache": "flowstone.flow.decorators",
    "catch": "flowstone.flow.decorators",
    "environment": "flowstone.flow.decorators",
    "parallel": "flowstone.flow.parallel",
    "resources": "flowstone.flow.decorators",
    "retry": "flowstone.flow.decorators",
    "step": "flowstone.flow.decorators",
    "timeout": "flowstone.flow.decorators",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
