"""Parameters whose names would hide what steps read on self, take a run option's place, or collide with each
other are errors at check time (`flow.py check`, and before every run), naming the parameter."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest

from flowstone.cli.flow_cli import build_cli
from flowstone.flow.parameters import RUN_OPTION_NAMES
from tests.flow.test_lint import lint_error

STEPS = """
@step
def start(self):
    self.next(self.end)

@step
def end(self):
    pass
"""


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ("input = Parameter('input', default=1)", "Parameter 'input' would hide self.input"),
        ("index = Parameter('idx', default=1)", "Parameter 'index' would hide self.index"),
        ("nxt = Parameter('next', default=1)", "Parameter 'nxt' would hide self.next"),
        ("dry_run = Parameter('dry_run', default=1)", "Parameter 'dry_run' takes the name of the run option --dry-run"),
        ("root = Parameter('datastore-root', default='x')", "Parameter 'datastore-root' takes the name of the run"),
        ("only = Parameter('clone-only', default=2)", "the run option --clone-only"),
        ("a = Parameter('alpha', default=1)\nb = Parameter('alpha', default=2)",
         "Parameters 'a' and 'b' are both named 'alpha'"),
    ],
)  # fmt: skip
def test_a_bad_parameter_name_is_an_error_naming_it(tmp_path: Path, declaration: str, message: str) -> None:
    body = "from flowstone import Parameter\n" + declaration + "\n" + STEPS
    assert message in str(lint_error(tmp_path, body, with_end=False))


def test_every_run_and_resume_option_is_reserved() -> None:
    """The list the check uses is the run and resume commands' own options: they cannot drift apart."""
    from tests.flows.linear_flow import LinearFlow

    cli = build_cli(LinearFlow)
    for name in ("run", "resume"):
        command = cli.commands[name]
        assert isinstance(command, click.Command)
        options = {opt.lstrip("-").replace("-", "_") for param in command.params if not (param.name or "")
                   .startswith("param__") for opt in getattr(param, "opts", []) if opt.startswith("--")}  # fmt: skip
        assert options <= RUN_OPTION_NAMES, options - RUN_OPTION_NAMES


def test_check_reports_it_before_anything_runs(tmp_path: Path) -> None:
    flow = tmp_path / "shadow_flow.py"
    flow.write_text("from flowstone import FlowSpec, Parameter, step\n\n\nclass ShadowFlow(FlowSpec):\n"
                    + textwrap.indent("input = Parameter('input', default=1)\n" + STEPS, "    ")
                    + "\n\nif __name__ == '__main__':\n    ShadowFlow()\n")  # fmt: skip
    for command in ("check", "run"):
        result = subprocess.run([sys.executable, str(flow), "--datastore-root", str(tmp_path / "ds"), command],
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert result.returncode == 1 and "Parameter 'input' would hide self.input" in result.stderr, result.stderr
    assert not (tmp_path / "ds").exists()  # no run started
