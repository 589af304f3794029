"""The authoring API: FlowSpec, @step, Parameter, decorators, the graph and its checks, ``current``.

Names load on first use, so importing one module of this layer does not import all of it.
"""

from __future__ import annotations

from flowstone._lazy import lazy_exports

_EXPORTS = {
    "Config": "flowstone.flow.config",
    "ConfigValue": "flowstone.flow.config_expr",
    "FlowDecorator": "flowstone.flow.flow_decorators",
    "FlowMutator": "flowstone.flow.mutators",
    "FlowSpec": "flowstone.flow.flowspec",
    "MutableFlow": "flowstone.flow.mutable",
    "MutableStep": "flowstone.flow.mutable",
    "StepMutator": "flowstone.flow.mutators",
    "USER_SKIP_STEP": "flowstone.flow.user_decorators",
    "UserStepDecorator": "flowstone.flow.user_decorators",
    "config_expr": "flowstone.flow.config_expr",
    "make_flow_decorator": "flowstone.flow.flow_decorators",
    "project": "flowstone.flow.project",
    "user_step_decorator": "flowstone.flow.user_decorators",
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
