"""The authoring API: FlowSpec, @step, Parameter, decorators, the graph and its checks, ``current``."""

from flowstone.flow.current import current
from flowstone.flow.decorators import catch, environment, resources, retry, step, timeout
from flowstone.flow.flowspec import FlowSpec
from flowstone.flow.parameters import JSONType, Parameter

__all__ = [
    "FlowSpec",
    "JSONType",
    "Parameter",
    "catch",
    "current",
    "environment",
    "resources",
    "retry",
    "step",
    "timeout",
]
