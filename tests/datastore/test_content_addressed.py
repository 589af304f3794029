from __future__ import annotations

import os
from pathlib import Path

import pytest

from flowstone.datastore import ContentAddressedStore, FlowDataStore
from flowstone.datastore.hashing import hash_chunks
from flowstone.errors import DataException
from flowstone.settings import Settings
from flowstone.storage.local import LocalStorage
from flowstone.storage.memory import MemoryStorage


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ContentAddressedStore:
    storage = LocalStorage(str(tmp_path)) if request.param == "local" else MemoryStorage()
    return ContentAddressedStore(storage)


def _blob_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "data").rglob("*") if p.is_file())


def test_save_and_load_blobs(store: ContentAddressedStore) -> None:
    keys = store.save_blobs([("data1", b"content1"), b"content2", [b"con", b"tent3"]], len_hint=3)
    assert len(keys) == 3 and len(set(keys)) == 3
    assert keys[0] == hash_chunks([b"content1"])
    assert {k: bytes(v) for k, v in store.load_blobs(keys)} == {
        keys[0]: b"content1",
        keys[1]: b"content2",
        keys[2]: b"content3",
    }


def test_chunked_and_whole_payloads_share_a_key(store: ContentAddressedStore) -> None:
    assert store.save_blobs([[b"ab", b"cd"]]) == store.save_blobs([b"abcd"])


def test_blob_layout_uses_two_char_fanout(tmp_path: Path) -> None:
    store = ContentAddressedStore(LocalStorage(str(tmp_path)))
    (key,) = store.save_blobs([b"layout"])
    assert (tmp_path / "data" / key[:2] / key).is_file()


def test_equal_content_is_stored_once_across_flows(tmp_path: Path) -> None:
    settings = Settings(datastore_sysroot_local=str(tmp_path))
    payload = os.urandom(50_000)
    flows = [FlowDataStore(name, settings=settings) for name in ("FlowA", "FlowB")]
    blobs = [fds.ca_store.put(payload) for fds in flows for _ in range(3)]
    assert len({b.key for b in blobs}) == 1
    assert [b.written for b in blobs] == [True, False, False, False, False, False]
    assert len(_blob_files(tmp_path)) == 1


def test_existing_blob_is_never_rewritten(tmp_path: Path) -> None:
    store = ContentAddressedStore(LocalStorage(str(tmp_path)))
    (key,) = store.save_blobs([b"immutable" * 1000])
    path = tmp_path / "data" / key[:2] / key
    before = path.stat()
    store.save_blobs([b"immutable" * 1000])
    after = path.stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_compressible_blob_is_compressed_and_reads_back(tmp_path: Path) -> None:
    store = ContentAddressedStore(LocalStorage(str(tmp_path)))
    data = b"row,of,csv,data\n" * 100_000
    blob = store.put(data)
    assert blob.encoding == "zstd" and blob.size == len(data)
    assert (tmp_path / "data" / blob.key[:2] / blob.key).stat().st_size < len(data) // 10
    assert bytes(store.load_blob(blob.key)) == data
    assert store.put(data).encoding == "zstd"  # told from the stored size when deduplicated


def test_incompressible_blob_is_stored_raw(tmp_path: Path) -> None:
    store = ContentAddressedStore(LocalStorage(str(tmp_path)))
    blob = store.put(os.urandom(200_000))
    assert blob.encoding == "raw"
    assert store.put(bytes(store.load_blob(blob.key))).encoding == "raw"


@pytest.mark.parametrize("size", [100, 70_000, 3 << 20])
@pytest.mark.parametrize("compressible", [True, False])
def test_flipped_byte_is_detected_on_load(tmp_path: Path, size: int, compressible: bool) -> None:
    store = ContentAddressedStore(LocalStorage(str(tmp_path)))
    data = (b"x" * size) if compressible else os.urandom(size)
    (key,) = store.save_blobs([data])
    path = tmp_path / "data" / key[:2] / key
    stored = bytearray(path.read_bytes())
    stored[len(stored) // 2 + 8] ^= 0x01
    path.write_bytes(bytes(stored))
    with pytest.raises(DataException, match=f"Blob {key} .* is corrupted"):
        list(store.load_blobs([key]))


def test_truncated_blob_is_detected_on_load(tmp_path: Path) -> None:
    store = ContentAddressedStore(LocalStorage(str(tmp_path)))
    (key,) = store.save_blobs([os.urandom(10_000)])
    path = tmp_path / "data" / key[:2] / key
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataException, match=key):
        store.load_blob(key)


def test_missing_blob_names_key(store: ContentAddressedStore) -> None:
    key = hash_chunks([b"never saved"])
    with pytest.raises(DataException, match=f"Blob {key} is missing"):
        store.load_blob(key)


def test_invalid_key_is_rejected(store: ContentAddressedStore) -> None:
    with pytest.raises(DataException, match="not a blob key"):
        store.load_blob("../../etc/passwd")


def test_corruption_in_memory_storage_is_detected() -> None:
    storage = MemoryStorage()
    store = ContentAddressedStore(storage)
    (key,) = store.save_blobs([b"payload" * 100])
    original = bytes(storage.load_one(store.blob_path(key)) or b"")
    storage.corrupt(store.blob_path(key), original[:-1] + b"!")
    with pytest.raises(DataException, match="corrupted"):
        store.load_blob(key)


def _damage(path: Path, how: str) -> None:
    stored = bytearray(path.read_bytes())
    if how == "flip":
        stored[len(stored) // 2 + 8] ^= 0x01
    path.write_bytes(bytes(stored[:-50] if how == "truncate" else stored))


@pytest.mark.parametrize("how", ["flip", "truncate"])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("compressible", [True, False])
def test_writing_the_content_again_heals_a_damaged_blob(
    tmp_path: Path, how: str, batched: bool, compressible: bool
) -> None:
    store = ContentAddressedStore(LocalStorage(str(tmp_path)))
    data = (b"abc" * 50_000) if compressible else os.urandom(150_000)
    key = store.put(data).key
    _damage(tmp_path / "data" / key[:2] / key, how)
    with pytest.raises(DataException, match=key):
        store.load_blob(key)
    written = store.put_many([data])[0].written if batched else store.put(data).written  # as a re-run does
    assert written and bytes(store.load_blob(key)) == data
    assert not store.put(data).written  # whole again: nothing to do


def test_a_large_remote_blob_is_checked_by_size_only(tmp_path: Path) -> None:
    """Without memory-mapped reads, a large existing blob is not downloaded to verify it: a truncated raw blob
    is told by its size; other damage is found by the next read."""
    from flowstone.datastore import content_addressed

    storage = MemoryStorage()
    store = ContentAddressedStore(storage)
    data = os.urandom(4096)
    key = store.put(data).key
    limit = content_addressed.VERIFY_READ_MAX
    content_addressed.VERIFY_READ_MAX = 1024  # as if the blob were large
    try:
        original = bytes(storage.load_one(store.blob_path(key)) or b"")
        storage.corrupt(store.blob_path(key), original[:-10])
        assert store.put(data).written  # the size gave it away
        assert bytes(store.load_blob(key)) == data
    finally:
        content_addressed.VERIFY_READ_MAX = limit
