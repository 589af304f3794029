"""Every flow feature on the S3 datastore, against a real S3 API server: runs, logs, the Client API, the cache,
resume and IncludeFile."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from flowstone.client import context
from flowstone.client.runs import Flow, Run
from flowstone.s3.config import S3Config
from flowstone.s3.locations import parse_url
from flowstone.s3.transport import S3Transport
from tests.runtime.helpers import FlowRun, run_flow
from tests.servers.seaweedfs import SeaweedFS


def _root() -> str:
    return f"s3://flowstone-test/ds-{uuid.uuid4().hex[:12]}"


def test_run_client_cache_and_resume_on_s3(s3_env: dict[str, str]) -> None:
    root = _root()
    first = run_flow("client_flow.py", root=root, datastore="s3")
    assert first.ok, first.output
    assert first.task("end")["summary"]["results"] == ["x-0", "y-1", "z-0"]
    context.datastore("s3", root)
    context.namespace(None)
    try:
        run = Run(f"ClientFlow/{first.run_id}")
        assert run.successful and run.data.summary["results"] == ["x-0", "y-1", "z-0"]
        assert "hello from start" in run["start"].task.stdout
        assert run["start"].task.data.big == bytes(range(256)) * 4096
        assert Flow("ClientFlow").latest_run.id == first.run_id
    finally:
        context.default_metadata()
        context.default_namespace()
    # unchanged: every task is reused; an S3 object a step read changes: that step and what follows run again
    source = f"{root}/inputs/words.txt"
    transport = S3Transport("flowstone-test", S3Config.from_env())
    transport.put_many([(parse_url(source).key, b"hello")])
    once = run_flow("s3_flow.py", "--source", source, root=root, datastore="s3")
    again = run_flow("s3_flow.py", "--source", source, root=root, datastore="s3")
    assert once.ok and again.ok, again.output
    assert _decisions(again) == {"start": "hit", "read": "hit", "end": "hit"}
    assert again.task("end")["total"] == 6 + 5
    assert once.task("read")["downloaded_to_task_tempdir"] is True
    end = once.task("end")
    assert end["note_url"] == f"{root}/userdata/S3Flow/{once.run_id}/note" and end["note_back"] == "total=11"
    # the flowstone command reads the S3 datastore, its type taken from the root's scheme
    listed = subprocess.run([str(Path(sys.executable).parent / "flowstone"), "--datastore-root", root, "runs",
                             "S3Flow", "-A"], capture_output=True, text=True)  # fmt: skip
    assert listed.returncode == 0 and str(once.run_id) in listed.stdout, listed.stdout + listed.stderr
    transport.put_many([(parse_url(source).key, b"hello, world")])
    changed = run_flow("s3_flow.py", "--source", source, root=root, datastore="s3")
    assert changed.ok, changed.output
    assert _decisions(changed) == {"start": "hit", "read": "miss", "end": "miss"}
    assert changed.task("end")["total"] == 6 + 12
    assert source in changed.task("read").load_metadata(["cache"])["cache"]["reason"]
    # a failed run resumes on S3
    failed = run_flow("linear_flow.py", root=root, datastore="s3", env={"FS_TEST_FAIL_AT": "add"})
    assert not failed.ok
    resumed = run_flow("linear_flow.py", "--origin-run-id", str(failed.run_id), root=root, datastore="s3",
                       command="resume")  # fmt: skip
    assert resumed.proc.returncode == 0, resumed.output


def _decisions(run: FlowRun) -> dict[str, str]:
    return {t.step_name: t.load_metadata(["cache"])["cache"]["decision"] for t in run.tasks()}


def test_include_file_from_s3(s3_env: dict[str, str]) -> None:
    root = _root()
    source, config = f"{root}/inputs/words.txt", f"{root}/inputs/config.toml"
    S3Transport("flowstone-test", S3Config.from_env()).put_many(
        [(parse_url(source).key, b"abc"), (parse_url(config).key, "name = 'é'\n".encode())]
    )
    run = run_flow("s3_flow.py", "--source", source, "--config", config, root=root, datastore="s3")
    assert run.ok, run.output
    assert run.task("end")["config_seen"] == "name = 'é'\n"
    described = run.fds.load_run_record(run.run_id)["parameters"]["config"]  # type: ignore[arg-type,index]
    assert described["included_file"] == config and described["size"] == len("name = 'é'\n".encode())
    missing = run_flow("s3_flow.py", "--source", source, "--config", f"{root}/nope", root=root, datastore="s3")
    assert missing.proc.returncode != 0 and "IncludeFile 'config'" in missing.output and "nope" in missing.output


def test_a_flow_survives_transient_s3_failures(s3_env: dict[str, str]) -> None:
    """A fifth of all S3 requests (runner and tasks) fail with a transient error; retries hide every one."""
    root = _root()
    source = f"{root}/inputs/words.txt"
    S3Transport("flowstone-test", S3Config.from_env()).put_many([(parse_url(source).key, b"hello")])
    run = run_flow("s3_flow.py", "--source", source, root=root, datastore="s3",
                   env={"FLOWSTONE_S3_INJECT_FAILURES": "0.2"})  # fmt: skip
    assert run.ok, run.output
    assert run.task("end")["total"] == 6 + 5 and run.task("end")["note_back"] == "total=11"


def _break_mid_run(tmp_path: Path, how: str, env: dict[str, str],
                   top_args: tuple[str, ...] = ()) -> tuple[FlowRun, float, str]:  # fmt: skip
    """Run WaitingFlow on a server of its own; once its first task runs, stop (SIGSTOP) or kill the server.
    Return the run, how long it took after the server broke, and the server's endpoint."""
    tmp_path.mkdir(exist_ok=True)
    ready, go = tmp_path / "ready", tmp_path / "go"
    with SeaweedFS(buckets=("broken",)) as server, ThreadPoolExecutor(1) as pool:
        assert server.process is not None
        run_env = {**server.environment, "FS_TEST_READY": str(ready), "FS_TEST_GO": str(go), **env}
        running = pool.submit(run_flow, "waiting_flow.py", root="s3://broken/ds", datastore="s3", env=run_env,
                              top_args=top_args, timeout=240)  # fmt: skip
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline and not running.done():
            time.sleep(0.05)
        os.kill(server.process.pid, signal.SIGSTOP if how == "stop" else signal.SIGKILL)
        broke = time.monotonic()
        go.touch()
        run = running.result()
        elapsed = time.monotonic() - broke
        if how == "stop":
            os.kill(server.process.pid, signal.SIGCONT)
    return run, elapsed, server.endpoint


def test_a_run_whose_server_dies_says_so_in_a_few_lines(s3_env: dict[str, str], tmp_path: Path) -> None:
    run, elapsed, endpoint = _break_mid_run(tmp_path, "kill", {})
    assert not run.ok and elapsed < 60
    output = run.output
    assert "connection refused" in output and f"Nothing accepts connections at {endpoint}" in output, output
    assert "Traceback" not in output and "Debug source" not in output, output
    assert len(output.splitlines()) < 20, output
    debug, _, _ = _break_mid_run(tmp_path / "debug", "kill", {"FLOWSTONE_DEBUG": "1"})
    assert "Traceback" in debug.output and "Debug source" in debug.output  # the whole chain, on demand
    option, _, _ = _break_mid_run(tmp_path / "option", "kill", {}, top_args=("--debug",))
    assert "Traceback" in option.output and "Debug source" in option.output  # the same from the command line


def test_a_run_whose_server_stops_answering_ends_within_the_deadlines(s3_env: dict[str, str], tmp_path: Path) -> None:
    quick = {"FLOWSTONE_S3_READ_TIMEOUT": "1", "FLOWSTONE_S3_DEADLINE": "3", "FLOWSTONE_S3_PROGRESS_AFTER": "1"}
    run, elapsed, endpoint = _break_mid_run(tmp_path, "stop", quick)
    assert not run.ok and elapsed < 30, f"{elapsed:.0f} s"
    output = run.output
    assert f"S3 PUT of 1 object at {endpoint} still running" in output or "still running" in output, output
    assert "timed out: no result within 3 s (FLOWSTONE_S3_DEADLINE)" in output, output
    assert "Traceback" not in output, output
