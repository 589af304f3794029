"""flowstone: Metaflow's API on a content-addressed, verified, fast datastore.

Names are imported on first use, so ``import flowstone`` stays fast.
"""

from __future__ import annotations

from flowstone._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "FlowSpec": "flowstone.flow.flowspec",
    "step": "flowstone.flow.decorators",
    "retry": "flowstone.flow.decorators",
    "cache": "flowstone.flow.decorators",
    "catch": "flowstone.flow.decorators",
    "timeout": "flowstone.flow.decorators",
    "resources": "flowstone.flow.decorators",
    "environment": "flowstone.flow.decorators",
    "card": "flowstone.flow.card_decorator",
    "parallel": "flowstone.flow.parallel",
    "kubernetes": "flowstone.flow.compute_decorators",
    "batch": "flowstone.flow.compute_decorators",
    "secrets": "flowstone.flow.secrets_decorator",
    "pypi": "flowstone.flow.environment_decorators",
    "conda": "flowstone.flow.environment_decorators",
    "pypi_base": "flowstone.flow.environment_decorators",
    "schedule": "flowstone.flow.schedule_decorators",
    "trigger": "flowstone.flow.schedule_decorators",
    "trigger_on_finish": "flowstone.flow.schedule_decorators",
    "conda_base": "flowstone.flow.environment_decorators",
    "profile": "flowstone.flow.multicore",
    "parallel_map": "flowstone.flow.multicore",
    "parallel_imap_unordered": "flowstone.flow.multicore",
    "Parameter": "flowstone.flow.parameters",
    "JSONType": "flowstone.flow.parameters",
    "IncludeFile": "flowstone.flow.include_file",
    "Config": "flowstone.flow.config",
    "config_expr": "flowstone.flow.config_expr",
    "project": "flowstone.flow.project",
    "FlowMutator": "flowstone.flow.mutators",
    "StepMutator": "flowstone.flow.mutators",
    "UserStepDecorator": "flowstone.flow.user_decorators",
    "user_step_decorator": "flowstone.flow.user_decorators",
    "current": "flowstone.flow.current",
    "Metaflow": "flowstone.client.runs",
    "Flow": "flowstone.client.runs",
    "Run": "flowstone.client.runs",
    "Step": "flowstone.client.tasks",
    "Task": "flowstone.client.tasks",
    "DataArtifact": "flowstone.client.artifacts",
    "Runner": "flowstone.client.runner",
    "NBRunner": "flowstone.client.notebook",
    "Deployer": "flowstone.client.deployer",
    "namespace": "flowstone.client.context",
    "get_namespace": "flowstone.client.context",
    "default_namespace": "flowstone.client.context",
    "metadata": "flowstone.client.context",
    "get_metadata": "flowstone.client.context",
    "default_metadata": "flowstone.client.context",
    "S3": "flowstone.s3.client",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
