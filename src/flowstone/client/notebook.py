"""``NBRunner``: run a flow defined in a notebook cell, through the Runner.

The cell that defines the flow (the one running ``NBRunner(MyFlow)``) is written to a flow file, with the line
that makes it runnable, and run as any flow file is. Nothing of the notebook's state crosses but the cell's code.
"""

from __future__ import annotations

import ast
import os
import tempfile
from typing import Any

from flowstone.client.runner import ExecutingRun, Runner
from flowstone.client.runs import Run
from flowstone.errors import FlowstoneException

__all__ = ["NBRunner", "NBRunnerInitializationError"]


class NBRunnerInitializationError(FlowstoneException):
    """NBRunner was used outside an interactive Python (IPython, Jupyter), or found no cell to run."""

    headline = "NBRunner cannot start"


_OUTSIDE = "NBRunner runs a flow defined in a notebook cell (IPython, Jupyter). In a script, use Runner."


def _current_cell() -> str:
    try:
        from IPython import get_ipython
    except ModuleNotFoundError:
        raise NBRunnerInitializationError(_OUTSIDE) from None
    shell = get_ipython()
    if shell is None:
        raise NBRunnerInitializationError(_OUTSIDE)
    cells = shell.user_ns.get("_ih")
    if not cells:
        raise NBRunnerInitializationError("NBRunner found no notebook cell: create it in the cell defining the flow.")
    return str(cells[-1])


_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign,
                ast.AnnAssign)  # fmt: skip


def _calls_nbrunner(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None)) == "NBRunner"
               for n in ast.walk(node))  # fmt: skip


def flow_file_text(cell: str, flow_name: str) -> str:
    """The cell as a flow file: its imports and definitions (the code that runs the flow, or anything else the
    cell does, is left out: it would run again in every task), then the line that runs the flow."""
    lines = cell.splitlines()
    kept: list[str] = []
    for node in ast.parse(cell).body:
        if isinstance(node, _DEFINITIONS) and not _calls_nbrunner(node):
            first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
            kept.extend(lines[first - 1 : node.end_lineno])
    return "\n".join([*kept, "", "", 'if __name__ == "__main__":', f"    {flow_name}()", ""])


class NBRunner:
    """``NBRunner(MyFlow).nbrun(alpha=0.5)`` in the cell that defines ``MyFlow``: runs it and returns its Run.
    Other keyword arguments go to the Runner (options before the command, such as ``datastore=``)."""

    def __init__(self, flow: type, show_output: bool = True, profile: str | None = None,
                 env: dict[str, str] | None = None, base_dir: str | None = None, file_read_timeout: int = 3600,
                 **kwargs: Any) -> None:  # fmt: skip
        self.flow = flow
        self.base_dir = base_dir if base_dir is not None else os.getcwd()
        handle, self.flow_file = tempfile.mkstemp(prefix=flow.__name__, suffix=".py", dir=self.base_dir)
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(flow_file_text(_current_cell(), flow.__name__))
        variables = {**(env or {}), "JPY_PARENT_PID": ""}  # the notebook server's process is none of the run's
        self.runner = Runner(self.flow_file, show_output=show_output, profile=profile, env=variables,
                             cwd=self.base_dir, file_read_timeout=file_read_timeout, **kwargs)  # fmt: skip

    def nbrun(self, **kwargs: Any) -> Run | None:
        """Run the flow, wait for it, clean up; return its Run."""
        try:
            return self.run(**kwargs).run
        finally:
            self.cleanup()

    def nbresume(self, **kwargs: Any) -> Run | None:
        """Resume a run of the flow, wait for it, clean up; return the new Run."""
        try:
            return self.resume(**kwargs).run
        finally:
            self.cleanup()

    def run(self, **kwargs: Any) -> ExecutingRun:
        return self.runner.run(**kwargs)

    def resume(self, **kwargs: Any) -> ExecutingRun:
        return self.runner.resume(**kwargs)

    async def async_run(self, **kwargs: Any) -> ExecutingRun:
        return await self.runner.async_run(**kwargs)

    async def async_resume(self, **kwargs: Any) -> ExecutingRun:
        return await self.runner.async_resume(**kwargs)

    def cleanup(self) -> None:
        """Remove the flow file written for the cell, and the runs' output files."""
        self.runner.cleanup()
        if os.path.exists(self.flow_file):
            os.unlink(self.flow_file)
