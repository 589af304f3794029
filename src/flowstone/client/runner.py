"""``Runner``: run or resume a flow file from Python (a notebook, a test suite) and get its ``Run`` back.

The flow runs in a child process, exactly as ``python flow.py run`` would: ``Runner('flow.py', quiet=True)
.run(alpha=0.1, max_workers=4)`` becomes ``python flow.py --quiet run --alpha 0.1 --max-workers 4``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from typing import Any

from flowstone.client import context
from flowstone.client.runs import Run
from flowstone.errors import FlowstoneException
from flowstone.settings import Settings

__all__ = ["ExecutingRun", "Runner"]

# Keyword names whose command-line option is spelled differently.
_OPTION_NAMES = {"tags": "tag", "decospecs": "with", "with_": "with"}


def _to_options(kwargs: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for key, value in kwargs.items():
        if value is None:
            continue
        flag = "--" + _OPTION_NAMES.get(key, key).replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + flag[2:])
        elif key in ("config", "config_value"):  # [(name, path or value), ...]: --config NAME PATH, repeated
            for name, item in value:
                args += [flag, name, item if isinstance(item, str) else json.dumps(item)]
        elif isinstance(value, (list, tuple, set)) and key in ("tags", "decospecs", "with_"):
            for item in value:
                args += [flag, str(item)]
        elif isinstance(value, (dict, list)):
            args += [flag, json.dumps(value)]
        else:
            args += [flag, str(value)]
    return args


class ExecutingRun:
    """A run started by a Runner: its process, its output and, once it has an id, its ``Run``."""

    def __init__(self, runner: Runner, command: list[str], run_id_file: str) -> None:
        self._runner = runner
        self.command = command
        self._run_id_file = run_id_file
        self._run_id: str | None = None
        self.returncode: int | None = None
        self.stdout = ""
        self.stderr = ""
        self._process: asyncio.subprocess.Process | None = None

    @property
    def status(self) -> str:
        """'running', 'successful' or 'failed'."""
        if self.returncode is None:
            return "running"
        return "successful" if self.returncode == 0 else "failed"

    @property
    def run_id(self) -> str | None:
        if self._run_id is None:
            try:
                with open(self._run_id_file) as f:
                    self._run_id = f.read().strip() or None
            except FileNotFoundError:
                return None
        return self._run_id

    def _finished(self, returncode: int) -> None:
        """Record the exit and keep the run id in memory: the file that carried it is not needed any more."""
        self.returncode = returncode
        _ = self.run_id
        self.cleanup()

    @property
    def run(self) -> Run | None:
        """The client Run (None if the run never started, e.g. the flow failed its checks)."""
        run_id = self.run_id
        if run_id is None:
            return None
        return Run(f"{self._runner.flow_name}/{run_id}", _namespace_check=False, _ds=self._runner.ds_spec)

    # -- asynchronous use -------------------------------------------------------------------------
    async def wait(self, timeout: float | None = None, stream: str | None = None) -> ExecutingRun:
        """Wait for the process to end (its output is kept in ``stdout`` / ``stderr``)."""
        if self._process is not None and self.returncode is None:
            out, err = await asyncio.wait_for(self._process.communicate(), timeout)
            self.stdout += out.decode("utf-8", "replace")
            self.stderr += err.decode("utf-8", "replace")
            self._finished(self._process.returncode)  # type: ignore[arg-type]
        return self

    async def stream_log(self, stream: str = "stdout") -> AsyncIterator[tuple[int, str]]:
        """Yield ``(line_number, line)`` of the process's output as it is printed."""
        assert self._process is not None
        pipe = self._process.stdout if stream == "stdout" else self._process.stderr
        assert pipe is not None
        number = 0
        async for raw in pipe:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if stream == "stdout":
                self.stdout += line + "\n"
            else:
                self.stderr += line + "\n"
            yield number, line
            number += 1

    # -- context manager --------------------------------------------------------------------------
    def __enter__(self) -> ExecutingRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def cleanup(self) -> None:
        if self._process is not None and self.returncode is None:
            self._process.kill()
        try:
            os.unlink(self._run_id_file)
        except FileNotFoundError:
            pass


class Runner:
    """Run a flow file from Python. Keyword arguments are the flow's top-level options (``quiet=True``,
    ``datastore='local'``, ``datastore_root=...``, ``decospecs=['retry']``)."""

    def __init__(
        self,
        flow_file: str,
        show_output: bool = True,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        python: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not os.path.isfile(flow_file):
            raise FlowstoneException(f"Flow file '{flow_file}' does not exist.")
        self.flow_file = os.path.abspath(flow_file)
        self.show_output = show_output
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd or os.getcwd()
        self.python = python or sys.executable
        self.top_level = kwargs
        self.flow_name = self._flow_name()

    def _flow_name(self) -> str:
        import ast

        with open(self.flow_file) as f:
            tree = ast.parse(f.read())
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and any(
                getattr(base, "id", getattr(base, "attr", None)) == "FlowSpec" for base in node.bases
            ):
                return node.name
        raise FlowstoneException(f"'{self.flow_file}' defines no FlowSpec subclass.")

    @property
    def ds_spec(self) -> tuple[str, str]:
        """The datastore the flow writes to, as (type, root): what the command line would use."""
        env = {k: v for k, v in self.env.items() if k.startswith("FLOWSTONE_")}
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

    def _command(self, verb: str, kwargs: dict[str, Any], run_id_file: str) -> list[str]:
        verb_args = []
        if verb == "resume" and kwargs.get("step_to_rerun"):
            verb_args.append(str(kwargs.pop("step_to_rerun")))
        return [self.python, self.flow_file, *_to_options(self.top_level), verb, *verb_args,
                "--run-id-file", run_id_file, *_to_options(kwargs)]  # fmt: skip

    def _start(self, verb: str, kwargs: dict[str, Any]) -> ExecutingRun:
        handle, run_id_file = tempfile.mkstemp(prefix="flowstone-run-id-")
        os.close(handle)
        os.unlink(run_id_file)
        return ExecutingRun(self, self._command(verb, dict(kwargs), run_id_file), run_id_file)

    def _blocking(self, verb: str, kwargs: dict[str, Any]) -> ExecutingRun:
        executing = self._start(verb, kwargs)
        output = None if self.show_output else subprocess.PIPE
        result = subprocess.run(executing.command, cwd=self.cwd, env=self.env, stdout=output, stderr=output, text=True)
        executing._finished(result.returncode)
        executing.stdout, executing.stderr = result.stdout or "", result.stderr or ""
        return executing

    def run(self, **kwargs: Any) -> ExecutingRun:
        """Run the flow and wait for it; keyword arguments are run options and parameter values."""
        return self._blocking("run", kwargs)

    def resume(self, **kwargs: Any) -> ExecutingRun:
        """Resume a run (``origin_run_id=``, ``step_to_rerun=``) and wait for it."""
        return self._blocking("resume", kwargs)

    async def _async(self, verb: str, kwargs: dict[str, Any]) -> ExecutingRun:
        executing = self._start(verb, kwargs)
        executing._process = await asyncio.create_subprocess_exec(
            *executing.command, cwd=self.cwd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        return executing

    async def async_run(self, **kwargs: Any) -> ExecutingRun:
        """Start the flow and return at once; ``await running.wait()`` or ``running.stream_log()``."""
        return await self._async("run", kwargs)

    async def async_resume(self, **kwargs: Any) -> ExecutingRun:
        return await self._async("resume", kwargs)

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        pass
