"""The flow command line's options that make the flow concrete before any command runs: its configs
(``--config NAME PATH``, ``--config-value NAME JSON``) and its @project branch (``--branch``, ``--production``).

Configs are read and applied (decorators evaluated, mutators run) in the group, so every command sees the flow
they describe, and ``run`` offers the parameters mutators added. ``resume`` runs with the configs of the run it
resumes instead, so it takes no config options.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from flowstone.datastore import FlowDataStore
from flowstone.errors import FlowSpecError, FlowstoneException, ParameterError
from flowstone.flow.config import config_parameters, load_config_values
from flowstone.flow.configure import configure_flow
from flowstone.flow.current import current, get_username
from flowstone.flow.project import project_info

if TYPE_CHECKING:
    from flowstone.cli.flow_cli import CliState

__all__ = ["apply_setup", "apply_setup_for_resume", "setup_options"]

_CONFIG_HELP = ("Give config NAME the content of the file PATH (repeatable; or set METAFLOW_FLOW_CONFIG to a JSON "
                "object of names to paths).")  # fmt: skip
_CONFIG_VALUE_HELP = ("Give config NAME the value JSON (repeatable; or set METAFLOW_FLOW_CONFIG_VALUE to a JSON object "
                      "of names to values).")  # fmt: skip


def setup_options(flow_cls: type) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The config and project options of the flow's command group (the help lists the flow's configs)."""
    configs = "; ".join(f"{cfg.name}" + (f": {cfg.help}" if cfg.help else "") for _, cfg in config_parameters(flow_cls))
    listed = f" The flow's configs: {configs}." if configs else ""
    options = [
        click.option("--config", "config_paths", nargs=2, multiple=True, metavar="NAME PATH",
                     help=_CONFIG_HELP + listed),
        click.option("--config-value", "config_values", nargs=2, multiple=True, metavar="NAME JSON",
                     help=_CONFIG_VALUE_HELP + listed),
        click.option("--branch", default=None, envvar=["FLOWSTONE_BRANCH", "METAFLOW_BRANCH"],
                     help="Run on this branch of the flow's @project (test.BRANCH; prod.BRANCH with --production)."),
        click.option("--production/--no-production", default=False,
                     envvar=["FLOWSTONE_PRODUCTION", "METAFLOW_PRODUCTION"],
                     help="Run on the production branch of the flow's @project."),
    ]  # fmt: skip

    def add_options(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            command = option(command)
        return command

    return add_options


def _from_environment(variable: str) -> dict[str, Any]:
    """A config option given as an environment variable: a JSON object of config names to paths or values."""
    for name in (f"FLOWSTONE_{variable}", f"METAFLOW_{variable}"):
        text = os.environ.get(name)
        if text:
            try:
                given = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ParameterError(f"{name} is not valid JSON ({exc}): set it to an object of config names.") from exc
            if not isinstance(given, dict):
                raise ParameterError(f"{name} must be a JSON object of config names, got {text!r}.")
            return given
    return {}


def _given(pairs: tuple[tuple[str, str], ...], variable: str) -> dict[str, Any]:
    """The command line's ``NAME VALUE`` pairs, or, if there are none, the environment variable's."""
    return dict(pairs) if pairs else _from_environment(variable)


def apply_setup(ctx: click.Context, state: CliState, config_paths: tuple[tuple[str, str], ...],
                config_values: tuple[tuple[str, str], ...], branch: str | None, production: bool) -> None:  # fmt: skip
    """Read the configs, configure the flow with them, and settle its project (every command but resume)."""
    state.branch, state.production = branch, production
    branch_given = ctx.get_parameter_source("branch") == click.core.ParameterSource.COMMANDLINE
    state.project_options_given = branch_given or (production and _from_command_line(ctx, "production"))
    if ctx.invoked_subcommand == "resume":
        if config_paths or config_values or _from_environment("FLOW_CONFIG") or _from_environment("FLOW_CONFIG_VALUE"):
            raise click.UsageError(
                "resume runs with the configs of the run it resumes: drop --config and "
                "--config-value (and unset METAFLOW_FLOW_CONFIG, METAFLOW_FLOW_CONFIG_VALUE)."
            )
        return
    flow_cls = state.flow_cls
    paths, values = _given(config_paths, "FLOW_CONFIG"), _given(config_values, "FLOW_CONFIG_VALUE")
    configure_flow(flow_cls, load_config_values(flow_cls, paths, values, get_username()))
    _settle_project(state)
    run_command = getattr(ctx.command, "commands", {}).get("run")
    if run_command is not None:
        from flowstone.cli.flow_cli import refresh_parameter_options

        refresh_parameter_options(run_command, flow_cls)  # mutators may have added parameters


def _from_command_line(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE


def apply_setup_for_resume(state: CliState, origin_run_id: str | None) -> str:
    """Configure the flow with the configs of the run to resume (by default the user's latest); return its id."""
    from flowstone.cli.run_cmd import latest_run_id

    fds = FlowDataStore(state.flow_name, settings=state.settings)
    origin = origin_run_id or latest_run_id(fds, get_username())
    if origin is None:
        raise FlowstoneException(f"There is no run of {state.flow_name} to resume; start one with 'run'.")
    record = fds.load_run_record(origin)
    if record is None:
        raise FlowstoneException(f"Cannot resume: run {state.flow_name}/{origin} does not exist.")
    recorded = record.get("configs") or {}
    names = {cfg.name for _, cfg in config_parameters(state.flow_cls)}
    values = {name: recorded.get(name) for name in names}  # a config the flow has gained since is None
    configure_flow(state.flow_cls, values)
    _settle_project(state)
    return origin


def _settle_project(state: CliState) -> None:
    """The run's @project on the chosen branch; ``current`` knows it from now on (parameter defaults read it)."""
    state.project = project_info(state.flow_cls, state.branch, state.production, get_username())
    if state.project is None:
        if state.project_options_given:
            raise FlowSpecError("--branch and --production choose a branch of the flow's @project, and "
                                f"{state.flow_name} has no @project.")  # fmt: skip
        return
    current._set_project(state.project._asdict())
    state.info(f"Project: {state.project.project_name}, Branch: {state.project.branch_name}")
