"""flowstone: Metaflow's API on a content-addressed, verified, fast datastore.

Names are imported on first use, so ``import flowstone`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "FlowSpec": "flowstone.flow.flowspec",
    "step": "flowstone.flow.decorators",
    "retry": "flowstone.flow.decorators",
    "catch": "flowstone.flow.decorators",
    "timeout": "flowstone.flow.decorators",
    "resources": "flowstone.flow.decorators",
    "environment": "flowstone.flow.decorators",
    "Parameter": "flowstone.flow.parameters",
    "JSONType": "flowstone.flow.parameters",
    "current": "flowstone.flow.current",
    "Metaflow": "flowstone.client.objects",
    "Flow": "flowstone.client.objects",
    "Run": "flowstone.client.objects",
    "Step": "flowstone.client.objects",
    "Task": "flowstone.client.objects",
    "DataArtifact": "flowstone.client.artifacts",
    "Runner": "flowstone.client.runner",
    "namespace": "flowstone.client.context",
    "get_namespace": "flowstone.client.context",
    "default_namespace": "flowstone.client.context",
    "metadata": "flowstone.client.context",
    "get_metadata": "flowstone.client.context",
    "default_metadata": "flowstone.client.context",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flowstone' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
