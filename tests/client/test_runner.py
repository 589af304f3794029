"""Runner: flows driven from Python, blocking and asynchronous."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click
import pytest

from flowstone import Runner
from flowstone.cli.flow_cli import build_cli
from flowstone.client import context
from flowstone.client.runner import COMMAND_FLAGS, NEGATABLE, RunnerError, to_options
from flowstone.errors import FlowstoneException
from flowstone.flow.flowspec import FlowSpec
from tests.runtime.helpers import FLOWS


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLOWSTONE_DATASTORE_SYSROOT_LOCAL", str(tmp_path / "ds"))
    context.default_metadata()


def test_run_returns_the_run() -> None:
    runner = Runner(str(FLOWS / "linear_flow.py"), show_output=False, quiet=True, pylint=False, metadata="local")
    with runner.run(scale=3, tags=["t1"]) as running:
        assert running.status == "successful" and running.returncode == 0
        run = running.run
        assert run.successful and run.data.result == {"total": 18, "scale": 3}
        assert "t1" in run.user_tags
        assert "stdout of end" in running.stdout and "stderr of end" in running.stderr
        command = running.command_obj  # Metaflow's public shape: the process and files holding its output
        assert command.process.returncode == 0
        assert "stderr of end" in Path(command.log_files["stderr"]).read_text()
        assert command.command[2:5] == ["--quiet", "--no-pylint", "--metadata"]
    assert not Path(command.log_files["stdout"]).exists()  # the context manager removed them


def test_failed_run_and_resume(tmp_path: Path) -> None:
    runner = Runner(str(FLOWS / "linear_flow.py"), show_output=False, env={"FS_TEST_FAIL_AT": "add"})
    failed = runner.run(run_id_file=str(tmp_path / "rid"))
    assert failed.status == "failed" and failed.returncode == 1 and not failed.run.successful
    assert (tmp_path / "rid").read_text() == failed.run.id  # the caller's file, written by the run itself
    assert "planned failure in add" in failed.stdout + failed.stderr
    resumed = Runner(str(FLOWS / "linear_flow.py"), show_output=False).resume(origin_run_id=failed.run.id)
    assert resumed.status == "successful"
    run = resumed.run
    assert run.origin_run_id == failed.run.id and run.origin_pathspec == f"LinearFlow/{failed.run.id}"
    assert run["double"].origin_pathspec == f"LinearFlow/{failed.run.id}/double"
    assert run["double"].task.origin_pathspec == f"LinearFlow/{failed.run.id}/double/2"
    assert run["add"].task.origin_pathspec is None
    assert run.data.result == {"total": 12, "scale": 2}
    _assert_metaflow_resume_metadata(run, failed.run.id)


def _assert_metaflow_resume_metadata(run, origin_run_id: str) -> None:  # type: ignore[no-untyped-def]
    """A reused task shows its origin's metadata, plus where it came from; a task run again, only the origin run."""
    cloned, rerun = run["double"].task.metadata_dict, run["add"].task.metadata_dict
    assert (cloned["origin-run-id"], cloned["origin-task-id"]) == (origin_run_id, "2")
    assert rerun["origin-run-id"] == origin_run_id and "origin-task-id" not in rerun
    origin = run.parent[origin_run_id]["double"]["2"].metadata_dict
    mine = {"origin-run-id", "origin-task-id"}
    assert {k: v for k, v in cloned.items() if k not in mine} == {k: v for k, v in origin.items() if k not in mine}


def test_resume_from_a_step_reruns_it_and_what_follows() -> None:
    first = Runner(str(FLOWS / "linear_flow.py"), show_output=False).run(scale=5)
    again = Runner(str(FLOWS / "linear_flow.py"), show_output=False).resume(step_to_rerun="double")
    run = again.run
    assert run.origin_run_id == first.run.id  # the latest run is the default origin
    assert run["start"].task.origin_pathspec is not None
    assert [run[s].task.origin_pathspec for s in ("double", "add", "end")] == [None, None, None]
    assert run.data.result == {"total": 30, "scale": 5}  # parameters come from the origin run


def test_a_run_that_never_starts_raises_with_its_output(tmp_path: Path) -> None:
    with pytest.raises(RunnerError, match="run LinearFlow/12345 does not exist"):
        Runner(str(FLOWS / "linear_flow.py"), show_output=False).resume(origin_run_id="12345")
    Runner(str(FLOWS / "linear_flow.py"), show_output=False).run()
    with pytest.raises(RuntimeError, match="the flow has no such step"):  # Metaflow's Runner raises RuntimeError
        Runner(str(FLOWS / "linear_flow.py"), show_output=False).resume(step_to_rerun="nostep")
    broken = tmp_path / "broken_flow.py"
    broken.write_text("from flowstone import FlowSpec, step\nimport no_such_module\n\n\nclass BrokenFlow(FlowSpec):\n"
                      "    pass\n")  # fmt: skip
    with pytest.raises(RunnerError, match="No module named 'no_such_module'") as raised:
        Runner(str(broken), show_output=False).run()
    assert isinstance(raised.value, FlowstoneException) and "Error executing:" in str(raised.value)
    with pytest.raises(RunnerError, match="No module named 'no_such_module'"):
        asyncio.run(Runner(str(broken), show_output=False).async_run())


def test_async_run_streams_output() -> None:
    async def main() -> tuple[list[str], list[str], str, bool]:
        running = await Runner(str(FLOWS / "linear_flow.py"), quiet=True).async_run(scale=1)
        assert running.run.id and running.run.pathspec.startswith("LinearFlow/")  # known before the run ends
        streamed = [(position, line) async for position, line in running.stream_log("stdout")]
        await running.wait()
        middle = streamed[len(streamed) // 2][0]
        rest = [line async for _, line in running.stream_log("stdout", position=middle)]
        return [line for _, line in streamed], rest, running.status, running.run.successful

    lines, rest, status, successful = asyncio.run(main())
    assert status == "successful" and successful
    assert any("stdout of start/1 attempt 0" in line for line in lines)
    assert rest == lines[len(lines) // 2 + 1 :]


def test_wait_with_a_timeout_stops_the_run() -> None:
    async def main() -> tuple[str, str]:
        runner = Runner(str(FLOWS / "linear_flow.py"), show_output=False, env={"FS_TEST_HANG_AT": "double"})
        async with runner:
            running = await runner.async_run()
            await running.wait(timeout=3)
            return running.status, running.run.status

    status, run_status = asyncio.run(main())
    assert status == "timeout" and run_status in ("failed", "interrupted")


def test_keyword_arguments_become_options() -> None:
    top = to_options({"quiet": True, "pylint": False, "event_logger": None, "decospecs": ["retry", "catch"],
                      "config": [("cfg", "cfg.json")], "config_value": [("cv", {"a": 1})], "branch": "b"},
                     top_level=True)  # fmt: skip
    assert top == ["--quiet", "--no-pylint", "--with", "retry", "--with", "catch", "--config", "cfg", "cfg.json",
                   "--config-value", "cv", json.dumps({"a": 1}), "--branch", "b"]  # fmt: skip
    run = to_options({"tags": ["a"], "no_cache": True, "dry_run": False, "flag": False, "numbers": [1, 2],
                      "max_workers": 4}, top_level=False)  # fmt: skip
    assert run == ["--tag", "a", "--no-cache", "--flag", "false", "--numbers", "[1, 2]", "--max-workers", "4"]


def test_the_runner_knows_every_flag_of_the_commands() -> None:
    class AnyFlow(FlowSpec):
        pass

    cli = build_cli(AnyFlow)
    for name in ("run", "resume"):
        command = cli.commands[name]
        flags = {p.name for p in command.params if isinstance(p, click.Option) and p.is_flag and not p.secondary_opts}
        assert flags <= COMMAND_FLAGS | {"help"}, flags - COMMAND_FLAGS
    negatable = {p.name for p in cli.params if isinstance(p, click.Option) and p.secondary_opts}
    assert negatable <= NEGATABLE


def test_runner_errors(tmp_path: Path) -> None:
    with pytest.raises(FlowstoneException, match="does not exist"):
        Runner(str(tmp_path / "missing.py"))
    not_a_flow = tmp_path / "plain.py"
    not_a_flow.write_text("x = 1\n")
    with pytest.raises(FlowstoneException, match="defines no FlowSpec subclass"):
        Runner(str(not_a_flow))


def test_resume_reruns_steps_whose_transitions_changed(tmp_path: Path) -> None:
    flow = tmp_path / "changing_flow.py"
    template = (
        "from flowstone import FlowSpec, step\n\n\nclass ChangingFlow(FlowSpec):\n"
        "    @step\n    def start(self):\n        self.x = 1\n        self.next(self.{middle})\n\n"
        "    @step\n    def {middle}(self):\n        self.next(self.end)\n\n"
        "    @step\n    def end(self):\n        pass\n\n\n"
        "if __name__ == '__main__':\n    ChangingFlow()\n"
    )
    flow.write_text(template.format(middle="a"))
    first = Runner(str(flow), show_output=False).run()
    assert first.status == "successful", first.stderr
    flow.write_text(template.format(middle="b"))  # start now goes to a different step
    resumed = Runner(str(flow), show_output=False).resume(origin_run_id=first.run.id)
    assert resumed.status == "successful", resumed.stderr
    run = resumed.run
    assert run["start"].task.origin_pathspec is None  # its recorded transition is stale: it ran again
    assert [s.id for s in run] == ["end", "b", "start"]
