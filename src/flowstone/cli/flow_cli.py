"""The command line of a flow file: ``python flow.py [options] run|resume|show|check|dump|logs|tag``.

Options Metaflow has that mean nothing here are accepted and noted, never refused.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, NoReturn

import click

from flowstone.cli import inspect_cmds
from flowstone.cli.card_cmds import card_group
from flowstone.cli.flow_setup import apply_setup, apply_setup_for_resume, setup_options
from flowstone.errors import FlowSpecError, FlowstoneException, ParameterError
from flowstone.flow.config import config_namespace
from flowstone.flow.current import get_username
from flowstone.flow.flowspec import FlowSpec
from flowstone.flow.lint import check_graph
from flowstone.flow.parameters import resolve_parameter_values
from flowstone.flow.project import ProjectInfo
from flowstone.runtime.step_environments import ENVIRONMENT_KINDS
from flowstone.settings import SHARED_DATASTORE_TYPES, Settings, datastore_type_of_root

__all__ = ["build_cli", "refresh_parameter_options", "run_flow_cli"]


@dataclass
class CliState:
    flow_cls: type[FlowSpec]
    settings: Settings = field(default_factory=Settings)
    quiet: bool = False
    decospecs: tuple[str, ...] = ()
    branch: str | None = None  # --branch and --production: which branch of the flow's @project
    production: bool = False
    project_options_given: bool = False
    project: ProjectInfo | None = None  # known once the flow's configs are applied
    environment: str | None = None  # --environment

    @property
    def flow_name(self) -> str:
        return self.flow_cls.__name__

    def info(self, message: str) -> None:
        if not self.quiet:
            click.echo(message)


def _note_ignored(option: str, value: Any, why: str) -> None:
    click.echo(f"Note: {option}={value} has no effect in flowstone: {why}", err=True)


def _parameter_options(flow_cls: type[FlowSpec]) -> list[click.Option]:
    options = []
    for _, param in flow_cls._get_parameters():
        if param.is_config:
            continue  # given with the group's --config / --config-value
        names = [f"--{param.name}"]
        if "_" in param.name:
            names.append(f"--{param.name.replace('_', '-')}")
        default = param.default if not callable(param.default) else "<computed at run time>"
        help_text = (param.help or "") + (
            f"  [default: {default}]" if param.show_default and default is not None else ""
        )
        if param.required:
            help_text += "  [required]"
        options.append(
            click.Option(
                [*names, "param__" + param.name.replace("-", "_")],
                type=str,
                default=None,
                help=help_text.strip() or None,
                envvar=[f"{prefix}_RUN_{param.name.upper().replace('-', '_')}" for prefix in ("FLOWSTONE", "METAFLOW")],
                show_envvar=True,
            )
        )
    return options


def refresh_parameter_options(run_command: click.Command, flow_cls: type[FlowSpec]) -> None:
    """Give ``run`` an option for each parameter the flow has now (mutators may have added or removed some)."""
    kept = [p for p in run_command.params if not (p.name or "").startswith("param__")]
    run_command.params[:] = [*kept, *_parameter_options(flow_cls)]


def _given_parameters(flow_cls: type[FlowSpec], kwargs: dict[str, Any]) -> dict[str, Any]:
    given = {}
    for _, param in flow_cls._get_parameters():
        value = kwargs.pop("param__" + param.name.replace("-", "_"), None)
        if value is not None:
            given[param.name] = value
    return given


def _validate(state: CliState, announce: bool = True) -> None:
    if announce:
        state.info("Validating your flow...")
    check_graph(state.flow_cls._get_graph())
    if announce:
        state.info("    The graph looks good!")


def _run_options(command: Any) -> Any:
    """Options shared by run and resume."""
    options = [
        click.option("--max-workers", type=click.IntRange(min=1), default=16, show_default=True,
                     help="How many tasks may run at once."),
        click.option("--max-num-splits", type=click.IntRange(min=1), default=100, show_default=True,
                     help="The most tasks one foreach may start."),
        click.option("--tag", "tags", multiple=True, help="Tag the run (repeatable)."),
        click.option("--run-id-file", default=None, help="Write the run's id to this file."),
        click.option("--datastore-root", "run_datastore_root", default=None, help="Root of the datastore."),
        click.option("--namespace", "namespace", default=None, hidden=True),
        click.option("--with", "run_decospecs", multiple=True,
                     help="Add a decorator to every step (as the top-level --with); --with ray runs tasks on Ray."),
        click.option("--ray-address", default=None, help="The Ray cluster to run on (implies --with ray)."),
        click.option("--cache-reads", default=None, help="Which reads of earlier tasks decide their reuse: all "
                     "(default), none, or some of s3,client,files,env,network,random (docs/caching.md)."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def _apply_run_settings(state: CliState, root: str | None, cache_reads: str | None) -> None:
    """The settings a run's own options change: its datastore root, which reads decide reuse."""
    if root:
        ds_type = datastore_type_of_root(root) or state.settings.default_datastore
        state.settings = state.settings.replace(default_datastore=ds_type, **{f"datastore_sysroot_{ds_type}": root})
    state.settings = state.settings.replace(cache_reads=cache_reads)


def _choose_executor(state: CliState, run_decospecs: tuple[str, ...], ray_address: str | None) -> None:
    """Take ``ray`` out of the decorators and into the settings: it says where tasks run, not what a step does
    (so it is no part of a step's cache key)."""
    specs = [*state.decospecs, *run_decospecs]
    ray_specs = [spec for spec in specs if spec.partition(":")[0].strip() == "ray"]
    if any(spec.partition(":")[2].strip() for spec in ray_specs):
        raise FlowstoneException("--with ray takes no attributes: name the cluster with --ray-address (or set "
                                 "FLOWSTONE_RAY_ADDRESS); size tasks with @resources.")  # fmt: skip
    state.decospecs = tuple(spec for spec in specs if spec not in ray_specs)
    if ray_specs or ray_address:
        state.settings = state.settings.replace(executor="ray", ray_address=ray_address)


def build_cli(flow_cls: type[FlowSpec]) -> click.Group:
    """The click command group for ``flow_cls``."""
    cli = _flow_group(flow_cls)
    cli.add_command(_check_command())
    cli.add_command(_show_command(flow_cls))
    cli.add_command(_run_command(flow_cls))
    cli.add_command(_resume_command())
    inspect_cmds.add_commands(cli)
    cli.add_command(card_group)
    return cli


def _flow_group(flow_cls: type[FlowSpec]) -> click.Group:
    """The group itself: its options choose the datastore and settings every command works with."""

    @click.group(
        help=(flow_cls.__doc__ or f"Run and inspect {flow_cls.__name__}.").strip(),
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    )
    @click.option(
        "--datastore", type=click.Choice(SHARED_DATASTORE_TYPES), default=None, help="Where artifacts are stored."
    )
    @click.option("--datastore-root", default=None, help="Root of the datastore (a folder, s3://..., azure://...).")
    @click.option("--metadata", default=None, help="Accepted for compatibility: metadata lives in the datastore.")
    @click.option("--environment", default=None,
                  help="pypi, conda or uv: steps with @pypi/@conda run in their own environments, built with uv.")
    @click.option("--event-logger", default=None, hidden=True)
    @click.option("--monitor", default=None, hidden=True)
    @click.option(
        "--package-suffixes", default=None, help="Accepted for compatibility: local .py modules are packaged."
    )
    @click.option(
        "--pylint/--no-pylint", default=None, help="Accepted for compatibility: flowstone does not run pylint."
    )
    @click.option("--quiet", is_flag=True, default=False, help="Print only task output and errors.")
    @click.option("--with", "decospecs", multiple=True, help="Add a decorator to every step, e.g. retry:times=2.")
    @setup_options(flow_cls)
    @click.pass_context
    def cli(ctx: click.Context, datastore: str | None, datastore_root: str | None, metadata: str | None,
            environment: str | None, event_logger: str | None, monitor: str | None, package_suffixes: str | None,
            pylint: bool | None, quiet: bool, decospecs: tuple[str, ...], **setup: Any) -> None:  # fmt: skip
        _note_compatibility_options(metadata, environment, event_logger, monitor, package_suffixes, pylint)
        ctx.obj = CliState(flow_cls, _group_settings(datastore, datastore_root), quiet, decospecs,
                           environment=environment)  # fmt: skip
        apply_setup(ctx, ctx.obj, **setup)  # configs read and applied, mutators run: the flow is now concrete

    return cli


def _note_compatibility_options(metadata: str | None, environment: str | None, event_logger: str | None,
                                monitor: str | None, package_suffixes: str | None,
                                pylint: bool | None) -> None:  # fmt: skip
    """Say which of Metaflow's options, given values that would matter there, do nothing here."""
    if metadata not in (None, "local"):
        _note_ignored("--metadata", metadata, "run metadata is kept in the datastore itself.")
    if environment not in (None, "local", *ENVIRONMENT_KINDS):
        _note_ignored("--environment", environment, "tasks run in the current Python environment.")
    for option, value in (("--event-logger", event_logger), ("--monitor", monitor)):
        if value not in (None, "nullSidecarLogger", "nullSidecarMonitor"):
            _note_ignored(option, value, "there are no sidecars.")
    if package_suffixes is not None:
        _note_ignored("--package-suffixes", package_suffixes, "the code package holds the flow's local modules.")
    if pylint:
        _note_ignored("--pylint", True, "flowstone does not run pylint; use 'check' for graph checks.")


def _group_settings(datastore: str | None, datastore_root: str | None) -> Settings:
    """The settings from the environment, with the datastore (and its root) the group's options chose."""
    ds_type = datastore or datastore_type_of_root(datastore_root) or Settings.from_env().default_datastore
    overrides: dict[str, Any] = {"default_datastore": ds_type}
    if datastore_root:
        overrides[f"datastore_sysroot_{ds_type}"] = datastore_root
    return Settings.from_env(**overrides)


def _check_command() -> click.Command:
    @click.command(help="Check the flow's graph for errors.")
    @click.pass_obj
    def check(state: CliState) -> None:
        _validate(state)

    return check


def _show_command(flow_cls: type[FlowSpec]) -> click.Command:
    @click.command(help="Show the flow's steps and how they connect.")
    @click.pass_obj
    def show(state: CliState) -> None:
        from flowstone.cli.show import show_lines

        click.echo("\n".join(show_lines(flow_cls._get_graph(), flow_cls)))

    return show


def _run_command(flow_cls: type[FlowSpec]) -> click.Command:
    """``run``, with an option for each of the flow's parameters."""

    @click.command(help="Run the flow (steps whose code, inputs and environment are unchanged reuse earlier results).")
    @_run_options
    @click.option("--no-cache", is_flag=True, default=False, help="Run every step; reuse nothing from earlier runs.")
    @click.option("--dry-run", is_flag=True, default=False, help="Only say which steps would reuse cached results.")
    @click.pass_obj
    def run(state: CliState, run_datastore_root: str | None, namespace: str | None, no_cache: bool, dry_run: bool,
            run_decospecs: tuple[str, ...], ray_address: str | None, cache_reads: str | None,
            **kwargs: Any) -> None:  # fmt: skip
        from flowstone.cli.run_cmd import execute_run, print_plan, started_executor

        _apply_run_settings(state, run_datastore_root, cache_reads)
        _choose_executor(state, run_decospecs, ray_address)
        _validate(state)
        given = _given_parameters(flow_cls, kwargs)

        def parameter_values() -> dict[str, Any]:
            return resolve_parameter_values(flow_cls._get_parameters(), given, flow_cls.__name__, get_username(),
                                            config_namespace(flow_cls))  # fmt: skip

        if dry_run:
            print_plan(state, parameter_values())
            return
        with started_executor(state.settings) as executor:  # before the parameters: an included file may be read
            ok = execute_run(state, executor, parameter_values(), use_cache=not no_cache, **kwargs)
        if not ok:
            raise click.exceptions.Exit(1)

    run.params.extend(_parameter_options(flow_cls))
    return run


def _resume_command() -> click.Command:
    @click.command(help="Resume a run: reuse its successful tasks, run the rest (from STEP on, if given).")
    @click.argument("step_to_rerun", required=False)
    @click.option("--origin-run-id", default=None, help="The run to resume (default: your latest run of this flow).")
    @click.option("--clone-only", "--trust-origin", "clone_only", is_flag=True, default=False,
                  help="Clone the origin's successful tasks even if their code or inputs changed since.")  # fmt: skip
    @_run_options
    @click.pass_obj
    def resume(state: CliState, step_to_rerun: str | None, origin_run_id: str | None, clone_only: bool,
               run_datastore_root: str | None, namespace: str | None, run_decospecs: tuple[str, ...],
               ray_address: str | None, cache_reads: str | None, **kwargs: Any) -> None:  # fmt: skip
        from flowstone.cli.run_cmd import execute_resume, started_executor

        _apply_run_settings(state, run_datastore_root, cache_reads)
        _choose_executor(state, run_decospecs, ray_address)
        with started_executor(state.settings) as executor:  # before the origin run is read: it may be on S3
            origin_run_id = apply_setup_for_resume(state, origin_run_id)  # the flow as the origin's configs made it
            _validate(state)
            ok = execute_resume(state, executor, origin_run_id, step_to_rerun, clone_only=clone_only, **kwargs)
        if not ok:
            raise click.exceptions.Exit(1)

    return resume


def _fail(headline: str, message: str, code: int = 1) -> NoReturn:
    click.echo(f"{headline}:\n    {message.replace(chr(10), chr(10) + '    ')}", err=True)
    sys.exit(code)


def run_flow_cli(flow_cls: type[FlowSpec], args: list[str] | None = None) -> NoReturn:
    """Entry point used by ``MyFlow()`` at the bottom of a flow file."""
    from flowstone.runtime.remote_task import FlowFileLoaded, loading_flow_file

    if loading_flow_file():  # a remote node loads the file for its flow class: no command line to run
        raise FlowFileLoaded(flow_cls.__name__)
    # As Metaflow's command line does, Python warnings are not shown: libraries' noise would fill every task's
    # log (tasks are forked from this process and keep its filters). flowstone's own notes are printed, not warned.
    warnings.filterwarnings("ignore")
    cli = build_cli(flow_cls)
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else flow_cls.__name__
    try:
        code = cli.main(args=sys.argv[1:] if args is None else args, prog_name=f"python {prog}", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except FlowSpecError as exc:
        _fail("Validating your flow... the flow has a problem", str(exc))
    except ParameterError as exc:  # a usage error, as click's own are
        _fail(exc.headline, str(exc), code=2)
    except FlowstoneException as exc:
        _fail(exc.headline, str(exc))
    sys.exit(code if isinstance(code, int) else 0)
