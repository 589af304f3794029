"""``flowstone exec``: a flow file that still imports ``metaflow`` runs unmodified, without Metaflow installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FLOW = '''
from metaflow import FlowSpec, Parameter, current, step
from metaflow.exception import MetaflowException
from metaflow.metaflow_current import current as same_current
from metaflow.plugins.datatools.s3 import S3, MetaflowS3NotFound


class UnmodifiedFlow(FlowSpec):
    alpha = Parameter("alpha", default=1)

    @step
    def start(self):
        import metaflow

        self.served_by = metaflow.__name__
        self.same_objects = same_current is current and issubclass(MetaflowS3NotFound, MetaflowException)
        self.doubled = self.alpha * 2
        self.next(self.end)

    @step
    def end(self):
        print("doubled", self.doubled)


if __name__ == "__main__":
    UnmodifiedFlow()
'''


def _flowstone(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "flowstone.cli.main", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_a_metaflow_flow_file_runs_unmodified(tmp_path: Path) -> None:
    (tmp_path / "unmodified_flow.py").write_text(FLOW)
    done = _flowstone("exec", "unmodified_flow.py", "--datastore-root", str(tmp_path / "ds"), "run", "--alpha", "4",
                      cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "doubled 8" in done.stdout
    check = (
        "from flowstone import Flow, metadata\n"
        f"metadata('local@{tmp_path / 'ds'}')\n"
        "data = Flow('UnmodifiedFlow').latest_run['start'].task.data\n"
        "print(data.served_by, data.same_objects)\n"
    )
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["flowstone", "True"], out.stderr


def test_a_name_flowstone_lacks_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "odd_flow.py").write_text("import metaflow.plugins.argo.argo_workflows\n")
    done = _flowstone("exec", "odd_flow.py", "run", cwd=tmp_path)
    assert done.returncode != 0
    assert "flowstone has no counterpart of Metaflow's 'metaflow.plugins.argo'" in done.stderr


def test_outside_exec_metaflow_is_left_alone() -> None:
    code = "import flowstone, sys\ntry:\n    import metaflow\nexcept ModuleNotFoundError:\n    print('absent')\n" \
           "else:\n    print(metaflow is flowstone)\n"  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() in ("absent", "False"), out.stderr  # never flowstone, unless asked for


ENV_FLOW = '''
from metaflow import FlowSpec, pypi, step


class UnmodifiedEnvFlow(FlowSpec):
    @pypi(packages={"six": "1.16.0"})
    @step
    def start(self):
        import six

        self.six_version = six.__version__
        self.next(self.end)

    @step
    def end(self):
        print("six", self.six_version)


if __name__ == "__main__":
    UnmodifiedEnvFlow()
'''


def test_a_step_in_its_own_environment_imports_metaflow_too(tmp_path: Path) -> None:
    """The step's flow file is loaded again in the environment's Python: its `metaflow` imports are served
    there too."""
    import os

    (tmp_path / "unmodified_env_flow.py").write_text(ENV_FLOW)
    env = {**os.environ, "FLOWSTONE_ENVIRONMENTS_DIR": str(tmp_path / "envs")}
    command = [sys.executable, "-m", "flowstone.cli.main", "exec", "unmodified_env_flow.py", "--datastore-root",
               str(tmp_path / "ds"), "--environment", "pypi", "run"]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "six 1.16.0" in done.stdout


CLIENT_FLOW = '''
from metaflow import FlowSpec, Run, current, step


class ClientUnderExecFlow(FlowSpec):
    @step
    def start(self):
        self.found = Run(f"{current.flow_name}/{current.run_id}").id == current.run_id
        self.next(self.end)

    @step
    def end(self):
        print("found own run", self.found)


if __name__ == "__main__":
    ClientUnderExecFlow()
'''


def test_the_client_in_a_step_reads_the_runs_datastore_under_exec(tmp_path: Path) -> None:
    (tmp_path / "client_flow.py").write_text(CLIENT_FLOW)
    done = _flowstone("exec", "client_flow.py", "--datastore-root", str(tmp_path / "ds"), "run", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "found own run True" in done.stdout
