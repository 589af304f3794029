"""Run and task summaries for listings: what they read, what they keep, how they page and filter."""

from __future__ import annotations

import os
import time
from pathlib import Path

from flowstone.client import context
from flowstone.client.runs import Flow, Run
from flowstone.client.summaries import RunFilter, RunSummaries, run_count, run_tasks
from flowstone.datastore import FlowDataStore
from flowstone.settings import Settings
from tests.runtime.helpers import run_flow


def _write_runs(root: Path, count: int, ended: bool = True) -> tuple[FlowDataStore, list[str]]:
    fds = FlowDataStore("ListedFlow", settings=Settings(datastore_sysroot_local=str(root), fsync=False))
    ids = []
    for i in range(count):
        user = "bob" if i % 3 == 0 else "alice"
        record = {"flow_name": "ListedFlow", "created_at": time.time(), "user": user, "graph": {"steps": []},
                  "system_tags": [f"user:{user}"], "parameters": {}, "runner": {"pid": os.getpid(),
                  "host": os.uname().nodename}}  # fmt: skip
        run_id = fds.create_run(record, run_id=str(1000 + i))
        fds.save_run_tags(run_id, ["even"] if i % 2 == 0 else [])
        if ended:
            status = "failed" if i % 5 == 0 else "succeeded"
            fds.save_run_end(run_id, {"status": status, "finished_at": time.time(), "tasks": {"done": 4, "reused": 1}})
        ids.append(run_id)
    return fds, ids


def _flow(root: Path) -> Flow:
    context.datastore("local", str(root))
    return Flow("ListedFlow", _namespace_check=False)


def test_pages_newest_first_with_filters(tmp_path: Path) -> None:
    _, ids = _write_runs(tmp_path, 12)
    flow, summaries = _flow(tmp_path), RunSummaries()
    assert run_count(flow) == 12
    page, more = summaries.runs(flow, limit=5)
    assert [s.run_id for s in page] == ids[::-1][:5] and more
    rest, more = summaries.runs(flow, limit=50, before=page[-1].run_id)
    assert [s.run_id for s in rest] == ids[::-1][5:] and not more
    failed, _ = summaries.runs(flow, RunFilter(status="failed"))
    assert [s.run_id for s in failed] == ["1010", "1005", "1000"]
    bob_even, _ = summaries.runs(flow, RunFilter(user="bob", tag="even"))
    assert [s.run_id for s in bob_even] == ["1006", "1000"]
    first = page[0]
    assert (first.tasks_done, first.tasks_reused, first.user, first.user_tags) == (4, 1, "alice", ())


def test_ended_runs_are_kept_and_running_ones_read_again(tmp_path: Path) -> None:
    fds, ids = _write_runs(tmp_path, 2, ended=False)
    flow, summaries = _flow(tmp_path), RunSummaries()
    assert [s.status for s in summaries.runs(flow)[0]] == ["running", "running"]
    fds.save_run_end(ids[1], {"status": "succeeded", "finished_at": time.time()})
    newest = summaries.summarize(Run._lazy("ListedFlow", ids[1], flow._ds))
    assert newest.status == "succeeded" and newest.tasks_done is None
    os.remove(tmp_path / "ListedFlow" / ids[1] / "_run.json")  # an ended run's summary is kept: not read again
    assert summaries.summarize(Run._lazy("ListedFlow", ids[1], flow._ds)).status == "succeeded"
    fds.change_run_tags(ids[1], [], ["late"])  # user tags are read every time
    assert summaries.summarize(Run._lazy("ListedFlow", ids[1], flow._ds)).user_tags == ("late",)


def test_a_run_whose_record_is_not_written_yet_is_not_listed(tmp_path: Path) -> None:
    _write_runs(tmp_path, 2)
    (tmp_path / "ListedFlow" / "2000").mkdir()
    page, _ = RunSummaries().runs(_flow(tmp_path))
    assert [s.run_id for s in page] == ["1001", "1000"]


def test_task_summaries_of_a_real_run_say_what_ran_and_what_was_reused(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    first = run_flow("ui_flow.py", root=root)
    again = run_flow("ui_flow.py", root=root)
    assert first.ok and again.ok, again.output
    context.datastore("local", str(root))
    tasks = run_tasks(Run(f"UiFlow/{again.run_id}", _namespace_check=False))
    assert [t.step for t in tasks] == ["start", "work", "work", "work", "gather", "report", "left", "right", "meet",
                                       "end"]  # fmt: skip
    assert all(t.reused and t.decision == "hit" and t.status == "succeeded" for t in tasks)
    assert [t.foreach_index for t in tasks if t.step == "work"] == [0, 1, 2]
    assert all(t.started_at == t.finished_at for t in tasks)  # a reused task took no time in this run
    ran = run_tasks(Run(f"UiFlow/{first.run_id}", _namespace_check=False))
    assert not any(t.reused for t in ran) and all(t.finished_at >= t.started_at for t in ran)
    fds = FlowDataStore("UiFlow", settings=Settings(datastore_sysroot_local=str(root)))
    assert fds.load_run_end(again.run_id)["tasks"] == {"done": 10, "reused": 10}
    assert fds.load_run_end(first.run_id)["tasks"] == {"done": 10, "reused": 0}
