"""The contract every Storage backend must meet. A backend's test module subclasses ``StorageTests`` and
provides a ``storage`` fixture; nothing here knows which backend it is testing."""

from __future__ import annotations

import threading
import time

import pytest

from flowstone.errors import StorageError
from flowstone.storage.base import Storage


def _bytes(data: object) -> bytes:
    assert data is not None
    return bytes(memoryview(data))  # type: ignore[arg-type]


class StorageTests:
    """Subclass and define a ``storage`` fixture returning an empty backend."""

    def test_save_and_load_roundtrip(self, storage: Storage) -> None:
        written = storage.save_bytes([("a/b/one", b"1"), ("a/two", b"22"), ("three", bytearray(b"333"))])
        assert written == [True, True, True]
        loaded = dict(storage.load_bytes(["a/b/one", "a/two", "three"]))
        assert {k: _bytes(v) for k, v in loaded.items()} == {"a/b/one": b"1", "a/two": b"22", "three": b"333"}

    def test_load_preserves_order_and_reports_missing_as_none(self, storage: Storage) -> None:
        storage.save_bytes([("x", b"x"), ("y", b"y")])
        result = list(storage.load_bytes(["y", "missing", "x"]))
        assert [k for k, _ in result] == ["y", "missing", "x"]
        assert result[1][1] is None
        assert _bytes(result[0][1]) == b"y"

    def test_chunked_payload_is_written_in_order(self, storage: Storage) -> None:
        chunks = [b"ab", memoryview(b"cd"), bytearray(b"ef")]
        storage.save_one("chunked", chunks)
        storage.save_one("generated", (bytes([i]) * 3 for i in range(3)))
        assert _bytes(storage.load_one("chunked")) == b"abcdef"
        assert _bytes(storage.load_one("generated")) == b"\0\0\0\1\1\1\2\2\2"

    def test_large_object_roundtrip(self, storage: Storage) -> None:
        data = bytes(range(256)) * (3 * 4096 + 7)  # a few MiB: exercises the large-object read path
        storage.save_one("big", data)
        assert _bytes(storage.load_one("big")) == data
        info = storage.info("big")
        assert info is not None and info.size == len(data)

    def test_empty_object(self, storage: Storage) -> None:
        storage.save_one("empty", b"")
        assert _bytes(storage.load_one("empty")) == b""
        assert storage.exists("empty")

    def test_overwrite_replaces_by_default(self, storage: Storage) -> None:
        storage.save_one("k", b"old")
        assert storage.save_one("k", b"new") is True
        assert _bytes(storage.load_one("k")) == b"new"

    def test_overwrite_false_keeps_existing(self, storage: Storage) -> None:
        storage.save_one("k", b"old")
        assert storage.save_bytes([("k", b"new"), ("fresh", b"f")], overwrite=False) == [False, True]
        assert _bytes(storage.load_one("k")) == b"old"
        assert _bytes(storage.load_one("fresh")) == b"f"

    def test_put_if_absent(self, storage: Storage) -> None:
        assert storage.put_if_absent("p", b"first") is True
        assert storage.put_if_absent("p", b"second") is False
        assert _bytes(storage.load_one("p")) == b"first"

    def test_put_if_absent_has_one_winner_under_contention(self, storage: Storage) -> None:
        results: list[bool] = []
        lock = threading.Lock()
        barrier = threading.Barrier(8)

        def contend(i: int) -> None:
            barrier.wait()
            won = storage.put_if_absent("contended", f"writer-{i}".encode())
            with lock:
                results.append(won)

        threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results.count(True) == 1
        assert _bytes(storage.load_one("contended")).startswith(b"writer-")

    def test_exists_and_info(self, storage: Storage) -> None:
        assert not storage.exists("nope")
        assert storage.info("nope") is None
        storage.save_one("dir/obj", b"12345")
        assert storage.exists("dir/obj")
        info = storage.info("dir/obj")
        assert info is not None and info.size == 5 and info.key == "dir/obj" and info.modified > 0

    def test_list_content_is_one_level(self, storage: Storage) -> None:
        storage.save_bytes([("top/a", b""), ("top/b/c", b""), ("top/b/d/e", b""), ("other/x", b"")])
        entries = storage.list_content("top")
        assert [(e.key, e.is_file) for e in entries] == [("top/a", True), ("top/b", False)]
        assert [e.name for e in entries] == ["a", "b"]
        assert [(e.key, e.is_file) for e in storage.list_content("top/b")] == [("top/b/c", True), ("top/b/d", False)]

    def test_list_root_and_missing_prefix(self, storage: Storage) -> None:
        assert storage.list_content("missing") == []
        storage.save_bytes([("r1/x", b""), ("r2", b"")])
        assert [(e.key, e.is_file) for e in storage.list_content("")] == [("r1", False), ("r2", True)]

    def test_list_tree_is_every_object_below_with_its_size_and_time(self, storage: Storage) -> None:
        storage.save_bytes([("tree/a", b"1"), ("tree/b/c", b"22"), ("tree/b/d/e", b"333"), ("treetop", b"x"),
                            ("other/x", b"")])  # fmt: skip
        before = time.time()
        found = list(storage.list_tree("tree"))
        assert [(info.key, info.size) for info in found] == [("tree/a", 1), ("tree/b/c", 2), ("tree/b/d/e", 3)]
        assert all(abs(info.modified - before) < 120 for info in found)  # the store's clock, close to ours
        assert [info.key for info in storage.list_tree("tree/b/d")] == ["tree/b/d/e"]
        assert list(storage.list_tree("missing")) == []
        assert {info.key for info in storage.list_tree("")} >= {"tree/a", "treetop", "other/x"}

    def test_list_tree_after_deletes(self, storage: Storage) -> None:
        storage.save_bytes([("gone/a", b"1"), ("gone/b/c", b"2")])
        storage.delete(["gone/a", "gone/b/c"])
        assert list(storage.list_tree("gone")) == []
        assert list(storage.list_unfinished("gone")) == []

    def test_delete_tree(self, storage: Storage) -> None:
        storage.save_bytes([("run/a", b"1"), ("run/b/c", b"2"), ("run/b/d/e", b"3"), ("runaway", b"4")])
        storage.delete_tree("run")
        assert list(storage.list_tree("run")) == []  # (an S3 server may go on listing 'run/' as an empty prefix)
        assert [e.key for e in storage.list_content("") if e.is_file] == ["runaway"]
        storage.delete_tree("never-existed")
        storage.save_one("run/again", b"5")  # a folder emptied can be written to again
        assert _bytes(storage.load_one("run/again")) == b"5"

    def test_sync_after_writes(self, storage: Storage) -> None:
        storage.save_bytes([("s/a", b"1"), ("t/b", b"2")])
        storage.put_if_absent("u/c", b"3")
        storage.sync()
        storage.sync()  # idempotent
        assert [bytes(v or b"") for _, v in storage.load_bytes(["s/a", "t/b", "u/c"])] == [b"1", b"2", b"3"]

    def test_delete(self, storage: Storage) -> None:
        storage.save_bytes([("d/1", b"1"), ("d/2", b"2")])
        storage.delete(["d/1", "d/never-existed"])
        assert not storage.exists("d/1")
        assert storage.exists("d/2")

    def test_saved_data_is_independent_of_caller_buffer(self, storage: Storage) -> None:
        buf = bytearray(b"before")
        storage.save_one("copy", buf)
        buf[:] = b"after!"
        assert _bytes(storage.load_one("copy")) == b"before"

    @pytest.mark.parametrize("bad_key", ["../escape", "a/../../b", "/absolute"])
    def test_rejects_keys_that_escape_the_root(self, storage: Storage, bad_key: str) -> None:
        with pytest.raises(StorageError, match="Invalid storage key"):
            storage.save_one(bad_key, b"x")
