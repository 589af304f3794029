"""One datastore operation, timed, in a fresh process; prints a JSON line. Runs under flowstone's or Metaflow's
virtual environment (the ``--impl`` says which API to call).

    python datastore_ops.py --impl flowstone|metaflow --op save|load --object array|dataframe --root DIR
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np

ARRAY_BYTES = 1 << 30  # 1 GiB of float64
DATAFRAME_ROWS = 10_500_000  # about 500 MiB: 4 float64, 2 int64, a category and a bool per row


def make_object(kind: str):
    rng = np.random.default_rng(42)
    if kind == "array":
        return rng.random(ARRAY_BYTES // 8)
    import pandas as pd

    n = DATAFRAME_ROWS
    return pd.DataFrame(
        {
            "id": np.arange(n, dtype=np.int64),
            "a": rng.random(n),
            "b": rng.random(n),
            "c": rng.standard_normal(n),
            "d": rng.random(n) * 1000,
            "count": rng.integers(0, 1000, n),
            "city": pd.Categorical.from_codes(rng.integers(0, 50, n), [f"city-{i}" for i in range(50)]),
            "flag": rng.random(n) < 0.5,
        }
    )


def object_bytes(obj) -> int:
    return int(obj.nbytes) if hasattr(obj, "nbytes") else int(obj.memory_usage(deep=True).sum())


class Flowstone:
    def __init__(self, root: str) -> None:
        from flowstone.datastore import FlowDataStore
        from flowstone.settings import Settings

        self.fds = FlowDataStore("BenchFlow", settings=Settings(datastore_sysroot_local=root))

    def save(self, obj) -> None:
        ds = self.fds.get_datastore_for_task("1", "start", "1", mode="w")
        ds.save_artifacts([("obj", obj)])
        ds.done()

    def load(self):
        return self.fds.get_datastore_for_task("1", "start", "1")["obj"]


class RawWrite:
    """The floor: the array's bytes written to one file with os.write and fsync, nothing else."""

    def __init__(self, root: str) -> None:
        import os

        os.makedirs(root, exist_ok=True)
        self.path = os.path.join(root, "raw")

    def save(self, obj) -> None:
        import os

        view = memoryview(obj).cast("B")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        for start in range(0, view.nbytes, 16 << 20):
            os.write(fd, view[start : start + (16 << 20)])
        os.fsync(fd)
        os.close(fd)


class Metaflow:
    def __init__(self, root: str) -> None:
        from metaflow.datastore import FlowDataStore
        from metaflow.plugins.datastores.local_storage import LocalStorage

        self.fds = FlowDataStore("BenchFlow", storage_impl=LocalStorage, ds_root=root)

    def save(self, obj) -> None:
        ds = self.fds.get_task_datastore("1", "start", "1", attempt=0, mode="w")
        ds.init_task()
        ds.save_artifacts([("obj", obj)])
        ds.done()

    def load(self):
        return self.fds.get_task_datastore("1", "start", "1", mode="r")["obj"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", choices=["flowstone", "metaflow", "floor"], required=True)
    parser.add_argument("--op", choices=["save", "load"], required=True)
    parser.add_argument("--object", choices=["array", "dataframe"], required=True)
    parser.add_argument("--root", required=True)
    args = parser.parse_args()
    store = {"flowstone": Flowstone, "metaflow": Metaflow, "floor": RawWrite}[args.impl](args.root)
    if args.op == "save":
        obj = make_object(args.object)
        size = object_bytes(obj)
        start = time.perf_counter()
        store.save(obj)
        seconds = time.perf_counter() - start
    else:
        start = time.perf_counter()
        obj = store.load()
        seconds = time.perf_counter() - start
        size = object_bytes(obj)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "peak_rss": peak, "object_bytes": size}))


if __name__ == "__main__":
    main()
