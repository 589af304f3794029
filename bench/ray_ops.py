"""One measurement for the ray suite: a foreach flow run as a user runs it, on Ray or on the local executor.

    python bench/ray_ops.py --executor ray|local --datastore local|s3 --root ROOT --width N [--address HOST:PORT]

Runs ``bench/flows/foreach_flow.py`` (a foreach of ``N`` tasks that do almost nothing, plus start, join and end)
with ``--no-cache --max-workers 2`` in a fresh process and prints one JSON line: the run's wall seconds and its
task count. ``run.py ray`` runs it at two widths; the difference divided by the extra tasks is the per-task
overhead, free of the fixed costs (connecting to Ray, starting its workers).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOW = Path(__file__).resolve().parent / "flows" / "foreach_flow.py"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executor", choices=("ray", "local"), required=True)
    parser.add_argument("--datastore", choices=("local", "s3"), required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--address", default=None)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-ray-flow-"))
    try:
        flow = folder / FLOW.name
        shutil.copy(FLOW, flow)  # the code package holds this file only
        command = [sys.executable, str(flow), "--quiet", "--datastore", args.datastore, "--datastore-root",
                   args.root, "run", "--no-cache", "--max-workers", "2", "--max-num-splits", "1000",
                   "--width", str(args.width)]  # fmt: skip
        if args.executor == "ray":
            command += ["--with", "ray"] + (["--ray-address", args.address] if args.address else [])
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, cwd=folder, env=os.environ.copy())
        seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    print(json.dumps({"seconds": seconds, "tasks": args.width + 3}))


if __name__ == "__main__":
    main()
