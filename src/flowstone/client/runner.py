"""``Runner``: run or resume a flow file from Python (a notebook, a test suite) and get its ``Run`` back.

The flow runs in a child process, exactly as ``python flow.py run`` would. The Runner's keyword arguments are the
flow's top-level options, given before the command; a method's are the command's options and the flow's
parameters: ``Runner('flow.py', quiet=True, datastore='local').run(alpha=0.1, tags=['a'])`` runs
``python flow.py --quiet --datastore local run --alpha 0.1 --tag a``. How a value becomes options:

* ``None`` is left out; ``True`` gives a flag (``quiet=True``: ``--quiet``); ``False`` leaves it out, except for
  an option with a ``--no-`` form (``pylint=False``: ``--no-pylint``). A flow parameter that is a bool is
  given its value (``--flag false``).
* A list repeats the option (``tags=['a', 'b']``: ``--tag a --tag b``); a list of pairs gives two values each
  (``config=[('cfg', 'cfg.json')]``: ``--config cfg cfg.json``; a value that is not a string goes as JSON).
* A dict, or a list given to a flow parameter, goes as JSON; anything else as its string.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

from flowstone.client import context
from flowstone.client.executing import ExecutingRun, RunCommand
from flowstone.client.runs import Run
from flowstone.errors import FlowstoneException
from flowstone.settings import Settings

__all__ = ["ExecutingRun", "Runner", "RunnerError"]

#: Keyword names whose command-line option is spelled differently.
_OPTION_NAMES = {"tags": "tag", "decospecs": "with", "with_": "with"}
#: The command options (of run and resume) that are flags: everything else in a command's keywords takes a value.
COMMAND_FLAGS = frozenset({"no_cache", "dry_run", "clone_only", "trust_origin"})
#: Options with a --no- form: False is passed as that form.
NEGATABLE = frozenset({"pylint", "production"})
#: Command options that repeat for a list of values (other lists are a parameter's JSON value).
COMMAND_LISTS = frozenset({"tags", "decospecs", "with_"})
#: How often a starting run's id file is checked.
_POLL_SECONDS = 0.05


class RunnerError(FlowstoneException, RuntimeError):
    """A flow started by a Runner ended before it had a run: the flow file failed to load, its graph or a
    parameter was refused, or resume found nothing to resume. The message holds the command and its output."""

    headline = "Runner error"


def to_options(kwargs: dict[str, Any], top_level: bool) -> list[str]:
    """Command-line options for keyword arguments (``top_level``: options given before the command)."""
    args: list[str] = []
    for key, value in kwargs.items():
        if value is None:
            continue
        flag = "--" + _OPTION_NAMES.get(key, key).replace("_", "-")
        if key in NEGATABLE and isinstance(value, bool):
            args.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, bool):
            if top_level or key in COMMAND_FLAGS:
                args += [flag] if value else []
            else:
                args += [flag, "true" if value else "false"]
        elif isinstance(value, (list, tuple)) and value and all(_is_pair(item) for item in value):
            for name, item in value:
                args += [flag, str(name), item if isinstance(item, str) else json.dumps(item)]
        elif isinstance(value, (list, tuple, set)) and (top_level or key in COMMAND_LISTS):
            for item in value:
                args += [flag, str(item)]
        elif isinstance(value, (dict, list, tuple)):
            args += [flag, json.dumps(value)]
        else:
            args += [flag, str(value)]
    return args


def _is_pair(item: Any) -> bool:
    return isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)


class Runner:
    """Run a flow file from Python. Keyword arguments are the flow's top-level options (``quiet=True``,
    ``metadata='local'``, ``datastore='local'``, ``datastore_root=...``, ``environment=...``, ``branch=...``,
    ``decospecs=['retry']``, ``config=[(name, path)]``, ``config_value=[(name, value)]``, ...)."""

    def __init__(self, flow_file: str, show_output: bool = True, profile: str | None = None,
                 env: dict[str, str] | None = None, cwd: str | None = None, file_read_timeout: int = 3600,
                 python: str | None = None, **kwargs: Any) -> None:  # fmt: skip
        if not os.path.isfile(flow_file):
            raise FlowstoneException(f"Flow file '{flow_file}' does not exist.")
        self.flow_file = os.path.abspath(flow_file)
        self.show_output = show_output
        self.env = {**os.environ, **(env or {})}
        if profile:
            self.env["METAFLOW_PROFILE"] = profile
        self.cwd = cwd or os.getcwd()
        self.file_read_timeout = file_read_timeout
        self.python = python or sys.executable
        self.top_level = kwargs
        self.flow_name = self._flow_name()
        self._commands: list[RunCommand] = []

    def _flow_name(self) -> str | None:
        """The flow's class name, read from the file (None if it does not parse: running it will say why)."""
        import ast

        with open(self.flow_file, encoding="utf-8") as f:
            try:
                tree = ast.parse(f.read())
            except SyntaxError:
                return None
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and any(
                getattr(base, "id", getattr(base, "attr", None)) == "FlowSpec" for base in node.bases
            ):
                return node.name
        raise FlowstoneException(f"'{self.flow_file}' defines no FlowSpec subclass.")

    @property
    def ds_spec(self) -> tuple[str, str]:
        """The datastore the flow writes to, as (type, root): what the command line would use."""
        env = {k: v for k, v in self.env.items() if k.startswith(("FLOWSTONE_", "METAFLOW_"))}
        overrides: dict[str, Any] = {}
        if self.top_level.get("datastore"):
            overrides["default_datastore"] = self.top_level["datastore"]
        settings = Settings.from_env(env, **overrides)
        ds_type = settings.default_datastore
        root = self.top_level.get("datastore_root")
        if root is None and ds_type == "local" and not settings.datastore_sysroot_local:
            from flowstone.settings import find_local_root

            root = find_local_root(self.cwd)
        root = root or settings.datastore_root(ds_type)
        return ds_type, context.normalize_root(ds_type, root)

    # -- starting a run ---------------------------------------------------------------------------
    def _command(self, verb: str, kwargs: dict[str, Any]) -> tuple[RunCommand, str]:
        """The child process for ``verb`` and the file it writes its run id to (the caller's, if given)."""
        kwargs = dict(kwargs)
        verb_args = [str(kwargs.pop("step_to_rerun"))] if verb == "resume" and kwargs.get("step_to_rerun") else []
        kwargs.pop("step_to_rerun", None)
        command = RunCommand([], self.env, self.cwd)
        run_id_file = kwargs.pop("run_id_file", None) or os.path.join(command.folder, "run-id")
        run_id_file = os.path.join(self.cwd, run_id_file)
        if os.path.exists(run_id_file):
            os.unlink(run_id_file)  # an id left by an earlier run must not pass for this one's
        command.command = [self.python, self.flow_file, *to_options(self.top_level, top_level=True), verb,
                           *verb_args, "--run-id-file", run_id_file, *to_options(kwargs, top_level=False)]  # fmt: skip
        self._commands.append(command)
        return command, run_id_file

    def _started(self, command: RunCommand, run_id: str | None) -> ExecutingRun:
        if run_id is None or self.flow_name is None:
            raise RunnerError(_failure_message(command))
        run = Run(f"{self.flow_name}/{run_id}", _namespace_check=False, _ds=self.ds_spec)
        return ExecutingRun(self, command, run)

    def _blocking(self, verb: str, kwargs: dict[str, Any]) -> ExecutingRun:
        command, run_id_file = self._command(verb, kwargs)
        command.start(self.show_output)
        try:
            command.sync_wait()
        except BaseException:  # Ctrl-C here: the run stops as it would on the command line
            command.kill()
            raise
        return self._started(command, _read_run_id(run_id_file))

    async def _async(self, verb: str, kwargs: dict[str, Any]) -> ExecutingRun:
        command, run_id_file = self._command(verb, kwargs)
        await command.async_start()
        deadline = time.monotonic() + self.file_read_timeout
        while command.process.returncode is None and time.monotonic() < deadline:
            if _read_run_id(run_id_file) is not None:
                break
            await asyncio.sleep(_POLL_SECONDS)
        return self._started(command, _read_run_id(run_id_file))

    def run(self, **kwargs: Any) -> ExecutingRun:
        """Run the flow and wait for it; keyword arguments are run options and parameter values."""
        return self._blocking("run", kwargs)

    def resume(self, **kwargs: Any) -> ExecutingRun:
        """Resume a run (``origin_run_id=``, ``step_to_rerun=``) and wait for it."""
        return self._blocking("resume", kwargs)

    async def async_run(self, **kwargs: Any) -> ExecutingRun:
        """Start the flow and return once it has a run; ``await running.wait()`` or ``running.stream_log()``."""
        return await self._async("run", kwargs)

    async def async_resume(self, **kwargs: Any) -> ExecutingRun:
        return await self._async("resume", kwargs)

    # -- context manager --------------------------------------------------------------------------
    def cleanup(self) -> None:
        """Remove the files holding the runs' output (a run still going is stopped)."""
        for command in self._commands:
            command.cleanup()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    async def __aenter__(self) -> Runner:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cleanup()


def _read_run_id(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip() or None  # empty: being written
    except FileNotFoundError:
        return None


def _failure_message(command: RunCommand) -> str:
    """What Metaflow's Runner says when the flow ends before it has a run: the command and its output."""
    why = "it ended before starting a run" if command.process.returncode is not None else "it started no run in time"
    parts = [f"Error executing: '{' '.join(command.command)}' ({why}):"]
    for stream in ("stdout", "stderr"):
        with open(command.log_files[stream], encoding="utf-8", errors="replace") as log:
            text = log.read()
        if text.strip():
            parts.append(f"\n{stream.capitalize()}:\n{text}")
    return "\n".join(parts)
