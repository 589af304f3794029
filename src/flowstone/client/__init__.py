"""The Client API: read-only access to flows, runs, steps, tasks and artifacts; and the Runner.

Names load on first use, so reading a run does not import the Runner's asyncio machinery.
"""

from __future__ import annotations

from flowstone._lazy import lazy_exports

_EXPORTS = {
    "DataArtifact": "flowstone.client.artifacts",
    "MetaflowData": "flowstone.client.artifacts",
    "MetaflowCode": "flowstone.client.code",
    "Metaflow": "flowstone.client.runs",
    "Flow": "flowstone.client.runs",
    "Run": "flowstone.client.runs",
    "Step": "flowstone.client.tasks",
    "Task": "flowstone.client.tasks",
    "Runner": "flowstone.client.runner",
    "RunnerError": "flowstone.client.runner",
    "ExecutingRun": "flowstone.client.executing",
    "TaggingError": "flowstone.client.tags",
    "datastore": "flowstone.client.context",
    "default_metadata": "flowstone.client.context",
    "default_namespace": "flowstone.client.context",
    "get_metadata": "flowstone.client.context",
    "get_namespace": "flowstone.client.context",
    "metadata": "flowstone.client.context",
    "namespace": "flowstone.client.context",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
