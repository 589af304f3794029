"""What a step read from outside its artifacts and parameters decides whether it is reused: each kind of read,
changed and unchanged, in flows run as a user runs them, on the local datastore and (each kind once more, in as
few runs as it takes) on the S3 datastore."""

from __future__ import annotations

import http.server
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.helpers import FLOWS, FlowRun, run_flow

ALL_STEPS = {"start", "read_file", "count", "read_env", "fetch", "draw", "draw_seeded", "draw_numpy",
             "draw_numpy_seeded", "join", "end"}  # fmt: skip
UNCHECKABLE = {"fetch", "draw", "draw_numpy"}  # they used the network or unseeded random numbers


@pytest.fixture
def web_page() -> Iterator[str]:
    """A web page on loopback, for a step to fetch."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"a page")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/page"
    server.shutdown()
    thread.join(timeout=10)


class Project:
    """ReadsFlow copied into a folder of its own, with the file its step reads, run on one datastore."""

    def __init__(self, folder: Path, datastore: str, root: str, url: str) -> None:
        self.folder, self.datastore, self.root, self.url = folder, datastore, root, url
        folder.mkdir(parents=True, exist_ok=True)
        self.flow = folder / "reads_flow.py"
        shutil.copy(FLOWS / "reads_flow.py", self.flow)
        (folder / "data.txt").write_text("hello")

    def run(self, *args: str, env: dict[str, str] | None = None) -> FlowRun:
        run = run_flow(self.flow, "--url", self.url, *args, root=self.root, datastore=self.datastore, env=env)
        assert run.ok, f"exit status {run.proc.returncode}\n{run.output}"
        return run

    def why(self, pathspec: str) -> str:
        result = run_flow(self.flow, pathspec, root=self.root, datastore=self.datastore, command="why")
        assert result.ok, result.output
        return result.proc.stdout


def ran(run: FlowRun) -> set[str]:
    decisions = {t.step_name: t.load_metadata(["cache"])["cache"]["decision"] for t in run.tasks()}
    assert set(decisions) == ALL_STEPS
    return {step for step, decision in decisions.items() if decision != "hit"}


@pytest.fixture
def project(tmp_path: Path, web_page: str) -> Project:
    project = Project(tmp_path / "project", "local", str(tmp_path / "ds"), web_page)
    assert ran(project.run()) == ALL_STEPS
    return project


def test_unchanged_reads_are_reused_and_unverifiable_ones_run(project: Project) -> None:
    again = project.run()
    assert ran(again) == UNCHECKABLE  # what follows them is reused: their artifacts are the same
    assert "Done! 11 tasks in" in again.output and ": 3 ran, 8 reused (see: python reads_flow.py why" in again.output
    run_id = again.run_id
    why = project.why(f"{run_id}/read_file")
    assert "cache hit" in why and "what it read is unchanged (files)" in why
    assert f"file {project.folder / 'data.txt'} (5 bytes)" in why and "optional.txt (missing)" in why
    why = project.why(f"{run_id}/fetch")
    assert "used the network (127.0.0.1:" in why and "@cache(network=True)" in why
    why = project.why(f"{run_id}/draw")
    assert "drew from the global generator (random) without seeding it" in why and "@cache(random=True)" in why
    why = project.why(f"{run_id}/draw_numpy")
    assert "numpy.random.default_rng() without a seed" in why
    assert "numpy.random" in project.why(f"{run_id}/draw_numpy") and "randomness" in why
    reads = again.task("read_env").load_metadata(["external_reads"])["external_reads"]
    assert reads == {"env": [["READS_MODE", None, None]]}  # nothing of flowstone's own


def test_a_changed_file_runs_the_step_and_early_cutoff_keeps_the_rest(project: Project) -> None:
    (project.folder / "data.txt").write_text("HELLO")  # other content, same length
    changed = project.run()
    assert ran(changed) == UNCHECKABLE | {"read_file"}  # it stores the same length: what follows is reused
    why = project.why(f"{changed.run_id}/read_file")
    assert f"the file {project.folder / 'data.txt'} it read changed since ReadsFlow/" in why
    (project.folder / "data.txt").write_text("HELLO")  # the same content again, a newer modification time
    assert ran(project.run()) == UNCHECKABLE
    (project.folder / "optional.txt").write_text("now here")
    appeared = project.run()
    assert ran(appeared) == UNCHECKABLE | {"read_file", "count", "join"}  # the join keeps only the length
    assert "optional.txt, missing when it ran, exists now" in project.why(f"{appeared.run_id}/read_file")
    (project.folder / "optional.txt").unlink()
    gone = project.run()
    assert ran(gone) == UNCHECKABLE | {"read_file"}
    assert "optional.txt it read is gone" in project.why(f"{gone.run_id}/read_file")


def test_a_changed_environment_variable_runs_the_step(project: Project) -> None:
    first = project.run(env={"READS_MODE": "a"})
    assert ran(first) == UNCHECKABLE | {"read_env", "join", "end"}
    assert "READS_MODE, not set when it ran, is set now" in project.why(f"{first.run_id}/read_env")
    assert ran(project.run(env={"READS_MODE": "a"})) == UNCHECKABLE
    changed = project.run(env={"READS_MODE": "b"})
    assert ran(changed) == UNCHECKABLE | {"read_env", "join", "end"}
    why = project.why(f"{changed.run_id}/read_env")
    assert "the environment variable READS_MODE it read changed ('a' -> 'b')" in why
    assert changed.task("end")["result"] == {"length": 5, "mode": "b"}


def test_a_step_or_a_run_can_let_uncheckable_reads_be_reused(project: Project) -> None:
    allowed = project.run("--with", "cache:network=True,random=True")
    assert ran(allowed) == set()  # @cache's options say how reads count: they are no part of the key
    assert "cache hit" in (why := project.why(f"{allowed.run_id}/fetch")) and "its use of the network allowed" in why
    assert ran(project.run("--cache-reads", "s3,client,files,env")) == set()
    (project.folder / "data.txt").write_text("longer")
    narrowed = project.run("--cache-reads", "none")
    assert ran(narrowed) == set()  # files do not count in this run
    assert "not counted: files reads" in project.why(f"{narrowed.run_id}/read_file")
    assert ran(project.run()) == UNCHECKABLE | {"read_file", "count", "join", "end"}
    text = project.flow.read_text()
    project.flow.write_text(text.replace("    @step\n    def fetch(self):", "    @cache(network=True)\n    @step\n"
                                         "    def fetch(self):").replace("import FlowSpec,", "import FlowSpec, cache,"))
    assert "code: reads_flow.py:ReadsFlow.fetch changed" in project.why(f"{project.run().run_id}/fetch")
    assert ran(project.run()) == UNCHECKABLE - {"fetch"}


def test_reads_a_step_or_a_run_says_are_no_inputs(project: Project) -> None:
    ignored = project.run(env={"READS_MODE": "b", "FLOWSTONE_CACHE_IGNORE_ENV": "OTHER,READS_*"})
    assert ran(ignored) == UNCHECKABLE and ignored.task("end")["result"]["mode"] == "default"
    assert "not counted: env reads" in project.why(f"{ignored.run_id}/read_env")
    (project.folder / "data.txt").write_text("longer")
    assert ran(project.run("--with", "cache:ignore_files=data.txt")) == UNCHECKABLE
    assert ran(project.run("--with", "cache:ignore_files=*.csv")) == UNCHECKABLE | {"read_file", "count", "join", "end"}


def test_why_a_whole_run_groups_its_steps_and_logs_show_a_reused_task_output(project: Project) -> None:
    (project.folder / "data.txt").write_text("hello!")
    run = project.run()
    why = project.why(str(run.run_id))
    assert f"Run ReadsFlow/{run.run_id}: 11 tasks, 7 ran, 4 reused" in why
    lines = why.splitlines()
    reused = lines[lines.index("Reused (4 tasks):") + 1 : lines.index("Reused (4 tasks):") + 5]
    assert reused == ["  start", "  read_env", "  draw_seeded", "  draw_numpy_seeded"]  # in the graph's order
    assert "Ran: a file it read changed (1 task):\n  read_file: the file " in why
    assert "Ran: its inputs changed (3 tasks):\n  count: input artifact 'length' changed" in why
    assert "Ran: it used the network, so it is not reused unless allowed (1 task):\n  fetch: " in why
    assert "Ran: it drew unseeded random numbers, so it is not reused unless allowed (2 tasks):" in why
    again = project.run()
    logs = run_flow(project.flow, f"{again.run_id}/end", root=project.root, datastore=project.datastore, command="logs")
    assert "the result is {'length': 6, 'mode': 'default'}" in logs.proc.stdout
    assert "(reused: this task reused the results of ReadsFlow/" in logs.proc.stderr


def _decisions(result: FlowRun) -> dict[str, str]:
    return {t.step_name: t.load_metadata(["cache"])["cache"]["decision"] for t in result.tasks()}


def test_a_step_reading_another_flows_latest_run(tmp_path: Path) -> None:
    root = str(tmp_path / "ds")

    def run(flow: str, *args: str) -> FlowRun:
        result = run_flow(flow, *args, root=root)
        assert result.ok, result.output
        return result

    model = run("model_flow.py", "--weight", "2")
    first = run("predict_flow.py")
    assert first.task("predict")["predictions"] == [2, 4, 6]
    assert _decisions(run("predict_flow.py"))["predict"] == "hit"
    newer = run("model_flow.py", "--weight", "3")
    predicted = run("predict_flow.py")
    assert _decisions(predicted) == {"start": "hit", "predict": "miss", "end": "miss"}
    assert predicted.task("predict")["predictions"] == [3, 6, 9]
    reason = predicted.task("predict").load_metadata(["cache"])["cache"]["reason"]
    assert f"Flow('ModelFlow').latest_run changed from ModelFlow/{model.run_id} to ModelFlow/{newer.run_id}" in reason
    same = run("model_flow.py", "--weight", "3")  # every task reused, but a newer run all the same
    last = run("predict_flow.py")
    assert _decisions(last)["predict"] == "miss"
    why = run_flow("predict_flow.py", f"{last.run_id}/predict", root=root, command="why")
    assert f"Flow('ModelFlow').latest_run -> ModelFlow/{same.run_id}" in why.proc.stdout
    assert f"artifact ModelFlow/{same.run_id}/end/" in why.proc.stdout


def test_each_kind_of_read_on_the_s3_datastore(s3_env: dict[str, str], tmp_path: Path, web_page: str) -> None:
    root = f"s3://flowstone-test/reads-{uuid.uuid4().hex[:12]}"
    project = Project(tmp_path / "project", "s3", root, web_page)
    model = run_flow("model_flow.py", "--weight", "2", root=root, datastore="s3")
    assert model.ok and ran(project.run()) == ALL_STEPS, model.output
    predicted = run_flow("predict_flow.py", root=root, datastore="s3")
    assert predicted.ok and predicted.task("predict")["predictions"] == [2, 4, 6], predicted.output
    assert ran(project.run()) == UNCHECKABLE  # unchanged; no false network read: S3 is the datastore's traffic
    assert _decisions(run_flow("predict_flow.py", root=root, datastore="s3"))["predict"] == "hit"
    (project.folder / "data.txt").write_text("HELLO")
    changed = project.run(env={"READS_MODE": "b"})
    assert ran(changed) == UNCHECKABLE | {"read_file", "read_env", "join", "end"}
    reasons = {t.step_name: t.load_metadata(["cache"])["cache"].get("reason", "") for t in changed.tasks()}
    assert "data.txt it read changed" in reasons["read_file"] and "READS_MODE, not set" in reasons["read_env"]
    newer = run_flow("model_flow.py", "--weight", "3", root=root, datastore="s3")
    predicted = run_flow("predict_flow.py", root=root, datastore="s3")
    assert predicted.ok and _decisions(predicted)["predict"] == "miss", predicted.output
    assert predicted.task("predict")["predictions"] == [3, 6, 9] and newer.ok
