"""The S3 client (Metaflow's ``S3`` API) against a real S3 server."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier
from types import SimpleNamespace

import pytest

from flowstone import S3
from flowstone.s3 import RangeInfo, S3GetObject, S3PutObject
from flowstone.s3.config import MiB, S3Config
from flowstone.s3.errors import S3Exception, S3InvalidObject, S3InvalidRange, S3NotFound, S3URLException
from flowstone.s3.reads import recording_reads
from flowstone.s3.task_context import TaskContext, set_task_context
from tests.s3.conftest import BUCKET

BIG = os.urandom(20 * MiB)


@pytest.fixture
def s3(s3root: str, config: S3Config) -> Iterator[S3]:
    with S3(s3root=s3root, config=config) as client:
        yield client


def test_put_and_get_with_a_root(s3: S3, s3root: str) -> None:
    assert s3.put("fruit", "pineapple") == f"{s3root}/fruit"
    obj = s3.get("fruit")
    assert (obj.url, obj.key, obj.prefix, obj.size) == (f"{s3root}/fruit", "fruit", s3root, 9)
    assert (obj.blob, obj.text, obj.exists, obj.downloaded) == (b"pineapple", "pineapple", True, True)
    assert obj.path is not None and Path(obj.path).read_bytes() == b"pineapple"
    assert (obj.metadata, obj.content_type, obj.has_info) == (None, "application/octet-stream", True)
    assert obj.last_modified is not None and obj.last_modified > 1_600_000_000 and obj.etag
    assert obj.range_info == RangeInfo(9, 0, 9) and obj.encryption is None
    assert repr(obj) == f"<S3Object {s3root}/fruit (9 bytes)>"


def test_without_a_root_keys_are_urls(s3: S3, s3root: str, config: S3Config) -> None:
    s3.put("k", b"v")
    with S3(config=config) as plain:
        obj = plain.get(f"{s3root}/k")
        assert (obj.key, obj.prefix, obj.text) == (f"{s3root}/k", None, "v")
        with pytest.raises(S3URLException, match="no root"):
            plain.get("k")


@pytest.mark.parametrize("url", ["http://bucket/key", "s3://", "s3:///key", "bucket/key", "s3://flowstone-test"])
def test_malformed_urls(url: str, config: S3Config) -> None:
    with S3(config=config) as s3, pytest.raises(S3URLException):
        s3.get(url)


@pytest.mark.parametrize("key", ["a//b", "a/./b", "folder/"])
def test_bad_keys_are_url_errors(s3: S3, key: str) -> None:
    with pytest.raises(S3URLException):
        s3.get(key)
    with pytest.raises(S3URLException):
        s3.put(key, "x")


def test_bucket_and_prefix_make_a_root(config: S3Config, prefix: str) -> None:
    with S3(bucket=BUCKET, prefix=f"/{prefix}/sub/", config=config) as s3:
        assert s3.put("x", "1") == f"s3://{BUCKET}/{prefix}/sub/x"


def test_missing_objects(s3: S3, s3root: str) -> None:
    with pytest.raises(S3NotFound, match=f"{s3root}/nope.*return_missing=True"):
        s3.get("nope")
    missing = s3.get("nope", return_missing=True)
    assert (missing.exists, missing.downloaded, missing.blob, missing.size) == (False, False, None, None)
    s3.put("there", "1")
    objs = s3.get_many(["there", "nope"], return_missing=True)
    assert [o.exists for o in objs] == [True, False]
    with pytest.raises(S3NotFound):
        s3.get_many(["there", "nope"])
    with pytest.raises(S3NotFound):
        s3.info("nope")
    assert not s3.info("nope", return_missing=True).exists


def test_get_many_keeps_input_order(s3: S3) -> None:
    s3.put_many([(f"k{i}", str(i)) for i in range(30)])
    keys = [f"k{i}" for i in (5, 2, 29, 0, 2)]
    assert [o.key for o in s3.get_many(keys)] == keys
    assert [o.text for o in s3.get_many(keys)] == ["5", "2", "29", "0", "2"]


def test_ranged_reads(s3: S3, s3root: str) -> None:
    s3.put("digits", "0123456789")
    first, rest = s3.get_many([S3GetObject("digits", 0, 4), S3GetObject("digits", 4, 100)])
    assert (first.text, first.size, first.range_info) == ("0123", 4, RangeInfo(10, 0, 4))
    assert (rest.text, rest.size, rest.range_info) == ("456789", 6, RangeInfo(10, 4, 6))
    assert s3.get(S3GetObject(f"{s3root}/digits", 8)).text == "89"
    with pytest.raises(S3InvalidRange, match="digits"):
        s3.get(S3GetObject("digits", 50, 1))


def test_large_objects_round_trip(s3: S3, tmp_path: Path) -> None:
    s3.put("big", BIG)
    local = tmp_path / "big"
    local.write_bytes(BIG)
    s3.put_files([("big-file", str(local))])
    for obj in s3.get_many(["big", "big-file"]):
        assert obj.size == len(BIG) and obj.etag and "-" in obj.etag and obj.blob == BIG
    part = s3.get(S3GetObject("big", 9 * MiB, 2 * MiB))
    assert part.blob == BIG[9 * MiB : 11 * MiB]


def test_put_values_and_metadata(s3: S3) -> None:
    urls = s3.put_many([
        ("text", "é"), ("bytes", b"\x00"), ("file-object", io.BytesIO(b"from io")),
        S3PutObject("with-meta", "{}", content_type="application/json", metadata={"n": 1, "s": "x"}),
    ])  # fmt: skip
    assert [key for key, _ in urls] == ["text", "bytes", "file-object", "with-meta"]
    assert [o.blob for o in s3.get_many(["text", "bytes", "file-object"])] == ["é".encode(), b"\x00", b"from io"]
    info = s3.info("with-meta")
    assert (info.metadata, info.content_type, info.downloaded, info.size) == ({"n": "1", "s": "x"},
                                                                              "application/json", False, 2)  # fmt: skip
    assert s3.put(S3PutObject("own", b"1", metadata={"a": "b"})).endswith("/own")
    assert s3.get("own").metadata == {"a": "b"}
    with pytest.raises(S3InvalidObject, match="Metadata name"):
        s3.put("bad-meta", "x", metadata={"not a header": "x"})
    with pytest.raises(S3InvalidObject, match="serialize"):
        s3.put("bad", 12)


def test_put_files(s3: S3, tmp_path: Path) -> None:
    (tmp_path / "1").write_text("first datum")
    (tmp_path / "2").write_text("second datum")
    result = s3.put_files([("first", tmp_path / "1"), S3PutObject("second", path=str(tmp_path / "2"))])
    assert [key for key, _ in result] == ["first", "second"]
    assert [o.text for o in s3.get_many(["first", "second"])] == ["first datum", "second datum"]
    with pytest.raises(S3NotFound, match="no such local file"):
        s3.put_files([("x", tmp_path / "missing")])


def test_overwrite_false_keeps_what_is_there(s3: S3) -> None:
    s3.put("k", "old")
    assert s3.put("k", "new", overwrite=False).endswith("/k")
    assert s3.put_many([("k", "new"), ("fresh", "1")], overwrite=False) == [("fresh", s3.info("fresh").url)]
    assert s3.get("k").text == "old"


def test_overwrite_false_race_has_one_winner(s3root: str, config: S3Config) -> None:
    barrier = Barrier(2)

    def writer(name: str) -> list[tuple[str, str]]:
        with S3(s3root=s3root, config=config) as s3:
            barrier.wait()
            return s3.put_many([(f"race-{i}", name) for i in range(10)], overwrite=False)

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(writer, ["a", "b"])
    assert sorted(key for key, _ in first + second) == sorted(f"race-{i}" for i in range(10))
    with S3(s3root=s3root, config=config) as s3:
        winners = {key: name for name, won in (("a", first), ("b", second)) for key, _ in won}
        assert {o.key: o.text for o in s3.get_many(sorted(winners))} == winners


def test_listings(s3: S3, s3root: str) -> None:
    s3.put_many({"first/a/object1": "data", "first/b/x/object2": "data", "second/c/object3": "data"}.items())
    assert [o.key for o in s3.list_paths()] == ["first", "second"]
    assert [o.key for o in s3.list_paths(["first", "second"])] == ["a", "b", "c"]
    listed = s3.list_paths(["first/a", "first/b"])
    assert [(o.key, o.exists) for o in listed] == [("object1", True), ("x", False)]
    assert listed[1].url == f"{s3root}/first/b/x/" and listed[0].size == 4 and not listed[0].downloaded
    assert [o.key for o in s3.list_recursive()] == ["first/a/object1", "first/b/x/object2", "second/c/object3"]
    assert [o.key for o in s3.list_recursive(["second", "first/b"])] == ["c/object3", "x/object2"]


def test_get_recursive_and_get_all(s3: S3, s3root: str, config: S3Config) -> None:
    s3.put_many([("d/b", "2"), ("d/a", "1"), ("e/c", "3")])
    assert [(o.key, o.text) for o in s3.get_recursive(["d"])] == [("d/a", "1"), ("d/b", "2")]
    assert [o.key for o in s3.get_all()] == ["d/a", "d/b", "e/c"]
    with S3(config=config) as plain:
        assert [o.url for o in plain.get_recursive([f"{s3root}/e"])] == [f"{s3root}/e/c"]
        with pytest.raises(S3URLException, match="root"):
            plain.get_all()


def test_with_scope_deletes_downloads(s3root: str, config: S3Config, tmp_path: Path) -> None:
    with S3(s3root=s3root, config=config, tmproot=tmp_path) as s3:
        s3.put("k", "v")
        path = Path(s3.get("k").path or "")
        assert path.exists() and path.is_relative_to(tmp_path)
    assert not path.exists() and list(tmp_path.iterdir()) == []
    s3 = S3(s3root=s3root, config=config, tmproot=tmp_path)
    path = Path(s3.get("k").path or "")
    s3.close()
    assert not path.exists()


def test_reads_are_recorded(s3: S3, s3root: str) -> None:
    s3.put_many([("r/a", "1"), ("r/b", "2"), ("r/c/d", "3")])
    etags = {o.url: o.etag for o in s3.list_recursive(["r"])}
    with recording_reads() as reads:
        s3.get("r/a")
        s3.get_many([S3GetObject("r/b", 0, 1), "r/zz"], return_missing=True)
        s3.get_recursive(["r/c"])
    assert {url: read.etag for url, read in reads.items()} == {**etags, f"{s3root}/r/zz": None}  # missing: None
    with recording_reads() as reads:
        s3.get_all()
        s3.list_paths()
    assert set(reads) == set(etags)


def test_reads_are_checked_again(s3: S3, s3root: str) -> None:
    from flowstone.reads import CheckContext
    from flowstone.s3.reads import check_s3_reads
    from flowstone.settings import Settings

    s3.put("r/a", "1")
    with recording_reads() as reads:
        s3.get("r/a")
        s3.get("r/b", return_missing=True)
    answers, context = list(reads.values()), CheckContext(Settings.from_env(), {}, "/")
    assert check_s3_reads(answers, context) is None
    s3.put("r/b", "2")
    assert check_s3_reads(answers, context) == f"the S3 object {s3root}/r/b, missing when it ran, exists now"
    s3.put("r/a", "changed")
    assert f"the S3 object it read, {s3root}/r/a, changed (ETag" in str(check_s3_reads(answers, context))


def test_run_layout_from_a_client_run(config: S3Config, prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWSTONE_DATATOOLS_S3ROOT", f"s3://{BUCKET}/{prefix}/userdata/")
    run = SimpleNamespace(pathspec="MyFlow/42")
    with S3(run=run, config=config) as s3:
        assert s3.put("example", "hi") == f"s3://{BUCKET}/{prefix}/userdata/MyFlow/42/example"
        assert s3.get("example").key == "example"
    with S3(run=run, bucket="flowstone-other", config=config) as s3:
        assert s3.put("x", "1") == f"s3://flowstone-other/{prefix}/userdata/MyFlow/42/x"
    with S3(run=run, prefix="elsewhere", config=config) as s3:
        assert s3.put("x", "1") == f"s3://{BUCKET}/elsewhere/MyFlow/42/x"


def test_run_layout_inside_a_step(config: S3Config, prefix: str, monkeypatch: pytest.MonkeyPatch,
                                  tmp_path: Path) -> None:  # fmt: skip
    monkeypatch.setenv("FLOWSTONE_DATASTORE_SYSROOT_S3", f"s3://{BUCKET}/{prefix}")
    monkeypatch.delenv("FLOWSTONE_DATATOOLS_S3ROOT", raising=False)
    set_task_context(TaskContext("StepFlow", "7", lambda: str(tmp_path)))
    try:
        with S3(run=object(), config=config) as s3:  # S3(run=self): a flow has no pathspec
            assert s3.put("k", "v") == f"s3://{BUCKET}/{prefix}/userdata/StepFlow/7/k"
            assert Path(s3.get("k").path or "").is_relative_to(tmp_path)  # downloads go to the task's tempdir
    finally:
        set_task_context(None)


def test_run_layout_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWSTONE_DATATOOLS_S3ROOT", raising=False)
    monkeypatch.delenv("FLOWSTONE_DATASTORE_SYSROOT_S3", raising=False)
    with pytest.raises(S3Exception, match="inside a running step"):
        S3(run=object())
    with pytest.raises(S3Exception, match="FLOWSTONE_DATATOOLS_S3ROOT"):
        S3(run=SimpleNamespace(pathspec="F/1"))
    with pytest.raises(S3Exception, match="not both"):
        S3(run=SimpleNamespace(pathspec="F/1"), s3root="s3://b/p")
