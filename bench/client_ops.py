"""Client operations for the benchmark, each in a fresh process; prints a JSON line.

    python client_ops.py --impl flowstone|metaflow --op read  --pathspec Flow/run   (open a run, read one artifact)
    python client_ops.py --impl flowstone|metaflow --op list  --flow Flow           (list every run of a flow)
    python client_ops.py --impl flowstone --op generate --flow Flow --runs N --root DIR   (synthetic runs)

Timing starts at interpreter start (``--op read``) so the import is counted, as a user would feel it.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", choices=["flowstone", "metaflow"], required=True)
    parser.add_argument("--op", choices=["read", "list", "generate"], required=True)
    parser.add_argument("--pathspec")
    parser.add_argument("--flow")
    parser.add_argument("--runs", type=int, default=0)
    parser.add_argument("--root")
    args = parser.parse_args()
    if args.op == "generate":
        generate(args.flow, args.runs, args.root)
        print(json.dumps({"generated": args.runs}))
        return
    start = time.perf_counter()
    module = __import__(args.impl)
    module.namespace(None)
    if args.op == "read":
        value = module.Run(args.pathspec).data.message
        assert value == "hi", value
        count = 1
    else:
        count = sum(1 for _ in module.Flow(args.flow))
    print(json.dumps({"seconds": time.perf_counter() - start, "count": count}))


def generate(flow_name: str, runs: int, root: str) -> None:
    """Write ``runs`` complete runs of a two-step flow straight into a flowstone datastore (no processes)."""
    from flowstone.datastore import FlowDataStore
    from flowstone.settings import Settings

    fds = FlowDataStore(flow_name, settings=Settings(datastore_sysroot_local=root, fsync=False))
    base = time.time_ns() // 1000
    for i in range(runs):
        record = {"flow_name": flow_name, "created_at": time.time(), "user": "bench",
                  "system_tags": ["user:bench", "runtime:local"], "parameters": {}, "graph": {"steps": []}}  # fmt: skip
        run_id = fds.create_run(record, run_id=str(base + i))
        fds.save_run_tags(run_id, [])
        for step, task_id in (("start", "1"), ("end", "2")):
            ds = fds.get_datastore_for_task(run_id, step, task_id, mode="w")
            ds.init_task()
            ds.save_artifacts([("message", "hi")])
            ds.save_metadata({"attempt": 0, "attempt_ok": True})
            ds.done()
        fds.save_run_end(run_id, {"status": "succeeded", "finished_at": time.time()})


if __name__ == "__main__":
    main()
