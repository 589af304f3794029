"""gc: the retention rule, what is deleted and what stays (shared, referenced, young, running), dry runs, and
the leftovers it cleans."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from flowstone.datastore import layout
from flowstone.datastore.blob_claims import DELETING_STALE_SECONDS
from flowstone.datastore.maintenance import collect_garbage, fsck
from flowstone.datastore.records import dump_record
from tests.maintenance.helpers import (
    FLOW,
    assert_clean,
    blob_keys,
    flow_datastore,
    flowstone,
    make_run,
    read_everything,
    storage_for,
)
from tests.runtime.helpers import FlowRun, run_flow

DAY = 86400.0


@pytest.fixture
def runs(tmp_path: Path) -> list[FlowRun]:
    root = tmp_path / "ds"
    return [make_run(root, seed) for seed in (1, 2, 3, 4)]


def _root(runs: list[FlowRun]) -> Path:
    return Path(runs[0].fds.storage.root)


def _blobs(run: FlowRun) -> set[str]:
    return {rec.key for task in run.tasks() for rec in task.records.values() if rec.inline is None}


def _started(run: FlowRun, days_ago: float) -> None:
    record = run.fds.load_run_record(str(run.run_id))
    assert record is not None
    record["created_at"] = time.time() - days_ago * DAY
    run.fds.storage.save_one(f"{layout.run_prefix(FLOW, str(run.run_id))}/{layout.RUN_RECORD}", dump_record(record))


def _run_ids(root: Path) -> list[str]:
    return sorted(flow_datastore(root).list_run_ids(), key=int)


def test_keep_last_removes_older_runs_and_the_blobs_only_they_used(runs: list[FlowRun]) -> None:
    root = _root(runs)
    storage = storage_for(root)
    shared = runs[0].task("start").records["shared"].key
    kept, dropped = _blobs(runs[2]) | _blobs(runs[3]), _blobs(runs[0]) | _blobs(runs[1])
    dry = collect_garbage(storage, keep_last=2, grace=0, dry_run=True)
    assert _run_ids(root) == [str(r.run_id) for r in runs]  # a dry run removes nothing
    report = collect_garbage(storage, keep_last=2, grace=0)
    assert report.removed_runs == dry.removed_runs == [f"{FLOW}/{r.run_id}" for r in runs[:2]]
    assert (report.blobs, report.blob_bytes) == (dry.blobs, dry.blob_bytes) and report.blobs > 0
    remaining = blob_keys(storage)
    assert kept <= remaining and shared in kept and not (dropped - kept) & remaining
    assert len(dropped - kept) == report.blobs  # the code package and sources did not change: they stay
    assert _run_ids(root) == [str(r.run_id) for r in runs[2:]]
    for run in runs[2:]:
        assert read_everything(flow_datastore(root), str(run.run_id)) > 0
    assert_clean(storage, notes=True)
    again = collect_garbage(storage, keep_last=2, grace=0)
    assert (again.removed_runs, again.blobs, again.cleaned) == ([], 0, 0)


def test_older_than_and_keep_tag_protect_runs(runs: list[FlowRun]) -> None:
    root = _root(runs)
    for run in runs[:3]:
        _started(run, days_ago=10)
    runs[1].fds.change_run_tags(str(runs[1].run_id), [], ["keep-me"])
    report = collect_garbage(storage_for(root), older_than_days=7, keep_tags=["keep-me"], grace=0)
    assert report.removed_runs == [f"{FLOW}/{runs[0].run_id}", f"{FLOW}/{runs[2].run_id}"]
    assert _run_ids(root) == [str(runs[1].run_id), str(runs[3].run_id)]
    # both rules given: a run goes only if neither keeps it
    assert collect_garbage(storage_for(root), keep_last=0, older_than_days=7, grace=0).removed_runs == [
        f"{FLOW}/{runs[1].run_id}"
    ]


def test_without_a_rule_no_run_goes_and_the_grace_period_keeps_young_blobs(runs: list[FlowRun]) -> None:
    root = _root(runs)
    storage = storage_for(root)
    own = _blobs(runs[0]) - _blobs(runs[1]) - _blobs(runs[2]) - _blobs(runs[3])
    assert flowstone(root, "rm", f"{FLOW}/{runs[0].run_id}").returncode == 0
    report = collect_garbage(storage)  # default grace: an hour
    assert report.removed_runs == [] and report.blobs == 0 and report.young == len(own) > 0
    assert collect_garbage(storage, grace=0).blobs == len(own)


def test_a_running_run_is_kept_whatever_the_rule(runs: list[FlowRun]) -> None:
    storage, run_id = runs[0].fds.storage, str(runs[0].run_id)
    prefix = layout.run_prefix(FLOW, run_id)
    storage.delete([info.key for info in storage.list_tree(f"{prefix}/end")] + [f"{prefix}/{layout.RUN_END}"])
    record = runs[0].fds.load_run_record(run_id)
    assert record is not None
    record["runner"] = {"pid": os.getpid(), "host": os.uname().nodename}  # this process: alive
    storage.save_one(f"{prefix}/{layout.RUN_RECORD}", dump_record(record))
    report = collect_garbage(storage_for(_root(runs)), keep_last=1, grace=0)
    assert report.removed_runs == [f"{FLOW}/{run.run_id}" for run in runs[1:3]]


def test_blobs_another_flow_refers_to_stay(runs: list[FlowRun], tmp_path: Path) -> None:
    from tests.runtime.helpers import FLOWS, run_flow

    root = _root(runs)
    flow_file = tmp_path / "other_flow.py"
    flow_file.write_text((FLOWS / "maintenance_flow.py").read_text().replace(FLOW, "OtherFlow"))
    other = run_flow(flow_file, "--seed", "1", root=root)
    assert other.ok, other.output
    used_by_both = _blobs(runs[0])
    report = collect_garbage(storage_for(root), FLOW, keep_last=0, grace=0)
    assert len(report.removed_runs) == 4
    assert used_by_both <= blob_keys(storage_for(root))  # OtherFlow's run with seed 1 refers to them
    assert read_everything(other.fds, str(other.run_id)) > 0
    assert_clean(storage_for(root), notes=True)


def test_leftovers_are_cleaned(runs: list[FlowRun]) -> None:
    root = _root(runs)
    storage = storage_for(root)
    old = time.time() - DELETING_STALE_SECONDS - 3600
    shared = runs[0].task("start").records["shared"].key
    damaged_entry = root / FLOW / "_cache" / "ee" / f"{'e' * 64}.json"
    damaged_entry.parent.mkdir(parents=True)
    damaged_entry.write_bytes(b'{"blake3":"')
    leftovers = [damaged_entry, root / "data" / shared[:2] / ".tmp-killed-write",
                 root / "data" / layout.CLAIMS_DIR / ("c" * 64), root / "data" / layout.DELETING_DIR / shared,
                 root / "data" / layout.DAMAGED_DIR / ("d" * 64)]  # fmt: skip
    for path in leftovers[1:]:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"")
    for path in leftovers:
        os.utime(path, (old, old))
    dry = flowstone(root, "gc", "--dry-run")
    assert dry.returncode == 0 and "5 leftover(s) to clean" in dry.stdout, dry.stdout + dry.stderr
    assert all(path.exists() for path in leftovers)
    done = flowstone(root, "gc")
    assert done.returncode == 0 and "5 leftover(s) cleaned" in done.stdout, done.stdout + done.stderr
    assert not any(path.exists() for path in leftovers)
    assert_clean(storage, notes=True)


def test_the_command_line(runs: list[FlowRun]) -> None:
    root = _root(runs)
    dry = flowstone(root, "gc", FLOW, "--keep-last", "1", "--grace", "0", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("Would remove run") == 3 and "gc would remove 3 run(s) and" in dry.stdout
    assert "Warning: --grace 0 is shorter than" in dry.stderr
    assert len(_run_ids(root)) == 4
    done = flowstone(root, "gc", FLOW, "--keep-last", "1", "--keep-tag", "nope", "--grace", "0")
    assert done.returncode == 0 and "gc removed 3 run(s)" in done.stdout, done.stdout + done.stderr
    assert _run_ids(root) == [str(runs[3].run_id)]
    assert flowstone(root, "fsck").returncode == 0


def test_blobs_a_damaged_record_may_refer_to_stay(runs: list[FlowRun]) -> None:
    root = _root(runs)
    wanted = _blobs(runs[0])
    damaged = sorted((root / FLOW / str(runs[0].run_id)).glob("*/*/0.DONE"))
    for path in damaged:
        path.write_bytes(b"\x00 not a record")  # nothing legible: each attempt's data.json still names its blobs
    report = collect_garbage(storage_for(root), grace=0, dry_run=True)
    assert sorted(report.unreadable) == sorted(str(path.relative_to(root)) for path in damaged)
    assert report.records > len(damaged)
    done = flowstone(root, "gc", "--grace", "0")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("cannot be read; the blobs named in it are kept") == len(damaged), done.stderr
    assert wanted <= blob_keys(storage_for(root))
    read_everything(flow_datastore(root), str(runs[1].run_id))  # the other runs lost nothing either


def test_cards_are_kept_with_their_tasks(tmp_path: Path) -> None:
    from flowstone.cards import get_cards
    from flowstone.cards.storage import CARDS_METADATA
    from flowstone.client import context
    from flowstone.datastore.maintenance import inventory

    assert inventory.CARDS_METADATA == CARDS_METADATA
    root = tmp_path / "ds"
    done = run_flow("card_flow.py", root=root)
    assert done.ok, done.output
    report = collect_garbage(storage_for(root), grace=0)
    assert report.blobs == 0
    assert_clean(storage_for(root), notes=True)
    context.datastore("local", str(root))
    context.namespace(None)
    try:
        for task in done.tasks():
            for card in get_cards(f"CardFlow/{done.run_id}/{task.step_name}/{task.task_id}"):
                assert card.get()  # its HTML is still there
    finally:
        context.default_metadata()
        context.default_namespace()


def test_a_live_cards_blobs_are_kept_and_checked(tmp_path: Path) -> None:
    from flowstone.cards.storage import CARDS_METADATA

    root = tmp_path / "ds"
    done = run_flow("card_live_flow.py", root=root)
    assert done.ok, done.output
    fds = flow_datastore(root, flow="CardLiveFlow")
    (task,) = fds.get_task_datastores(run_id=str(done.run_id), steps=["start"])
    (entry,) = task.load_metadata([CARDS_METADATA])[CARDS_METADATA]
    html, update = entry["key"], entry["data_key"]
    collect_garbage(storage_for(root), grace=0)
    assert {html, update} <= blob_keys(storage_for(root))  # the card and its latest data update stay
    assert_clean(storage_for(root))
    html_path = root / "data" / html[:2] / html
    html_path.write_bytes(html_path.read_bytes()[:-1] + b"!")
    (root / "data" / update[:2] / update).unlink()
    problems = {problem.key: problem.what for problem in fsck(storage_for(root)).problems}
    assert set(problems) == {f"data/{html[:2]}/{html}", f"data/{update[:2]}/{update}"}, problems
    assert "missing" in problems[f"data/{update[:2]}/{update}"]
