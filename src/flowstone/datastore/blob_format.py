"""How a blob's bytes sit in storage: a 16-byte header, then the content raw or zstd-compressed.

The content is what is hashed; the header only says how it is encoded, so one key can be stored either way and
read back the same. Compression is used only when a sample of the content shrinks enough to pay for it
(zstd level 1, chosen by measurement over lz4 and zstd 3; see bench/RESULTS.md).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["HEADER_SIZE", "BlobFormatError", "choose_encoding", "decode", "encode", "encoding_of_stored_size"]

MAGIC = b"FSB1"
_HEADER = struct.Struct("<4sB3xQ")  # magic, codec, padding, content size
HEADER_SIZE = _HEADER.size  # 16: keeps buffers inside raw blobs 16-byte aligned when memory-mapped
CODECS = {"raw": 0, "zstd": 1}
_CODEC_NAMES = {v: k for k, v in CODECS.items()}

# The sample: evenly spaced windows, so a blob made of differently compressible buffers (a DataFrame's
# columns, say) is judged by its mix, not by its first and last bytes.
_SAMPLE_WINDOWS = 16
_SAMPLE_WINDOW = 16 << 10
_MIN_COMPRESS_BYTES = 4 << 10
_STREAM_PIECE = 4 << 20
_MULTITHREAD_COMPRESS_BYTES = 16 << 20


def _zstd() -> Any:
    """zstandard, imported on first use: most small blobs never need it."""
    import zstandard

    return zstandard


class BlobFormatError(ValueError):
    """The stored bytes are not a well-formed blob (truncated or overwritten)."""


def _sample(chunks: Sequence[memoryview], total: int) -> bytes:
    """Evenly spaced windows of the content (all of it when small), for a cheap compressibility test."""
    if total <= _SAMPLE_WINDOWS * _SAMPLE_WINDOW:
        return b"".join(chunks)
    stride = (total - _SAMPLE_WINDOW) // (_SAMPLE_WINDOWS - 1)
    return b"".join(_read_range(chunks, i * stride, _SAMPLE_WINDOW) for i in range(_SAMPLE_WINDOWS))


def _read_range(chunks: Sequence[memoryview], start: int, length: int) -> bytes:
    pieces, offset = [], 0
    for chunk in chunks:
        end = offset + chunk.nbytes
        if end > start and offset < start + length:
            lo = max(start - offset, 0)
            hi = min(start + length - offset, chunk.nbytes)
            pieces.append(chunk[lo:hi])
        offset = end
        if offset >= start + length:
            break
    return b"".join(pieces)


def choose_encoding(chunks: Sequence[memoryview], total: int, ratio_threshold: float) -> str:
    """'zstd' when a sample of the content compresses to at most ``ratio_threshold`` of its size."""
    if total < _MIN_COMPRESS_BYTES or ratio_threshold <= 0:
        return "raw"
    sample = _sample(chunks, total)
    compressed = _zstd().ZstdCompressor(level=1).compress(sample)
    return "zstd" if len(compressed) <= ratio_threshold * len(sample) else "raw"


def encoding_of_stored_size(stored_size: int, content_size: int) -> str:
    """The encoding of an existing blob, told from its stored size (a raw blob is header + content)."""
    return "raw" if stored_size == content_size + HEADER_SIZE else "zstd"


def encode(chunks: Sequence[memoryview], total: int, encoding: str) -> Iterator[Any]:
    """Yield the stored form of the content: header, then the content in ``encoding``."""
    yield _HEADER.pack(MAGIC, CODECS[encoding], total)
    if encoding == "raw":
        yield from chunks
        return
    threads = -1 if total >= _MULTITHREAD_COMPRESS_BYTES else 0
    compressor = _zstd().ZstdCompressor(level=1, threads=threads).compressobj(size=total)
    for chunk in chunks:
        for start in range(0, chunk.nbytes, _STREAM_PIECE):
            out = compressor.compress(chunk[start : start + _STREAM_PIECE])
            if out:
                yield out
    yield compressor.flush()


def decode(stored: Any) -> tuple[memoryview, str]:
    """Return ``(content, encoding)`` from a stored blob; raw content is a view, never a copy."""
    view = memoryview(stored)
    if view.nbytes < HEADER_SIZE:
        raise BlobFormatError(f"blob is {view.nbytes} bytes, shorter than its {HEADER_SIZE}-byte header")
    magic, codec, size = _HEADER.unpack_from(view)
    if magic != MAGIC or codec not in _CODEC_NAMES:
        raise BlobFormatError("blob header is not recognised")
    body = view[HEADER_SIZE:]
    encoding = _CODEC_NAMES[codec]
    if encoding == "raw":
        if body.nbytes != size:
            raise BlobFormatError(f"blob holds {body.nbytes} bytes of content, its header says {size}")
        return body, encoding
    out = bytearray(size)
    try:
        zstd = _zstd()
        reader = zstd.ZstdDecompressor().stream_reader(body, read_across_frames=True)
        filled = 0
        target = memoryview(out)
        while filled < size:
            n = reader.readinto(target[filled:])
            if not n:
                break
            filled += n
        extra = reader.read(1)
    except zstd.ZstdError as exc:
        raise BlobFormatError(f"compressed content is damaged ({exc})") from exc
    if filled != size or extra:
        raise BlobFormatError(f"compressed content decodes to the wrong size (header says {size})")
    return memoryview(out), encoding
