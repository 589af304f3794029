"""A process that used the S3 client exits cleanly: its event loop is stopped before the interpreter finalizes.

Left running, the loop's daemon thread (or one of obstore's I/O threads completing a request into it) could call
into the finalizing interpreter, and the process died with SIGABRT at exit, about one run in ten, with a listing,
a request obstore refused and a HEAD before it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from flowstone.s3.config import S3Config
from flowstone.s3.transport import S3Transport
from tests.s3.conftest import BUCKET

RUNS = 30

_SCRIPT = r"""
import sys
import obstore
from flowstone.s3 import _loop
from flowstone.s3.config import S3Config
from flowstone.s3.transport import S3Transport

prefix = sys.argv[1]
store = S3Transport(sys.argv[2], S3Config.from_env()).store


async def listing():
    return [meta async for chunk in obstore.list(store, prefix, chunk_size=1000) for meta in chunk]


async def refused():  # a key obstore's path rules refuse
    try:
        await obstore.get_async(store, prefix + "/\x01", options={"head": True})
    except ValueError:
        pass


async def head():
    return await obstore.get_async(store, prefix + "/0", options={"head": True})


for step in (listing, refused, head):
    _loop.run(step())
"""


def test_a_process_that_used_the_client_exits_cleanly(s3_env: dict[str, str], prefix: str) -> None:
    S3Transport(BUCKET, S3Config.from_env()).put_many([(f"{prefix}/{i}", b"x") for i in range(50)])

    def exit_code(_: int) -> tuple[int, str]:
        done = subprocess.run([sys.executable, "-c", _SCRIPT, prefix, BUCKET], env=os.environ, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        return done.returncode, done.stderr[-2000:]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(exit_code, range(RUNS)))
    assert [code for code, _ in results] == [0] * RUNS, next(err for code, err in results if code)
