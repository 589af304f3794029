"""The values the S3 transport takes and returns (:class:`ObjectInfo`, :class:`Fetched`, :class:`PutRequest`, what
can be uploaded), and their translation to and from obstore's forms: payloads, attributes, object metadata.

Nothing here needs obstore at run time, so the S3 client can build requests before it opens a transport.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from flowstone.s3.errors import S3InvalidObject

if TYPE_CHECKING:
    from obstore import ObjectMeta

__all__ = ["Data", "Fetched", "ObjectInfo", "PutRequest", "Range"]

#: What can be uploaded: a bytes-like object (anything with the buffer protocol), a local file's path, or a list
#: of bytes-like chunks making up one object (uploaded in order; a multipart upload streams them without joining).
Data = bytes | bytearray | memoryview | Path | list[memoryview]
#: A byte range as ``(offset, length)``; ``length=None`` means to the end of the object.
Range = tuple[int, int | None]

_STANDARD_ATTRIBUTES = frozenset(
    {"Content-Disposition", "Content-Encoding", "Content-Language", "Content-Type", "Cache-Control", "Storage-Class"}
)


@dataclass(frozen=True)
class ObjectInfo:
    """What S3 says about one object. ``metadata``/``content_type`` are None when not fetched (listings)."""

    key: str
    size: int
    last_modified: float
    etag: str | None
    version: str | None = None
    metadata: Mapping[str, str] | None = None
    content_type: str | None = None


class Fetched(NamedTuple):
    """One downloaded object or range: its info (``size`` is the whole object's), the bytes' place, the bytes."""

    info: ObjectInfo
    offset: int
    length: int
    data: memoryview | None = None


class PutRequest(NamedTuple):
    """One object to upload, with its own metadata and content type."""

    key: str
    data: Data
    metadata: Mapping[str, str] | None = None
    content_type: str | None = None


def object_info(meta: ObjectMeta, attributes: Mapping[str, str] | None = None, key: str | None = None) -> ObjectInfo:
    """An :class:`ObjectInfo` from obstore's metadata (and, from a GET or HEAD, the object's attributes)."""
    metadata = content_type = None
    if attributes is not None:
        content_type = attributes.get("Content-Type")
        metadata = {name: value for name, value in attributes.items() if name not in _STANDARD_ATTRIBUTES}
    return ObjectInfo(key if key is not None else meta["path"], meta["size"], meta["last_modified"].timestamp(),
                      meta["e_tag"], meta["version"], metadata, content_type)  # fmt: skip


def put_attributes(metadata: Mapping[str, str] | None, content_type: str | None) -> dict[str, str] | None:
    """User metadata and content type as the attributes obstore stores with an object (None if there are none)."""
    attributes = {str(name): str(value) for name, value in (metadata or {}).items()}
    if content_type:
        attributes["Content-Type"] = content_type
    return attributes or None


def payload_size(data: Data) -> int:
    """How many bytes uploading ``data`` sends."""
    if isinstance(data, Path):
        return os.stat(data).st_size  # a missing file fails here, before any request
    try:
        if isinstance(data, list):
            return sum(memoryview(chunk).nbytes for chunk in data)
        return memoryview(data).nbytes
    except TypeError as exc:
        raise S3InvalidObject(f"Cannot upload a {type(data).__name__}: pass bytes-like data or a Path.") from exc


def _flat(data: Any) -> memoryview:
    view = memoryview(data)
    return view if view.format in ("B", "b", "c") and view.ndim == 1 else view.cast("B")


def put_payload(data: Data, multipart: bool) -> Data:
    """``data`` as obstore takes it: a Path, a flat, contiguous byte buffer, or (multipart only) a list of them."""
    if isinstance(data, Path):
        return data
    if isinstance(data, list):
        chunks = [_flat(chunk) for chunk in data]
        if multipart:
            return chunks
        return chunks[0] if len(chunks) == 1 else memoryview(b"".join(chunks))  # a single PUT needs one buffer
    return _flat(data)
