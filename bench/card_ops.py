"""Rendering the default card of a task with 50 artifacts (bench/flows/card_bench_flow.py), in a fresh process:

    python bench/card_ops.py --root DATASTORE --run-id RUN_ID [--repeat 10]

prints ``{"first": s, "median": s, "bytes": n, "artifacts": n}``: the first render (what a task pays when its
step ends: reading every artifact, previews, the page) and the median of the renders after it. numpy and pandas
are imported before, as they are in the process of the task that made the artifacts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    import numpy  # noqa: F401  (imported by the step that made the artifacts, as pandas is)
    import pandas  # noqa: F401

    from flowstone.cards import render_card
    from flowstone.client import Task, context

    context.datastore("local", args.root)
    pathspec = f"CardBenchFlow/{args.run_id}/start/1"
    times, html = [], ""
    for _ in range(args.repeat + 1):
        task = Task(pathspec, _namespace_check=False)  # a new one each time: nothing read is kept
        started = time.perf_counter()
        html = render_card(task, "default")
        times.append(time.perf_counter() - started)
    artifacts = sum(1 for _ in Task(pathspec, _namespace_check=False))
    assert "Card render failed" not in html, html[-3000:]
    print(json.dumps({"first": times[0], "median": statistics.median(times[1:]), "bytes": len(html),
                      "artifacts": artifacts}))  # fmt: skip


if __name__ == "__main__":
    main()
