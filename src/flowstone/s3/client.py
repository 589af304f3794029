"""The user-facing S3 client, with Metaflow's ``S3`` API.

Downloads go to temporary files that live until the client is closed (use it in a ``with`` block); objects in one
call move concurrently, large ones in parallel parts; results come back in input order (listings sorted). Every
object read through the client is recorded with its ETag (see :mod:`flowstone.s3.reads`), so a step's cache entry
knows what external data the step saw.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from flowstone.s3 import _loop
from flowstone.s3.config import S3Config
from flowstone.s3.errors import S3Exception, S3InvalidObject, S3NotFound, S3URLException
from flowstone.s3.locations import S3Location, client_root, join, parse_url
from flowstone.s3.objects import RangeInfo, S3GetObject, S3Object, S3PutObject
from flowstone.s3.reads import record_read
from flowstone.s3.task_context import task_context
from flowstone.s3.transport_values import Data, Fetched, ObjectInfo, PutRequest
from flowstone.settings import current_settings

if TYPE_CHECKING:
    from flowstone.s3.transport import S3Transport

__all__ = ["S3"]

R = TypeVar("R")
#: What ``put``/``put_many`` store: text (as UTF-8), bytes-like data, or a binary file object (read whole).
PutValue = Any
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$&'*+.^_`|~-]+$")


class S3:
    """A high-throughput S3 client. Use it as a context manager; closing it deletes the downloaded files.

    Where keys point:

    - ``S3()``: every key is a full ``s3://bucket/key`` URL.
    - ``S3(s3root='s3://bucket/prefix')`` or ``S3(bucket='bucket', prefix='prefix')``: keys are relative to that.
    - ``S3(run=self)`` inside a step, or ``S3(run=Run('Flow/run_id'))``: keys are relative to
      ``<root>/<FlowName>/<run_id>``, where the root is ``FLOWSTONE_DATATOOLS_S3ROOT`` (default: the S3
      datastore root's ``userdata`` folder); ``bucket``/``prefix`` replace the root's bucket and path.

    ``tmproot`` is where downloads go (default: the task's scratch folder inside a step, else the system's
    temporary folder). ``config`` sets the endpoint, credentials, concurrency and retries (default: from the
    environment, see :class:`~flowstone.s3.config.S3Config`).
    """

    def __init__(
        self,
        tmproot: str | os.PathLike[str] | None = None,
        bucket: str | None = None,
        prefix: str | None = None,
        run: Any = None,
        s3root: str | None = None,
        *,
        config: S3Config | None = None,
    ) -> None:
        self._settings = current_settings()  # inside a step: its run's settings
        self._root = client_root(s3root, bucket, prefix, run, self._settings.s3_userdata_root())
        self._tmproot = tmproot
        self._config = config
        self._tmpdir: str | None = None
        self._cleanup: weakref.finalize[Any, Any] | None = None
        self._transports: dict[str, S3Transport] = {}
        self._names = itertools.count()

    def __enter__(self) -> S3:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"S3(s3root={self._root!r})"

    def close(self) -> None:
        """Delete every file this client downloaded (the objects' ``path``/``blob`` are gone afterwards)."""
        if self._cleanup is not None:
            self._cleanup()
        self._tmpdir = self._cleanup = None

    # -- reading --------------------------------------------------------------------------------------------

    def get(self, key: str | S3GetObject | None = None, return_missing: bool = False,
            return_info: bool = True) -> S3Object:  # fmt: skip
        """Download one object (or a byte range of it, with an :class:`S3GetObject`).

        ``key`` is a URL or a key under the client's root (None: the root itself). A missing object raises
        :class:`~flowstone.s3.errors.S3NotFound`, or with ``return_missing=True`` comes back with
        ``exists == False``. Content type and metadata always come with the download (``return_info`` is
        accepted for compatibility).
        """
        return self.get_many([key], return_missing, return_info)[0]

    def get_many(self, keys: Iterable[str | S3GetObject | None], return_missing: bool = False,
                 return_info: bool = True) -> list[S3Object]:  # fmt: skip
        """Download many objects (or ranges) concurrently; the results are in the order of ``keys``.

        A missing object raises :class:`~flowstone.s3.errors.S3NotFound` (after the others finished), unless
        ``return_missing=True``, which returns it with ``exists == False``.
        """
        requests = [self._get_request(key) for key in keys]
        tmpdir = self._tmp()
        paths = [os.path.join(tmpdir, f"obj-{next(self._names):07d}") for _ in requests]
        fetched = self._per_bucket(
            [location for location, _ in requests],
            lambda transport, idx: transport.download_many_async(
                [(requests[i][0].key, paths[i]) for i in idx], [requests[i][1] for i in idx]
            ),
        )
        return [
            self._downloaded(location, path, result, return_missing)
            for (location, _), path, result in zip(requests, paths, fetched, strict=True)
        ]

    def get_recursive(self, keys: Iterable[str], return_info: bool = False) -> list[S3Object]:
        """Download every object under each prefix in ``keys`` (sorted by URL within each prefix)."""
        urls = [f"s3://{info_bucket}/{info.key}" for info_bucket, info in self._list_objects(keys)]
        return [obj for obj in self.get_many(urls, return_missing=True) if obj.exists]  # vanished since listed

    def get_all(self, return_info: bool = False) -> list[S3Object]:
        """Download every object under the client's root (needs ``s3root=``, ``bucket=`` or ``run=``)."""
        if self._root is None:
            raise S3URLException("get_all() needs a client with a root: S3(s3root=...), S3(bucket=...) or S3(run=...).")
        return self.get_recursive([self._root], return_info)

    def info(self, key: str | None = None, return_missing: bool = False) -> S3Object:
        """Describe one object (size, metadata, content type, last modified) without downloading it."""
        return self.info_many([key], return_missing)[0]

    def info_many(self, keys: Iterable[str | None], return_missing: bool = False) -> list[S3Object]:
        """Describe many objects concurrently without downloading them; results in the order of ``keys``."""
        locations = [self._object_location(key) for key in keys]
        infos = self._per_bucket(locations, lambda t, idx: t.head_many_async([locations[i].key for i in idx]))
        return [
            self._described(location, info, return_missing) for location, info in zip(locations, infos, strict=True)
        ]

    # -- listing --------------------------------------------------------------------------------------------

    def list_paths(self, keys: Iterable[str] | None = None) -> list[S3Object]:
        """The objects and sub-prefixes directly under each prefix in ``keys`` (default: the client's root).

        Prefixes come back with ``exists == False`` and a URL ending in '/'. Each prefix's entries are sorted.
        """
        locations = self._prefix_locations(keys)
        listings = self._per_bucket(
            locations,
            lambda t, idx: _gather([t.list_one_level_async(locations[i].key) for i in idx]),
        )
        found: list[S3Object] = []
        for location, (objects, prefixes) in zip(locations, listings, strict=True):
            base = f"s3://{location.bucket}/"
            entries = [_listed(base + info.key, location.url, info) for info in objects]
            entries += [S3Object(base + prefix, location.url, exists=False) for prefix in prefixes]
            found += sorted(entries, key=lambda obj: obj.url)
        return found

    def list_recursive(self, keys: Iterable[str] | None = None) -> list[S3Object]:
        """Every object under each prefix in ``keys`` (default: the client's root), at any depth, sorted."""
        locations = self._prefix_locations(keys)
        listings = self._per_bucket(
            locations,
            lambda t, idx: _gather([t.list_recursive_async(locations[i].key) for i in idx]),
        )
        return [
            _listed(f"s3://{location.bucket}/{info.key}", location.url, info)
            for location, infos in zip(locations, listings, strict=True)
            for info in infos
        ]

    # -- writing --------------------------------------------------------------------------------------------

    def put(self, key: str | S3PutObject, obj: PutValue = None, overwrite: bool = True,
            content_type: str | None = None, metadata: Mapping[str, Any] | None = None) -> str:  # fmt: skip
        """Upload one object (str as UTF-8, bytes-like data, or a binary file object); return its URL.

        With ``overwrite=False`` the object is created only if the key is free (a conditional write: of two
        concurrent writers exactly one wins); an existing object is left as it was.
        """
        if not isinstance(key, S3PutObject):
            key = S3PutObject(key, obj, content_type=content_type, metadata=metadata)
        item = self._put_request(key, files=False)
        self._upload([item], overwrite)
        return item[1].url

    def put_many(self, key_objs: Iterable[tuple[str, PutValue] | S3PutObject],
                 overwrite: bool = True) -> list[tuple[str, str]]:  # fmt: skip
        """Upload many objects concurrently; return ``(key, url)`` for each object written.

        Each item is a ``(key, value)`` pair or an :class:`S3PutObject` (with metadata and content type). With
        ``overwrite=False``, keys that already exist are left alone and are not in the result.
        """
        return self._upload([self._put_request(item, files=False) for item in key_objs], overwrite)

    def put_files(self, key_paths: Iterable[tuple[str, str | os.PathLike[str]] | S3PutObject],
                  overwrite: bool = True) -> list[tuple[str, str]]:  # fmt: skip
        """Upload local files concurrently (streamed from disk, large ones in parallel parts); return
        ``(key, url)`` for each object written. Items are ``(key, path)`` pairs or :class:`S3PutObject` with
        ``path``."""
        return self._upload([self._put_request(item, files=True) for item in key_paths], overwrite)

    # -- helpers --------------------------------------------------------------------------------------------

    def _transport(self, bucket: str) -> S3Transport:
        transport = self._transports.get(bucket)
        if transport is None:
            try:
                from flowstone.s3.transport import S3Transport
            except ImportError as exc:
                raise S3Exception("The S3 client needs obstore: pip install 'flowstone[s3]'.") from exc
            if self._config is None:
                self._config = S3Config.from_settings(self._settings)
            transport = self._transports[bucket] = S3Transport(bucket, self._config)
        return transport

    def _per_bucket(
        self, locations: Sequence[S3Location], batch: Callable[[S3Transport, list[int]], Awaitable[Sequence[R]]]
    ) -> list[R]:
        """Run ``batch`` once per bucket (concurrently) on the indexes of its locations; results in input order."""
        groups: dict[str, list[int]] = {}
        for index, location in enumerate(locations):
            groups.setdefault(location.bucket, []).append(index)
        transports = {bucket: self._transport(bucket) for bucket in groups}

        async def run_all() -> list[R]:
            results = await _gather([batch(transports[bucket], idx) for bucket, idx in groups.items()])
            ordered: list[Any] = [None] * len(locations)
            for idx, result in zip(groups.values(), results, strict=True):
                for index, value in zip(idx, result, strict=True):
                    ordered[index] = value
            return ordered

        return _loop.run(run_all()) if locations else []

    def _tmp(self) -> str:
        if self._tmpdir is None:
            context = task_context()
            root = self._tmproot or (context.tempdir() if context is not None else None) or tempfile.gettempdir()
            self._tmpdir = tempfile.mkdtemp(prefix="flowstone.s3.", dir=root)
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._tmpdir, True)
        return self._tmpdir

    def _object_location(self, key: str | None) -> S3Location:
        location = parse_url(join(self._root, key))
        if not location.key.strip("/"):
            raise S3URLException(f"'{location.url}' names a bucket, not an object: add the object's key.")
        if location.key.endswith("/"):
            raise S3URLException(f"'{location.url}' names a folder, not an object: drop the trailing '/'.")
        return location

    def _prefix_locations(self, keys: Iterable[str] | None) -> list[S3Location]:
        return [parse_url(join(self._root, key)) for key in (keys if keys is not None else [None])]

    def _get_request(self, key: str | S3GetObject | None) -> tuple[S3Location, tuple[int, int | None] | None]:
        if isinstance(key, S3GetObject):
            return self._object_location(key.key), (key.offset, key.length)
        return self._object_location(key), None

    def _downloaded(self, location: S3Location, path: str, fetched: Fetched | None, return_missing: bool) -> S3Object:
        if fetched is None:
            return self._missing(location, return_missing)
        info = fetched.info
        record_read(location.url, info.etag, info.version)
        return S3Object(location.url, self._root, path=path, size=fetched.length, last_modified=info.last_modified,
                        etag=info.etag, version=info.version, metadata=info.metadata,
                        content_type=info.content_type, has_info=True,
                        range_info=RangeInfo(info.size, fetched.offset, fetched.length))  # fmt: skip

    def _described(self, location: S3Location, info: ObjectInfo | None, return_missing: bool) -> S3Object:
        if info is None:
            return self._missing(location, return_missing)
        record_read(location.url, info.etag, info.version)  # what a step learns from info() is a read too
        return S3Object(location.url, self._root, size=info.size, last_modified=info.last_modified, etag=info.etag,
                        version=info.version, metadata=info.metadata, content_type=info.content_type,
                        has_info=True)  # fmt: skip

    def _missing(self, location: S3Location, return_missing: bool) -> S3Object:
        record_read(location.url, None)  # a step that found it missing would find it if it appeared
        if not return_missing:
            raise S3NotFound(f"{location.url} does not exist. Check the URL, or pass return_missing=True to get it "
                             f"back as an object with exists=False.")  # fmt: skip
        return S3Object(location.url, self._root, exists=False)

    def _list_objects(self, keys: Iterable[str]) -> list[tuple[str, ObjectInfo]]:
        locations = self._prefix_locations(list(keys))
        listings = self._per_bucket(
            locations, lambda t, idx: _gather([t.list_recursive_async(locations[i].key) for i in idx])
        )
        return [(location.bucket, info) for location, infos in zip(locations, listings, strict=True) for info in infos]

    def _put_request(self, item: tuple[str, Any] | S3PutObject, files: bool) -> tuple[str, S3Location, PutRequest]:
        if isinstance(item, S3PutObject):
            key, value, path = item.key, item.value, item.path
            content_type, metadata = item.content_type, item.metadata
        else:
            key, value = item
            path, content_type, metadata = (value, None, None) if files else (None, None, None)
            value = None if files else value
        location = self._object_location(key)
        data = _local_file(path, location.url) if value is None and path is not None else _data(value, location.url)
        return key, location, PutRequest(location.key, data, _metadata(metadata, location.url), content_type)

    def _upload(self, items: list[tuple[str, S3Location, PutRequest]], overwrite: bool) -> list[tuple[str, str]]:
        written = self._per_bucket(
            [location for _, location, _ in items],
            lambda t, idx: t.put_many_async([items[i][2] for i in idx], if_absent=not overwrite),
        )
        return [(key, location.url) for (key, location, _), done in zip(items, written, strict=True) if done]


async def _gather(coros: Sequence[Awaitable[R]]) -> list[R]:
    return list(await asyncio.gather(*coros))


def _listed(url: str, prefix: str, info: ObjectInfo) -> S3Object:
    return S3Object(url, prefix, size=info.size, last_modified=info.last_modified, etag=info.etag,
                    version=info.version)  # fmt: skip


def _data(value: PutValue, url: str) -> Data:
    """``value`` as bytes-like data: text as UTF-8, a file object read whole."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return value
    if hasattr(value, "read"):
        return _data(value.read(), url)
    try:
        return memoryview(value)
    except TypeError:
        raise S3InvalidObject(
            f"Cannot store a {type(value).__name__} at {url}: pass str, bytes-like data or a binary file object "
            f"(serialize other values first, e.g. with json.dumps or pickle.dumps)."
        ) from None


def _local_file(path: str | os.PathLike[str], url: str) -> Path:
    local = Path(path)
    if not local.is_file():
        raise S3NotFound(f"Cannot upload {local} to {url}: there is no such local file.")
    return local


def _metadata(metadata: Mapping[str, Any] | None, url: str) -> dict[str, str] | None:
    """User metadata as S3 stores it: header-safe names, string values (others JSON-encoded)."""
    if not metadata:
        return None
    for name in metadata:
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise S3InvalidObject(f"Metadata name {name!r} for {url} is not valid: use letters, digits and '-_.'.")
    return {name: value if isinstance(value, str) else json.dumps(value) for name, value in metadata.items()}
