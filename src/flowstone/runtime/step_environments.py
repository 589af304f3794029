"""The environments of a run's steps: which steps get one (``@pypi``/``@conda``, or the flow's base), built
before the run starts so a bad package is an error before any task runs.

With ``--environment`` pypi, conda or uv, a step that asks for packages runs in its own environment; a step that
asks for none runs in the runner's Python, forked as usual. Without it the decorators are ignored with a note.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from flowstone.environments.build import BuiltEnvironment, build, task_path
from flowstone.environments.spec import EnvironmentSpec
from flowstone.errors import EnvironmentBuildError
from flowstone.flow.decorators import StepDecorator
from flowstone.flow.environment_decorators import step_environment_request
from flowstone.settings import Settings

__all__ = ["ENVIRONMENT_KINDS", "environments_for_run", "task_variables"]

#: The values of ``--environment`` that build environments (Metaflow's two names, and uv's).
ENVIRONMENT_KINDS = ("pypi", "conda", "uv")


def environments_for_run(flow_cls: type, decorators: dict[str, tuple[StepDecorator, ...]], kind: str | None,
                         settings: Settings, say: Callable[[str], None]) -> dict[str, BuiltEnvironment]:  # fmt: skip
    """Step name -> its built environment, for the steps that ask for one."""
    requests = {step: r for step, decos in decorators.items() if (r := step_environment_request(flow_cls, decos))}
    if kind not in ENVIRONMENT_KINDS:
        if requests:
            say(f"Note: @pypi/@conda are ignored without --environment=pypi, conda or uv: steps "
                f"{', '.join(requests)} run in this Python.")  # fmt: skip
        return {}
    built: dict[EnvironmentSpec, BuiltEnvironment] = {}
    result = {}
    for step, request in requests.items():
        spec = EnvironmentSpec.of(request["kind"], request["python"], request["packages"])
        if spec not in built:
            say(f"Preparing the environment {spec.describe()} (steps: {_steps_of(spec, requests)}).")
            built[spec] = _build(spec, settings)
        result[step] = built[spec]
    return result


def _steps_of(spec: EnvironmentSpec, requests: dict[str, dict[str, Any]]) -> str:
    same = [s for s, r in requests.items() if EnvironmentSpec.of(r["kind"], r["python"], r["packages"]) == spec]
    return ", ".join(same)


def _build(spec: EnvironmentSpec, settings: Settings) -> BuiltEnvironment:
    try:
        return build(spec, settings.default_datastore, settings.environments_root())
    except EnvironmentBuildError as exc:
        if spec.kind == "conda":
            raise EnvironmentBuildError(f"{exc}\n@conda packages are installed from PyPI under the same names: "
                                        f"use @pypi names for packages PyPI spells differently.") from exc  # fmt: skip
        raise


def task_variables(environment: BuiltEnvironment) -> dict[str, str]:
    """Variables a task in ``environment`` runs with: flowstone on its path; the environment's programs first."""
    bin_dir = os.path.dirname(environment.python)
    return {"PYTHONPATH": task_path(), "VIRTUAL_ENV": os.path.dirname(bin_dir),
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}  # fmt: skip
