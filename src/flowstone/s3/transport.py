"""The low-level S3 transport: batches of puts, gets, heads, listings and deletes on one bucket, over obstore.

Every method has a synchronous form (run on a private event loop thread, see :mod:`flowstone.s3._loop`) and an
``*_async`` form for code already in an event loop. Within a batch, requests run concurrently (at most
``S3Config.max_concurrency`` at once); each request is retried on its own while its failure is transient, within
``S3Config.deadline``; errors come out as :mod:`flowstone.s3.errors` exceptions (the first failure of a batch, in
input order, after the whole batch has finished); a batch that is slow says so on stderr (:mod:`._progress`).

Large objects move in parts (``S3Config.part_size``, ``download_part_size``): uploads as multipart uploads,
downloads as parallel ranged GETs (see :mod:`._download`).
A conditional create (``if_absent=True``) is always a single PUT with ``If-None-Match: *``, because S3 cannot
make a multipart upload conditional here: it is atomic and race-free, and limited to 5 GiB (S3's cap on a
single PUT); a Path payload is read into memory for it. One ambiguity is inherent: if a conditional PUT succeeds
but its response is lost, the retry finds the object present and reports False.

Listings, and requests for keys obstore cannot address (control characters, empty or dot segments, a leading or
trailing '/'), are signed by flowstone itself (:mod:`._signed`), so every key S3 accepts works.

The values it takes and returns are in :mod:`flowstone.s3.transport_values`.

obstore's tokio runtime does not survive ``fork``: a child forked from a process that used the transport gets an
error from the synchronous methods (flowstone forks tasks from a server that never imports obstore).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

import obstore
from obstore import exceptions as obe
from obstore.store import S3Store

from flowstone.s3 import _loop
from flowstone.s3._download import read_object
from flowstone.s3._failures import describe
from flowstone.s3._listing import Listing, list_pages, list_through_obstore
from flowstone.s3._progress import current_batch, run_batch
from flowstone.s3._retry import Retrier, TransportStats, loop_slots
from flowstone.s3._signed import SignedClient, SignedRequestError, obstore_can_address
from flowstone.s3._sinks import FileSink, MemorySink
from flowstone.s3._watch import answered
from flowstone.s3.config import MiB, S3Config
from flowstone.s3.errors import S3Exception, S3InvalidObject, S3NotFound, S3URLException
from flowstone.s3.transport_values import (
    Data,
    Fetched,
    ObjectInfo,
    PutRequest,
    Range,
    header_info,
    object_info,
    payload_size,
    put_attributes,
    put_headers,
    put_payload,
)

__all__ = ["S3Transport", "TransportStats"]

T = TypeVar("T")

MAX_SINGLE_PUT = 5 * 1024 * MiB

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
                "secret_access_key": config.secret_access_key, "session_token": config.session_token,
                "server_side_encryption": config.server_side_encryption}  # fmt: skip
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
        ) from (exc if config.debug else None)


class S3Transport:
    """Batched object operations on one bucket (keys are paths inside it, without a leading '/')."""

    def __init__(self, bucket: str, config: S3Config) -> None:
        self.bucket = bucket
        self.config = config
        self.store = _store(bucket, self.config)
        self.signed = SignedClient(bucket, config)
        self._retrier = Retrier(bucket, self.config)
        self._multipart_uploads = loop_slots(max(1, self.config.parts_in_flight // self.config.part_concurrency))

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

    def retried(self, action: str, key: str, request: Callable[[], Awaitable[T]], detail: object = "",
                deadlines: int | None = 1) -> Coroutine[Any, Any, T]:  # fmt: skip
        """``request()`` with retries, within ``deadlines`` times the deadline (see :meth:`Retrier.call`)."""
        return self._retrier.call(action, key, request, detail, deadlines)

    def signed_only(self, key: str) -> None:
        """Raise if a request for ``key`` must be signed here and cannot be (no static credentials)."""
        if not self.signed.available:
            raise S3URLException(
                f"{self.url(key)!r} has characters (or empty, '.' or '..' segments, or a leading or trailing '/') "
                f"that flowstone can only send in requests it signs itself, and it has no static credentials to sign "
                f"with. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile in the shared credentials file)."
            )

    # -- uploads --------------------------------------------------------------------------------------------

    def put_many(self, items: Sequence[tuple[str, Data] | PutRequest], *, if_absent: bool = False) -> list[bool]:
        """Upload ``(key, data)`` pairs (or :class:`PutRequest` s with metadata); True for each object written.

        With ``if_absent=True`` an object is created only if its key is free (a conditional PUT): a key that
        already exists gives False, not an error.
        """
        return self.run(self.put_many_async(items, if_absent=if_absent))

    async def put_many_async(self, items: Sequence[tuple[str, Data] | PutRequest], *,
                             if_absent: bool = False) -> list[bool]:  # fmt: skip
        """Async form of :meth:`put_many`."""
        requests = [PutRequest(*item) for item in items]
        attributes = [put_attributes(r.metadata, r.content_type) for r in requests]
        return await run_batch("PUT", [self._put(r.key, r.data, if_absent, a) for r, a in zip(requests, attributes,
                                                                                             strict=True)],
                               self.config)  # fmt: skip

    async def _put(self, key: str, data: Data, if_absent: bool, attributes: dict[str, str] | None) -> bool:
        size = payload_size(data)
        if if_absent and size > MAX_SINGLE_PUT:
            raise S3InvalidObject(f"Cannot create {self.url(key)} conditionally: {size} bytes is over S3's 5 GiB "
                                  f"limit for a single PUT. Upload it without overwrite=False.")  # fmt: skip
        if not obstore_can_address(key):
            return await self._put_signed(key, data, if_absent, attributes)
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
            return _counted(size, await self.retried("PUT", key, attempt))
        async with self._multipart_uploads():  # bounds the parts buffered across a batch
            return _counted(size, await self.retried("PUT", key, attempt, deadlines=self._rounds(size)))

    def _rounds(self, size: int) -> int:
        """How many deadlines an upload of ``size`` bytes gets: one per round of ``part_concurrency`` parts."""
        return max(1, -(-size // (self.config.part_size * self.config.part_concurrency)))

    async def _put_signed(self, key: str, data: Data, if_absent: bool, attributes: dict[str, str] | None) -> bool:
        """One signed PUT (the whole object: up to S3's 5 GiB for a single PUT)."""
        self.signed_only(key)
        headers = put_headers(attributes, self.config.server_side_encryption)
        if if_absent:
            headers["if-none-match"] = "*"
        body = put_payload(data, multipart=False)

        async def attempt() -> bool:
            try:
                await self.signed.send("PUT", key, headers=headers, body=body)
            except SignedRequestError as exc:
                if if_absent and "status code: 412" in str(exc):
                    return False
                raise
            return True

        size = payload_size(data)
        return _counted(size, await self.retried("PUT", key, attempt, deadlines=self._rounds(size)))

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
        reads = [read_object(self, key, rng, MemorySink()) for key, rng in zip(keys, ranges, strict=True)]
        return await run_batch("GET", reads, self.config)

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
        return await run_batch("GET", [read_object(self, key, rng, FileSink(path)) for (key, path), rng in pairs],
                               self.config)  # fmt: skip

    # -- metadata, listings, deletes ------------------------------------------------------------------------

    def head_many(self, keys: Sequence[str]) -> list[ObjectInfo | None]:
        """Each object's info, metadata and content type included; None for a missing key."""
        return self.run(self.head_many_async(keys))

    async def head_many_async(self, keys: Sequence[str], signed: bool = False) -> list[ObjectInfo | None]:
        """Async form of :meth:`head_many`. ``signed=True`` asks with signed requests, whose answers tell the
        server-side encryption too (``ObjectInfo.encryption``)."""
        return await run_batch("HEAD", [self._head_or_none(key, signed) for key in keys], self.config)

    async def _head_or_none(self, key: str, signed: bool) -> ObjectInfo | None:
        try:
            return await self.head(key, signed)
        except S3NotFound as exc:
            if type(exc) is not S3NotFound:
                raise  # the bucket is missing
            return None

    async def head(self, key: str, signed: bool = False) -> ObjectInfo:
        """The info of one object (retried); raises S3NotFound if it does not exist."""
        if signed or not obstore_can_address(key):
            self.signed_only(key)

            async def signed_head() -> ObjectInfo:
                response = await self.signed.send("HEAD", key)
                return header_info(key, response.headers, int(response.headers.get("content-length", 0)))

            return await self.retried("HEAD", key, signed_head)

        async def attempt() -> ObjectInfo:
            got = await answered(obstore.get_async(self.store, key, options={"head": True}), self.config.read_timeout)
            return object_info(got.meta, got.attributes, key)

        return await self.retried("HEAD", key, attempt)

    def list_one_level(self, prefix: str) -> tuple[list[ObjectInfo], list[str]]:
        """The objects directly under ``prefix`` (a folder: 'a/b' means 'a/b/') and its sub-prefixes.

        Sub-prefixes end with '/'; both lists are sorted by key. All pages of the listing are fetched.
        """
        return self.run(self.list_one_level_async(prefix))

    async def list_one_level_async(self, prefix: str) -> tuple[list[ObjectInfo], list[str]]:
        """Async form of :meth:`list_one_level`."""
        return (await run_batch("LIST", [self._listing(prefix, delimiter=True)], self.config))[0]

    def list_recursive(self, prefix: str) -> list[ObjectInfo]:
        """Every object under ``prefix`` (a folder), at any depth, sorted by key."""
        return self.run(self.list_recursive_async(prefix))

    async def list_recursive_async(self, prefix: str) -> list[ObjectInfo]:
        """Async form of :meth:`list_recursive`."""
        return (await run_batch("LIST", [self._listing(prefix, delimiter=False)], self.config))[0][0]

    async def _listing(self, prefix: str, delimiter: bool) -> Listing:
        folder = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        if self.signed.available:
            return await list_pages(self.retried, self.signed, folder, delimiter)
        return await list_through_obstore(self.retried, self.store, self.url(folder), folder, delimiter,
                                          self.config.read_timeout)  # fmt: skip

    def delete_many(self, keys: Sequence[str]) -> None:
        """Delete the objects (in bulk requests of up to 1000 keys); missing keys are ignored."""
        self.run(self.delete_many_async(keys))

    async def delete_many_async(self, keys: Sequence[str]) -> None:
        """Async form of :meth:`delete_many`."""
        plain = [key for key in keys if obstore_can_address(key)]
        batches = [plain[i : i + 1000] for i in range(0, len(plain), 1000)]
        deletes = [self.retried("DELETE", batch[0], partial(obstore.delete_async, self.store, batch), len(batch))
                   for batch in batches]  # fmt: skip
        deletes += [self._delete_signed(key) for key in keys if not obstore_can_address(key)]
        await run_batch("DELETE", deletes, self.config)

    async def _delete_signed(self, key: str) -> None:
        self.signed_only(key)
        await self.retried("DELETE", key, partial(self.signed.send, "DELETE", key))


def _counted(size: int, written: bool) -> bool:
    """``written``, after counting an upload's ``size`` bytes in the batch's progress."""
    batch = current_batch()
    if batch is not None:
        batch.count_bytes(size)
    return written
