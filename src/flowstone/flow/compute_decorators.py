"""``@kubernetes`` and ``@batch``: where Metaflow sends a step to run.

flowstone runs tasks on this machine or on a Ray cluster, never on Kubernetes or AWS Batch itself. A step with
one of these decorators asks for what its cpu/memory/gpu say: on Ray it runs with those resources (as with
``@resources``; the larger request wins when both are given), and locally it runs here, with a note once per run.
Every other attribute (image, queue, node selector...) is kept with the task's metadata, as given.
"""

from __future__ import annotations

from typing import Any, ClassVar

from flowstone.errors import FlowSpecError
from flowstone.flow.decorators import StepDecorator, make_step_decorator

__all__ = ["BatchDecorator", "KubernetesDecorator", "batch", "kubernetes"]


def _amount(deco: StepDecorator, attr: str) -> float | None:
    """A resource attribute as a number (Metaflow accepts '4' and 4 alike); None if not given."""
    value = deco.attributes.get(attr)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise FlowSpecError(f"@{deco.name}({attr}=...) must be a number, got {value!r}.") from None
    if number < 0:
        raise FlowSpecError(f"@{deco.name}({attr}=...) must be >= 0, got {value!r}.")
    return number


class _ComputeDecorator(StepDecorator):
    """A decorator naming a remote compute service flowstone does not drive; it asks for its resources."""

    service: ClassVar[str]

    def _validate_attributes(self) -> None:
        for attr in ("cpu", "memory", "gpu"):
            _amount(self, attr)

    def resource_request(self) -> dict[str, float] | None:
        amounts = {kind: _amount(self, kind) for kind in ("cpu", "memory", "gpu")}
        return {kind: amount for kind, amount in amounts.items() if amount is not None}

    def run_note(self, runtime: str) -> str | None:
        if runtime != "local":
            return None  # on a cluster its resources are honoured: nothing to point out
        return (f"@{self.name} runs these steps on this machine: flowstone runs tasks here or on Ray (--with ray, "
                f"where its cpu, memory and gpu apply), not on {self.service}; its other attributes are kept with "
                f"the tasks.")  # fmt: skip


class KubernetesDecorator(_ComputeDecorator):
    name = "kubernetes"
    service = "Kubernetes"
    defaults: ClassVar[dict[str, Any]] = {
        "cpu": "1", "memory": "4096", "disk": "10240", "image": None, "image_pull_policy": None,
        "image_pull_secrets": None, "service_account": None, "secrets": None, "node_selector": None,
        "namespace": None, "gpu": None, "gpu_vendor": None, "tolerations": None, "labels": None,
        "annotations": None, "use_tmpfs": None, "tmpfs_tempdir": True, "tmpfs_size": None,
        "tmpfs_path": "/metaflow_temp", "persistent_volume_claims": None, "shared_memory": None, "port": None,
        "compute_pool": None, "executable": None, "hostname_resolution_timeout": 600, "qos": "Burstable",
        "extended_resources": {}, "security_context": None,
    }  # fmt: skip


class BatchDecorator(_ComputeDecorator):
    name = "batch"
    service = "AWS Batch"
    defaults: ClassVar[dict[str, Any]] = {
        "cpu": None, "gpu": None, "memory": None, "image": None, "queue": None, "iam_role": None,
        "execution_role": None, "shared_memory": None, "max_swap": None, "swappiness": None, "inferentia": None,
        "trainium": None, "efa": None, "host_volumes": None, "efs_volumes": None, "use_tmpfs": False,
        "aws_batch_tags": None, "tmpfs_tempdir": True, "tmpfs_size": None, "tmpfs_path": "/metaflow_temp",
        "ephemeral_storage": None, "log_driver": None, "log_options": None, "executable": None,
        "privileged": False,
    }  # fmt: skip


kubernetes = make_step_decorator(KubernetesDecorator)
batch = make_step_decorator(BatchDecorator)
