from __future__ import annotations

import os
from pathlib import Path

import pytest

from flowstone.errors import StorageError
from flowstone.storage.local import TMP_PREFIX, LocalStorage
from tests.storage.conformance import StorageTests


class TestLocalStorage(StorageTests):
    @pytest.fixture
    def storage(self, tmp_path: Path) -> LocalStorage:
        return LocalStorage(str(tmp_path / "root"))


def test_leftover_temp_files_are_invisible(tmp_path: Path) -> None:
    storage = LocalStorage(str(tmp_path))
    storage.save_one("dir/real", b"ok")
    (tmp_path / "dir" / f"{TMP_PREFIX}real-abandoned").write_bytes(b"partial")
    assert [e.key for e in storage.list_content("dir")] == ["dir/real"]
    assert [info.key for info in storage.list_tree("")] == ["dir/real"]
    assert [(info.key, info.size) for info in storage.list_unfinished("")] == [(f"dir/{TMP_PREFIX}real-abandoned", 7)]
    storage.delete([f"dir/{TMP_PREFIX}real-abandoned"])  # what gc does with old ones
    assert list(storage.list_unfinished("")) == []


def test_writes_leave_no_temp_files(tmp_path: Path) -> None:
    storage = LocalStorage(str(tmp_path))
    storage.save_bytes([("a/x", b"1"), ("a/y", b"2")])
    storage.put_if_absent("a/z", b"3")
    storage.put_if_absent("a/z", b"4")
    assert sorted(os.listdir(tmp_path / "a")) == ["x", "y", "z"]


def test_large_objects_load_as_writable_private_views(tmp_path: Path) -> None:
    storage = LocalStorage(str(tmp_path))
    data = b"\1" * (4 << 20)
    storage.save_one("big", data)
    view = storage.load_one("big")
    assert isinstance(view, memoryview) and not view.readonly
    view[0] = 0  # a private copy-on-write page: the stored object is unchanged
    assert bytes(memoryview(storage.load_one("big"))[:1]) == b"\1"  # type: ignore[arg-type]


def test_unwritable_root_gives_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    storage = LocalStorage(str(blocker / "root"))
    with pytest.raises(StorageError, match="Could not write"):
        storage.save_one("k", b"x")


def test_folder_fsyncs_are_deferred_to_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = LocalStorage(str(tmp_path))
    synced: list[str] = []
    monkeypatch.setattr(storage, "_fsync_dir", synced.append)
    storage.save_bytes([("a/1", b"x"), ("a/2", b"y"), ("b/3", b"z")])
    assert synced == []  # each file was fsynced; the folders wait for sync()
    storage.sync()
    assert sorted(synced) == [str(tmp_path / "a"), str(tmp_path / "b")]


def test_fsync_can_be_disabled(tmp_path: Path) -> None:
    storage = LocalStorage(str(tmp_path), fsync=False)
    storage.save_one("k", b"x")
    assert bytes(storage.load_one("k") or b"") == b"x"


def test_deletes_leave_no_empty_folders(tmp_path: Path) -> None:
    storage = LocalStorage(str(tmp_path))
    storage.save_bytes([("run/a/b/c", b"1"), ("run/a/d", b"2"), ("other/x", b"3")])
    storage.delete(["run/a/b/c"])
    assert sorted(os.listdir(tmp_path / "run" / "a")) == ["d"]
    storage.delete(["run/a/d"])
    assert sorted(os.listdir(tmp_path)) == ["other"]
    storage.save_bytes([("run/a/b/c", b"1"), ("run/x", b"2")])
    (tmp_path / "run" / "a" / f"{TMP_PREFIX}c-killed").write_bytes(b"")
    storage.delete_tree("run")
    assert sorted(os.listdir(tmp_path)) == ["other"]
