"""The user-facing S3 client, with Metaflow's ``S3`` API.

Downloads go to temporary files that live until the client is closed (use it in a ``with`` block); objects in one
call move concurrently, large ones in parallel parts; results come back in input order (listings sorted). Every
object read through the client is recorded with its ETag (see :mod:`flowstone.s3.reads`), so a step's cache entry
knows what external data the step saw.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import shutil
import tempfile
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from flowstone.errors import FlowstoneException
from flowstone.s3 import _loop
from flowstone.s3._progress import gather_all
from flowstone.s3.client_requests import PutItem, PutValue, described, downloaded, get_range, listed, put_item
from flowstone.s3.config import S3Config
from flowstone.s3.errors import S3Exception, S3NotFound, S3URLException
from flowstone.s3.locations import S3Location, client_root, parse_url, resolve, shown
from flowstone.s3.objects import S3GetObject, S3Object, S3PutObject
from flowstone.s3.reads import record_read
from flowstone.s3.task_context import task_context
from flowstone.s3.transport_values import ObjectInfo, Range
from flowstone.settings import current_settings

if TYPE_CHECKING:
    from flowstone.s3.transport import S3Transport

__all__ = ["S3"]

R = TypeVar("R")
#: What runs on one transport: (the transport, the indexes of its locations) -> one result per index.
Batch = Callable[["S3Transport", list[int]], Awaitable[Sequence[R]]]
#: Metaflow's S3 options for its own boto3 client, which flowstone's transport cannot honour.
_UNSUPPORTED = ("role", "session_vars", "client_params", "external_client")


class S3:
    """A high-throughput S3 client. Use it as a context manager; closing it deletes the downloaded files.

    Where keys point:

    - ``S3()``: every key is a full ``s3://bucket/key`` URL.
    - ``S3(s3root='s3://bucket/prefix')`` or ``S3(bucket='bucket', prefix='prefix')``: keys are relative to that.
    - ``S3(run=self)`` inside a step, or ``S3(run=Run('Flow/run_id'))``: keys are relative to
      ``<root>/<FlowName>/<run_id>``, where the root is ``FLOWSTONE_DATATOOLS_S3ROOT`` (default: the S3
      datastore root's ``userdata`` folder); ``bucket``/``prefix`` replace the root's bucket and path.

    ``tmproot`` is where downloads go (default: the task's scratch folder inside a step, else the system's
    temporary folder). ``encryption`` is the server-side encryption of uploads ('AES256', 'aws:kms'; default
    ``FLOWSTONE_S3_SERVER_SIDE_ENCRYPTION``). ``config`` sets the endpoint, credentials, concurrency, retries and
    timeouts (default: from the environment, see :class:`~flowstone.s3.config.S3Config`).
    ``inject_failure_rate`` (a percentage, Metaflow's testing option) makes that share of requests fail
    transiently, to exercise the retries.
    """

    def __init__(self, tmproot: str | os.PathLike[str] | None = None, bucket: str | None = None,
                 prefix: str | None = None, run: Any = None, s3root: str | None = None,
                 encryption: str | None = None, *, config: S3Config | None = None, inject_failure_rate: float = 0,
                 **options: Any) -> None:  # fmt: skip
        given = sorted(set(options) & set(_UNSUPPORTED))
        if given:
            raise S3Exception(f"S3({given[0]}=...) is Metaflow's option for its boto3 client, which flowstone does not "
                              f"use: set the credentials and endpoint in the environment (AWS_*, "
                              f"FLOWSTONE_S3_ENDPOINT_URL) or pass config=S3Config(...).")  # fmt: skip
        if options:
            raise TypeError(f"S3() got an unexpected keyword argument '{sorted(options)[0]}'")
        self._settings = current_settings()  # inside a step: its run's settings
        self._root = client_root(s3root, bucket, prefix, run, self._settings.s3_userdata_root())
        self._tmproot = tmproot
        self._encryption = encryption or self._settings.s3_server_side_encryption
        self._config = config
        self._inject_rate = min(max(float(inject_failure_rate), 0.0), 100.0) / 100
        self._tmpdir: str | None = None
        self._cleanup: weakref.finalize[Any, Any] | None = None
        self._transports: dict[tuple[str, str | None], S3Transport] = {}
        self._names = itertools.count()
        self._prepare()

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
        ``exists == False``. ``return_info=False`` leaves out the content type, metadata and range.
        """
        return self.get_many([key], return_missing, return_info)[0]

    def get_many(self, keys: Iterable[str | S3GetObject | None], return_missing: bool = False,
                 return_info: bool = True) -> list[S3Object]:  # fmt: skip
        """Download many objects (or ranges) concurrently; the results are in the order of ``keys``.

        A missing object raises :class:`~flowstone.s3.errors.S3NotFound` (after the others finished), unless
        ``return_missing=True``, which returns it with ``exists == False``.
        """
        keys_and_ranges = [get_range(key) for key in keys]
        locations = [self._object_location(key) for key, _ in keys_and_ranges]
        found = self._fetch(locations, [rng for _, rng in keys_and_ranges], [self._root] * len(locations),
                            return_info)  # fmt: skip
        return [obj if obj is not None else self._missing(location, return_missing)
                for location, obj in zip(locations, found, strict=True)]  # fmt: skip

    def get_recursive(self, keys: Iterable[str | None], return_info: bool = False) -> list[S3Object]:
        """Download every object under each prefix in ``keys``: grouped by prefix in the order given, sorted by
        URL within each; each object's ``prefix`` is the prefix it was found under."""
        prefixes, infos = self._list_objects(keys)
        locations = [S3Location(f"s3://{prefix.bucket}/{info.key}", prefix.bucket, info.key)
                     for prefix, info in zip(prefixes, infos, strict=True)]  # fmt: skip
        found = self._fetch(locations, [None] * len(locations), [p.url for p in prefixes], return_info)
        for location, prefix, obj in zip(locations, prefixes, found, strict=True):
            if obj is None:
                gone = f"{shown(location.url)} was listed under {shown(prefix.url)} but was gone before it could be"
                raise S3NotFound(f"{gone} downloaded (deleted meanwhile). Try again once writers are done.")
        return [obj for obj in found if obj is not None]

    def get_all(self, return_info: bool = False) -> list[S3Object]:
        """Download every object under the client's root (needs ``s3root=``, ``bucket=`` or ``run=``)."""
        if self._root is None:
            raise S3URLException("get_all() needs a client with a root: S3(s3root=...), S3(bucket=...) or S3(run=...).")
        return self.get_recursive([None], return_info)

    def info(self, key: str | None = None, return_missing: bool = False) -> S3Object:
        """Describe one object (size, metadata, content type, last modified) without downloading it."""
        return self.info_many([key], return_missing)[0]

    def info_many(self, keys: Iterable[str | None], return_missing: bool = False) -> list[S3Object]:
        """Describe many objects concurrently without downloading them; results in the order of ``keys``."""
        locations = [self._object_location(key) for key in keys]
        signed = self._encryption is not None  # only a signed HEAD tells the server-side encryption
        infos = self._per_bucket(locations, lambda t, idx: t.head_many_async([locations[i].key for i in idx],
                                                                             signed and t.signed.available))
        return [self._missing(location, return_missing) if info is None else described(location, self._root, info)
                for location, info in zip(locations, infos, strict=True)]  # fmt: skip

    # -- listing --------------------------------------------------------------------------------------------

    def list_paths(self, keys: Iterable[str | None] | None = None) -> list[S3Object]:
        """The objects and sub-prefixes directly under each prefix in ``keys`` (default: the client's root).

        Prefixes come back with ``exists == False`` and a URL ending in '/'. Each prefix's entries are sorted.
        """
        locations = self._prefix_locations(keys)
        listings = self._per_bucket(
            locations,
            lambda t, idx: gather_all([t.list_one_level_async(locations[i].key) for i in idx]),
        )
        found: list[S3Object] = []
        for location, (objects, prefixes) in zip(locations, listings, strict=True):
            base = f"s3://{location.bucket}/"
            entries = [listed(base + info.key, location.url, info) for info in objects]
            entries += [S3Object(base + prefix, location.url, exists=False) for prefix in prefixes]
            found += sorted(entries, key=lambda obj: obj.url)
        return found

    def list_recursive(self, keys: Iterable[str | None] | None = None) -> list[S3Object]:
        """Every object under each prefix in ``keys`` (default: the client's root), at any depth, sorted."""
        prefixes, infos = self._list_objects(keys if keys is not None else [None])
        return [listed(f"s3://{prefix.bucket}/{info.key}", prefix.url, info)
                for prefix, info in zip(prefixes, infos, strict=True)]  # fmt: skip

    # -- writing --------------------------------------------------------------------------------------------

    def put(self, key: str | S3PutObject, obj: PutValue = None, overwrite: bool = True,
            content_type: str | None = None, metadata: Mapping[str, Any] | None = None) -> str:  # fmt: skip
        """Upload one object (str as UTF-8, bytes-like data, or a binary file object); return its URL.

        With ``overwrite=False`` the object is created only if the key is free (a conditional write: of two
        concurrent writers exactly one wins); an existing object is left as it was. ``metadata`` is any dict JSON
        can encode; it comes back as it was from ``get`` and ``info``.
        """
        if not isinstance(key, S3PutObject):
            key = S3PutObject(key, obj, content_type=content_type, metadata=metadata)
        item = self._put_item(key, files=False)
        self._upload([item], overwrite)
        return item.location.url

    def put_many(self, key_objs: Iterable[tuple[str, PutValue] | S3PutObject],
                 overwrite: bool = True) -> list[tuple[str, str]]:  # fmt: skip
        """Upload many objects concurrently; return ``(key, url)`` for each object written.

        Each item is a ``(key, value)`` pair or an :class:`S3PutObject` (with metadata and content type). With
        ``overwrite=False``, keys that already exist are left alone and are not in the result.
        """
        return self._upload([self._put_item(item, files=False) for item in key_objs], overwrite)

    def put_files(self, key_paths: Iterable[tuple[str, str | os.PathLike[str]] | S3PutObject],
                  overwrite: bool = True) -> list[tuple[str, str]]:  # fmt: skip
        """Upload local files concurrently (streamed from disk, large ones in parallel parts); return
        ``(key, url)`` for each object written. Items are ``(key, path)`` pairs or :class:`S3PutObject` with
        ``path``."""
        return self._upload([self._put_item(item, files=True) for item in key_paths], overwrite)

    # -- helpers --------------------------------------------------------------------------------------------

    def _transport(self, bucket: str, encryption: str | None = None) -> S3Transport:
        transport = self._transports.get((bucket, encryption))
        if transport is None:
            if self._config is None:
                self._config = S3Config.from_settings(self._settings)
            config = self._config.replace(server_side_encryption=encryption) if encryption else self._config
            config = config.replace(inject_failures=self._inject_rate) if self._inject_rate else config
            transport = self._transports[(bucket, encryption)] = _transport_class()(bucket, config)
        return transport

    def _prepare(self) -> None:
        """Import the transport and set up the root's bucket now (neither starts a thread), so that the first
        transfer does not wait for them; a problem with the settings is left for the first transfer to report."""
        _transport_class()
        if self._root is not None:
            with contextlib.suppress(FlowstoneException):
                self._transport(parse_url(self._root).bucket)

    def _per_bucket(self, locations: Sequence[S3Location], batch: Batch[R],
                    encryptions: Sequence[str | None] | None = None) -> list[R]:  # fmt: skip
        """Run ``batch`` once per bucket (and encryption; concurrently) on the indexes of its locations; results
        in input order."""
        groups: dict[tuple[str, str | None], list[int]] = {}
        for index, location in enumerate(locations):
            groups.setdefault((location.bucket, encryptions[index] if encryptions else None), []).append(index)
        transports = {group: self._transport(*group) for group in groups}

        async def run_all() -> list[R]:
            results = await gather_all([batch(transports[group], idx) for group, idx in groups.items()])
            ordered: list[Any] = [None] * len(locations)
            for idx, result in zip(groups.values(), results, strict=True):
                for index, value in zip(idx, result, strict=True):
                    ordered[index] = value
            return ordered

        return _loop.run(run_all()) if locations else []

    def _fetch(self, locations: Sequence[S3Location], ranges: Sequence[Range | None], prefixes: Sequence[str | None],
               return_info: bool) -> list[S3Object | None]:  # fmt: skip
        """Download each location (or its range) to a local file; None for a missing object."""
        tmpdir = self._tmp()
        paths = [os.path.join(tmpdir, f"obj-{next(self._names):07d}") for _ in locations]
        fetched = self._per_bucket(locations, lambda t, idx: t.download_many_async(
            [(locations[i].key, paths[i]) for i in idx], [ranges[i] for i in idx]))  # fmt: skip
        if return_info and self._encryption is not None:
            fetched = self._with_encryption(locations, fetched)
        return [None if got is None else downloaded(location, prefix, path, got, return_info)
                for location, prefix, path, got in zip(locations, prefixes, paths, fetched, strict=True)]  # fmt: skip

    def _with_encryption(self, locations: Sequence[S3Location], fetched: list[Any]) -> list[Any]:
        """``fetched`` with the server-side encryption each object reports, asked with signed HEADs (obstore's
        answers do not carry it); left unknown without static credentials to sign with."""
        wanted = [i for i, got in enumerate(fetched) if got is not None and got.info.encryption is None]
        targets = [locations[i] for i in wanted]
        infos = self._per_bucket(targets, lambda t, idx: t.head_many_async([targets[i].key for i in idx], True)
                                 if t.signed.available else _nothing(len(idx)))  # fmt: skip
        for i, info in zip(wanted, infos, strict=True):
            if info is not None:
                fetched[i] = fetched[i]._replace(info=dataclasses.replace(fetched[i].info, encryption=info.encryption))
        return fetched

    def _tmp(self) -> str:
        if self._tmpdir is None:
            context = task_context()
            root = self._tmproot or (context.tempdir() if context is not None else None) or tempfile.gettempdir()
            self._tmpdir = tempfile.mkdtemp(prefix="flowstone.s3.", dir=root)
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._tmpdir, True)
        return self._tmpdir

    def _object_location(self, key: str | None) -> S3Location:
        location = parse_url(resolve(self._root, key))
        if not location.key:
            raise S3URLException(f"'{location.url}' names a bucket, not an object: add the object's key.")
        return location

    def _prefix_locations(self, keys: Iterable[str | None] | None) -> list[S3Location]:
        return [parse_url(resolve(self._root, key)) for key in (keys if keys is not None else [None])]

    def _missing(self, location: S3Location, return_missing: bool) -> S3Object:
        record_read(location.url, None)  # a step that found it missing would find it if it appeared
        if not return_missing:
            raise S3NotFound(f"{shown(location.url)} does not exist. Check the URL, or pass return_missing=True to get "
                             f"it back as an object with exists=False.")  # fmt: skip
        return S3Object(location.url, self._root, exists=False)

    def _list_objects(self, keys: Iterable[str | None]) -> tuple[list[S3Location], list[ObjectInfo]]:
        """Every object under each prefix: (the prefix it was found under, its info), prefix by prefix."""
        locations = self._prefix_locations(list(keys))
        listings = self._per_bucket(
            locations, lambda t, idx: gather_all([t.list_recursive_async(locations[i].key) for i in idx])
        )
        pairs = [(location, info) for location, infos in zip(locations, listings, strict=True) for info in infos]
        return [location for location, _ in pairs], [info for _, info in pairs]

    def _put_item(self, item: tuple[str, Any] | S3PutObject, files: bool) -> PutItem:
        return put_item(item, files, self._object_location, self._encryption)

    def _upload(self, items: list[PutItem], overwrite: bool) -> list[tuple[str, str]]:
        written = self._per_bucket(
            [item.location for item in items],
            lambda t, idx: t.put_many_async([items[i].request for i in idx], if_absent=not overwrite),
            [item.encryption for item in items],
        )
        return [(item.key, item.location.url) for item, done in zip(items, written, strict=True) if done]


async def _nothing(count: int) -> list[None]:
    return [None] * count


def _transport_class() -> type[S3Transport]:
    """The transport's class, imported on first use: ``import flowstone`` stays quick without obstore."""
    try:
        from flowstone.s3.transport import S3Transport
    except ImportError as exc:
        raise S3Exception("The S3 client needs obstore: pip install 'flowstone[s3]'.") from exc
    return S3Transport
