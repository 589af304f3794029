"""``Deployer``: Metaflow's entry point for deploying a flow to a scheduler (Argo Workflows, AWS Step Functions,
Airflow...). flowstone has no scheduler to deploy to: it runs flows when asked. ``Deployer`` imports and takes
Metaflow's arguments; asking it for a scheduler is an error that says how to run the flow instead."""

from __future__ import annotations

import os
from typing import Any, NoReturn

from flowstone.errors import FlowstoneException

__all__ = ["Deployer", "DeployerError"]


class DeployerError(FlowstoneException):
    """A deployment to a scheduler was asked for."""

    headline = "Nothing to deploy to"


class Deployer:
    """Accepts Metaflow's arguments; every scheduler (``argo_workflows``, ``step_functions``, ``airflow``, ...)
    raises :class:`DeployerError` with what to do instead."""

    def __init__(self, flow_file: str, show_output: bool = True, profile: str | None = None,
                 env: dict[str, str] | None = None, cwd: str | None = None, file_read_timeout: int = 3600,
                 **kwargs: Any) -> None:  # fmt: skip
        self.flow_file = flow_file
        self.top_level = kwargs

    def __getattr__(self, scheduler: str) -> Any:
        if scheduler.startswith("_"):
            raise AttributeError(scheduler)

        def refuse(*args: Any, **kwargs: Any) -> NoReturn:
            name = os.path.basename(self.flow_file)
            raise DeployerError(
                f"flowstone does not deploy flows to {scheduler.replace('_', ' ')}: it has no scheduler. Run the "
                f"flow when it is due instead, e.g. from cron or CI: `python {name} run`, or "
                f"`Runner('{self.flow_file}').run()` from Python."
            )

        return refuse
