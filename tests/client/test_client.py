"""The Client API over real runs in a real local datastore."""

from __future__ import annotations

import os
import pickle
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from flowstone import DataArtifact, Flow, Metaflow, Run, Step, Task, get_namespace, namespace
from flowstone.client import context
from flowstone.client.tags import TaggingError
from flowstone.datastore import FlowDataStore
from flowstone.errors import FlowstoneException, FlowstoneNamespaceMismatch, FlowstoneNotFound
from flowstone.storage.local import LocalStorage
from tests.runtime.helpers import FlowRun, run_flow


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("client") / "ds"


@pytest.fixture(scope="module")
def runs(root: Path) -> dict[str, FlowRun]:
    """Three runs: alice's failed one, alice's successful one (tagged), bob's."""
    failed = run_flow("linear_flow.py", root=root, env={"FLOWSTONE_USER": "alice", "FS_TEST_FAIL_AT": "add"})
    ok = run_flow("client_flow.py", "--alpha", "0.25", "--tag", "gold", root=root, env={"FLOWSTONE_USER": "alice"})
    later = run_flow("linear_flow.py", "--tag", "gold", root=root, env={"FLOWSTONE_USER": "alice"})
    bob = run_flow("linear_flow.py", root=root, env={"FLOWSTONE_USER": "bob"})
    assert not failed.ok and ok.ok and later.ok and bob.ok, ok.output
    return {"failed": failed, "client": ok, "later": later, "bob": bob}


@pytest.fixture(autouse=True)
def client(root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("FLOWSTONE_USER", "alice")
    context.datastore("local", str(root))
    context.default_namespace()
    yield
    context.default_metadata()
    context.default_namespace()


def test_flows_and_runs_newest_first(runs: dict[str, FlowRun]) -> None:
    assert {f.id for f in Metaflow().flows} == {"LinearFlow", "ClientFlow"}
    flow = Flow("LinearFlow")
    ids = [r.id for r in flow]
    assert ids == [runs["later"].run_id, runs["failed"].run_id]  # alice's only, newest first
    assert flow.latest_run.id == runs["later"].run_id
    assert flow.latest_successful_run.id == runs["later"].run_id
    assert [r.id for r in flow.runs("gold")] == [runs["later"].run_id]
    assert flow[runs["failed"].run_id].successful is False
    assert runs["failed"].run_id in flow and "nope" not in flow


def test_namespaces(runs: dict[str, FlowRun]) -> None:
    assert get_namespace() == "user:alice"
    bob_run = f"LinearFlow/{runs['bob'].run_id}"
    with pytest.raises(FlowstoneNamespaceMismatch, match="not in the current namespace 'user:alice'"):
        Run(bob_run)
    namespace(None)
    assert len(list(Flow("LinearFlow"))) == 3 and Run(bob_run).successful
    namespace("user:bob")
    assert [r.id for r in Flow("LinearFlow")] == [runs["bob"].run_id]
    namespace("gold")
    assert {r.pathspec for r in Flow("LinearFlow")} == {f"LinearFlow/{runs['later'].run_id}"}


def test_pathspec_errors(runs: dict[str, FlowRun]) -> None:
    with pytest.raises(FlowstoneNotFound, match="Flow 'NoSuchFlow' does not exist"):
        Flow("NoSuchFlow")
    with pytest.raises(FlowstoneNotFound, match="Run 'LinearFlow/123' does not exist"):
        Run("LinearFlow/123")
    with pytest.raises(FlowstoneException, match="is not a run pathspec: expected 'FlowName/run_id'"):
        Run("LinearFlow")
    with pytest.raises(FlowstoneNotFound, match="does not exist"):
        Task(f"ClientFlow/{runs['client'].run_id}/start/999")
    with pytest.raises(FlowstoneNotFound):
        Run(f"ClientFlow/{runs['client'].run_id}")["nostep"]
    with pytest.raises(FlowstoneNotFound, match="Attempts can only be given for a Task"):
        Run(f"ClientFlow/{runs['client'].run_id}", attempt=1)


def test_run(runs: dict[str, FlowRun]) -> None:
    run = Run(f"ClientFlow/{runs['client'].run_id}")
    assert [s.id for s in run] == ["end", "join", "work", "start"]  # newest first, as in Metaflow
    assert list(run.steps()) == list(run) and list(run.steps("gold", "user:alice")) == list(run)
    assert list(run.steps("not-a-tag")) == []
    assert run.successful and run.finished and run.status == "succeeded"
    assert isinstance(run.created_at, datetime) and run.created_at.tzinfo is None  # naive local time
    assert run.finished_at > run.created_at
    assert run.end_task == run["end"].task and run._graph_endpoints == ("start", "end")
    assert run.data.summary == {"alpha": 0.25, "results": ["x-0", "y-1", "z-0"]}
    assert run.data.run_id_seen == run.id
    assert "gold" in run.user_tags and "user:alice" in run.system_tags and run.tags >= {"gold", "user:alice"}
    assert run.parameters == {"alpha": 0.25}
    assert run.code.path == "client_flow.py" and "class ClientFlow" in run.code.flowspec
    assert run.parent == Flow("ClientFlow") and run.parent.parent is None
    assert run.origin_pathspec is None and run.trigger is None and run.path_components == ["ClientFlow", run.id]
    failed = Run(f"LinearFlow/{runs['failed'].run_id}")
    assert not failed.successful and not failed.finished and failed.data is None and failed.status == "failed"
    with pytest.raises(KeyError):
        run["nostep"]
    assert Flow("ClientFlow").tags == frozenset() and Flow("ClientFlow").created_at == run.created_at


def test_tags_can_be_changed(runs: dict[str, FlowRun]) -> None:
    run = Run(f"LinearFlow/{runs['failed'].run_id}")
    run.add_tag("triage")
    run.add_tags(["a", "b", "user:alice"])  # a system tag given as a user tag is left out
    run.remove_tag("a")
    run.replace_tag("b", "c")
    assert run.user_tags == Run(run.pathspec).user_tags == {"triage", "c"}
    run.add_tag(["d", "e"])  # Metaflow's deprecated list forms
    run.replace_tag(["d", "e"], ["f"])
    run.remove_tag(["f"])
    run.add_tag("新想法".encode())  # UTF-8 bytes are a tag
    assert run.user_tags == {"triage", "c", "新想法"}
    with pytest.raises(TaggingError, match=r"Cannot remove a tag that is a system tag \(user:alice\)"):
        run.remove_tags(["triage", "user:alice"])  # all or nothing
    refused = {"": "empty", "a" * 501: "too long", 4: "iterable", b"\xff\xfe": "UTF-8 decodable",
               "\udcff": "UTF-8 encodable"}  # fmt: skip
    for tag, why in refused.items():
        with pytest.raises(TaggingError, match=why):
            run.add_tag(tag)  # type: ignore[arg-type]
    with pytest.raises(TaggingError, match="must be strings"):
        run.add_tags([4])  # type: ignore[list-item]
    with pytest.raises(TaggingError, match="at least one tag"):
        run.replace_tags([], [])
    with pytest.raises(TaggingError, match="may not be a string"):
        run.remove_tags("triage")
    assert isinstance(TaggingError(""), FlowstoneException)
    run.remove_tags(["triage", "c", "新想法"])
    assert Run(run.pathspec).user_tags == frozenset()


def test_a_run_keeps_its_tags_until_it_changes_them(runs: dict[str, FlowRun]) -> None:
    """As in Metaflow: a Run reads its tags once, and its own changes update them."""
    mine, other = Run(f"LinearFlow/{runs['later'].run_id}"), Run(f"LinearFlow/{runs['later'].run_id}")
    assert mine.user_tags == other.user_tags == {"gold"}
    other.add_tag("by-other")
    assert mine.user_tags == {"gold"}  # not re-read
    mine.add_tag("by-mine")
    assert mine.user_tags == {"gold", "by-other", "by-mine"}  # the change's own result
    task = mine["end"].task
    assert task.tags == mine.tags and mine["end"].tags == mine.tags and task["result"].tags == mine.tags
    mine.remove_tags(["by-other", "by-mine"])


def test_steps_and_tasks(runs: dict[str, FlowRun]) -> None:
    run = Run(f"ClientFlow/{runs['client'].run_id}")
    work = run["work"]
    tasks = list(work)
    assert len(tasks) == 3 and [t.index for t in tasks] == [2, 1, 0]  # newest first
    assert work.task == tasks[0] and list(work.tasks()) == tasks and work[tasks[1].id] == tasks[1]
    assert list(work.tasks("gold")) == tasks and list(work.tasks("gold", "nope")) == []
    assert work.finished_at is not None and work.created_at <= work.finished_at
    assert [s.id for s in work.child_steps] == ["join"] and [s.id for s in work.parent_steps] == ["start"]
    assert work.parent == run and tasks[0].parent == work and tasks[0].parent.parent == run
    start = run["start"].task
    assert list(tasks[0].parent_task_pathspecs) == [start.pathspec]
    assert [p.pathspec for p in tasks[0].parent_tasks] == [start.pathspec]
    assert sorted(c.pathspec for c in start.child_tasks) == sorted(t.pathspec for t in tasks)
    assert [c.id for c in tasks[2].child_tasks] == [run["join"].task.id]
    assert list(tasks[2].child_task_pathspecs) == [run["join"].task.pathspec]
    with pytest.raises(KeyError):
        work["999"]


def test_objects_keep_the_namespace_they_were_made_in(runs: dict[str, FlowRun]) -> None:
    flow = Flow("LinearFlow")  # in user:alice
    namespace("user:bob")
    assert [r.id for r in flow] == [runs["later"].run_id, runs["failed"].run_id]  # still alice's runs
    with pytest.raises(FlowstoneNamespaceMismatch):
        flow[runs["bob"].run_id]
    assert not flow[runs["later"].run_id].is_in_namespace()  # ... in the namespace current now
    with pytest.raises(FlowstoneNamespaceMismatch):
        Flow("ClientFlow")  # bob has no run of it
    with pytest.raises(FlowstoneNamespaceMismatch):
        Task(f"ClientFlow/{runs['client'].run_id}/start/1")
    assert {f.id for f in Metaflow()} == {"LinearFlow"}
    unchecked = Run(f"ClientFlow/{runs['client'].run_id}", _namespace_check=False)
    assert unchecked.parent.id == "ClientFlow" and unchecked["start"].task.parent.parent == unchecked


def test_task_artifacts(runs: dict[str, FlowRun]) -> None:
    start = Run(f"ClientFlow/{runs['client'].run_id}")["start"].task
    assert start.data.small == "tiny" and "big" in start and "_secret" not in start  # private names: not stored
    big = start["big"]
    assert isinstance(big, DataArtifact) and big.size == 1 << 20 and big.type == "builtins.bytes"
    assert len(big.sha) == 64 and big.data == bytes(range(256)) * 4096
    assert start.artifacts.small.data == "tiny"
    assert {a.id for a in start} >= {"items", "big", "small", "this_run", "alpha"}
    assert start["items"].created_at is not None and start["items"].finished_at == start["items"].created_at
    by_pathspec = DataArtifact(f"{start.pathspec}/small")
    assert by_pathspec == start["small"] and by_pathspec.data == "tiny" and by_pathspec.parent == start
    assert by_pathspec.tags == start.tags and by_pathspec.path_components[-1] == "small"
    with pytest.raises(FlowstoneNotFound):
        DataArtifact(f"{start.pathspec}/nothing")
    with pytest.raises(AttributeError, match="has no artifact 'nothing'"):
        _ = start.data.nothing


def test_task_status_logs_metadata(runs: dict[str, FlowRun]) -> None:
    run = Run(f"ClientFlow/{runs['client'].run_id}")
    start = run["start"].task
    assert start.successful and start.finished and start.exception is None and start.current_attempt == 0
    assert start.stdout == "hello from start\n" and start.stderr == "warning from start\n"
    assert start.stdout_size == len("hello from start\n") and start.runtime_name == "local"
    ((when, line),) = list(start.loglines("stdout"))
    assert line == "hello from start" and isinstance(when, datetime) and when.tzinfo is None
    retried = list(run["work"])[1]
    assert retried.current_attempt == 1 and retried.data.result == "y-1"
    first = Task(retried.pathspec, attempt=0)
    assert repr(first).endswith("attempt=0)")
    assert not first.finished and not first.successful and first.current_attempt == 0
    assert first.exception.type == "builtins.RuntimeError" and "first attempt of y fails" in str(first.exception)
    failed_task = Run(f"LinearFlow/{runs['failed'].run_id}")["add"].task
    assert not failed_task.finished and "planned failure" in failed_task.exception.exception


def test_task_metadata_as_metaflow_shows_it(runs: dict[str, FlowRun], root: Path) -> None:
    run = Run(f"ClientFlow/{runs['client'].run_id}")
    start = run["start"].task
    meta = start.metadata_dict
    assert meta["custom_metric"] == 0.95  # recorded by the step itself, a JSON value
    assert {k: meta[k] for k in ("attempt", "attempt_ok", "origin-run-id", "ds-type", "user", "script-name")} == {
        "attempt": "0", "attempt_ok": "True", "origin-run-id": "None", "ds-type": "local", "user": "alice",
        "script-name": "client_flow.py"}  # fmt: skip
    assert meta["ds-root"] == str(root) and "origin-task-id" not in meta
    assert not {"cache", "input_paths", "started_at", "origin_run_id"} & set(meta)  # flowstone's own records
    assert start._get_datastore().load_metadata(["custom_metric"]) == {"custom_metric": 0.95}
    types = {m.name: m.type for m in start.metadata}
    assert types["attempt_ok"] == "internal_attempt_status" and types["attempt"] == "attempt"
    assert all(isinstance(m.created_at, int) and m.task == start for m in start.metadata)
    retried = list(run["work"])[1]
    assert sorted(m.value for m in retried.metadata if m.type == "attempt") == ["0", "1"]  # one per attempt
    assert retried.metadata_dict["attempt"] == "1" and retried.metadata_dict["attempt_ok"] == "True"
    first = Task(retried.pathspec, attempt=0)
    assert [m.value for m in first.metadata if m.type == "attempt"] == ["0"]
    assert first.metadata_dict["attempt_ok"] == "False" and "attempt-done" not in first.metadata_dict


def test_client_objects_pickle(runs: dict[str, FlowRun]) -> None:
    task = Run(f"ClientFlow/{runs['client'].run_id}")["start"].task
    objects = [Flow("ClientFlow"), task._run(), Step(f"{task._run().pathspec}/start"), task]
    restored = pickle.loads(pickle.dumps(objects))
    assert restored == objects
    assert restored[3].data.small == "tiny"
    stored = task.data.this_run  # a Run stored as an artifact by the flow itself
    assert stored == task._run() and stored.successful


def test_listing_reads_no_artifact_blobs(runs: dict[str, FlowRun], monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[str] = []
    original = LocalStorage.load_bytes

    def spy(self: LocalStorage, keys):  # type: ignore[no-untyped-def]
        keys = list(keys)
        loaded.extend(keys)
        return original(self, keys)

    monkeypatch.setattr(LocalStorage, "load_bytes", spy)
    namespace(None)
    for flow in Metaflow():
        for run in flow:
            for step in run:
                for task in step:
                    assert task.finished in (True, False)
    run = Run(f"ClientFlow/{runs['client'].run_id}")
    assert run["start"].task.data.small == "tiny"  # inline: read from the task's record
    assert not [k for k in loaded if k.startswith("data/")]
    assert len(run["start"].task.data.big) == 1 << 20
    assert len([k for k in loaded if k.startswith("data/")]) == 1


def test_a_running_task_is_visible_as_not_finished(tmp_path: Path) -> None:
    gate = str(tmp_path / "gate")
    os.mkfifo(gate + ".started")
    os.mkfifo(gate + ".release")
    root = tmp_path / "live"
    result: dict[str, FlowRun] = {}

    def run_then_unblock() -> None:
        result["run"] = run_flow("client_flow.py", root=root, env={"FS_TEST_GATE": gate})
        try:  # if the flow ended without reaching the gate, wake the test up instead of leaving it blocked
            fd = os.open(gate + ".started", os.O_WRONLY | os.O_NONBLOCK)
            os.write(fd, b"the flow ended first\n")
            os.close(fd)
        except OSError:
            pass

    runner = threading.Thread(target=run_then_unblock)
    runner.start()
    with open(gate + ".started") as f:  # returns once the join step is running
        assert f.read() == "started\n", result.get("run") and result["run"].output
    context.datastore("local", str(root))
    run = Flow("ClientFlow").latest_run
    assert run.status == "running" and not run.finished and run.data is None
    join = run["join"].task
    assert not join.finished and not join.successful and join.finished_at is None
    assert run["start"].task.finished and len(list(run["work"])) == 3
    with open(gate + ".release", "w") as f:
        f.write("go")
    runner.join(timeout=120)
    assert result["run"].ok
    assert Run(run.pathspec).successful and Task(join.pathspec).finished


def test_tasks_changing_tags_at_once_lose_nothing(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    done = run_flow("tagging_flow.py", "--tag", "initial", "--max-workers", "6", root=root)
    assert done.ok, done.output
    context.datastore("local", str(root))
    run = Run(f"TaggingFlow/{done.run_id}")
    assert run.user_tags == {"initial"} | {f"from-{i}" for i in range(6)}


def test_a_failure_catch_caught_is_finished_but_not_successful(tmp_path: Path) -> None:
    """As in Metaflow: the task completed, its step did not succeed, and it has no exception of its own."""
    root = tmp_path / "ds"
    done = run_flow("tagging_flow.py", root=root)
    assert done.ok, done.output
    context.datastore("local", str(root))
    run = Run(f"TaggingFlow/{done.run_id}")
    end = run.end_task
    assert end.finished and not end.successful and end.exception is None
    assert "caught at the end" in str(end.data.end_error)
    assert run.finished and not run.successful and run["join"].task.successful


def test_the_end_step_is_found_in_the_recorded_graph(tmp_path: Path) -> None:
    """A run's end step need not be called 'end': the graph the run recorded names it."""
    root = tmp_path / "ds"
    fds = FlowDataStore("CustomFlow", storage=LocalStorage(str(root)))
    graph = {"steps": [{"name": "begin", "type": "start", "next": ["finish"]},
                       {"name": "finish", "type": "end", "next": []}]}  # fmt: skip
    run_id = fds.create_run({"created_at": 1.0, "system_tags": ["user:alice"], "graph": graph})
    fds.save_run_tags(run_id, [])
    for task_id, step in (("1", "begin"), ("2", "finish")):
        task = fds.get_datastore_for_task(run_id, step, task_id, mode="w")
        task.save_artifacts([("where", step)])
        task.save_metadata({"attempt_ok": True})
        task.done()
    context.datastore("local", str(root))
    run = Run(f"CustomFlow/{run_id}")
    assert run._graph_endpoints == ("begin", "finish")
    assert run.end_task.pathspec == f"CustomFlow/{run_id}/finish/2" and run.data.where == "finish"
    assert run.successful and run._ipython_key_completions_() == ["finish", "begin"]
    assert len(run["begin"].task.artifacts) == 1


def test_a_reused_task_shows_the_metadata_of_its_origin(tmp_path: Path) -> None:
    root, retry = tmp_path / "ds", ("--with", "retry:times=1")
    failed = run_flow("linear_flow.py", root=root, top_args=retry, env={"FS_TEST_FLAKY_AT": "double",
                                                                         "FS_TEST_FAIL_AT": "add"})  # fmt: skip
    resumed = run_flow("linear_flow.py", "--origin-run-id", str(failed.run_id), root=root, top_args=retry,
                       command="resume")  # fmt: skip
    assert not failed.ok and resumed.ok, resumed.output
    context.datastore("local", str(root))
    origin = Run(f"LinearFlow/{failed.run_id}")["double"].task
    reused = Flow("LinearFlow").latest_run["double"].task
    assert reused.origin_pathspec == origin.pathspec and reused.current_attempt == 0
    assert sorted(m.value for m in reused.metadata if m.type == "attempt") == ["0", "1"]  # the origin's attempts
    mine = {"origin-run-id", "origin-task-id"}
    assert {k: v for k, v in reused.metadata_dict.items() if k not in mine} == {
        k: v for k, v in origin.metadata_dict.items() if k not in mine}  # fmt: skip
    assert reused.metadata_dict["origin-run-id"] == failed.run_id
    assert reused.metadata_dict["origin-task-id"] == origin.id
