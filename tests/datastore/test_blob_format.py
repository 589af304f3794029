from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowstone.datastore import blob_format


def _stored(content: bytes, encoding: str) -> bytes:
    return b"".join(bytes(c) for c in blob_format.encode([memoryview(content)], len(content), encoding))


@given(content=st.binary(max_size=20000), encoding=st.sampled_from(["raw", "zstd"]))
@settings(max_examples=100, deadline=None)
def test_encode_decode_roundtrip(content: bytes, encoding: str) -> None:
    decoded, used = blob_format.decode(_stored(content, encoding))
    assert bytes(decoded) == content and used == encoding


def test_incompressible_data_is_stored_raw() -> None:
    data = os.urandom(1 << 20)
    assert blob_format.choose_encoding([memoryview(data)], len(data), 0.5) == "raw"


def test_compressible_data_is_compressed() -> None:
    data = b"abcdefgh" * (1 << 17)
    assert blob_format.choose_encoding([memoryview(data)], len(data), 0.5) == "zstd"
    assert len(_stored(data, "zstd")) < len(data) // 10


def test_sample_takes_evenly_spaced_windows_across_chunks() -> None:
    whole = os.urandom(1_000_000)
    chunks = [memoryview(whole)[i : i + 70_000] for i in range(0, len(whole), 70_000)]
    window, count = 16 << 10, 16
    stride = (len(whole) - window) // (count - 1)
    expected = b"".join(whole[i * stride : i * stride + window] for i in range(count))
    assert blob_format._sample(chunks, len(whole)) == expected


def test_small_content_is_sampled_whole() -> None:
    data = os.urandom(100_000)
    assert blob_format._sample([memoryview(data)], len(data)) == data


def test_compression_decision_reflects_the_mix_of_buffers() -> None:
    # a quarter zeros, three quarters random: the whole compresses to about 3/4, the sample says the same
    chunks = [memoryview(b"\0" * 1_000_000), memoryview(os.urandom(3_000_000))]
    total = sum(c.nbytes for c in chunks)
    assert blob_format.choose_encoding(chunks, total, 0.5) == "raw"
    assert blob_format.choose_encoding(chunks, total, 0.8) == "zstd"
    # three quarters zeros: worth compressing at the default threshold
    chunks = [memoryview(b"\0" * 3_000_000), memoryview(os.urandom(1_000_000))]
    assert blob_format.choose_encoding(chunks, sum(c.nbytes for c in chunks), 0.5) == "zstd"


def test_tiny_blobs_are_never_compressed() -> None:
    data = b"a" * 100
    assert blob_format.choose_encoding([memoryview(data)], len(data), 0.5) == "raw"


def test_raw_decode_is_zero_copy() -> None:
    stored = bytearray(_stored(b"x" * 1000, "raw"))
    content, _ = blob_format.decode(stored)
    stored[blob_format.HEADER_SIZE] = ord("y")
    assert content[0] == ord("y")


@pytest.mark.parametrize("encoding", ["raw", "zstd"])
def test_truncated_blob_is_rejected(encoding: str) -> None:
    stored = _stored(b"0123456789" * 1000, encoding)
    for cut in (5, blob_format.HEADER_SIZE, len(stored) - 1):
        with pytest.raises(blob_format.BlobFormatError):
            blob_format.decode(stored[:cut])


def test_foreign_bytes_are_rejected() -> None:
    with pytest.raises(blob_format.BlobFormatError, match="header"):
        blob_format.decode(b"definitely not a flowstone blob")


def test_existing_blob_encoding_is_told_by_size() -> None:
    assert blob_format.encoding_of_stored_size(1016, 1000) == "raw"
    assert blob_format.encoding_of_stored_size(300, 1000) == "zstd"
