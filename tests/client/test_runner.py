"""Runner: flows driven from Python, blocking and asynchronous."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from flowstone import Runner
from flowstone.client import context
from flowstone.errors import FlowstoneException
from tests.runtime.helpers import FLOWS


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLOWSTONE_DATASTORE_SYSROOT_LOCAL", str(tmp_path / "ds"))
    context.default_metadata()


def test_run_returns_the_run() -> None:
    with Runner(str(FLOWS / "linear_flow.py"), show_output=False, quiet=True).run(scale=3, tags=["t1"]) as running:
        assert running.status == "successful" and running.returncode == 0
        run = running.run
        assert run.successful and run.data.result == {"total": 18, "scale": 3}
        assert "t1" in run.user_tags
        assert "stdout of end" in running.stdout


def test_failed_run_and_resume() -> None:
    runner = Runner(str(FLOWS / "linear_flow.py"), show_output=False, env={"FS_TEST_FAIL_AT": "add"})
    failed = runner.run()
    assert failed.status == "failed" and failed.returncode == 1 and not failed.run.successful
    assert "planned failure in add" in failed.stdout + failed.stderr
    resumed = Runner(str(FLOWS / "linear_flow.py"), show_output=False).resume(origin_run_id=failed.run.id)
    assert resumed.status == "successful"
    run = resumed.run
    assert run.origin_run_id == failed.run.id
    # a finished run keeps its id in memory and leaves no file behind, even without 'with'
    assert not Path(failed._run_id_file).exists() and not Path(resumed._run_id_file).exists()
    assert run["double"].task.origin_pathspec == f"LinearFlow/{failed.run.id}/double/2"
    assert run["add"].task.origin_pathspec is None
    assert run.data.result == {"total": 12, "scale": 2}


def test_resume_from_a_step_reruns_it_and_what_follows() -> None:
    first = Runner(str(FLOWS / "linear_flow.py"), show_output=False).run(scale=5)
    again = Runner(str(FLOWS / "linear_flow.py"), show_output=False).resume(step_to_rerun="double")
    run = again.run
    assert run.origin_run_id == first.run.id  # the latest run is the default origin
    assert run["start"].task.origin_pathspec is not None
    assert [run[s].task.origin_pathspec for s in ("double", "add", "end")] == [None, None, None]
    assert run.data.result == {"total": 30, "scale": 5}  # parameters come from the origin run


def test_resume_errors() -> None:
    missing = Runner(str(FLOWS / "linear_flow.py"), show_output=False).resume(origin_run_id="12345")
    assert missing.returncode == 1 and "run LinearFlow/12345 does not exist" in missing.stderr
    Runner(str(FLOWS / "linear_flow.py"), show_output=False).run()
    bad_step = Runner(str(FLOWS / "linear_flow.py"), show_output=False).resume(step_to_rerun="nostep")
    assert bad_step.returncode == 1 and "the flow has no such step" in bad_step.stderr


def test_async_run_streams_output() -> None:
    async def main() -> tuple[list[str], str]:
        running = await Runner(str(FLOWS / "linear_flow.py"), quiet=True).async_run(scale=1)
        lines = [line async for _, line in running.stream_log("stdout")]
        await running.wait()
        return lines, running.status

    lines, status = asyncio.run(main())
    assert status == "successful"
    assert any("stdout of start/1 attempt 0" in line for line in lines)


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
    assert [s.id for s in run] == ["start", "b", "end"]
