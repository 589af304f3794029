"""``@pypi`` and ``@conda``: the packages a step runs with, in an environment of its own.

With ``--environment=pypi``, ``conda`` or ``uv`` on the command line, a step with one of these decorators (or
under the flow-level ``@pypi_base``/``@conda_base``) runs in an isolated environment built with uv; ``@conda``
packages are installed from PyPI under the same names. Without ``--environment`` they are ignored with a note,
as Metaflow ignores them. A step decorator adds to the flow-level one (its versions win); ``disabled=True`` runs
the step in the runner's own environment.
"""

from __future__ import annotations

from typing import Any, ClassVar

from flowstone.errors import FlowSpecError
from flowstone.flow.decorators import StepDecorator, make_step_decorator
from flowstone.flow.flow_decorators import FlowDecorator, flow_decorators, make_flow_decorator

__all__ = [
    "CondaBaseDecorator",
    "CondaDecorator",
    "PyPIBaseDecorator",
    "PyPIDecorator",
    "conda",
    "conda_base",
    "environment_request",
    "pypi",
    "pypi_base",
    "step_environment_request",
]


def environment_request(attributes: dict[str, Any], kind: str, where: str) -> dict[str, Any]:
    """The request of a ``@pypi``/``@conda``-like decorator's attributes: kind, python, packages, disabled."""
    packages = {**(attributes.get("libraries") or {}), **(attributes.get("packages") or {})}
    if not isinstance(packages, dict) or not all(isinstance(name, str) for name in packages):
        raise FlowSpecError(f"{where}(packages=...) must be a dict of package names to versions, got {packages!r}.")
    python = attributes.get("python")
    if python is not None and not isinstance(python, str):
        raise FlowSpecError(f"{where}(python=...) must be a version string such as '3.11', got {python!r}.")
    return {"kind": kind, "python": python, "packages": {k: str(v or "") for k, v in packages.items()},
            "disabled": bool(attributes.get("disabled"))}  # fmt: skip


class _EnvironmentDecorator(StepDecorator):
    kind: ClassVar[str]

    def _validate_attributes(self) -> None:
        environment_request(self.attributes, self.kind, f"@{self.name}")

    def environment_request(self) -> dict[str, Any] | None:
        return environment_request(self.attributes, self.kind, f"@{self.name}")


class PyPIDecorator(_EnvironmentDecorator):
    name = "pypi"
    kind = "pypi"
    defaults: ClassVar[dict[str, Any]] = {"packages": {}, "python": None, "disabled": None}


class CondaDecorator(_EnvironmentDecorator):
    name = "conda"
    kind = "conda"
    defaults: ClassVar[dict[str, Any]] = {"packages": {}, "libraries": {}, "python": None, "disabled": None}


pypi = make_step_decorator(PyPIDecorator)
conda = make_step_decorator(CondaDecorator)


class _EnvironmentBaseDecorator(FlowDecorator):
    """The flow-level default of a step's environment decorator."""

    kind: ClassVar[str]

    def _validate_attributes(self) -> None:
        environment_request(self.attributes, self.kind, f"@{self.name}")


class PyPIBaseDecorator(_EnvironmentBaseDecorator):
    name = "pypi_base"
    kind = "pypi"
    defaults: ClassVar[dict[str, Any]] = {"packages": {}, "python": None, "disabled": None}


class CondaBaseDecorator(_EnvironmentBaseDecorator):
    name = "conda_base"
    kind = "conda"
    defaults: ClassVar[dict[str, Any]] = {"packages": {}, "libraries": {}, "python": None, "disabled": None}


pypi_base = make_flow_decorator(PyPIBaseDecorator)
conda_base = make_flow_decorator(CondaBaseDecorator)


def step_environment_request(flow_cls: type, step_decorators: tuple[StepDecorator, ...]) -> dict[str, Any] | None:
    """What a step's environment holds: the flow-level base with the step's own decorator on top (its packages
    added, its versions and python winning), or None if neither asks for one (or ``disabled``)."""
    bases = [d for d in flow_decorators(flow_cls) if isinstance(d, _EnvironmentBaseDecorator)]
    requests = [environment_request(d.attributes, d.kind, f"@{d.name}") for d in bases]
    requests += [r for r in (d.environment_request() for d in step_decorators) if r is not None]
    if not requests:
        return None
    merged: dict[str, Any] = {"kind": requests[-1]["kind"], "python": None, "packages": {}, "disabled": False}
    for request in requests:
        merged["packages"].update(request["packages"])
        merged["python"] = request["python"] or merged["python"]
        merged["disabled"] = request["disabled"]
    return None if merged["disabled"] else merged
