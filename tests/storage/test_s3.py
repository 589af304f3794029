"""The S3 storage backend against a real S3 API server (SeaweedFS on loopback)."""

from __future__ import annotations

import pickle
import uuid

import pytest

from flowstone.errors import StorageError
from flowstone.settings import Settings
from flowstone.storage import make_storage
from flowstone.storage.s3 import S3Storage
from tests.servers.seaweedfs import SeaweedFS
from tests.storage.conformance import StorageTests


def _root() -> str:
    return f"s3://flowstone-test/storage-{uuid.uuid4().hex[:12]}"


class TestS3Storage(StorageTests):
    @pytest.fixture
    def storage(self, s3_env: dict[str, str]) -> S3Storage:
        return S3Storage(_root(), settings=Settings.from_env())


def test_made_from_settings(s3_env: dict[str, str]) -> None:
    root = _root()
    storage = make_storage("s3", settings=Settings.from_env(default_datastore="s3", datastore_sysroot_s3=root))
    assert isinstance(storage, S3Storage) and storage.root == root
    storage.save_one("k", b"v")
    assert bytes(storage.load_one("k")) == b"v"  # type: ignore[arg-type]


def test_pickles_without_its_connections(s3_env: dict[str, str]) -> None:
    storage = S3Storage(_root(), settings=Settings.from_env())
    storage.save_one("k", b"v")
    copy = pickle.loads(pickle.dumps(storage))
    assert copy.root == storage.root and bytes(copy.load_one("k")) == b"v"  # type: ignore[arg-type]


def test_prefixes_do_not_leak_into_each_other(s3_env: dict[str, str]) -> None:
    one, other = S3Storage(_root(), settings=Settings.from_env()), S3Storage(_root(), settings=Settings.from_env())
    one.save_one("a/x", b"1")
    assert other.load_one("a/x") is None and other.list_content("") == []


@pytest.mark.parametrize("root", ["flowstone-test/no-scheme", "s3://", "s3:///prefix-only"])
def test_bad_roots_are_refused(root: str, s3_env: dict[str, str]) -> None:
    with pytest.raises(StorageError, match="s3://bucket"):
        S3Storage(root, settings=Settings.from_env())


def test_missing_bucket_is_a_clear_error(s3_env: dict[str, str]) -> None:
    storage = S3Storage("s3://no-such-bucket-here/x", settings=Settings.from_env())
    with pytest.raises(StorageError, match="no-such-bucket-here"):
        storage.save_one("k", b"v")


def test_unreachable_endpoint_fails_fast_and_names_it(seaweedfs: SeaweedFS, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.servers._process import free_ports

    for name, value in seaweedfs.environment.items():
        monkeypatch.setenv(name, value)
    endpoint = f"http://127.0.0.1:{free_ports(1)[0]}"
    monkeypatch.setenv("FLOWSTONE_S3_ENDPOINT_URL", endpoint)
    storage = S3Storage(_root(), settings=Settings.from_env())
    with pytest.raises(StorageError) as err:
        storage.load_one("k")
    assert "flowstone-test" in str(err.value)
    assert seaweedfs.environment["AWS_SECRET_ACCESS_KEY"] not in str(err.value)


def test_large_objects_are_created_once_from_chunks(s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Above LARGE_OBJECT, a create goes up as a streamed multipart upload of the chunks (not joined first)."""
    import flowstone.storage.s3 as s3_storage

    monkeypatch.setattr(s3_storage, "LARGE_OBJECT", 6 << 20)
    storage = S3Storage(_root(), settings=Settings.from_env())
    chunks = [b"h" * 16, bytes(range(256)) * (40 << 10), memoryview(b"t" * (3 << 20))]  # ~13 MiB, 3 chunks
    expected = b"".join(bytes(c) for c in chunks)
    assert storage.put_if_absent("big", chunks) is True
    assert storage.put_if_absent("big", [b"other"] * 2_000_000) is False  # present: left alone
    assert bytes(storage.load_one("big")) == expected  # type: ignore[arg-type]
    assert storage.save_bytes([("big", [b"x"]), ("small", [b"a", b"b"])], overwrite=False) == [False, True]
    assert bytes(storage.load_one("small")) == b"ab"  # type: ignore[arg-type]
