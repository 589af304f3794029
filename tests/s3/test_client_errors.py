"""The S3 client's errors and options as Metaflow's: missing buckets and objects on every path, what is checked
first in an upload, server-side encryption, and the options flowstone refuses rather than ignore."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from flowstone import S3
from flowstone.s3 import (
    MetaflowS3InsufficientDiskSpace,
    MetaflowS3InvalidObject,
    MetaflowS3NotFound,
    MetaflowS3URLException,
    S3GetObject,
    S3PutObject,
    _sinks,
)
from flowstone.s3.config import S3Config
from flowstone.s3.errors import S3BucketNotFound, S3Exception
from flowstone.s3.transport import S3Transport
from flowstone.s3.transport_values import ObjectInfo
from tests.s3.conftest import BUCKET

MISSING_BUCKET = "no-such-bucket-anywhere"


def test_missing_buckets_raise_not_found_everywhere(config: S3Config) -> None:
    url = f"s3://{MISSING_BUCKET}/key"
    with S3(config=config) as s3:
        for call in (lambda: s3.get(url), lambda: s3.get_many([url, url]), lambda: s3.get(S3GetObject(url, 5, 10)),
                     lambda: s3.get(S3GetObject(url, None, -3)), lambda: s3.list_paths([url]),
                     lambda: s3.list_recursive([url]), lambda: s3.get(url, return_missing=True)):  # fmt: skip
            with pytest.raises(S3BucketNotFound, match=MISSING_BUCKET):
                call()  # not a missing key: return_missing does not hide it
        with pytest.raises(MetaflowS3NotFound, match=MISSING_BUCKET):
            s3.info(url)  # a HEAD's answer has no body to tell a missing bucket from a missing key
    with S3(s3root=f"s3://{MISSING_BUCKET}", config=config) as root, pytest.raises(S3BucketNotFound):
        root.list_paths()  # a listing of a bucket root


def test_missing_objects_raise_not_found_also_in_ranges(s3root: str, config: S3Config) -> None:
    with S3(s3root=s3root, config=config) as s3:
        for key in ("gone", S3GetObject("gone", None, None), S3GetObject("gone", 2, 3), S3GetObject("gone", None, -3)):
            with pytest.raises(MetaflowS3NotFound, match="gone"):
                s3.get(key)
            missing = s3.get(key, return_missing=True)
            assert (missing.exists, missing.downloaded) == (False, False)
        with pytest.raises(MetaflowS3NotFound):
            s3.get_many(["gone", "gone-too"])


def test_an_object_gone_between_listing_and_download_is_an_error(s3root: str, config: S3Config,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    with S3(s3root=s3root, config=config) as s3:
        s3.put("d/here", "1")
        listed = s3._list_objects(["d"])
        ghost = ObjectInfo(f"{listed[1][0].key.rsplit('/', 1)[0]}/ghost", 1, 0.0, None)
        monkeypatch.setattr(s3, "_list_objects", lambda keys: (listed[0] * 2, [*listed[1], ghost]))
        with pytest.raises(MetaflowS3NotFound, match=r"listed under .* but was gone"):
            s3.get_recursive(["d"])  # never returned short of an object without a word


def test_uploads_check_the_value_before_the_key(config: S3Config) -> None:
    with S3(config=config) as s3:  # no root: 'a' is no URL, but the bad value is what is reported first
        with pytest.raises(MetaflowS3InvalidObject):
            s3.put("a", 1)
        with pytest.raises(MetaflowS3InvalidObject):
            s3.put_many([("a", 1)])
        with pytest.raises(MetaflowS3NotFound):
            s3.put_files([("a", "/non-existent/local-file")])
        with pytest.raises(MetaflowS3URLException):
            s3.put_many([("foo", "bar")])


def test_server_side_encryption_is_asked_for_and_reported(s3root: str, config: S3Config, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("file")
    with S3(s3root=s3root, config=config, encryption="AES256") as s3:
        s3.put("enc", "secret")
        s3.put_files([("enc-file", tmp_path / "f")])
        assert [o.encryption for o in s3.get_many(["enc", "enc-file"])] == ["AES256", "AES256"]
        assert s3.info("enc").encryption == "AES256" and s3.get("enc", return_info=False).encryption is None
    with S3(s3root=s3root, config=config) as plain:
        plain.put(S3PutObject("own", "x", encryption="AES256"))
        plain.put("clear", "x")
        assert plain.get("own").encryption is None  # only a client made with encryption= asks the server
    with S3(s3root=s3root, config=config, encryption="AES256") as s3:
        assert [o.encryption for o in s3.get_many(["own", "clear"])] == ["AES256", None]
    head = S3Transport(BUCKET, config).head_many([f"{s3root[len(f's3://{BUCKET}/'):]}/own"])[0]
    assert head is not None and head.encryption is None  # obstore's answers do not carry it


def test_metaflows_client_options_are_refused_not_ignored(config: S3Config) -> None:
    with pytest.raises(S3Exception, match=r"role=.*FLOWSTONE_S3_ENDPOINT_URL"):
        S3(role="arn:aws:iam::1:role/x", config=config)
    with pytest.raises(TypeError, match="no_such_option"):
        S3(no_such_option=1, config=config)  # type: ignore[call-arg]


def test_without_static_credentials_a_listing_that_cannot_be_exact_is_refused(config: S3Config, prefix: str) -> None:
    S3Transport(BUCKET, config).put_many([(f"{prefix}/clean/a", b""), (f"{prefix}/odd/\x01", b"")])
    # obstore finds the AWS_* variables itself; flowstone has no credentials of its own to sign a listing with
    unsigned = S3Transport(BUCKET, config.replace(access_key_id=None, secret_access_key=None))
    assert [info.key for info in unsigned.list_recursive(f"{prefix}/clean")] == [f"{prefix}/clean/a"]
    with pytest.raises(S3Exception, match="static credentials"):
        unsigned.list_recursive(f"{prefix}/odd")


def test_a_full_disk_is_said_so(s3root: str, config: S3Config, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int, data: object, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    with S3(s3root=s3root, config=config) as s3:
        s3.put("k", "v")
        monkeypatch.setattr(_sinks.os, "pwrite", full)
        with pytest.raises(MetaflowS3InsufficientDiskSpace, match="tmproot"):
            s3.get("k")
