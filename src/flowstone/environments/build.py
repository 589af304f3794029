"""Resolving and building environments, cached on disk.

Resolving turns a spec into a pinned set (``uv pip compile`` against the registry); it is kept under the spec's
hash, so a later run resolves nothing. Building installs a pinned set into a virtual environment kept under the
hash of the set (and the interpreter), made in a scratch folder and renamed into place, so two runs building the
same one at once, or a build killed half way, never leave a broken environment. The set always includes the
packages flowstone's task code needs (at the runner's versions); flowstone itself is put on the task's path.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import sys
import tempfile
from typing import NamedTuple

from flowstone.environments.spec import EnvironmentSpec
from flowstone.environments.uv import run_uv
from flowstone.errors import EnvironmentBuildError

__all__ = ["BuiltEnvironment", "build", "resolve", "runtime_requirements", "task_path"]

#: What a task's own code needs besides the user's packages, per datastore type.
_RUNTIME = ("blake3", "zstandard", "click", "rich")
_BACKENDS = {"s3": ("obstore",), "azure": ("azure-storage-blob", "aiohttp")}


class BuiltEnvironment(NamedTuple):
    """An environment ready to run tasks: its interpreter and what was installed (name -> version)."""

    python: str
    key: str
    resolved: dict[str, str]


def runtime_requirements(ds_type: str) -> list[str]:
    """flowstone's task-side packages, pinned to the versions the runner has."""
    names = [*_RUNTIME, *_BACKENDS.get(ds_type, ())]
    return [f"{name}=={importlib.metadata.version(name)}" for name in names]


def _python_version(spec: EnvironmentSpec) -> str:
    return spec.python or f"{sys.version_info.major}.{sys.version_info.minor}"


def _interpreter(version: str) -> str:
    """The interpreter to base an environment on: the runner's own when the versions match (found for sure),
    else the version for uv to find among this machine's interpreters."""
    own = f"{sys.version_info.major}.{sys.version_info.minor}"
    return sys.executable if version == own else version


def resolve(spec: EnvironmentSpec, ds_type: str, cache_dir: str) -> list[str]:
    """The pinned requirements (``name==version`` lines) of ``spec``, resolved once and kept."""
    requirements = [*spec.requirements(), *runtime_requirements(ds_type)]
    key = _digest([_python_version(spec), *requirements])
    path = os.path.join(cache_dir, "resolved", f"{key}.txt")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return f.read().split()
    command = ["pip", "compile", "-", "--python-version", _python_version(spec), "--no-header", "--no-annotate",
               "--quiet"]  # fmt: skip
    output = run_uv(command, f"Resolving {spec.describe()}", stdin="\n".join(requirements))
    pinned = sorted(line.strip() for line in output.splitlines() if line.strip() and not line.startswith("#"))
    _write_atomically(path, "\n".join(pinned) + "\n")
    return pinned


def build(spec: EnvironmentSpec, ds_type: str, cache_dir: str) -> BuiltEnvironment:
    """The environment for ``spec``: built now if no run built it before."""
    pinned = resolve(spec, ds_type, cache_dir)
    version = _python_version(spec)
    key = _digest([version, *pinned])
    folder = os.path.join(cache_dir, "envs", key)
    python = os.path.join(folder, "bin", "python")
    resolved = dict(line.split("==", 1) for line in pinned if "==" in line)
    if os.path.exists(python):
        return BuiltEnvironment(python, key, resolved)
    os.makedirs(os.path.dirname(folder), exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".building-", dir=os.path.dirname(folder))
    try:
        run_uv(["venv", "--quiet", "--python", _interpreter(version), scratch],
               f"Creating a Python {version} environment")  # fmt: skip
        run_uv(["pip", "install", "--quiet", "--no-deps", "--python", os.path.join(scratch, "bin", "python"),
                *pinned], f"Installing {spec.describe()}")  # fmt: skip
        try:
            os.rename(scratch, folder)
        except OSError:  # another run built the same environment first: use that one
            pass
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not os.path.exists(python):
        raise EnvironmentBuildError(f"The environment for {spec.describe()} was built but has no interpreter.")
    return BuiltEnvironment(python, key, resolved)


_task_path: list[str] = []


def task_path() -> str:
    """A folder holding only flowstone's package (a link to the runner's), for an environment's PYTHONPATH: the
    task imports the runner's flowstone and nothing else of the runner's installation."""
    if not _task_path:
        folder = tempfile.mkdtemp(prefix="flowstone-path-")
        import flowstone

        os.symlink(os.path.dirname(os.path.abspath(flowstone.__file__)), os.path.join(folder, "flowstone"))
        _task_path.append(folder)
    return _task_path[0]


def _digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def _write_atomically(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
    with os.fdopen(handle, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(scratch, path)
