"""IncludeFile: a file read once at run start, stored by content, seen by every step, the cache and resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowstone.client import context
from flowstone.client.runs import Run
from flowstone.datastore.hashing import hash_chunks
from tests.runtime.helpers import run_flow

TABLE = "a,1\nb,2\nc,3\n"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    table = tmp_path / "table.csv"
    table.write_text(TABLE)
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 10)
    return {"table": table, "blob": blob}


def test_every_step_sees_the_content(tmp_path: Path, files: dict[str, Path]) -> None:
    root = tmp_path / "ds"
    run = run_flow("include_flow.py", "--table", str(files["table"]), "--blob", str(files["blob"]), root=root)
    assert run.ok, run.output
    assert run.task("start")["rows"] == ["a,1", "b,2", "c,3"]
    assert run.task("middle")["blob_size"] == 2560
    assert run.task("end")["seen"] == {"table": TABLE, "type": "str", "blob": bytes(range(256)) * 10}
    # the run records where each file came from, and its bytes are in the store under their content hash
    record = run.fds.load_run_record(run.run_id)  # type: ignore[arg-type]
    described = record["parameters"]["table"]  # type: ignore[index]
    assert described["included_file"] == str(files["table"]) and described["size"] == len(TABLE)
    assert described["key"] == hash_chunks([TABLE.encode()])
    assert bytes(run.fds.ca_store.load_blob(described["key"])) == TABLE.encode()
    assert record["parameters"]["blob"]["is_text"] is False  # type: ignore[index]
    # the Client API returns the content
    context.datastore("local", str(root))
    context.namespace(None)
    try:
        client_run = Run(f"IncludeFlow/{run.run_id}")
        assert client_run.data.table == TABLE
        assert client_run["start"].task["blob"].data == bytes(range(256)) * 10
    finally:
        context.default_metadata()
        context.default_namespace()


def test_optional_file_may_be_absent(tmp_path: Path, files: dict[str, Path]) -> None:
    run = run_flow("include_flow.py", "--table", str(files["table"]), root=tmp_path / "ds")
    assert run.ok, run.output
    assert run.task("middle")["blob_size"] is None


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "nope.csv", "does not exist"),
        (lambda d: d, "is a directory"),
        (lambda d: _write(d / "latin.csv", "café".encode("latin-1")), "is not utf-8 text"),
    ],
    ids=["missing", "directory", "undecodable"],
)
def test_bad_files_stop_the_run_before_any_step(tmp_path: Path, make: object, message: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    root = tmp_path / "ds"
    run = run_flow("include_flow.py", "--table", str(path), root=root)
    assert run.proc.returncode != 0
    assert message in run.output and "IncludeFile 'table'" in run.output
    assert "Traceback" not in run.output
    assert run.fds.list_run_ids() == []  # nothing started


def test_missing_default_names_the_file(tmp_path: Path) -> None:
    run = run_flow("include_flow.py", root=tmp_path / "ds")
    assert run.proc.returncode != 0
    assert "table.csv does not exist" in run.output


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_cache_sees_the_content_not_the_path(tmp_path: Path, files: dict[str, Path]) -> None:
    root = tmp_path / "ds"
    first = run_flow("include_flow.py", "--table", str(files["table"]), root=root)
    assert first.ok, first.output
    copy = tmp_path / "elsewhere.csv"
    copy.write_text(TABLE)
    same = run_flow("include_flow.py", "--table", str(copy), root=root)
    assert same.ok, same.output
    assert same.task("start").load_metadata(["cache"])["cache"]["decision"] == "hit"
    copy.write_text(TABLE + "d,4\n")
    changed = run_flow("include_flow.py", "--table", str(copy), root=root)
    assert changed.ok, changed.output
    assert changed.task("start").load_metadata(["cache"])["cache"]["decision"] == "miss"
    assert changed.task("start")["rows"][-1] == "d,4"
    why = run_flow("include_flow.py", f"{changed.run_id}/start", root=root, command="why")
    assert "table" in why.output, why.output


def test_resume_uses_the_origin_runs_content(tmp_path: Path, files: dict[str, Path]) -> None:
    root = tmp_path / "ds"
    failed = run_flow("include_flow.py", "--table", str(files["table"]), root=root, env={"FS_TEST_FAIL_IN_END": "1"})
    assert not failed.ok
    files["table"].write_text("changed after the run\n")  # resume must not read the file again
    resumed = run_flow("include_flow.py", "--origin-run-id", str(failed.run_id), root=root, command="resume")
    assert resumed.proc.returncode == 0, resumed.output
    new_run = max(resumed.fds.list_run_ids(), key=int)
    end = resumed.fds.get_datastore_for_task(new_run, "end", resumed.fds.list_task_ids(new_run, "end")[0])
    assert end["seen"]["table"] == TABLE
