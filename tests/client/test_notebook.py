"""NBRunner in a real IPython shell, and Deployer's answer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flowstone import Deployer
from flowstone.client.deployer import DeployerError

_SESSION = '''
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
result = shell.run_cell("""
from flowstone import FlowSpec, NBRunner, step

class NotebookFlow(FlowSpec):
    @step
    def start(self):
        self.x = 41
        self.next(self.end)

    @step
    def end(self):
        self.y = self.x + 1

run = NBRunner(NotebookFlow, datastore_root={root!r}, base_dir={base!r}).nbrun()
print("RESULT", run.data.y, run.successful)
""", store_history=True)
result.raise_error()
'''


def test_nbrunner_runs_the_cell_that_defines_the_flow(tmp_path: Path) -> None:
    pytest.importorskip("IPython")
    script = tmp_path / "session.py"
    script.write_text(_SESSION.replace("{root!r}", repr(str(tmp_path / "ds"))).replace("{base!r}", repr(str(tmp_path))))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "RESULT 42 True" in done.stdout
    assert not list(tmp_path.glob("NotebookFlow*.py"))  # the flow file written for the cell is gone


def test_nbrunner_outside_a_notebook_says_to_use_runner(tmp_path: Path) -> None:
    code = "from flowstone import FlowSpec, NBRunner\nclass F(FlowSpec):\n    pass\nNBRunner(F)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode != 0 and "In a script, use Runner" in done.stderr


def test_deployer_says_how_to_run_instead() -> None:
    deployer = Deployer("flow.py", show_output=False)
    with pytest.raises(DeployerError, match=r"does not deploy flows to argo workflows.*`python flow\.py run`"):
        deployer.argo_workflows(name="x").create()
