"""One S3 transfer, timed, in a fresh process; prints a JSON line. Runs under flowstone's virtual environment
(``flowstone``, ``obstore``) or the Metaflow one (``metaflow``, ``boto3``); ``--impl`` says which client.

    python s3_ops.py --impl flowstone|metaflow|boto3|obstore --op put|get --count N --size BYTES \
        --bucket B --prefix P --workdir DIR [--source DIR] [--server-pid PID]

The server comes from the environment: BENCH_S3_ENDPOINT_URL and the AWS_* credentials.

- put: objects of ``--size`` bytes. Without ``--source`` they are made in memory before the clock starts and sent
  from memory (``put_many``); with ``--source`` they are the files ``DIR/<i>`` and sent from disk (``put_files``).
- get: every client lands the objects in files under ``--workdir``: metaflow.S3 and flowstone's S3 through
  ``get_many`` (S3Objects whose ``.path`` is a local file), boto3 and obstore by writing each body to a file.

Object ``i`` holds ``object_bytes(i, size)`` whatever the prefix, so a get checks what it read (after the clock).
Reported: wall seconds; the client's CPU seconds (this process and its waited-for children, e.g. Metaflow's s3op
workers); the server's CPU seconds over the same interval (from /proc/<pid>/stat); the whole machine's CPU seconds
(from /proc/stat: processes, of which what neither used went to other processes; interrupts; steal; I/O wait);
and the RSS high-water mark above the RSS just before the transfer.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import time
from pathlib import Path

BOTO3_THREADS = 32
LARGE = 8 << 20  # from this size on: boto3 through its transfer manager, obstore streaming each body
OBSTORE_CONCURRENCY = 64


def object_bytes(i: int, size: int) -> bytes:
    return random.Random(i).randbytes(size)


def key_of(i: int) -> str:
    return f"obj-{i:05d}"


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def server_cpu(pid: int | None) -> float:
    """utime + stime (+ children's) of the server process, in seconds."""
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime (fields 14-17 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> dict[str, float]:
    """All CPUs since boot, in seconds, from the first line of /proc/stat: processes (user, nice, system), the
    kernel's interrupt work (irq, softirq: loopback networking is counted here, not in any process), time the
    hypervisor took (steal), and I/O wait."""
    user, nice, system, _idle, iowait, irq, softirq, steal = (
        int(v) / os.sysconf("SC_CLK_TCK") for v in Path("/proc/stat").read_text().split()[1:9]
    )
    return {"processes": user + nice + system, "interrupts": irq + softirq, "steal": steal, "iowait": iowait}


def process_cpu() -> dict[int, tuple[str, float]]:
    """Every live process's name and CPU seconds (utime + stime), to name what else ran during a transfer."""
    tick, found = os.sysconf("SC_CLK_TCK"), {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                head, tail = Path(entry.path, "stat").read_text().rsplit(")", 1)
            except OSError:
                continue
            fields = tail.split()
            found[int(entry.name)] = (head.split("(", 1)[1], (int(fields[11]) + int(fields[12])) / tick)
    return found


def busiest_others(before: dict, after: dict, exclude: set[int], top: int = 3) -> list[tuple[str, float]]:
    used = [(name, cpu - before.get(pid, (name, 0.0))[1]) for pid, (name, cpu) in after.items() if pid not in exclude]
    return [(name, round(cpu, 2)) for name, cpu in sorted(used, key=lambda item: -item[1])[:top] if cpu > 0]


def client_cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def endpoint() -> str:
    return os.environ["BENCH_S3_ENDPOINT_URL"]


# -- clients: each has put(items), put_files(items) and get(keys) -> {key: local path} ----------------------------
class MetaflowLike:
    """flowstone.S3 and metaflow.S3 share this API."""

    def __init__(self, impl: str, url: str, workdir: Path) -> None:
        if impl == "metaflow":
            os.environ["METAFLOW_S3_ENDPOINT_URL"] = endpoint()
            from metaflow import S3
        else:
            os.environ["FLOWSTONE_S3_ENDPOINT_URL"] = endpoint()
            from flowstone import S3
        self.scope = S3(s3root=url, tmproot=str(workdir))
        self.s3 = self.scope.__enter__()  # the `with S3(...) as s3:` scope, left in close()

    def put(self, items: list[tuple[str, bytes]]) -> None:
        self.s3.put_many(items)

    def put_files(self, items: list[tuple[str, str]]) -> None:
        self.s3.put_files(items)

    def get(self, keys: list[str]) -> dict[str, str]:
        return {obj.key: obj.path for obj in self.s3.get_many(keys)}

    def close(self) -> None:
        self.scope.__exit__(None, None, None)


class Boto3:
    """boto3 with a pool of 32 threads: put_object / get_object for small objects; for large ones boto3's transfer
    manager with 32 threads (multipart, 8 MB parts, ranged parallel downloads)."""

    def __init__(self, bucket: str, prefix: str, workdir: Path) -> None:
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix, self.workdir = bucket, prefix, workdir
        self.small = True
        config = Config(max_pool_connections=BOTO3_THREADS, retries={"max_attempts": 3, "mode": "standard"})
        self.client = boto3.client("s3", endpoint_url=endpoint(), config=config)

    def _pool(self, fn, items) -> list:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(BOTO3_THREADS) as pool:
            return list(pool.map(fn, items))

    def _manager(self):
        from boto3.s3.transfer import TransferConfig, create_transfer_manager

        return create_transfer_manager(self.client, TransferConfig(max_concurrency=BOTO3_THREADS))

    def put(self, items: list[tuple[str, bytes]]) -> None:
        self._pool(lambda kv: self.client.put_object(Bucket=self.bucket, Key=self.prefix + kv[0], Body=kv[1]), items)

    def put_files(self, items: list[tuple[str, str]]) -> None:
        with self._manager() as manager:
            futures = [manager.upload(path, self.bucket, self.prefix + key) for key, path in items]
            for future in futures:
                future.result()

    def get(self, keys: list[str]) -> dict[str, str]:
        return self._get_small(keys) if self.small else self._get_large(keys)

    def _get_small(self, keys: list[str]) -> dict[str, str]:
        def one(key: str) -> tuple[str, str]:
            body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
            path = str(self.workdir / key)
            with open(path, "wb") as f:
                f.write(body)
            return key, path

        return dict(self._pool(one, keys))

    def _get_large(self, keys: list[str]) -> dict[str, str]:
        paths = {key: str(self.workdir / key) for key in keys}
        with self._manager() as manager:
            futures = [manager.download(self.bucket, self.prefix + key, paths[key]) for key in keys]
            for future in futures:
                future.result()
        return paths

    def close(self) -> None:
        self.client.close()


class Obstore:
    """obstore's S3Store with up to 64 requests in flight (asyncio); puts of files are multipart (obstore's default
    5 MB parts); gets stream each body into a file."""

    def __init__(self, bucket: str, prefix: str, workdir: Path) -> None:
        import asyncio

        import obstore
        from obstore.store import S3Store

        self.obs, self.asyncio, self.prefix, self.workdir = obstore, asyncio, prefix, workdir
        self.small = True
        self.store = S3Store(bucket, endpoint=endpoint(), access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                             secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
                             region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                             client_options={"allow_http": True})  # fmt: skip

    def _run(self, fn, items) -> list:
        async def main():
            gate = self.asyncio.Semaphore(OBSTORE_CONCURRENCY)

            async def guarded(item):
                async with gate:
                    return await fn(item)

            return await self.asyncio.gather(*(guarded(item) for item in items))

        return self.asyncio.run(main())

    def put(self, items: list[tuple[str, bytes]]) -> None:
        self._run(lambda kv: self.obs.put_async(self.store, self.prefix + kv[0], kv[1]), items)

    def put_files(self, items: list[tuple[str, str]]) -> None:
        self._run(lambda kv: self.obs.put_async(self.store, self.prefix + kv[0], Path(kv[1])), items)

    def get(self, keys: list[str]) -> dict[str, str]:
        async def one(key: str) -> tuple[str, str]:
            response = await self.obs.get_async(self.store, self.prefix + key)
            path = str(self.workdir / key)
            with open(path, "wb") as f:
                if self.small:  # one buffer
                    f.write(await response.bytes_async())
                else:
                    async for chunk in response.stream(min_chunk_size=1 << 20):
                        f.write(chunk)
            return key, path

        return dict(self._run(one, keys))

    def close(self) -> None:
        pass


def make_client(impl: str, bucket: str, prefix: str, workdir: Path):
    if impl in ("flowstone", "metaflow"):
        return MetaflowLike(impl, f"s3://{bucket}/{prefix}", workdir)
    if impl == "boto3":
        return Boto3(bucket, prefix, workdir)
    if impl == "obstore":
        return Obstore(bucket, prefix, workdir)
    raise ValueError(impl)


def check(paths: dict[str, str], count: int, size: int) -> None:
    """Every object arrived whole; the first and the last byte for byte (sha256)."""
    assert sorted(paths) == [key_of(i) for i in range(count)], f"got {len(paths)} of {count} objects"
    for key, path in paths.items():
        assert os.path.getsize(path) == size, f"{key}: {os.path.getsize(path)} bytes, not {size}"
    for i in sorted({0, count - 1}):
        digest = hashlib.sha256(Path(paths[key_of(i)]).read_bytes()).digest()
        assert digest == hashlib.sha256(object_bytes(i, size)).digest(), f"{key_of(i)}: wrong content"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", required=True, choices=["flowstone", "metaflow", "boto3", "obstore"])
    parser.add_argument("--op", required=True, choices=["put", "get"])
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--source", help="put from the files SOURCE/<i> (put_files) instead of from memory")
    parser.add_argument("--server-pid", type=int)
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    prefix = args.prefix.rstrip("/") + "/"
    client = make_client(args.impl, args.bucket, prefix, workdir)
    if isinstance(client, (Boto3, Obstore)):
        client.small = args.size < LARGE
    keys = [key_of(i) for i in range(args.count)]
    items = None
    if args.op == "put":
        if args.source:
            items = [(key_of(i), str(Path(args.source) / str(i))) for i in range(args.count)]
        else:
            items = [(key_of(i), object_bytes(i, args.size)) for i in range(args.count)]

    baseline_kib = status_kib("VmRSS")
    procs0 = process_cpu()
    cpu0, server0, machine0 = client_cpu(), server_cpu(args.server_pid), machine_cpu()
    start = time.perf_counter()
    if args.op == "put":
        (client.put_files if args.source else client.put)(items)
        paths = None
    else:
        paths = client.get(keys)
    seconds = time.perf_counter() - start
    cpu1, server1, machine1 = client_cpu(), server_cpu(args.server_pid), machine_cpu()
    procs1 = process_cpu()
    peak_kib = status_kib("VmHWM")
    children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss

    if paths is not None:
        check(paths, args.count, args.size)
    client.close()
    print(json.dumps({
        "seconds": seconds,
        "client_cpu": cpu1 - cpu0,
        "server_cpu": server1 - server0,
        **{f"machine_{k}": machine1[k] - machine0[k] for k in machine0},
        "busiest_others": busiest_others(procs0, procs1, {os.getpid(), args.server_pid or 0}),
        "bytes": args.count * args.size,
        "baseline_mb": baseline_kib / 1024,
        "peak_above_baseline_mb": (peak_kib - baseline_kib) / 1024,
        "children_peak_mb": children_kib / 1024,
    }), flush=True)  # fmt: skip
    if args.impl == "obstore":
        # Raw obstore on Python 3.11 can abort at interpreter exit after large multipart puts: a tokio worker still
        # waking the finished asyncio loop takes the GIL during finalization, which pthread_exits a Rust thread
        # (SIGABRT). The measurement is done and printed; skip the teardown.
        os._exit(0)


if __name__ == "__main__":
    main()
