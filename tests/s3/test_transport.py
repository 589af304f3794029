"""The S3 transport against a real S3 server: every batch method, parts, conditional writes, listings."""

from __future__ import annotations

import asyncio
import json
import os
import tracemalloc
from pathlib import Path

import pytest

from flowstone.s3.config import MiB, S3Config
from flowstone.s3.errors import S3BucketNotFound, S3InvalidObject, S3InvalidRange, S3URLException
from flowstone.s3.transport import S3Transport
from flowstone.s3.transport_values import PutRequest
from tests.s3.conftest import BUCKET

BIG = os.urandom(20 * MiB)


def test_put_get_round_trip_in_input_order(transport: S3Transport, prefix: str) -> None:
    items = [(f"{prefix}/{i}", f"value {i}".encode()) for i in range(20)]
    assert transport.put_many(items) == [True] * 20
    keys = [key for key, _ in reversed(items)] + [f"{prefix}/missing"]
    got = transport.get_many(keys)
    assert [None if g is None else bytes(g) for g in got] == [data for _, data in reversed(items)] + [None]


def test_put_accepts_any_flat_buffer_and_paths(transport: S3Transport, prefix: str, tmp_path: Path) -> None:
    local = tmp_path / "file.bin"
    local.write_bytes(b"from a file")
    data = [b"bytes", bytearray(b"bytearray"), memoryview(b"xmemoryview")[1:], local]
    transport.put_many([(f"{prefix}/{i}", item) for i, item in enumerate(data)])
    got = transport.get_many([f"{prefix}/{i}" for i in range(4)])
    assert [bytes(g) for g in got if g is not None] == [b"bytes", b"bytearray", b"memoryview", b"from a file"]


def test_put_refuses_what_is_not_bytes(transport: S3Transport, prefix: str) -> None:
    with pytest.raises(S3InvalidObject, match="bytes-like"):
        transport.put_many([(f"{prefix}/x", "text")])  # type: ignore[list-item]


def test_large_objects_go_in_parts_both_ways(transport: S3Transport, prefix: str, tmp_path: Path) -> None:
    key = f"{prefix}/big"
    assert transport.put_many([(key, BIG)]) == [True]
    info = transport.head_many([key])[0]
    assert info is not None and info.size == len(BIG) and info.etag and "-" in info.etag  # a multipart ETag
    got = transport.get_many([key])[0]
    assert got is not None and got == BIG
    fetched = transport.download_many([(key, tmp_path / "big")])[0]
    assert fetched is not None and fetched.length == len(BIG) and (tmp_path / "big").read_bytes() == BIG


def test_big_file_uploads_stream_from_disk(transport: S3Transport, prefix: str, tmp_path: Path) -> None:
    local = tmp_path / "big"
    local.write_bytes(BIG)
    transport.put_many([(f"{prefix}/from-file", local)])
    assert transport.get_many([f"{prefix}/from-file"])[0] == BIG


def test_conditional_create(transport: S3Transport, prefix: str) -> None:
    key = f"{prefix}/once"
    assert transport.put_many([(key, b"first")], if_absent=True) == [True]
    assert transport.put_many([(key, b"second"), (f"{prefix}/other", b"x")], if_absent=True) == [False, True]
    assert bytes(transport.get_many([key])[0] or b"") == b"first"


def test_conditional_create_of_a_large_object_is_one_put(transport: S3Transport, prefix: str) -> None:
    key = f"{prefix}/big-once"
    assert transport.put_many([(key, BIG)], if_absent=True) == [True]
    assert transport.put_many([(key, b"small")], if_absent=True) == [False]
    info = transport.head_many([key])[0]
    assert info is not None and info.size == len(BIG) and "-" not in (info.etag or "")


def test_concurrent_creators_of_one_key_exactly_one_wins(transport: S3Transport, prefix: str) -> None:
    keys = [f"{prefix}/race-{i}" for i in range(16)]

    async def race() -> list[list[bool]]:
        writers = [transport.put_many_async([(key, name.encode()) for key in keys], if_absent=True) for name in "ab"]
        return await asyncio.gather(*writers)

    wins_a, wins_b = transport.run(race())
    assert all(a != b for a, b in zip(wins_a, wins_b, strict=True))  # exactly one writer won each key
    stored = transport.get_many(keys)
    assert [bytes(s or b"") for s in stored] == [b"a" if a else b"b" for a in wins_a]


def test_ranges(transport: S3Transport, prefix: str) -> None:
    key = f"{prefix}/digits"
    transport.put_many([(key, b"0123456789")])
    fetched = transport.fetch_many([key] * 4, [(2, 3), (7, None), (8, 100), (0, 0)])
    assert [bytes(f.data) for f in fetched if f is not None and f.data is not None] == [b"234", b"789", b"89", b""]
    assert [(f.offset, f.length, f.info.size) for f in fetched if f is not None] == [
        (2, 3, 10), (7, 3, 10), (8, 2, 10), (0, 0, 10)
    ]  # fmt: skip
    with pytest.raises(S3InvalidRange, match=f"s3://{BUCKET}/{key}"):
        transport.get_many([key], [(10, 5)])


def test_ranges_across_parts(config: S3Config, prefix: str, tmp_path: Path) -> None:
    transport = S3Transport(BUCKET, config.replace(part_size=5 * MiB, download_part_size=5 * MiB))
    key = f"{prefix}/big"
    transport.put_many([(key, BIG)])
    start, length = 3 * MiB + 17, 9 * MiB + 5  # starts inside part 1, spans parts 2 and 3
    assert transport.get_many([key], [(start, length)])[0] == BIG[start : start + length]
    transport.download_many([(key, tmp_path / "range")], [(start, None)])
    assert (tmp_path / "range").read_bytes() == BIG[start:]


def test_empty_objects(transport: S3Transport, prefix: str, tmp_path: Path) -> None:
    key = f"{prefix}/empty"
    transport.put_many([(key, b"")])
    got = transport.get_many([key])[0]
    assert got is not None and bytes(got) == b""
    fetched = transport.download_many([(key, tmp_path / "empty")])[0]
    assert fetched is not None and fetched.info.size == 0 and (tmp_path / "empty").read_bytes() == b""


def test_missing_keys_leave_no_file(transport: S3Transport, prefix: str, tmp_path: Path) -> None:
    assert transport.download_many([(f"{prefix}/missing", tmp_path / "m")]) == [None]
    assert not (tmp_path / "m").exists()


def test_head_reports_metadata_and_content_type(transport: S3Transport, prefix: str) -> None:
    transport.put_many([PutRequest(f"{prefix}/a", b"abc", {"origin": "test"}, "text/csv"), (f"{prefix}/b", b"")])
    first, second, missing = transport.head_many([f"{prefix}/a", f"{prefix}/b", f"{prefix}/c"])
    assert first is not None and second is not None and missing is None
    assert (first.size, first.metadata, first.content_type) == (3, {"origin": "test"}, "text/csv")
    assert first.etag and first.last_modified > 1.6e9
    assert second.metadata is None and second.content_type == "application/octet-stream"


def test_metadata_is_stored_as_metaflow_stores_it(transport: S3Transport, prefix: str) -> None:
    """One header holding the JSON of the whole dict: what Metaflow writes and reads."""
    transport.put_many([PutRequest(f"{prefix}/a", b"1", {"n": [1, "é"]})])
    raw = transport.run(transport.signed.send("HEAD", f"{prefix}/a")).headers
    assert json.loads(raw["x-amz-meta-metaflow-user-attributes"]) == {"n": [1, "é"]}
    transport.run(transport.signed.send("PUT", f"{prefix}/b", headers={"x-amz-meta-tool": "other"}, body=b""))
    assert [info.metadata for info in transport.head_many([f"{prefix}/a", f"{prefix}/b"]) if info] == [
        {"n": [1, "é"]}, {"tool": "other"}
    ]  # fmt: skip


def test_listings_paginate_and_sort(transport: S3Transport, prefix: str) -> None:
    keys = [f"{prefix}/flat/{i:05d}" for i in range(1100)] + [f"{prefix}/flat/sub{i}/x" for i in range(3)]
    transport.put_many([(key, b"") for key in reversed(keys)])
    listed = transport.list_recursive(f"{prefix}/flat")
    assert [info.key for info in listed] == sorted(keys)
    objects, prefixes = transport.list_one_level(f"{prefix}/flat/")
    assert [info.key for info in objects] == sorted(keys[:1100])
    assert prefixes == [f"{prefix}/flat/sub{i}/" for i in range(3)]
    transport.delete_many([*keys, f"{prefix}/never-existed"])
    assert transport.list_recursive(f"{prefix}/flat") == []


def test_listing_is_by_folder(transport: S3Transport, prefix: str) -> None:
    transport.put_many([(f"{prefix}/ab/x", b""), (f"{prefix}/abc", b"")])
    assert [info.key for info in transport.list_recursive(f"{prefix}/ab")] == [f"{prefix}/ab/x"]


def test_keys_obstore_cannot_address_take_signed_requests(transport: S3Transport, prefix: str,
                                                          tmp_path: Path) -> None:  # fmt: skip
    keys = [f"{prefix}/\x01", f"{prefix}/a\x02/b", f"{prefix}/\x7f/c"]
    assert transport.put_many([(key, key.encode()) for key in keys]) == [True] * 3
    assert transport.put_many([(keys[0], b"again")], if_absent=True) == [False]
    assert [bytes(g or b"") for g in transport.get_many(keys)] == [key.encode() for key in keys]
    fetched = transport.download_many([(keys[1], tmp_path / "x")], [(len(prefix) + 2, 3)])[0]
    assert fetched is not None and (tmp_path / "x").read_bytes() == b"\x02/b" and fetched.info.size == len(keys[1])
    assert [info.key for info in transport.list_recursive(prefix)] == sorted(keys)
    objects, prefixes = transport.list_one_level(prefix)
    assert ([info.key for info in objects], prefixes) == ([keys[0]], sorted(k[:-1] for k in keys[1:]))
    transport.delete_many(keys)
    assert transport.list_recursive(prefix) == [] and transport.get_many(keys) == [None] * 3


def test_keys_obstore_cannot_address_need_static_credentials(config: S3Config, prefix: str) -> None:
    transport = S3Transport(BUCKET, config.replace(access_key_id=None, secret_access_key=None))
    with pytest.raises(S3URLException, match="static credentials"):
        transport.get_many([f"{prefix}/\x01"])


def test_missing_bucket_is_an_error_not_a_missing_key(config: S3Config) -> None:
    transport = S3Transport("no-such-bucket-anywhere", config)
    with pytest.raises(S3BucketNotFound, match="no-such-bucket-anywhere"):
        transport.get_many(["key"])


def test_sync_calls_work_inside_a_running_event_loop(transport: S3Transport, prefix: str) -> None:
    async def notebook_cell() -> bytes:
        transport.put_many([(f"{prefix}/k", b"v")])  # a synchronous call from async code, as in Jupyter
        return bytes(transport.get_many([f"{prefix}/k"])[0] or b"")

    assert asyncio.run(notebook_cell()) == b"v"


def test_async_methods_run_on_the_callers_loop(transport: S3Transport, prefix: str) -> None:
    async def main() -> list[bool]:
        await transport.put_many_async([(f"{prefix}/k", b"v")])
        return await transport.put_many_async([(f"{prefix}/k", b"w")], if_absent=True)

    assert asyncio.run(main()) == [False]


def test_downloads_to_files_use_bounded_memory(transport: S3Transport, prefix: str, tmp_path: Path) -> None:
    key = f"{prefix}/huge"
    transport.put_many([(key, BIG + BIG[: 12 * MiB])])  # 32 MiB
    tracemalloc.start()
    try:
        transport.download_many([(key, tmp_path / "huge")])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (tmp_path / "huge").stat().st_size == 32 * MiB
    assert peak < 12 * MiB, f"peak Python memory {peak / MiB:.1f} MiB for a 32 MiB download"


def test_a_child_forked_after_use_gets_an_error_not_a_hang(transport: S3Transport, prefix: str) -> None:
    transport.put_many([(f"{prefix}/k", b"v")])
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what happened through the pipe, then leave without running pytest's teardown
        try:
            S3Transport(BUCKET, transport.config).get_many([f"{prefix}/k"])
            message = b"no error"
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}".encode()
        os.write(write, message)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(pid, 0)
    assert message.startswith("S3Exception") and "forked" in message
