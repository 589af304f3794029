"""The Client API: read-only access to flows, runs, steps, tasks and artifacts; and the Runner."""

from flowstone.client.artifacts import DataArtifact, MetaflowData
from flowstone.client.code import MetaflowCode
from flowstone.client.context import (
    datastore,
    default_metadata,
    default_namespace,
    get_metadata,
    get_namespace,
    metadata,
    namespace,
)
from flowstone.client.objects import Flow, Metaflow, Run, Step, Task
from flowstone.client.runner import ExecutingRun, Runner

__all__ = [
    "DataArtifact",
    "ExecutingRun",
    "Flow",
    "Metaflow",
    "MetaflowCode",
    "MetaflowData",
    "Run",
    "Runner",
    "Step",
    "Task",
    "datastore",
    "default_metadata",
    "default_namespace",
    "get_metadata",
    "get_namespace",
    "metadata",
    "namespace",
]
