"""What the Client API records while a step reads through it, and asking those questions again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowstone import Flow, reads
from flowstone.client import context
from flowstone.client.reads import check_client_reads
from flowstone.settings import Settings
from tests.runtime.helpers import run_flow


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "ds"
    context.datastore("local", str(root))
    context.namespace("user:alice")
    yield root
    context.default_metadata()
    context.default_namespace()


def model(root: Path, weight: int, user: str = "alice") -> str:
    run = run_flow("model_flow.py", "--weight", str(weight), root=root, env={"FLOWSTONE_USER": user})
    assert run.ok and run.run_id, run.output
    return run.run_id


def test_the_questions_a_step_asked_and_whether_they_have_other_answers_now(root: Path) -> None:
    first = model(root, 2)
    with reads.recording() as log:
        flow = Flow("ModelFlow")
        latest = flow.latest_successful_run
        assert latest is not None and latest.id == first
        assert latest.data.model == {"weight": 2}
        assert [run.id for run in flow.runs()] == [first]
    answers = log.answers("client")
    assert sorted(a[0] for a in answers) == ["artifact", "latest_successful_run", "runs", "tasks"]
    runs = next(a for a in answers if a[0] == "runs")
    assert runs == ["runs", "ModelFlow", "user:alice", "local", str(root), [], [first], True]  # listed to its end
    context_now = reads.CheckContext(Settings(datastore_sysroot_local=str(root)), {}, str(root))
    assert check_client_reads(answers, context_now) is None
    model(root, 2, user="bob")  # another namespace: nothing the step asked changes
    assert check_client_reads(answers, context_now) is None
    second = model(root, 3)
    changed = check_client_reads(answers, context_now)
    assert changed == f"Flow('ModelFlow').latest_successful_run changed from ModelFlow/{first} to ModelFlow/{second}"


def test_reads_outside_a_step_or_made_for_flowstone_are_not_recorded(root: Path) -> None:
    first = model(root, 2)
    assert Flow("ModelFlow").latest_run.id == first  # type: ignore[union-attr]
    with reads.recording() as log:
        exec(compile("Flow('ModelFlow').latest_run", "/".join([str(Path(reads.__file__).parents[1]), "pretend.py"]),
                     "exec"), {"Flow": Flow})  # fmt: skip
        first_only = next(iter(Flow("ModelFlow")))
    assert first_only.id == first
    assert log.answers("client") == [["runs", "ModelFlow", "user:alice", "local", str(root), [], [first], False]]
