"""``@project``: flows that belong together, each run on a branch of the project.

``@project(name="fraud")`` gives every run of the flow the system tags ``project:fraud`` and
``project_branch:<branch>``, and tells each task (and each parameter default) where it runs through ``current``:
``project_name``, ``branch_name``, ``is_user_branch``, ``is_production`` and ``project_flow_name``
(``<project>.<branch>.<FlowName>``). The branch is ``user.<username>`` by default; ``test.<branch>`` with
``--branch <branch>`` (or ``METAFLOW_BRANCH``); ``prod`` with ``--production`` (or ``METAFLOW_PRODUCTION``),
and ``prod.<branch>`` with both. ``branch=`` and ``production=`` can also be given to the decorator, but not
differently on the command line as well.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from flowstone.errors import FlowSpecError
from flowstone.flow.flow_decorators import FlowDecorator, flow_decorators, make_flow_decorator

__all__ = ["ProjectDecorator", "ProjectInfo", "project", "project_info"]

# Schedulers and other systems see these names: keep them to what every one of them accepts.
_INVALID_CHARACTER = re.compile(r"[^a-z0-9_]")
_MAX_LENGTH = 128


class ProjectInfo(NamedTuple):
    """Where a run of a flow belongs: what ``current`` says about its project."""

    project_name: str
    branch_name: str
    is_user_branch: bool
    is_production: bool
    project_flow_name: str

    @property
    def system_tags(self) -> list[str]:
        return [f"project:{self.project_name}", f"project_branch:{self.branch_name}"]


def _check_name(what: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise FlowSpecError(f"@project needs a {what}: write @project(name='some_name').")
    if _INVALID_CHARACTER.search(value):
        raise FlowSpecError(f"The @project {what} {value!r} may contain only lowercase letters, digits and '_'.")
    if len(value) > _MAX_LENGTH:
        raise FlowSpecError(f"The @project {what} {value!r} is longer than {_MAX_LENGTH} characters.")


class ProjectDecorator(FlowDecorator):
    name = "project"
    defaults = {"name": None, "branch": None, "production": False}

    def _validate_attributes(self) -> None:
        _check_name("name", self.attributes["name"])
        if self.attributes["branch"] is not None:
            _check_name("branch name", self.attributes["branch"])
        if not isinstance(self.attributes["production"], bool):
            raise FlowSpecError(f"@project(production=...) must be True or False, got "
                                f"{self.attributes['production']!r}.")  # fmt: skip


project = make_flow_decorator(ProjectDecorator)


def _branch_name(branch: str | None, production: bool, user_name: str) -> str:
    if branch:
        _check_name("branch name", branch)
        return f"{'prod' if production else 'test'}.{branch}"
    return "prod" if production else f"user.{user_name}"


def project_info(flow_cls: type, branch: str | None, production: bool, user_name: str) -> ProjectInfo | None:
    """The project of a run of ``flow_cls`` with the command line's ``--branch`` and ``--production`` (None if
    the flow has no @project)."""
    decorators = flow_decorators(flow_cls, "project")
    if not decorators:
        return None
    deco = decorators[-1]
    for option, given in (("branch", branch), ("production", production)):
        default = ProjectDecorator.defaults[option]
        if option in deco.user_attributes and given != default and deco.attributes[option] != given:
            raise FlowSpecError(f"--{option} is given on the command line and, differently, to @project: "
                                f"keep one of them.")  # fmt: skip
    if "branch" in deco.user_attributes:
        branch = deco.attributes["branch"]
    if "production" in deco.user_attributes:
        production = deco.attributes["production"]
    name = deco.attributes["name"]
    branch_name = _branch_name(branch, production, user_name)
    is_user_branch = not branch and not production
    return ProjectInfo(name, branch_name, is_user_branch, production, f"{name}.{branch_name}.{flow_cls.__name__}")
