"""Steps in environments of their own, built with uv from the package registry (small packages only)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.runtime.helpers import run_flow


@pytest.fixture
def envs(tmp_path: Path) -> dict[str, str]:
    return {"FLOWSTONE_ENVIRONMENTS_DIR": str(tmp_path / "envs")}


def test_steps_run_in_their_own_environments_built_once(tmp_path: Path, envs: dict[str, str]) -> None:
    run = run_flow("environment_flow.py", root=tmp_path / "ds", top_args=("--environment", "pypi"), env=envs)
    assert run.ok, run.output
    start, plain, end = run.task("start"), run.task("plain"), run.task("end")
    assert start["six_version"] == "1.16.0" and end["six_version"] == "1.15.0"  # @conda resolved from PyPI
    assert str(tmp_path / "envs") in start["python"] and start["tomli_w_file"].startswith(str(tmp_path / "envs"))
    assert plain["python"] == sys.executable and plain["has_six"] is False  # disabled: the runner's Python
    assert plain["total"] == 6  # artifacts cross environments through the datastore
    built = sorted(p.name for p in (tmp_path / "envs" / "envs").iterdir())
    assert len(built) == 2  # one per distinct set of packages
    again = run_flow("environment_flow.py", "--no-cache", root=tmp_path / "ds", top_args=("--environment", "pypi"),
                     env=envs)  # fmt: skip
    assert again.ok, again.output
    assert sorted(p.name for p in (tmp_path / "envs" / "envs").iterdir()) == built  # nothing built again
    packages = start.load_metadata(["cache"])["cache"]["components"]["environment"]["packages"]
    assert packages["six"] == "1.16.0" and packages["tomli-w"] == "1.0.0"  # the resolved set is in the key


def test_a_changed_package_version_runs_the_step_again(tmp_path: Path, envs: dict[str, str]) -> None:
    args = {"root": tmp_path / "ds", "top_args": ("--environment", "pypi")}
    assert run_flow("environment_flow.py", env=envs, **args).ok
    same = run_flow("environment_flow.py", env=envs, **args)
    assert same.output.count("Cache hit") == 3
    changed = run_flow("environment_flow.py", env={**envs, "FS_TEST_SIX_VERSION": "1.15.0"}, **args)
    assert changed.ok, changed.output
    assert changed.task("start")["six_version"] == "1.15.0"
    assert changed.task("start").load_metadata(["cache"])["cache"]["decision"] == "miss"


def test_without_environment_the_decorators_are_ignored_with_a_note(tmp_path: Path) -> None:
    run = run_flow("environment_flow.py", root=tmp_path / "ds")
    assert not run.ok  # six is not installed here, so start fails: the decorators did nothing
    assert "Note: @pypi/@conda are ignored without --environment=pypi, conda or uv" in run.output


def test_a_conda_package_pypi_does_not_have_is_a_clear_error(tmp_path: Path, envs: dict[str, str]) -> None:
    flow = tmp_path / "missing_package_flow.py"
    flow.write_text(
        "from flowstone import FlowSpec, conda, step\n\n\n"
        "class MissingPackageFlow(FlowSpec):\n"
        "    @conda(packages={'no-such-package-for-flowstone-tests': '1.0'})\n"
        "    @step\n    def start(self):\n        self.next(self.end)\n\n"
        "    @step\n    def end(self):\n        pass\n\n\n"
        "if __name__ == '__main__':\n    MissingPackageFlow()\n"
    )
    run = run_flow(flow, root=tmp_path / "ds", top_args=("--environment", "conda"), env=envs)
    assert run.proc.returncode == 1 and run.run_id is None  # refused before any run starts
    # uv's own explanation follows (its wording depends on uv's version and the registry): it names the package
    failure = run.output.split("Resolving @conda(", 1)[-1]
    assert "no-such-package-for-flowstone-tests==1.0) failed:\n" in failure, run.output
    explanation = failure.split("failed:\n", 1)[-1].split("@conda packages are installed")[0]
    assert explanation.strip(), run.output
    assert "@conda packages are installed from PyPI under the same names" in run.output
