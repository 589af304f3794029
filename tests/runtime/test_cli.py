"""The flow file's command line, as a user runs it."""

from __future__ import annotations

from pathlib import Path

from tests.runtime.helpers import run_flow


def test_check_and_show(tmp_path: Path) -> None:
    check = run_flow("foreach_flow.py", root=tmp_path / "ds", command="check")
    assert check.proc.returncode == 0 and "The graph looks good!" in check.output
    show = run_flow("foreach_flow.py", root=tmp_path / "ds", command="show")
    assert show.proc.returncode == 0
    assert "Step start  (foreach)" in show.output and "=> body  (foreach items)" in show.output
    assert "Step join  (join)" in show.output


def test_metaflow_options_are_accepted_with_a_note(tmp_path: Path) -> None:
    run = run_flow(
        "linear_flow.py",
        root=tmp_path / "ds",
        top_args=("--metadata", "service", "--no-pylint", "--environment", "docker", "--quiet"),
    )
    assert run.ok, run.output
    assert "--metadata=service has no effect in flowstone" in run.output
    assert "--environment=docker has no effect" in run.output  # conda, pypi and uv do: see test_environments
    assert "Task is starting" not in run.output  # --quiet hides flowstone's chatter
    assert "stdout of start/1 attempt 0" in run.output  # but never task output


def test_parameters_from_cli_and_environment(tmp_path: Path) -> None:
    run = run_flow("linear_flow.py", "--scale", "3", root=tmp_path / "ds")
    assert run.ok and run.end_result() == {"total": 18, "scale": 3}
    run = run_flow("linear_flow.py", root=tmp_path / "ds", env={"FLOWSTONE_RUN_SCALE": "5"})
    assert run.ok and run.end_result() == {"total": 30, "scale": 5}
    bad = run_flow("linear_flow.py", "--scale", "lots", root=tmp_path / "ds")
    assert bad.proc.returncode == 2 and "Parameter 'scale': 'lots' is not a valid int" in bad.output  # usage error


def test_run_options(tmp_path: Path) -> None:
    run = run_flow("linear_flow.py", "--tag", "nightly", "--tag", "v2", "--max-workers", "1", root=tmp_path / "ds")
    assert run.ok, run.output
    assert run.fds.load_run_tags(run.run_id) == ["nightly", "v2"]
    record = run.fds.load_run_record(run.run_id)
    assert any(t.startswith("user:") for t in record["system_tags"])
    assert "Done!" in run.output and f"Run('LinearFlow/{run.run_id}')" in run.output


def test_help_lists_parameters(tmp_path: Path) -> None:
    run = run_flow("linear_flow.py", "--help", root=tmp_path / "ds")
    assert run.proc.returncode == 0
    assert "--scale" in run.output and "multiplier" in run.output and "FLOWSTONE_RUN_SCALE" in run.output


def test_unknown_decorator_in_with(tmp_path: Path) -> None:
    run = run_flow("linear_flow.py", root=tmp_path / "ds", top_args=("--with", "retyr"))
    assert run.proc.returncode == 1 and "Unknown decorator 'retyr'" in run.output


def test_bad_flow_fails_check_with_line_number(tmp_path: Path) -> None:
    flow = tmp_path / "bad_flow.py"
    flow.write_text(
        "from flowstone import FlowSpec, step\n\n\nclass BadFlow(FlowSpec):\n    @step\n    def start(self):\n"
        "        self.next(self.missing)\n\n    @step\n    def end(self):\n        pass\n\n\n"
        "if __name__ == '__main__':\n    BadFlow()\n"
    )
    run = run_flow(flow, root=tmp_path / "ds", command="check")
    assert run.proc.returncode == 1
    assert "Step 'start' (line 7): self.next() goes to 'missing', which is not a step of this flow." in run.output


def test_code_package_holds_flow_and_local_modules(tmp_path: Path) -> None:
    import io
    import tarfile

    run = run_flow("linear_flow.py", root=tmp_path / "ds")
    record = run.fds.load_run_record(run.run_id)
    assert record["code_files"] == ["behaviours.py", "linear_flow.py"]
    with tarfile.open(fileobj=io.BytesIO(bytes(run.fds.ca_store.load_blob(record["code_package"])))) as tar:
        assert tar.getnames() == ["code/behaviours.py", "code/linear_flow.py"]
        flow_source = tar.extractfile("code/linear_flow.py").read()  # type: ignore[union-attr]
    assert flow_source == (Path(__file__).parents[1] / "flows" / "linear_flow.py").read_bytes()
    again = run_flow("linear_flow.py", root=tmp_path / "ds")
    assert again.fds.load_run_record(again.run_id)["code_package"] == record["code_package"]


def test_a_run_needs_a_user_other_than_root(tmp_path: Path) -> None:
    bare = {name: "" for name in ("FLOWSTONE_USER", "METAFLOW_USER", "SUDO_USER", "USERNAME")}
    run = run_flow("linear_flow.py", root=tmp_path / "ds", env={**bare, "USER": "root"})
    assert run.proc.returncode == 1 and run.run_id is None
    assert "Unknown user" in run.output and "set FLOWSTONE_USER (or METAFLOW_USER, or USER)" in run.output
    named = run_flow("linear_flow.py", root=tmp_path / "ds", env={**bare, "USER": "root", "METAFLOW_USER": "ada"})
    assert named.ok, named.output
    assert "user:ada" in named.fds.load_run_record(named.run_id)["system_tags"]


def test_parameters_from_metaflows_variables(tmp_path: Path) -> None:
    run = run_flow("linear_flow.py", root=tmp_path / "ds", env={"METAFLOW_RUN_SCALE": "4"})
    assert run.ok and run.end_result() == {"total": 24, "scale": 4}
    both = run_flow("linear_flow.py", root=tmp_path / "ds", env={"METAFLOW_RUN_SCALE": "4", "FLOWSTONE_RUN_SCALE": "6"})
    assert both.ok and both.end_result() == {"total": 36, "scale": 6}  # flowstone's own name wins


_NOISY_FLOW = '''
import threading
import warnings

from flowstone import FlowSpec, step

if {start_thread}:
    threading.Thread(target=threading.Event().wait, name="started-at-import", daemon=True).start()


class NoisyFlow(FlowSpec):
    @step
    def start(self):
        warnings.warn("a library complains")
        print("step output")
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    NoisyFlow()
'''


def test_warnings_are_hidden_but_flowstones_own_notes_are_not(tmp_path: Path) -> None:
    quiet = tmp_path / "quiet_flow.py"
    quiet.write_text(_NOISY_FLOW.format(start_thread=False))
    run = run_flow(quiet, root=tmp_path / "ds")
    assert run.ok and "step output" in run.output
    assert "a library complains" not in run.output and "Warning" not in run.output
    threaded = tmp_path / "threaded_flow.py"
    threaded.write_text(_NOISY_FLOW.format(start_thread=True))
    run = run_flow(threaded, root=tmp_path / "ds")
    assert run.ok, run.output
    assert "Warning: The fork executor started in a process that runs 1 other thread(s) (started-at-import)" in (
        run.output
    )


def test_a_foreach_says_how_many_tasks_it_yields(tmp_path: Path) -> None:
    run = run_flow("foreach_flow.py", root=tmp_path / "ds")
    assert run.ok, run.output
    splits = run.task("start").load_metadata(["num_splits"])["num_splits"]
    assert f"Foreach yields {splits} child steps." in run.output


FAIL_ON_REQUEST = """from flowstone import FlowSpec, step


class FailOnRequestFlow(FlowSpec):
    @step
    def start(self):
        self.x = 1
        self.next(self.end)

    @step
    def end(self):
        with open("mode.txt") as f:
            if f.read() == "fail":
                raise ValueError("asked to fail")


if __name__ == "__main__":
    FailOnRequestFlow()
"""


def test_the_last_line_of_a_run_counts_its_tasks(tmp_path: Path) -> None:
    flow = tmp_path / "fail_flow.py"
    flow.write_text(FAIL_ON_REQUEST)
    (tmp_path / "mode.txt").write_text("pass")
    first = run_flow(flow, root=tmp_path / "ds")
    last = first.proc.stdout.strip().splitlines()[-1]
    assert "Done! 2 tasks in " in last and f": 2 ran, 0 reused (see: python fail_flow.py why {first.run_id})" in last
    again = run_flow(flow, root=tmp_path / "ds")
    assert ": 0 ran, 2 reused (see: python fail_flow.py why " in again.proc.stdout.strip().splitlines()[-1]
    (tmp_path / "mode.txt").write_text("fail")
    failed = run_flow(flow, root=tmp_path / "ds")
    last = failed.proc.stderr.strip().splitlines()[-1]  # errors go to stderr: the run's last line there
    assert failed.proc.returncode == 1 and f"Run FailOnRequestFlow/{failed.run_id} failed (FailOnRequestFlow/" in last
    assert "2 tasks in " in last and ": 1 ran (1 failed), 1 reused" in last
    assert last.endswith(f"(see: python fail_flow.py why {failed.run_id})")
