"""What the :class:`~flowstone.s3.S3` client makes of its arguments and of the transport's answers: a get's range,
an upload's payload and metadata (checked before anything is sent), and the :class:`S3Object` of each result.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from flowstone.s3.errors import S3InvalidObject, S3NotFound
from flowstone.s3.locations import S3Location
from flowstone.s3.objects import RangeInfo, S3GetObject, S3Object, S3PutObject
from flowstone.s3.reads import record_read
from flowstone.s3.transport_values import Data, Fetched, ObjectInfo, PutRequest, Range

__all__ = ["PutItem", "PutValue", "described", "downloaded", "get_range", "listed", "put_item"]

#: What ``put``/``put_many`` store: text (as UTF-8), bytes-like data, or a binary file object (read whole).
PutValue = Any


class PutItem(NamedTuple):
    """One upload: the key as the caller gave it, where it goes, what is sent, and its server-side encryption."""

    key: str
    location: S3Location
    request: PutRequest
    encryption: str | None


def get_range(key: str | S3GetObject | None) -> tuple[str | None, Range | None]:
    """The key of a get and the range it reads (None: the whole object), as Metaflow reads ``S3GetObject``:
    ``offset=None`` is 0, a negative ``length`` the last bytes."""
    if not isinstance(key, S3GetObject):
        return key, None
    offset, length = key.offset or 0, key.length
    if length is not None and length < 0:
        return key.key, (length, None)
    return key.key, None if (offset, length) == (0, None) else (offset, length)


def put_item(item: tuple[str, Any] | S3PutObject, files: bool, locate: Callable[[str], S3Location],
             encryption: str | None) -> PutItem:  # fmt: skip
    """One upload from a ``(key, value)`` pair (``(key, path)`` for ``put_files``) or an S3PutObject. The value
    (or local file) is checked before the key, as Metaflow does."""
    if isinstance(item, S3PutObject):
        key, value, path = item.key, item.value, item.path
        content_type, metadata, encryption = item.content_type, item.metadata, item.encryption or encryption
    else:
        key, value = item
        path, content_type, metadata = (value, None, None) if files else (None, None, None)
        value = None if files else value
    data = _local_file(path, key) if value is None and path is not None else _data(value, key)
    location = locate(key)
    return PutItem(key, location, PutRequest(location.key, data, _metadata(metadata, location.url), content_type),
                   encryption)  # fmt: skip


def _data(value: PutValue, key: str) -> Data:
    """``value`` as bytes-like data: text as UTF-8, a file object read whole."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return value
    if hasattr(value, "read"):
        return _data(value.read(), key)
    try:
        return memoryview(value)
    except TypeError:
        raise S3InvalidObject(
            f"Cannot store a {type(value).__name__} at '{key}': pass str, bytes-like data or a binary file object "
            f"(serialize other values first, e.g. with json.dumps or pickle.dumps)."
        ) from None


def _local_file(path: str | os.PathLike[str], key: str) -> Path:
    local = Path(path)
    if not local.is_file():
        raise S3NotFound(f"Cannot upload {local} to '{key}': there is no such local file.")
    return local


def _metadata(metadata: Mapping[str, Any] | None, url: str) -> Mapping[str, Any] | None:
    """The user's metadata, checked: a dict with str keys that JSON can encode (it is stored JSON-encoded)."""
    if not metadata:
        return None
    try:
        if not all(isinstance(name, str) for name in metadata):
            raise TypeError("names must be strings")
        json.dumps(dict(metadata))
    except (TypeError, ValueError) as exc:
        raise S3InvalidObject(f"The metadata for {url} cannot be stored ({exc}): use a dict with string names and "
                              f"values JSON can encode.") from None  # fmt: skip
    return metadata


def downloaded(location: S3Location, prefix: str | None, path: str, fetched: Fetched, return_info: bool) -> S3Object:
    """The S3Object of a download (recorded as a read); with ``return_info=False`` it carries no info."""
    info = fetched.info
    record_read(location.url, info.etag, info.version)
    extra: dict[str, Any] = {}
    if return_info:
        extra = {"metadata": info.metadata, "content_type": info.content_type, "encryption": info.encryption,
                 "range_info": RangeInfo(info.size, fetched.offset, fetched.length)}  # fmt: skip
    return S3Object(location.url, prefix, path=path, size=fetched.length, last_modified=info.last_modified,
                    etag=info.etag, version=info.version, **extra)  # fmt: skip


def described(location: S3Location, prefix: str | None, info: ObjectInfo) -> S3Object:
    """The S3Object of an ``info()`` (what a step learns from it is a read too)."""
    record_read(location.url, info.etag, info.version)
    return S3Object(location.url, prefix, size=info.size, last_modified=info.last_modified, etag=info.etag,
                    version=info.version, metadata=info.metadata, content_type=info.content_type,
                    encryption=info.encryption)  # fmt: skip


def listed(url: str, prefix: str, info: ObjectInfo) -> S3Object:
    """The S3Object of a listed object (no download, no info)."""
    return S3Object(url, prefix, size=info.size, last_modified=info.last_modified, etag=info.etag,
                    version=info.version)  # fmt: skip
