"""The values the S3 transport takes and returns (:class:`ObjectInfo`, :class:`Fetched`, :class:`PutRequest`, what
can be uploaded), and their translation to and from the wire: payloads, attributes and headers, object metadata.

User metadata travels as Metaflow stores it: the whole dict JSON-encoded in one header,
``x-amz-meta-metaflow-user-attributes``, so objects written by either can be read by the other, any key (even
``content-type``) and any value JSON can carry come back exactly, and non-ASCII text stays valid in a header (JSON
escapes it). Objects that carry other ``x-amz-meta-*`` headers (written by other tools) show those as they are.

Nothing here needs obstore at run time, so the S3 client can build requests before it opens a transport.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from flowstone.s3.errors import S3InvalidObject

if TYPE_CHECKING:
    from obstore import ObjectMeta

__all__ = ["Data", "Fetched", "ObjectInfo", "PutRequest", "Range"]

#: What can be uploaded: a bytes-like object (anything with the buffer protocol), a local file's path, or a list
#: of bytes-like chunks making up one object (uploaded in order; a multipart upload streams them without joining).
Data = bytes | bytearray | memoryview | Path | list[memoryview]
#: A byte range as ``(offset, length)``; ``length=None`` means to the end of the object, a negative ``offset``
#: the last ``-offset`` bytes (then ``length`` is None).
Range = tuple[int, int | None]

#: The one metadata header holding the user's metadata, JSON-encoded (Metaflow's name for it).
USER_METADATA = "metaflow-user-attributes"
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
    metadata: Mapping[str, Any] | None = None
    content_type: str | None = None
    #: The server-side encryption the server reported (known only from a signed request's headers).
    encryption: str | None = None


class Fetched(NamedTuple):
    """One downloaded object or range: its info (``size`` is the whole object's), the bytes' place, the bytes."""

    info: ObjectInfo
    offset: int
    length: int
    data: memoryview | None = None


class PutRequest(NamedTuple):
    """One object to upload, with its own user metadata (any JSON-serializable dict) and content type."""

    key: str
    data: Data
    metadata: Mapping[str, Any] | None = None
    content_type: str | None = None


def user_metadata(raw: Mapping[str, str]) -> dict[str, Any] | None:
    """The user's metadata from an object's ``x-amz-meta-*`` values (names without the prefix); None if none."""
    if USER_METADATA in raw:
        try:
            decoded = json.loads(raw[USER_METADATA])
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            return decoded
    return dict(raw) or None


def object_info(meta: ObjectMeta, attributes: Mapping[str, str] | None = None, key: str | None = None) -> ObjectInfo:
    """An :class:`ObjectInfo` from obstore's metadata (and, from a GET or HEAD, the object's attributes)."""
    metadata = content_type = None
    if attributes is not None:
        content_type = attributes.get("Content-Type")
        metadata = user_metadata({name: value for name, value in attributes.items()
                                  if name not in _STANDARD_ATTRIBUTES})  # fmt: skip
    return ObjectInfo(key if key is not None else meta["path"], meta["size"], meta["last_modified"].timestamp(),
                      meta["e_tag"], meta["version"], metadata, content_type)  # fmt: skip


def header_info(key: str, headers: Mapping[str, str], size: int) -> ObjectInfo:
    """An :class:`ObjectInfo` from the headers of a HEAD or GET answer (names in lower case); ``size`` is the
    whole object's."""
    modified = headers.get("last-modified")
    meta = {name[len("x-amz-meta-") :]: value for name, value in headers.items() if name.startswith("x-amz-meta-")}
    return ObjectInfo(key, size, parsedate_to_datetime(modified).timestamp() if modified else 0.0,
                      headers.get("etag"), headers.get("x-amz-version-id"), user_metadata(meta),
                      headers.get("content-type"), headers.get("x-amz-server-side-encryption"))  # fmt: skip


def put_attributes(metadata: Mapping[str, Any] | None, content_type: str | None) -> dict[str, str] | None:
    """User metadata and content type as the attributes obstore stores with an object (None if there are none)."""
    attributes = {USER_METADATA: json.dumps(dict(metadata))} if metadata else {}
    if content_type:
        attributes["Content-Type"] = content_type
    return attributes or None


def put_headers(attributes: Mapping[str, str] | None, encryption: str | None) -> dict[str, str]:
    """The headers of a PUT carrying ``attributes`` (from :func:`put_attributes`) and server-side encryption."""
    headers = {name if name in _STANDARD_ATTRIBUTES else f"x-amz-meta-{name}": value
               for name, value in (attributes or {}).items()}  # fmt: skip
    if encryption:
        headers["x-amz-server-side-encryption"] = encryption
    return headers


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
