"""The UI under test as a user runs it: ``flowstone ui`` in a subprocess, against a datastore of real runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, NamedTuple

from tests.runtime.helpers import run_flow


class UiRuns(NamedTuple):
    """Runs of tests/flows/ui_flow.py: a fresh run, the same again (every task reused), one with another
    parameter and a user tag (by bob), and one that fails in its 'report' step."""

    root: Path | str  # a folder, or an s3:// or azure:// address
    fresh: str
    cached: str
    bob: str
    failed: str


def make_runs(root: Path | str, datastore: str = "local") -> UiRuns:
    ids = []
    for args, user in (((), "alice"), ((), "alice"), (("--scale", "2", "--tag", "best"), "bob"),
                       (("--fail", "True"),  "alice")):  # fmt: skip
        done = run_flow("ui_flow.py", *args, root=root, datastore=datastore, env={"FLOWSTONE_USER": user})
        assert done.run_id is not None, done.output
        ids.append(done.run_id)
    return UiRuns(root, *ids)


class UiServer:
    """``flowstone ui --port 0`` over a datastore root; ``url`` is where it listens."""

    def __init__(self, root: Path | str, datastore: str = "local") -> None:
        self.root = root
        self.datastore = datastore
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> UiServer:
        cmd = [sys.executable, "-m", "flowstone.cli.main", "--datastore", self.datastore, "--datastore-root",
               str(self.root), "ui", "--port", "0"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()  # the announcement, once the server listens (or an error, then EOF)
        found = re.search(r"(http://\S+/)", line)
        if found is None:
            self.proc.kill()
            raise AssertionError(f"the UI did not start: {line}{self.proc.stderr.read()}")
        self.url = found.group(1).rstrip("/")
        self.output: list[str] = []  # what it says after that, read so that a full pipe never blocks it
        threading.Thread(target=lambda: self.output.extend(self.proc.stderr), daemon=True).start()  # type: ignore[union-attr,arg-type]
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(timeout=20)

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=30) as response:
                body = response.read()
                kind = response.headers.get("Content-Type", "")
                return response.status, json.loads(body) if kind.startswith("application/json") else body
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def get_page(self, path: str) -> tuple[int, str, dict[str, str]]:
        """Status, text and headers of a page (not JSON)."""
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return response.status, response.read().decode("utf-8"), dict(response.headers)

    def post(self, path: str, value: Any) -> tuple[int, Any]:
        request = urllib.request.Request(self.url + path, json.dumps(value).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())
