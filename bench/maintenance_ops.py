"""One measurement of `flowstone fsck` (and of what it is compared with), run in a fresh process by run.py.

    python bench/maintenance_ops.py --root DIR --op setup --gib 10   # a datastore with GIB of blobs (one task)
    python bench/maintenance_ops.py --root DIR --op fsck             # fsck the whole datastore
    python bench/maintenance_ops.py --root DIR --op blake3           # plain BLAKE3 of the same files
    python bench/maintenance_ops.py --root DIR --op gc               # gc --dry-run: every record read

The blobs are random (stored raw, as most large artifacts are) and of mixed sizes: a few of 1 GiB, some of 256 MiB,
many of 2 MiB and 64 KiB. Plain BLAKE3 hashes each file memory-mapped with all cores, as b3sum does. Prints one
JSON line: seconds and bytes.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import time
from collections.abc import Iterator
from pathlib import Path

import blake3

#: (count, size) of the blobs, for 10 GiB; scaled for other sizes.
MIX = [(4, 1 << 30), (16, 256 << 20), (768, 2 << 20), (8192, 64 << 10)]


def _values(gib: float) -> Iterator[tuple[str, bytes]]:
    block = os.urandom(64 << 20)
    scale = gib / 10
    number = 0
    for count, size in MIX:
        for _ in range(max(1, round(count * scale))):
            number += 1
            head = number.to_bytes(8, "little")
            if size <= len(block):
                yield f"a{number}", head + block[number % 4096 : number % 4096 + size - 8]
            else:
                yield f"a{number}", head + block * (size // len(block))


def setup(root: str, gib: float) -> dict[str, float]:
    from flowstone.datastore import FlowDataStore
    from flowstone.settings import Settings

    started = time.perf_counter()
    fds = FlowDataStore("BenchFlow", settings=Settings(datastore_sysroot_local=root, fsync=False))
    fds.create_run({"created_at": time.time(), "graph": {"steps": []}}, run_id="1")
    task = fds.get_datastore_for_task("1", "start", "1", mode="w")
    task.save_artifacts(_values(gib))
    task.done()
    return {"seconds": time.perf_counter() - started, "bytes": float(_blob_bytes(root))}


def _blob_files(root: str) -> list[Path]:
    return sorted(p for p in (Path(root) / "data").glob("??/*") if p.is_file())


def _blob_bytes(root: str) -> int:
    return sum(p.stat().st_size for p in _blob_files(root))


def plain_blake3(root: str) -> dict[str, float]:
    files = _blob_files(root)
    started = time.perf_counter()
    for path in files:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
            if size:
                with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                    hasher.update(mapped)
            hasher.hexdigest()
    return {"seconds": time.perf_counter() - started, "bytes": float(sum(p.stat().st_size for p in files))}


def fsck(root: str) -> dict[str, float]:
    from flowstone.datastore.maintenance import fsck as check
    from flowstone.storage.local import LocalStorage

    started = time.perf_counter()
    report = check(LocalStorage(root))
    assert report.ok and report.blobs > 0, report.problems
    return {"seconds": time.perf_counter() - started, "bytes": float(report.blob_bytes)}


def gc_dry_run(root: str) -> dict[str, float]:
    from flowstone.datastore.maintenance import collect_garbage
    from flowstone.storage.local import LocalStorage

    started = time.perf_counter()
    report = collect_garbage(LocalStorage(root), dry_run=True)
    assert report.blobs == 0
    return {"seconds": time.perf_counter() - started, "bytes": 0.0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--op", choices=["setup", "fsck", "blake3", "gc"], required=True)
    parser.add_argument("--gib", type=float, default=10.0)
    args = parser.parse_args()
    if args.op == "setup":
        result = setup(args.root, args.gib)
    elif args.op == "fsck":
        result = fsck(args.root)
    elif args.op == "blake3":
        result = plain_blake3(args.root)
    else:
        result = gc_dry_run(args.root)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
