"""A datastore writer run as a separate process by the crash and concurrency tests.

writer_proc.py task ROOT TASK_ID [--die-at N]   write one task; with --die-at, SIGKILL self at the N-th
                                                file-system call (a write is cut in half first)
writer_proc.py tasks ROOT FIRST COUNT           write COUNT tasks, printing 'done <id>' after each
writer_proc.py blobs ROOT SEED                  wait for 'go' on stdin, then save shared and own blobs
"""

from __future__ import annotations

import os
import signal
import sys

import numpy as np

from flowstone.datastore import FlowDataStore
from flowstone.settings import Settings

FLOW = "CrashFlow"


def expected_artifacts(task_id: str) -> dict[str, object]:
    rng = np.random.default_rng(int(task_id))
    return {
        "noise": rng.random(200_000),  # incompressible: raw blob
        "zeros": np.zeros(300_000),  # compressible: zstd blob
        "label": f"task-{task_id}",  # inline
        "table": {"rows": list(range(2_000)), "id": task_id},  # small blob
        "shared": np.arange(100_000),  # the same in every task: deduplicated
    }


def write_task(fds: FlowDataStore, task_id: str, attempt: int = 0) -> None:
    ds = fds.get_datastore_for_task("run1", "step", task_id, attempt=attempt, mode="w")
    ds.init_task()
    ds.save_artifacts(expected_artifacts(task_id).items())
    ds.save_metadata({"task": task_id})
    ds.save_log("stdout", f"output of {task_id}\n")
    ds.done()


class _Killer:
    """Counts file-system calls and SIGKILLs the process at the chosen one."""

    def __init__(self, die_at: int) -> None:
        self.calls = 0
        self.last_replace = 0  # the call that published the last record (the DONE marker)
        self.die_at = die_at
        for name in ("open", "write", "fsync", "replace", "link", "unlink", "mkdir"):
            original = getattr(os, name)
            setattr(os, name, self._wrap(name, original))

    def _wrap(self, name, original):
        def wrapped(*args, **kwargs):
            self.calls += 1
            if self.calls == self.die_at:
                if name == "write" and len(args) == 2:
                    data = memoryview(args[1])
                    original(args[0], data[: max(data.nbytes // 2, 1)] if data.nbytes > 1 else data[:0])
                os.kill(os.getpid(), signal.SIGKILL)
            if name == "replace":
                self.last_replace = self.calls
            return original(*args, **kwargs)

        return wrapped


def main(argv: list[str]) -> None:
    mode, root = argv[0], argv[1]
    fds = FlowDataStore(FLOW, settings=Settings(datastore_sysroot_local=root))
    if mode == "task":
        killer = _Killer(int(argv[4])) if len(argv) > 4 and argv[3] == "--die-at" else _Killer(-1)
        write_task(fds, argv[2])
        print(killer.calls, killer.last_replace, flush=True)
    elif mode == "tasks":
        first, count = int(argv[2]), int(argv[3])
        for task_id in range(first, first + count):
            write_task(fds, str(task_id))
            print(f"done {task_id}", flush=True)
    elif mode == "blobs":
        seed = int(argv[2])
        shared = [np.random.default_rng(1000 + i).bytes(50_000 * (i + 1)) for i in range(20)]
        own = [np.random.default_rng(seed * 100 + i).bytes(30_000) for i in range(20)]
        sys.stdin.readline()
        keys = fds.ca_store.save_blobs(shared + own)
        print(" ".join(keys), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
