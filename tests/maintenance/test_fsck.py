"""fsck: every kind of damage is a problem naming the object and what to do; leftovers are notes; exit codes."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from flowstone.datastore import layout
from flowstone.datastore.blob_claims import DELETING_STALE_SECONDS
from flowstone.datastore.maintenance import fsck
from flowstone.datastore.maintenance.remove import remove_cache_entries
from flowstone.datastore.records import dump_record
from tests.maintenance.helpers import FLOW, assert_clean, flow_datastore, flowstone, make_run, storage_for
from tests.runtime.helpers import FLOWS, run_flow


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    make_run(root, 1)
    make_run(root, 2)
    return root


def _task_file(root: Path, step: str, name: str) -> Path:
    (path,) = sorted((root / FLOW).glob(f"*/{step}/*/{name}"))[:1] or [None]  # the first run's
    assert path is not None
    return path


def _blob_of(root: Path, step: str, artifact: str) -> tuple[str, Path]:
    fds = flow_datastore(root)
    run_id = sorted(fds.list_run_ids(), key=int)[0]
    (task,) = fds.get_task_datastores(run_id=run_id, steps=[step])
    key = task.records[artifact].key
    return key, root / "data" / key[:2] / key


def test_a_healthy_datastore_is_clean(root: Path) -> None:
    report = fsck(storage_for(root))
    assert report.ok and report.notes == []
    assert report.blobs == len([p for p in (root / "data").rglob("*") if p.is_file()])
    assert report.records > 20 and report.references > 5 and report.blob_bytes > 0
    done = flowstone(root, "fsck")
    assert done.returncode == 0 and "no problems" in done.stdout, done.stdout + done.stderr


def test_each_kind_of_damage_is_a_problem_that_names_the_object(root: Path) -> None:
    flipped, flipped_path = _blob_of(root, "start", "own")
    data = bytearray(flipped_path.read_bytes())
    data[-1] ^= 0xFF
    flipped_path.write_bytes(bytes(data))
    lost, lost_path = _blob_of(root, "join", "parts")
    lost_path.unlink()
    truncated = _task_file(root, "end", "0.DONE")
    truncated.write_bytes(truncated.read_bytes()[:40])
    edited = _task_file(root, "body", "0.DONE")
    edited.write_bytes(edited.read_bytes().replace(b'"key":"', b'"key":"0', 1).replace(b'","size"', b'","size"', 1))
    fds = flow_datastore(root)
    fds.save_cache_entry("ab" * 32, {"run_id": "123", "step": "start", "task_id": "1", "attempt": 0})
    (root / "data" / "zz").mkdir()
    (root / "data" / "zz" / "not-a-blob").write_bytes(b"?")
    report = fsck(storage_for(root))
    by_key = {problem.key: problem for problem in report.problems}
    assert by_key[f"data/{flipped[:2]}/{flipped}"].todo.startswith("Run the flow again")
    assert "missing" in by_key[f"data/{lost[:2]}/{lost}"].what
    relative = str(truncated.relative_to(root))
    assert "truncated" in by_key[relative].what and "flowstone rm" in by_key[relative].todo
    assert "checksum" in by_key[str(edited.relative_to(root))].what
    assert "missing or not done" in by_key[layout.cache_entry_key(FLOW, "ab" * 32)].what
    assert "not a blob" in by_key["data/zz/not-a-blob"].what
    done = flowstone(root, "fsck")
    assert done.returncode == 1
    for key in by_key:
        assert f"problem: {key}" in done.stdout
    assert done.stdout.count("To do: ") == len(report.problems)


def test_a_blob_marked_damaged_that_reads_intact_is_a_problem(root: Path) -> None:
    key, _ = _blob_of(root, "start", "own")
    mark = root / "data" / layout.DAMAGED_DIR / key
    mark.parent.mkdir()
    mark.write_bytes(b"a bad read")
    (problem,) = fsck(storage_for(root)).problems
    assert problem.key == f"data/{layout.DAMAGED_DIR}/{key}" and "reads intact" in problem.what


def test_leftovers_are_notes_not_problems(root: Path) -> None:
    fds = flow_datastore(root)
    half_removed = sorted(fds.list_run_ids(), key=int)[0]
    remove_cache_entries(storage_for(root), FLOW, {half_removed})  # what an interrupted `flowstone rm` leaves
    (root / FLOW / half_removed / layout.RUN_RECORD).unlink()
    key, _ = _blob_of(root, "start", "shared")
    deleting = root / "data" / layout.DELETING_DIR / key
    deleting.parent.mkdir()
    deleting.write_bytes(b"")
    old = time.time() - DELETING_STALE_SECONDS - 10
    os.utime(deleting, (old, old))
    (root / "data" / key[:2] / ".tmp-abandoned-write").write_bytes(b"half")
    report = fsck(storage_for(root))
    assert report.ok, report.problems
    noted = {note.key for note in report.notes}
    assert f"{FLOW}/{half_removed}" in noted and f"data/{layout.DELETING_DIR}/{key}" in noted
    assert f"data/{key[:2]}/.tmp-abandoned-write" in noted
    assert flowstone(root, "fsck").returncode == 0


def test_a_flow_is_checked_with_the_blobs_it_refers_to(root: Path, tmp_path: Path) -> None:
    flow_file = tmp_path / "other_flow.py"
    source = (FLOWS / "maintenance_flow.py").read_text()
    flow_file.write_text(source.replace(FLOW, "OtherFlow").replace("shared by every run", "the other flow's"))
    other = run_flow(flow_file, root=root)
    assert other.ok, other.output
    key = other.task("start").records["shared"].key
    (root / "data" / key[:2] / key).write_bytes(b"garbage")
    assert fsck(storage_for(root), FLOW).ok
    assert fsck(storage_for(root), "OtherFlow").problems[0].key == f"data/{key[:2]}/{key}"
    checked = flowstone(root, "fsck", FLOW, "--jobs", "1")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert flowstone(root, "fsck").returncode == 1


def test_records_written_before_checksums_still_check(root: Path) -> None:
    fds = flow_datastore(root)
    run_id = sorted(fds.list_run_ids(), key=int)[-1]
    record_path = root / FLOW / run_id / layout.RUN_RECORD
    value = json.loads(record_path.read_bytes()[len(b'{"blake3":"') + 64 + len(b'","record":') : -1])
    record_path.write_text(json.dumps(value))  # legacy: plain JSON
    assert_clean(storage_for(root))
    assert dump_record(value) != record_path.read_bytes()


def test_progress_is_shown_on_a_terminal_only(root: Path) -> None:
    main, terminal = pty.openpty()
    command = [sys.executable, "-m", "flowstone.cli.main", "--datastore-root", str(root), "fsck"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=terminal, text=True)
    os.close(terminal)
    shown = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if select.select([main], [], [], 1)[0]:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal closed: fsck is done
                break
            if not chunk:
                break
            shown += chunk
    os.close(main)
    assert proc.communicate(timeout=60)[0].rstrip().endswith("no problems.") and proc.returncode == 0
    assert b"checking blobs" in shown and b"reading records" in shown, shown
    assert "checking blobs" not in flowstone(root, "fsck").stderr  # not a terminal: no progress


@pytest.mark.parametrize("datastore", ["s3", "azure"])
def test_damage_on_s3_and_azure_is_found(datastore: str, request: pytest.FixtureRequest) -> None:
    request.getfixturevalue(f"{datastore}_env")
    root = f"{'s3' if datastore == 's3' else 'azure'}://flowstone-test/fsck-{uuid.uuid4().hex[:12]}"
    run = make_run(root, 5, datastore=datastore)
    storage = storage_for(root, datastore)
    flipped = layout.blob_key(run.task("start").records["own"].key)
    lost = layout.blob_key(run.task("join").records["parts"].key)
    stored = bytearray(bytes(storage.load_one(flipped) or b""))
    stored[-1] ^= 0x01
    storage.save_one(flipped, bytes(stored))
    storage.delete([lost])
    done_key = next(info.key for info in storage.list_tree(FLOW) if "/end/" in info.key and info.key.endswith("DONE"))
    storage.save_one(done_key, bytes(storage.load_one(done_key) or b"")[:30])
    checked = flowstone(root, "fsck", "--jobs", "4")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    problems = {line.split(": ", 1)[1] for line in checked.stdout.splitlines() if line.startswith("problem: ")}
    assert {flipped, lost, done_key} <= problems, checked.stdout
    (entry,) = problems - {flipped, lost, done_key}  # the end task's cache entry now points to no done task
    assert entry.startswith(f"{FLOW}/_cache/")
