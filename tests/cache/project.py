"""A small flow project written into a temporary folder, run as a user runs it, edited between runs.

The project has a flow file, a local helper module, and an installed package (``fakepkg``, in its own site
folder with a version in its dist-info), so every kind of change the cache key covers can be made for real.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from flowstone.datastore import FlowDataStore
from flowstone.settings import Settings

FLOW = """
import os

import fakepkg
import helpers

from flowstone import FlowSpec, Parameter, cache, catch, step

THRESHOLD = 3


def fail_here(step_name):
    if os.environ.get("FAIL_AT") == step_name:
        raise RuntimeError(f"planned failure in {step_name}")


class CacheFlow(FlowSpec):
    factor = Parameter("factor", default=2)

    @step
    def start(self):
        fail_here("start")
        self.items = [1, 2, 3]
        self.base = 10
        self.blob = bytes(range(256)) * 64  # 16 KiB: stored as a blob, not inline
        self.next(self.square, foreach="items")

    @step
    def square(self):
        if self.index == 1:
            fail_here("square")
        self.value = helpers.square(self.input)
        self.next(self.join)

    @step
    def join(self, inputs):
        fail_here("join")
        self.values = [i.value for i in inputs]
        self.next(self.scale)

    @step
    def scale(self):
        fail_here("scale")
        self.scaled = [v * self.factor for v in self.values]
        self.next(self.threshold)

    @step
    def threshold(self):
        self.big = [v for v in self.scaled if v > THRESHOLD]
        self.next(self.versioned)

    @step
    def versioned(self):
        self.pkg = fakepkg.TAG
        self.next(self.end)

    @step
    def end(self):
        fail_here("end")
        self.done = True


if __name__ == "__main__":
    CacheFlow()
"""

HELPERS = """
def square(x):
    return x * x
"""

FAKEPKG = "TAG = 'fake'\n"


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.code = root / "project"
        self.site = root / "site"
        self.datastore = root / "ds"
        self.code.mkdir(parents=True)
        (self.site / "fakepkg").mkdir(parents=True)
        self.write("cache_flow.py", FLOW)
        self.write("helpers.py", HELPERS)
        (self.site / "fakepkg" / "__init__.py").write_text(FAKEPKG)
        self.set_package_version("1.0")

    def write(self, name: str, text: str) -> None:
        (self.code / name).write_text(textwrap.dedent(text).lstrip())

    def edit(self, name: str, old: str, new: str) -> None:
        path = self.code / name
        text = path.read_text()
        assert old in text, f"{old!r} not in {name}"
        path.write_text(text.replace(old, new))

    def set_package_version(self, version: str) -> None:
        for old in self.site.glob("fakepkg-*.dist-info"):
            for f in old.iterdir():
                f.unlink()
            old.rmdir()
        info = self.site / f"fakepkg-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fakepkg\nVersion: {version}\n")
        (info / "top_level.txt").write_text("fakepkg\n")

    def run(
        self, *args: str, command: str = "run", env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.start(*args, command=command, env=env).communicate_result()  # type: ignore[attr-defined]

    def start(self, *args: str, command: str = "run", env: dict[str, str] | None = None) -> Any:
        # the fake package, and the sources under test (the environment may name them)
        search_path = os.pathsep.join(filter(None, [str(self.site), os.environ.get("PYTHONPATH")]))
        full_env = {**os.environ, "PYTHONPATH": search_path, **(env or {})}
        full_env.pop("FAIL_AT", None) if "FAIL_AT" not in (env or {}) else None
        cmd = [sys.executable, str(self.code / "cache_flow.py"), "--datastore-root", str(self.datastore), command,
               *args]  # fmt: skip
        return _Proc(cmd, self.code, full_env)

    @property
    def fds(self) -> FlowDataStore:
        return FlowDataStore("CacheFlow", settings=Settings(datastore_sysroot_local=str(self.datastore)))

    def latest_run_id(self) -> str:
        return max(self.fds.list_run_ids(), key=int)

    def decisions(self, run_id: str | None = None) -> dict[str, str]:
        """'step' or 'step[index]' -> the cache decision of that task in the run."""
        fds = self.fds
        run_id = run_id or self.latest_run_id()
        result = {}
        for task in fds.get_task_datastores(run_id=run_id):
            meta = task.load_metadata(["cache", "foreach_stack"])
            stack = meta.get("foreach_stack") or []
            name = task.step_name + (f"[{stack[-1]['index']}]" if stack else "")
            result[name] = (meta.get("cache") or {}).get("decision", "none")
        return result

    def why(self, pathspec: str) -> str:
        proc = self.run(pathspec, command="why")
        assert proc.returncode == 0, proc.stderr
        return proc.stdout


class _Proc:
    def __init__(self, cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def communicate_result(self) -> subprocess.CompletedProcess[str]:
        out, err = self.popen.communicate(timeout=300)
        return subprocess.CompletedProcess(self.popen.args, self.popen.returncode, out, err)


ALL_TASKS = ["start", "square[0]", "square[1]", "square[2]", "join", "scale", "threshold", "versioned", "end"]


def ran(decisions: dict[str, str]) -> set[str]:
    return {name for name, decision in decisions.items() if decision != "hit"}
