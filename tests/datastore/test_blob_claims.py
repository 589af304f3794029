"""Claims: a writer that finds a blob stored long ago claims it before its record refers to it, and waits out a
gc deleting it; what gc reads of a blob's last use includes the claim."""

from __future__ import annotations

import threading
import time

import pytest

from flowstone.datastore import FlowDataStore, task_datastore
from flowstone.datastore.blob_claims import DELETING_STALE_SECONDS, BlobClaims
from flowstone.datastore.content_addressed import ContentAddressedStore
from flowstone.settings import Settings
from flowstone.storage.memory import MemoryStorage

HOUR = 3600.0


def _store(claim_after: float = 600.0) -> tuple[MemoryStorage, ContentAddressedStore]:
    storage = MemoryStorage()
    return storage, ContentAddressedStore(storage, claim_after=claim_after)


def _age(storage: MemoryStorage, key: str, seconds: float) -> None:
    storage.set_modified(key, time.time() - seconds)


def test_a_blob_found_recently_needs_no_claim() -> None:
    storage, store = _store()
    key = store.put(b"x" * 4096).key
    assert store.put(b"x" * 4096).written is False
    assert store.put_many([b"x" * 4096])[0].written is False
    assert storage.info(store.claims.claim_path(key)) is None


@pytest.mark.parametrize("batched", [False, True])
def test_a_blob_found_long_ago_is_claimed_once_per_claim_age(batched: bool) -> None:
    storage, store = _store()
    key = store.put(b"y" * 4096).key
    _age(storage, store.blob_path(key), HOUR)
    again = store.put_many([b"y" * 4096])[0] if batched else store.put(b"y" * 4096)
    assert again.written is False and again.key == key
    claim = storage.info(store.claims.claim_path(key))
    assert claim is not None and claim.modified > time.time() - 60
    _age(storage, store.claims.claim_path(key), 60)  # a fresh claim is not written again
    store.put(b"y" * 4096)
    assert storage.info(store.claims.claim_path(key)).modified < time.time() - 59  # type: ignore[union-attr]
    assert store.claims.last_written([key])[key] == pytest.approx(time.time() - 60, abs=5)


def test_a_writer_waits_while_a_gc_deletes_its_blob_and_writes_it_again() -> None:
    storage, store = _store()
    content = b"z" * 4096
    key = store.put(content).key
    _age(storage, store.blob_path(key), HOUR)
    collector = BlobClaims(storage, "data", 0.0)
    assert collector.mark_deleting([key]) == [key]
    assert collector.mark_deleting([key]) == []  # one gc holds a mark at a time

    def delete_then_unmark() -> None:
        deadline = time.monotonic() + 30
        while storage.info(store.claims.claim_path(key)) is None and time.monotonic() < deadline:
            time.sleep(0.01)  # until the writer's claim is in; then gc decides
        storage.delete([store.blob_path(key), store.claims.claim_path(key)])  # it read the blob's old time
        collector.unmark([key])

    gc = threading.Thread(target=delete_then_unmark)
    gc.start()
    blob = store.put(content)
    gc.join(timeout=30)
    assert blob.written is True  # found gone after the mark was lifted: stored again
    assert bytes(store.load_blob(key)) == content


def test_a_deletion_mark_left_by_a_dead_gc_is_not_waited_for() -> None:
    storage, store = _store()
    key = store.put(b"w" * 4096).key
    _age(storage, store.blob_path(key), HOUR)
    BlobClaims(storage, "data", 0.0).mark_deleting([key])
    _age(storage, store.claims.deleting_path(key), DELETING_STALE_SECONDS + 1)
    started = time.monotonic()
    assert store.put(b"w" * 4096).written is False
    assert time.monotonic() - started < 5


def test_reuse_claims_the_blobs_of_the_task_it_reuses() -> None:
    storage, store = _store()
    keys = [store.put(bytes([i]) * 4096).key for i in range(3)]
    for key in keys[:2]:
        _age(storage, store.blob_path(key), HOUR)
    storage.delete([store.blob_path(keys[0])])
    assert store.claims.secure_stored([*keys, "f" * 64]) == {keys[0], "f" * 64}
    assert storage.info(store.claims.claim_path(keys[1])) is not None  # old: claimed
    assert storage.info(store.claims.claim_path(keys[2])) is None  # recent: nothing to do


def test_long_saves_record_what_they_stored_as_they_go(monkeypatch: pytest.MonkeyPatch) -> None:
    """A record refers to blobs within RECORD_WITHIN_SECONDS of their storing, however long the save lasts."""
    monkeypatch.setattr(task_datastore, "RECORD_WITHIN_SECONDS", -1.0)  # every large blob: record first
    fds = FlowDataStore("ClaimFlow", storage=MemoryStorage(), settings=Settings())
    task = fds.get_datastore_for_task("1", "start", "1", mode="w")
    seen: list[set[str]] = []
    put = fds.ca_store.put

    def recording_put(payload: object, *args: object, **kwargs: object) -> object:
        reader = fds.get_datastore_for_task("1", "start", "1", allow_not_done=True)
        seen.append(set(reader.records))
        return put(payload, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fds.ca_store, "put", recording_put)
    task.save_artifacts([(f"a{i}", bytes([i]) * (2 << 20)) for i in range(3)])
    assert seen == [set(), {"a0"}, {"a0", "a1"}]
