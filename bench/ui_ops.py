"""Measures of ``flowstone ui`` for the benchmark; prints one JSON line.

    python ui_ops.py --root DIR --runs-flow ListFlow --foreach-run BenchForeachFlow/<run_id>

Starts ``flowstone ui --port 0`` over DIR (a fresh server, so nothing is cached yet), then times what a browser
asks for when it opens each page: the page and its scripts, and the page's data (the flows page with the
latest runs of every flow, the first page of a flow's runs, a filtered page, and a run's page).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import urllib.request

SCRIPTS = ("/static/app.js", "/static/util.js", "/static/runs.js", "/static/run.js", "/static/dag.js",
           "/static/gantt.js", "/static/task.js", "/static/compare.js", "/static/vendor/preact-htm.js",
           "/static/style.css")  # fmt: skip


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:
        return response.read()


def timed(url: str, *paths: str) -> float:
    start = time.perf_counter()
    for path in paths:
        fetch(url + path)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--runs-flow", required=True)
    parser.add_argument("--foreach-run", required=True)
    args = parser.parse_args()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "flowstone.cli.main", "--datastore-root", args.root, "ui",
                             "--port", "0"], stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        line = proc.stderr.readline() if proc.stderr else ""
        found = re.search(r"(http://\S+)/", line)
        assert found, line
        url = found.group(1)
        listening = time.perf_counter() - started
        assets = timed(url, "/", *SCRIPTS)
        flows_page = timed(url, "/api/flows")
        runs_page = timed(url, f"/api/flows/{args.runs_flow}/runs")
        filtered = timed(url, f"/api/flows/{args.runs_flow}/runs?status=failed")
        filtered_again = timed(url, f"/api/flows/{args.runs_flow}/runs?status=failed")
        flow, run_id = args.foreach_run.split("/")
        run_page = timed(url, f"/api/runs/{flow}/{run_id}")
        tasks = len(json.loads(fetch(f"{url}/api/runs/{flow}/{run_id}"))["tasks"])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(json.dumps({"listening": listening, "assets": assets, "flows_page": flows_page, "runs_page": runs_page,
                      "filtered": filtered, "filtered_again": filtered_again, "run_page": run_page,
                      "tasks": tasks}))  # fmt: skip


if __name__ == "__main__":
    main()
