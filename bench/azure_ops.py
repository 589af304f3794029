"""One artifact save or load, timed, in a fresh process; prints a JSON line. flowstone's datastore on Azure Blob
(Azurite) or on local disk, or the same bytes through plain azure-storage-blob calls.

    python azure_ops.py --impl flowstone|sdk|sdk-threads|sdk-async --op save|load --object array|small \
        --root ROOT [--server-pid PID]

- ``flowstone``: ``FlowDataStore`` / ``TaskDataStore`` (``save_artifacts`` then ``done``; ``load_artifacts``), on
  the datastore ``--root`` names (``azure://container/prefix`` or a local folder).
- ``sdk``: the plain synchronous SDK as its documentation shows it: one ``upload_blob`` / ``download_blob`` per
  object, in a loop (``max_concurrency=8`` within the array's transfer).
- ``sdk-threads``: the synchronous SDK from 16 threads; ``sdk-async``: the async SDK, 16 requests at once.

The objects: ``array`` is 256 MiB of random float64 (incompressible: stored raw), ``small`` is 500 artifacts of
4 KiB of random bytes each (each above the inline limit, so each a blob of its own). The server comes from
AZURE_STORAGE_CONNECTION_STRING; a ``load`` reads what the ``save`` with the same ``--root`` wrote. Reported:
wall seconds, this process's CPU seconds (all its threads), the server's CPU seconds, and how far the process's
peak RSS rose above its RSS just before the clock started (the objects to save are already in memory then).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from s3_ops import server_cpu, status_kib

ARRAY_BYTES = 256 << 20
SMALL_COUNT = 500
SMALL_BYTES = 4096
THREADS = 16


def make_objects(kind: str) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    if kind == "array":
        return {"array": rng.random(ARRAY_BYTES // 8)}
    return {f"a{i:04d}": rng.bytes(SMALL_BYTES) for i in range(SMALL_COUNT)}


def nbytes(objects: dict[str, Any]) -> int:
    return sum(o.nbytes if hasattr(o, "nbytes") else len(o) for o in objects.values())


class Flowstone:
    def __init__(self, root: str) -> None:
        from flowstone.datastore import FlowDataStore
        from flowstone.settings import Settings, datastore_type_of_root

        ds_type = datastore_type_of_root(root) or "local"
        settings = Settings.from_env(default_datastore=ds_type, **{f"datastore_sysroot_{ds_type}": root})
        self.fds = FlowDataStore("BenchFlow", settings=settings)

    def save(self, objects: dict[str, Any]) -> None:
        task = self.fds.get_datastore_for_task("1", "start", "1", mode="w")
        task.save_artifacts(objects.items())
        task.done()

    def load(self, names: list[str]) -> dict[str, Any]:
        return dict(self.fds.get_datastore_for_task("1", "start", "1").load_artifacts(names))


class Sdk:
    """Plain SDK calls on the same bytes: each object is one blob named after it."""

    def __init__(self, root: str, mode: str) -> None:
        container, _, prefix = root.removeprefix("azure://").partition("/")
        self.container, self.prefix, self.mode = container, prefix, mode
        self.conn = os.environ["AZURE_STORAGE_CONNECTION_STRING"]

    def _payloads(self, objects: dict[str, Any]) -> list[tuple[str, bytes]]:
        # outside the clock: the SDK wants bytes, and a user would have them
        return [(f"{self.prefix}/{name}", obj.tobytes() if hasattr(obj, "tobytes") else obj)
                for name, obj in objects.items()]  # fmt: skip

    def prepare(self, objects: dict[str, Any]) -> list[tuple[str, bytes]]:
        return self._payloads(objects)

    def save(self, payloads: list[tuple[str, bytes]]) -> None:
        if self.mode == "sdk-async":
            asyncio.run(self._async(payloads, None))
            return
        from azure.storage.blob import ContainerClient

        client = ContainerClient.from_connection_string(self.conn, self.container)

        def put(item: tuple[str, bytes]) -> None:
            client.upload_blob(item[0], item[1], overwrite=True, max_concurrency=8)

        self._each(put, payloads)

    def load(self, names: list[str]) -> list[bytes]:
        full = [f"{self.prefix}/{name}" for name in names]
        if self.mode == "sdk-async":
            return asyncio.run(self._async(None, full))
        from azure.storage.blob import ContainerClient

        client = ContainerClient.from_connection_string(self.conn, self.container)
        return self._each(lambda name: client.download_blob(name, max_concurrency=8).readall(), full)

    def _each(self, fn: Any, items: list[Any]) -> list[Any]:
        if self.mode == "sdk-threads":
            with ThreadPoolExecutor(THREADS) as pool:
                return list(pool.map(fn, items))
        return [fn(item) for item in items]

    async def _async(self, payloads: list[tuple[str, bytes]] | None, names: list[str] | None) -> list[bytes]:
        from azure.storage.blob.aio import ContainerClient

        limit = asyncio.Semaphore(THREADS)
        async with ContainerClient.from_connection_string(self.conn, self.container) as client:

            async def put(name: str, data: bytes) -> None:
                async with limit:
                    await client.upload_blob(name, data, overwrite=True, max_concurrency=8)

            async def get(name: str) -> bytes:
                async with limit:
                    return await (await client.download_blob(name, max_concurrency=8)).readall()

            if payloads is not None:
                await asyncio.gather(*(put(name, data) for name, data in payloads))
                return []
            return list(await asyncio.gather(*(get(name) for name in names or [])))


def _same(got: Any, want: Any) -> bool:
    if isinstance(got, np.ndarray):
        return bool(np.array_equal(got, want))
    return bytes(got) == (want.tobytes() if isinstance(want, np.ndarray) else want)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", choices=["flowstone", "sdk", "sdk-threads", "sdk-async"], required=True)
    parser.add_argument("--op", choices=["save", "load"], required=True)
    parser.add_argument("--object", choices=["array", "small"], required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--server-pid", type=int, default=0)
    args = parser.parse_args()
    names = ["array"] if args.object == "array" else [f"a{i:04d}" for i in range(SMALL_COUNT)]
    store: Any = Flowstone(args.root) if args.impl == "flowstone" else Sdk(args.root, args.impl)
    if args.op == "save":  # the objects exist before the clock starts (a load makes them after it, to check)
        objects = make_objects(args.object)
        prepared = objects if args.impl == "flowstone" else store.prepare(objects)
    rss_before = status_kib("VmRSS")
    cpu0, server0, start = time.process_time(), server_cpu(args.server_pid), time.perf_counter()
    if args.op == "save":
        store.save(prepared)
    else:
        loaded = store.load(names)
    seconds = time.perf_counter() - start
    cpu, server = time.process_time() - cpu0, server_cpu(args.server_pid) - server0
    peak_above = (status_kib("VmHWM") - rss_before) * 1024  # what the transfer added to the process's peak
    if args.op == "load":  # check what came back
        values = [loaded[name] for name in names] if isinstance(loaded, dict) else loaded
        objects = make_objects(args.object)
        assert all(_same(got, objects[name]) for got, name in zip(values, names, strict=True))
    print(json.dumps({"seconds": seconds, "client_cpu": cpu, "server_cpu": server, "peak_above_before": peak_above,
                      "object_bytes": nbytes(objects)}))  # fmt: skip


if __name__ == "__main__":
    main()
