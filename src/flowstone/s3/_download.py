"""Downloads: one object, or a byte range of it, into a sink (memory or a local file).

Large objects arrive as parallel ranged GETs of ``S3Config.download_part_size``: the first one learns the object's
size and ETag, the later ones are conditional on that ETag, so a download never mixes two versions. A suffix range
(the last N bytes) is one GET. Every wait is bounded: the first byte of an answer, and each piece of a streamed
body, must come within ``S3Config.read_timeout``. Keys obstore cannot address are read with one signed GET.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import obstore
from obstore import exceptions as obe

from flowstone.s3._failures import http_status
from flowstone.s3._progress import current_batch, gather_all
from flowstone.s3._signed import SignedRequestError, obstore_can_address
from flowstone.s3._sinks import Sink
from flowstone.s3._watch import answered, unbounded
from flowstone.s3.errors import S3BucketNotFound, S3InvalidObject, S3NotFound
from flowstone.s3.transport_values import Fetched, ObjectInfo, Range, header_info, object_info

if TYPE_CHECKING:
    from obstore import GetResult

    from flowstone.s3.transport import S3Transport

__all__ = ["read_object"]

#: Bodies stream into files in pieces this big: every stream in flight buffers about one, so this, not the number
#: of concurrent requests, is what bounds a batch's memory.
STREAM_CHUNK = 512 * 1024


async def read_object(transport: S3Transport, key: str, rng: Range | None, sink: Sink) -> Fetched | None:
    """Read ``key`` (or its range) into ``sink``; None if the object does not exist."""
    offset, length = rng if rng is not None else (0, None)
    if (length is not None and length < 0) or (offset < 0 and length is not None):
        raise S3InvalidObject(f"Invalid range ({offset}, {length}) for {transport.url(key)}: use offset, length >= 0, "
                              f"or a negative offset alone for the last bytes.")  # fmt: skip
    read = _read_parts if obstore_can_address(key) else _read_signed
    try:
        return await read(transport, key, offset, length, sink)
    except S3NotFound as exc:
        sink.abort()
        if isinstance(exc, S3BucketNotFound):
            raise
        return None
    except BaseException:
        sink.abort()
        raise


async def _read_parts(transport: S3Transport, key: str, offset: int, length: int | None, sink: Sink) -> Fetched:
    if length == 0:
        info = await transport.head(key)
        sink.prepare(0)
        return Fetched(info, offset, 0, sink.finish())
    part = transport.config.download_part_size
    first = {"suffix": -offset} if offset < 0 else (offset, offset + (part if length is None else min(length, part)))
    rounds = _rounds(transport, -offset if offset < 0 else 0)  # a suffix comes in one GET
    info, start, end, got = await transport.retried("GET", key, lambda: _first(transport, key, first, length, sink),
                                                    deadlines=rounds)  # fmt: skip
    if got < end:  # the rest in parallel parts
        await gather_all([
            transport.retried("GET", key, partial(_part, transport, key, s, min(s + part, end), info.etag, start,
                                                  sink), s)
            for s in range(got, end, part)
        ])  # fmt: skip
    return Fetched(info, start, end - start, sink.finish())


async def _first(transport: S3Transport, key: str, first: Any, length: int | None,
                 sink: Sink) -> tuple[ObjectInfo, int, int, int]:  # fmt: skip
    """GET the first part (or the suffix); learn the object's size; return (info, start and end of the whole
    request, end of what came)."""
    wait = transport.config.read_timeout
    try:
        result = await answered(obstore.get_async(transport.store, key, options={"range": first}), wait)
    except obe.GenericError as exc:
        if (isinstance(first, tuple) and first[0] != 0) or http_status(exc) != 416:
            raise
        result = await answered(obstore.get_async(transport.store, key), wait)  # an empty object has no byte 0
    info = object_info(result.meta, result.attributes, key)
    start = result.range[0]
    end = info.size if length is None else min(start + length, info.size)
    sink.prepare(end - start)
    got = await _drain(transport, result, start, sink)
    return info, start, end, got


async def _part(transport: S3Transport, key: str, start: int, end: int, etag: str | None, base: int,
                sink: Sink) -> None:  # fmt: skip
    options: dict[str, Any] = {"range": (start, end)}
    if etag:
        options["if_match"] = etag
    result = await answered(obstore.get_async(transport.store, key, options=options),  # type: ignore[arg-type]
                            transport.config.read_timeout)  # fmt: skip
    got = await _drain(transport, result, base, sink)
    if got != end:
        raise obe.GenericError(f"incomplete response: got bytes up to {got} of {end}")


async def _drain(transport: S3Transport, result: GetResult, base: int, sink: Sink) -> int:
    """Write a response's body into ``sink`` (offsets relative to ``base``); return the end offset."""
    position, wait = result.range[0], transport.config.read_timeout
    batch = current_batch()
    small = result.range[1] - position <= STREAM_CHUNK
    if small or not sink.streams:  # one buffer, no copy
        if small:
            data = await answered(result.bytes_async(), wait)
        else:  # a large body in one piece: obstore's request timeout bounds it
            unbounded()
            data = await result.bytes_async()
        sink.write(position - base, memoryview(data))
        if batch is not None:
            batch.count_bytes(len(data))
        return position + len(data)
    pieces = result.stream(min_chunk_size=STREAM_CHUNK)
    while True:
        try:
            chunk = await answered(pieces.__anext__(), wait)
        except StopAsyncIteration:
            return position
        sink.write(position - base, chunk)
        position += len(chunk)
        if batch is not None:
            batch.count_bytes(len(chunk))


def _rounds(transport: S3Transport, length: int) -> int:
    """How many deadlines a GET of ``length`` bytes in one request gets: one per download part (0: unknown)."""
    return max(1, -(-length // transport.config.download_part_size))


def _range_header(offset: int, length: int | None) -> dict[str, str]:
    if offset < 0:
        return {"range": f"bytes={offset}"}
    if offset == 0 and length is None:
        return {}
    return {"range": f"bytes={offset}-{'' if length is None else offset + length - 1}"}


async def _read_signed(transport: S3Transport, key: str, offset: int, length: int | None, sink: Sink) -> Fetched:
    """One signed GET of a key obstore cannot address, streamed into ``sink``."""
    transport.signed_only(key)
    if length == 0:
        info = await transport.head(key)
        sink.prepare(0)
        return Fetched(info, offset, 0, sink.finish())
    writer = _SinkWriter(sink)

    async def attempt() -> Any:
        try:
            return await transport.signed.send("GET", key, headers=_range_header(offset, length), on_body=writer)
        except SignedRequestError as exc:
            if offset != 0 or http_status(exc) != 416:
                raise
            return await transport.signed.send("GET", key, on_body=writer)  # an empty object has no byte 0

    response = await transport.retried("GET", key, attempt, deadlines=_rounds(transport, length or -offset))
    info = header_info(key, response.headers, writer.total)
    batch = current_batch()
    if batch is not None:
        batch.count_bytes(writer.length)
    return Fetched(info, writer.start, writer.length, sink.finish())


class _SinkWriter:
    """Given a signed GET's answer headers, prepares the sink and returns what writes the body into it (on the
    request's worker thread; a retry starts over)."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.start = self.total = self.length = self.position = 0

    def __call__(self, headers: dict[str, str]) -> Callable[[bytes], None]:
        self.start, self.total = _served(headers)
        self.length, self.position = int(headers.get("content-length", 0)), 0
        self.sink.prepare(self.length)
        return self.write

    def write(self, piece: bytes) -> None:
        self.sink.write(self.position, piece)
        self.position += len(piece)


def _served(headers: dict[str, str]) -> tuple[int, int]:
    """(first byte served, the object's size) from a GET answer's headers."""
    served = headers.get("content-range", "")  # "bytes 7-9/10"
    if served.startswith("bytes ") and "/" in served:
        span, total = served[len("bytes ") :].split("/", 1)
        return int(span.split("-", 1)[0]), int(total)
    return 0, int(headers.get("content-length", 0))
