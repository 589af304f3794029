"""The low-level S3 transport: batches of puts, gets, heads, listings and deletes on one bucket, over obstore.

Every method has a synchronous form (run on a private event loop thread, see :mod:`flowstone.s3._loop`) and an
``*_async`` form for code already in an event loop. Within a batch, requests run concurrently (at most
``S3Config.max_concurrency`` at once); each request is retried on its own while its failure is transient, and
errors come out as :mod:`flowstone.s3.errors` exceptions (the first failure of a batch, in input order, after the
whole batch has finished).

Large objects move in parts (``S3Config.part_size``, ``download_part_size``): uploads as multipart uploads,
downloads as parallel ranged GETs (the later ones conditional on the first one's ETag, so a download never mixes
two versions).
A conditional create (``if_absent=True``) is always a single PUT with ``If-None-Match: *``, because S3 cannot
make a multipart upload conditional here: it is atomic and race-free, and limited to 5 GiB (S3's cap on a
single PUT); a Path payload is read into memory for it. One ambiguity is inherent: if a conditional PUT succeeds
but its response is lost, the retry finds the object present and reports False.

The values it takes and returns are in :mod:`flowstone.s3.transport_values`.

obstore's tokio runtime does not survive ``fork``: a child forked from a process that used the transport gets an
error from the synchronous methods (flowstone forks tasks from a server that never imports obstore).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Coroutine, Mapping, Sequence
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import obstore
from obstore import exceptions as obe
from obstore.store import S3Store

from flowstone.s3 import _loop
from flowstone.s3._retry import LoopSlots, Retrier, TransportStats, describe, http_status
from flowstone.s3._sinks import FileSink, MemorySink, Sink
from flowstone.s3.config import MiB, S3Config
from flowstone.s3.errors import S3BucketNotFound, S3Exception, S3InvalidObject, S3NotFound
from flowstone.s3.transport_values import (
    Data,
    Fetched,
    ObjectInfo,
    PutRequest,
    Range,
    object_info,
    payload_size,
    put_attributes,
    put_payload,
)

if TYPE_CHECKING:
    from obstore import GetResult

__all__ = ["S3Transport", "TransportStats"]

T = TypeVar("T")

MAX_SINGLE_PUT = 5 * 1024 * MiB
#: Bodies stream into files in pieces this big: every stream in flight buffers about one, so this, not the number
#: of concurrent requests, is what bounds a batch's memory.
STREAM_CHUNK = 512 * 1024

_stores: dict[tuple[int, str, S3Config], S3Store] = {}
_stores_lock = threading.Lock()


def _store(bucket: str, config: S3Config) -> S3Store:
    """The (cached) obstore store for ``bucket``, with obstore's own retries off (a forked child makes its own)."""
    cache_key = (os.getpid(), bucket, config)
    with _stores_lock:
        store = _stores.get(cache_key)
        if store is None:
            store = _stores[cache_key] = _make_store(bucket, config)
        return store


def _make_store(bucket: str, config: S3Config) -> S3Store:
    settings: dict[str, Any] = {"virtual_hosted_style_request": config.virtual_hosted_style}
    optional = {"endpoint": config.endpoint_url, "region": config.region, "access_key_id": config.access_key_id,
                "secret_access_key": config.secret_access_key, "session_token": config.session_token}  # fmt: skip
    settings.update({name: value for name, value in optional.items() if value})
    client = {
        "allow_http": bool(config.endpoint_url and config.endpoint_url.startswith("http://")),
        "connect_timeout": timedelta(seconds=config.connect_timeout),
        "timeout": timedelta(seconds=config.request_timeout),
        "default_content_type": "application/octet-stream",  # what S3 itself assumes; some servers sniff instead
    }
    try:
        return S3Store(bucket, config=settings, client_options=client, retry_config={"max_retries": 0})  # type: ignore[arg-type]
    except Exception as exc:
        raise S3Exception(
            f"Cannot set up S3 access to bucket '{bucket}': {describe(exc, config.secrets())}. Check the endpoint "
            f"(FLOWSTONE_S3_ENDPOINT_URL), region and credentials."
        ) from exc


async def _gather(coros: Sequence[Awaitable[T]]) -> list[T]:
    """Await all; then raise the first failure in input order, if any (no request is left half-done)."""
    results = await asyncio.gather(*coros, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]


class S3Transport:
    """Batched object operations on one bucket (keys are paths inside it, without a leading '/')."""

    def __init__(self, bucket: str, config: S3Config) -> None:
        self.bucket = bucket
        self.config = config
        self.store = _store(bucket, self.config)
        self._retrier = Retrier(bucket, self.config)
        self._multipart_uploads = LoopSlots(max(1, self.config.parts_in_flight // self.config.part_concurrency))

    def __repr__(self) -> str:
        return f"S3Transport(bucket={self.bucket!r}, endpoint={self.config.endpoint_url!r})"

    @property
    def stats(self) -> TransportStats:
        """Counters of requests, retries and injected failures so far."""
        return self._retrier.stats

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the transport's event loop thread and return its result."""
        return _loop.run(coro)

    # -- uploads --------------------------------------------------------------------------------------------

    def put_many(self, items: Sequence[tuple[str, Data] | PutRequest], *, if_absent: bool = False,
                 metadata: Mapping[str, str] | None = None, content_type: str | None = None) -> list[bool]:  # fmt: skip
        """Upload ``(key, data)`` pairs (or :class:`PutRequest` s); True for each object written.

        With ``if_absent=True`` an object is created only if its key is free (a conditional PUT): a key that
        already exists gives False, not an error. ``metadata``/``content_type`` apply to items without their own.
        """
        return self.run(self.put_many_async(items, if_absent=if_absent, metadata=metadata, content_type=content_type))

    async def put_many_async(self, items: Sequence[tuple[str, Data] | PutRequest], *, if_absent: bool = False,
                             metadata: Mapping[str, str] | None = None,
                             content_type: str | None = None) -> list[bool]:  # fmt: skip
        """Async form of :meth:`put_many`."""
        requests = [PutRequest(*item) for item in items]
        return await _gather([
            self._put(r.key, r.data, if_absent, put_attributes(r.metadata or metadata, r.content_type or content_type))
            for r in requests
        ])  # fmt: skip

    async def _put(self, key: str, data: Data, if_absent: bool, attributes: dict[str, str] | None) -> bool:
        size = payload_size(data)
        if if_absent and size > MAX_SINGLE_PUT:
            raise S3InvalidObject(f"Cannot create {self.url(key)} conditionally: {size} bytes is over S3's 5 GiB "
                                  f"limit for a single PUT. Upload it without overwrite=False.")  # fmt: skip
        multipart = not if_absent and size > self.config.part_size
        payload = put_payload(data, multipart)

        async def attempt() -> bool:
            try:
                await obstore.put_async(self.store, key, payload, attributes=attributes,
                                        mode="create" if if_absent else "overwrite", use_multipart=multipart,
                                        chunk_size=self.config.part_size,
                                        max_concurrency=self.config.part_concurrency)  # fmt: skip
            except obe.AlreadyExistsError:
                return False
            return True

        if not multipart:
            return await self._retrier.call("PUT", key, attempt)
        async with self._multipart_uploads():  # bounds the parts buffered across a batch
            return await self._retrier.call("PUT", key, attempt)

    # -- downloads ------------------------------------------------------------------------------------------

    def get_many(self, keys: Sequence[str], ranges: Sequence[Range | None] | None = None) -> list[memoryview | None]:
        """The bytes of each key (or of its ``(offset, length)`` range), None for a missing key, in input order."""
        return [None if f is None else f.data for f in self.fetch_many(keys, ranges)]

    def fetch_many(self, keys: Sequence[str], ranges: Sequence[Range | None] | None = None) -> list[Fetched | None]:
        """Like :meth:`get_many`, with each object's info and the range actually returned."""
        return self.run(self.fetch_many_async(keys, ranges))

    async def fetch_many_async(self, keys: Sequence[str],
                               ranges: Sequence[Range | None] | None = None) -> list[Fetched | None]:  # fmt: skip
        """Async form of :meth:`fetch_many`."""
        ranges = ranges if ranges is not None else [None] * len(keys)
        return await _gather([self._read(key, rng, MemorySink()) for key, rng in zip(keys, ranges, strict=True)])

    def download_many(self, items: Sequence[tuple[str, str | os.PathLike[str]]],
                      ranges: Sequence[Range | None] | None = None) -> list[Fetched | None]:  # fmt: skip
        """Stream each ``(key, local path)`` into its file; None (and no file) for a missing key.

        Large objects arrive as parallel ranged parts written at their offsets, so memory stays bounded by the
        chunks in flight, not the objects' sizes.
        """
        return self.run(self.download_many_async(items, ranges))

    async def download_many_async(self, items: Sequence[tuple[str, str | os.PathLike[str]]],
                                  ranges: Sequence[Range | None] | None = None) -> list[Fetched | None]:  # fmt: skip
        """Async form of :meth:`download_many`."""
        ranges = ranges if ranges is not None else [None] * len(items)
        pairs = zip(items, ranges, strict=True)
        return await _gather([self._read(key, rng, FileSink(path)) for (key, path), rng in pairs])

    async def _read(self, key: str, rng: Range | None, sink: Sink) -> Fetched | None:
        try:
            return await self._read_parts(key, rng, sink)
        except S3NotFound as exc:
            sink.abort()
            if isinstance(exc, S3BucketNotFound):
                raise
            return None
        except BaseException:
            sink.abort()
            raise

    async def _read_parts(self, key: str, rng: Range | None, sink: Sink) -> Fetched:
        offset, length = rng if rng is not None else (0, None)
        if offset < 0 or (length is not None and length < 0):
            raise S3InvalidObject(f"Invalid range ({offset}, {length}) for {self.url(key)}: use offset, length >= 0.")
        if length == 0:
            info = await self._head(key)
            sink.prepare(0)
            return Fetched(info, offset, 0, sink.finish())
        part = self.config.download_part_size
        first_end = offset + (part if length is None else min(length, part))
        info, end, got = await self._retrier.call("GET", key, lambda: self._first(key, offset, first_end, length, sink))
        starts = range(got, end, part)
        await _gather([
            self._retrier.call("GET", key, partial(self._part, key, s, min(s + part, end), info.etag, offset, sink), s)
            for s in starts
        ])  # fmt: skip
        return Fetched(info, offset, end - offset, sink.finish())

    async def _first(self, key: str, start: int, end: int, length: int | None,
                     sink: Sink) -> tuple[ObjectInfo, int, int]:  # fmt: skip
        """GET the first part; learn the object's size; return (info, end of the request, end of what came)."""
        try:
            result = await obstore.get_async(self.store, key, options={"range": (start, end)})
        except obe.GenericError as exc:
            if start != 0 or http_status(exc) != 416:
                raise
            result = await obstore.get_async(self.store, key)  # an empty object has no byte 0 to range over
        info = object_info(result.meta, result.attributes, key)
        total_end = info.size if length is None else min(start + length, info.size)
        sink.prepare(total_end - start)
        got = await self._drain(result, start, sink)
        return info, total_end, got

    async def _part(self, key: str, start: int, end: int, etag: str | None, base: int, sink: Sink) -> None:
        options: dict[str, Any] = {"range": (start, end)}
        if etag:
            options["if_match"] = etag
        result = await obstore.get_async(self.store, key, options=options)  # type: ignore[arg-type]
        got = await self._drain(result, base, sink)
        if got != end:
            raise obe.GenericError(f"incomplete response: got bytes up to {got} of {end}")

    @staticmethod
    async def _drain(result: GetResult, base: int, sink: Sink) -> int:
        """Write a response's body into ``sink`` (offsets relative to ``base``); return the end offset."""
        position = result.range[0]
        if not sink.streams:
            data = await result.bytes_async()
            sink.write(position - base, memoryview(data))
            return position + len(data)
        async for chunk in result.stream(min_chunk_size=STREAM_CHUNK):
            sink.write(position - base, chunk)
            position += len(chunk)
        return position

    # -- metadata, listings, deletes ------------------------------------------------------------------------

    def head_many(self, keys: Sequence[str]) -> list[ObjectInfo | None]:
        """Each object's info, metadata and content type included; None for a missing key."""
        return self.run(self.head_many_async(keys))

    async def head_many_async(self, keys: Sequence[str]) -> list[ObjectInfo | None]:
        """Async form of :meth:`head_many`."""
        return await _gather([self._head_or_none(key) for key in keys])

    async def _head_or_none(self, key: str) -> ObjectInfo | None:
        try:
            return await self._head(key)
        except S3NotFound as exc:
            if isinstance(exc, S3BucketNotFound):
                raise
            return None

    async def _head(self, key: str) -> ObjectInfo:
        async def attempt() -> ObjectInfo:
            result = await obstore.get_async(self.store, key, options={"head": True})
            return object_info(result.meta, result.attributes, key)

        return await self._retrier.call("HEAD", key, attempt)

    def list_one_level(self, prefix: str) -> tuple[list[ObjectInfo], list[str]]:
        """The objects directly under ``prefix`` (a folder: 'a/b' means 'a/b/') and its sub-prefixes.

        Sub-prefixes end with '/'; both lists are sorted. All pages of the listing are fetched.
        """
        return self.run(self.list_one_level_async(prefix))

    async def list_one_level_async(self, prefix: str) -> tuple[list[ObjectInfo], list[str]]:
        """Async form of :meth:`list_one_level`."""

        async def attempt() -> tuple[list[ObjectInfo], list[str]]:
            listing = await obstore.list_with_delimiter_async(self.store, prefix.strip("/") or None)
            objects = sorted((object_info(meta) for meta in listing["objects"]), key=lambda info: info.key)
            return objects, sorted(p.rstrip("/") + "/" for p in listing["common_prefixes"])

        return await self._retrier.call("LIST", prefix, attempt)

    def list_recursive(self, prefix: str) -> list[ObjectInfo]:
        """Every object under ``prefix`` (a folder), at any depth, sorted by key."""
        return self.run(self.list_recursive_async(prefix))

    async def list_recursive_async(self, prefix: str) -> list[ObjectInfo]:
        """Async form of :meth:`list_recursive`."""

        async def attempt() -> list[ObjectInfo]:
            found: list[ObjectInfo] = []
            async for chunk in obstore.list(self.store, prefix.strip("/") or None, chunk_size=1000):
                found.extend(object_info(meta) for meta in chunk)
            return sorted(found, key=lambda info: info.key)

        return await self._retrier.call("LIST", prefix, attempt)

    def delete_many(self, keys: Sequence[str]) -> None:
        """Delete the objects (in bulk requests of up to 1000 keys); missing keys are ignored."""
        self.run(self.delete_many_async(keys))

    async def delete_many_async(self, keys: Sequence[str]) -> None:
        """Async form of :meth:`delete_many`."""
        batches = [list(keys[i : i + 1000]) for i in range(0, len(keys), 1000)]
        await _gather([
            self._retrier.call("DELETE", batch[0], partial(obstore.delete_async, self.store, batch), len(batch))
            for batch in batches
        ])  # fmt: skip
