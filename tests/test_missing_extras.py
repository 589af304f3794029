"""A missing optional dependency is an error naming the extra to install, never a ModuleNotFoundError traceback.

Each case runs a real command in a subprocess in which the extra's package cannot be imported (a
``sitecustomize`` on its path refuses it, as if it were not installed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FLOWS = Path(__file__).parent / "flows"
BLOCKER = '''
import os, sys

_BLOCKED = tuple(os.environ["FS_TEST_BLOCK"].split(","))


class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in _BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
'''

CASES = {
    "s3 datastore": ("obstore", ["linear_flow.py", "--datastore", "s3", "--datastore-root", "s3://b/x", "run"],
                     "pip install 'flowstone[s3]'"),
    "azure datastore": ("azure", ["linear_flow.py", "--datastore", "azure", "--datastore-root", "azure://c/x", "run"],
                        "pip install 'flowstone[azure]'"),
    "ray executor": ("ray", ["linear_flow.py", "run", "--with", "ray"], "pip install 'flowstone[ray]'"),
    "environments": ("uv", ["environment_flow.py", "--environment", "uv", "run"], "pip install 'flowstone[envs]'"),
    "ui": ("waitress", ["-m", "flowstone.cli.main", "ui", "--port", "0"], "pip install 'flowstone[ui]'"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_a_missing_extra_names_what_to_install(case: str, tmp_path: Path) -> None:
    blocked, args, hint = CASES[case]
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "FS_TEST_BLOCK": blocked, "FLOWSTONE_DATASTORE_SYSROOT_LOCAL":
           str(tmp_path / "ds"), "PATH": "/usr/bin:/bin"}  # fmt: skip  (no uv binary of the venv's on PATH)
    done = subprocess.run([sys.executable, *args], cwd=FLOWS, env=env, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode != 0 and hint in output, output
    assert "Traceback" not in output and len(output.splitlines()) <= 8, output
