"""Time watching a step for what it reads, as a task is watched: in processes forked from one that loaded a flow;
prints a JSON line.

python read_watch.py FLOW_FILE [--numpy]

- ``empty``: the whole cost of watching a step that reads nothing (start and end, the audit hook installed in
  the child included), median over forked children; ``empty_cpu``: the CPU time of the same (on a busy machine
  the wall time also counts the time other processes had the core);
- ``file_per_mb``: what a step that reads a 64 MiB file pays when it ends (the file described and hashed), per MiB.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

CHILDREN = 200


def load_flow(flow_file: Path) -> type:
    spec = importlib.util.spec_from_file_location(flow_file.stem, flow_file)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[flow_file.stem] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return next(v for v in vars(module).values() if isinstance(v, type) and hasattr(v, "_get_graph")
                and v.__module__ == module.__name__)  # fmt: skip


def in_children(measure: object, count: int) -> list[float]:
    """Run ``measure()`` (seconds) in ``count`` forked children, one after the other."""
    samples = []
    for _ in range(count):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            os.write(write_end, repr(measure()).encode())  # type: ignore[operator]
            os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end) as reader:
            samples.append(float(reader.read()))
        os.waitpid(pid, 0)
    return samples


def main() -> None:
    if "--numpy" in sys.argv:
        import numpy  # noqa: F401 - a flow that imports numpy: its global generator is watched too
    flow_cls = load_flow(Path(sys.argv[1]))
    from flowstone.runtime.watch import prepare_watching, watching_reads
    from flowstone.settings import Settings

    settings = Settings(datastore_sysroot_local=tempfile.mkdtemp())
    prepare_watching()  # as the runner does before it forks tasks

    def empty(clock: Callable[[], float] = time.perf_counter) -> float:
        began = clock()
        with watching_reads(flow_cls, settings):
            pass
        return clock() - began

    size = 64 * 1024 * 1024
    with tempfile.NamedTemporaryFile(delete=False) as data:
        data.write(os.urandom(size))

    def one_file() -> float:
        with open(data.name, "rb") as f:
            f.read(1)
        return 0.0

    def reading() -> float:
        began = time.perf_counter()
        with watching_reads(flow_cls, settings):
            one_file()
        return time.perf_counter() - began

    try:
        empty_samples = in_children(empty, CHILDREN)
        cpu_samples = in_children(lambda: empty(time.process_time), CHILDREN)
        file_samples = in_children(reading, 5)
    finally:
        os.unlink(data.name)
    print(json.dumps({"empty": statistics.median(empty_samples), "empty_p90": sorted(empty_samples)[CHILDREN * 9 // 10],
                      "empty_cpu": statistics.median(cpu_samples),
                      "file_per_mb": statistics.median(file_samples) / 64}))  # fmt: skip


if __name__ == "__main__":
    main()
