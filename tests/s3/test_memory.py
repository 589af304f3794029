"""Large transfers keep a bounded amount of memory, native buffers included: measured as the peak resident size
of a fresh process above what it held before the transfer (tracemalloc sees only Python's own allocations)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from flowstone.s3.config import MiB
from tests.s3.conftest import BUCKET

COUNT, SIZE = 8, 24 * MiB  # 192 MiB in all
PUT_LIMIT = 96 * MiB  # 4 parts of 8 MiB in flight; every upload at once would be 8 uploads x 4 parts x 8 MiB
GET_LIMIT = 48 * MiB  # 8 objects' ranged parts stream at once, each through a small buffer

_MEASURE = r"""
import json, sys
from pathlib import Path
from flowstone.s3 import S3, S3Config

def kib(field):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(field + ":"))

op, root, folder, count = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
config = S3Config.from_env(parts_in_flight=4, part_concurrency=4)
with S3(s3root=root, tmproot=str(folder), config=config) as s3:
    s3.put("warm-up", b"x")  # the client's threads and pools exist before the baseline
    base = kib("VmRSS")
    open("/proc/self/clear_refs", "w").write("5")  # restart the high-water mark from here
    if op == "put":
        s3.put_files([(f"big-{i}", str(folder / f"{i}.bin")) for i in range(count)])
    else:
        assert sum(obj.size for obj in s3.get_many([f"big-{i}" for i in range(count)])) > 0
    peak = kib("VmHWM") - base
print(json.dumps({"peak": peak * 1024}))
"""


def _peak(op: str, root: str, folder: Path) -> int:
    done = subprocess.run([sys.executable, "-c", _MEASURE, op, root, str(folder), str(COUNT)], capture_output=True,
                          text=True, env=os.environ, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return int(json.loads(done.stdout.strip().splitlines()[-1])["peak"])


def test_many_large_transfers_hold_only_the_parts_in_flight(s3_env: dict[str, str], prefix: str,
                                                            tmp_path: Path) -> None:  # fmt: skip
    for i in range(COUNT):
        (tmp_path / f"{i}.bin").write_bytes(os.urandom(SIZE))
    root = f"s3://{BUCKET}/{prefix}"
    put_peak = _peak("put", root, tmp_path)
    get_peak = _peak("get", root, tmp_path)
    total = COUNT * SIZE // MiB
    assert put_peak < PUT_LIMIT, f"uploading {total} MiB from files raised memory by {put_peak / MiB:.0f} MiB"
    assert get_peak < GET_LIMIT, f"downloading {total} MiB to files raised memory by {get_peak / MiB:.0f} MiB"
