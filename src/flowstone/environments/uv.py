"""Running uv: found as the ``uv`` package's binary (``pip install 'flowstone[envs]'``) or on PATH."""

from __future__ import annotations

import os
import shutil
import subprocess

from flowstone.errors import EnvironmentBuildError

__all__ = ["run_uv", "uv_binary"]


def uv_binary() -> str:
    """The uv executable; a clear error if there is none."""
    try:
        import uv

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found:
            return found
    raise EnvironmentBuildError(
        "Building per-step environments needs uv: pip install 'flowstone[envs]' (or install uv on this machine)."
    )


def run_uv(args: list[str], what: str, stdin: str | None = None, timeout: float = 1800) -> str:
    """Run ``uv ARGS``; its stdout, or an error saying ``what`` failed with uv's own explanation."""
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}  # interpreters of this machine
    try:
        done = subprocess.run([uv_binary(), *args], input=stdin, capture_output=True, text=True, env=env,
                              timeout=timeout)  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise EnvironmentBuildError(
            f"{what} took longer than {timeout:g} s; is the package registry reachable?"
        ) from exc
    if done.returncode != 0:
        explanation = "\n".join(line for line in done.stderr.strip().splitlines() if line.strip())[-2000:]
        raise EnvironmentBuildError(f"{what} failed:\n{explanation}")
    return done.stdout
