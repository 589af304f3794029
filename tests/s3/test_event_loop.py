"""The loop the S3 client's requests run on: uvloop's where it is installed, asyncio's when asked for or when
uvloop is missing, and a clear error when uvloop is asked for and missing. Each case is a fresh process (the
loop is made once per process) moving objects through the real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowstone.errors import ConfigurationError
from flowstone.settings import Settings
from tests.s3.conftest import BUCKET
from tests.test_missing_extras import BLOCKER

_ROUND_TRIP = r"""
import sys
from flowstone.s3 import _loop
from flowstone.s3.config import S3Config
from flowstone.s3.transport import S3Transport

prefix, bucket = sys.argv[1], sys.argv[2]
transport = S3Transport(bucket, S3Config.from_env())
items = [(f"{prefix}/{i}", bytes([i]) * (i + 1)) for i in range(40)]
transport.put_many(items)
assert [bytes(data) for data in transport.get_many([key for key, _ in items])] == [v for _, v in items]
print(type(_loop._loop()).__module__)
"""


def _round_trip(prefix: str, tmp_path: Path, choice: str | None, block_uvloop: bool = False) -> tuple[int, str]:
    env = {**os.environ}
    env.pop("FLOWSTONE_S3_EVENT_LOOP", None)
    if choice is not None:
        env["FLOWSTONE_S3_EVENT_LOOP"] = choice
    if block_uvloop:
        (tmp_path / "sitecustomize.py").write_text(BLOCKER)
        env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")])),
                   FS_TEST_BLOCK="uvloop")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", _ROUND_TRIP, prefix, BUCKET], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    return done.returncode, done.stdout.strip() + done.stderr


@pytest.mark.parametrize(("choice", "loop_module"), [(None, "uvloop"), ("auto", "uvloop"), ("uvloop", "uvloop"),
                                                     ("asyncio", "asyncio.unix_events")])  # fmt: skip
def test_the_requests_run_on_the_chosen_loop(s3_env: dict[str, str], prefix: str, tmp_path: Path,
                                             choice: str | None, loop_module: str) -> None:  # fmt: skip
    code, output = _round_trip(prefix, tmp_path, choice)
    assert (code, output) == (0, loop_module)


def test_without_uvloop_auto_falls_back_to_asyncio(s3_env: dict[str, str], prefix: str, tmp_path: Path) -> None:
    code, output = _round_trip(prefix, tmp_path, "auto", block_uvloop=True)
    assert (code, output) == (0, "asyncio.unix_events")


def test_uvloop_asked_for_and_missing_names_what_to_install(s3_env: dict[str, str], prefix: str,
                                                            tmp_path: Path) -> None:  # fmt: skip
    code, output = _round_trip(prefix, tmp_path, "uvloop", block_uvloop=True)
    assert code != 0
    assert "FLOWSTONE_S3_EVENT_LOOP=uvloop needs the 'uvloop' package" in output, output
    assert "pip install 'flowstone[s3]'" in output, output


def test_an_unknown_loop_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="FLOWSTONE_S3_EVENT_LOOP to one of: auto, uvloop, asyncio"):
        Settings.from_env({"FLOWSTONE_S3_EVENT_LOOP": "tokio"})
