"""The values the :class:`~flowstone.s3.S3` client takes and returns: requests for ranged reads and for uploads
with metadata, and :class:`S3Object`, one result (an object, a missing object, or a listed prefix).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["RangeInfo", "S3GetObject", "S3Object", "S3PutObject"]


class S3GetObject(NamedTuple):
    """Read ``length`` bytes of ``key`` from ``offset``: ``length=None`` reads to the end of the object, a negative
    ``length`` the last ``-length`` bytes (``offset`` is then ignored); ``offset=None`` is 0."""

    key: str
    offset: int | None = 0
    length: int | None = None


class S3PutObject(NamedTuple):
    """An object to upload: ``value`` (str or bytes-like) for ``put_many``, or ``path`` (a local file) for
    ``put_files``; optionally with a content type, server-side encryption (e.g. 'AES256') and user metadata (a dict
    that JSON can encode; it comes back as it was). The fields are in Metaflow's order."""

    key: str
    value: str | bytes | bytearray | memoryview | None = None
    path: str | Path | None = None
    content_type: str | None = None
    encryption: str | None = None
    metadata: Mapping[str, Any] | None = None


class RangeInfo(NamedTuple):
    """Which bytes of an object an :class:`S3Object` holds: ``total_size`` of the object, and the range read."""

    total_size: int
    request_offset: int = 0
    request_length: int = -1


class S3Object:
    """One result of an :class:`~flowstone.s3.S3` call.

    It is an object that was downloaded (``downloaded``: its bytes are in the local file ``path`` until the
    client is closed), an object described without downloading (``info``, listings), a missing object
    (``exists`` is False, from ``return_missing=True``), or a prefix found by ``list_paths`` (``exists`` False,
    URL ending in '/').
    """

    def __init__(
        self,
        url: str,
        prefix: str | None = None,
        *,
        exists: bool = True,
        path: str | None = None,
        size: int | None = None,
        last_modified: float | None = None,
        etag: str | None = None,
        version: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        content_type: str | None = None,
        range_info: RangeInfo | None = None,
        encryption: str | None = None,
    ) -> None:
        self._url = url
        self._prefix = prefix if prefix and url.startswith(prefix.rstrip("/") + "/") else None
        self._exists, self._path, self._size = exists, path, size
        self._last_modified, self._etag, self._version = last_modified, etag, version
        self._metadata = dict(metadata) if metadata else None
        self._content_type, self._range_info, self._encryption = content_type, range_info, encryption

    @property
    def url(self) -> str:
        """The object's ``s3://bucket/key`` URL (ending in '/' for a prefix)."""
        return self._url

    @property
    def prefix(self) -> str | None:
        """The root ``key`` is relative to (the client's root, or the listed prefix), or None."""
        return self._prefix

    @property
    def key(self) -> str:
        """The object's name relative to ``prefix`` (without a trailing '/'), or its URL if there is no prefix."""
        if self._prefix is None:
            return self._url
        return self._url[len(self._prefix.rstrip("/")) + 1 :].rstrip("/")

    @property
    def exists(self) -> bool:
        """Whether an object exists at this URL (False for a missing object or a prefix)."""
        return self._exists

    @property
    def downloaded(self) -> bool:
        """Whether the object's bytes were downloaded to ``path``."""
        return self._path is not None

    @property
    def path(self) -> str | None:
        """The local file holding the downloaded bytes (deleted when the client closes), or None."""
        return self._path

    @property
    def blob(self) -> bytes | None:
        """The downloaded bytes, or None if nothing was downloaded."""
        if self._path is None:
            return None
        with open(self._path, "rb") as file:
            return file.read()

    @property
    def text(self) -> str | None:
        """The downloaded bytes decoded as UTF-8 (bytes that are not UTF-8 become U+FFFD, as in Metaflow), or None
        if nothing was downloaded."""
        blob = self.blob
        return None if blob is None else blob.decode("utf-8", errors="replace")

    @property
    def size(self) -> int | None:
        """The number of bytes (of the range, for a ranged read), or None if unknown."""
        return self._size

    @property
    def has_info(self) -> bool:
        """Whether the object's info came with it: any of ``content_type``, ``metadata``, ``range_info`` and
        ``encryption`` is known (``return_info=False`` leaves them all None)."""
        known = (self._content_type, self._metadata, self._range_info, self._encryption)
        return any(value is not None for value in known)

    @property
    def metadata(self) -> dict[str, Any] | None:
        """The user metadata stored with the object, or None if it has none (or it was not fetched)."""
        return None if self._metadata is None else dict(self._metadata)

    @property
    def content_type(self) -> str | None:
        """The object's MIME type, if fetched."""
        return self._content_type

    @property
    def last_modified(self) -> int | None:
        """When the object was last written, as Unix time in seconds."""
        return None if self._last_modified is None else int(self._last_modified)

    @property
    def range_info(self) -> RangeInfo | None:
        """The object's total size and the range that was read, for a downloaded object."""
        return self._range_info

    @property
    def etag(self) -> str | None:
        """The object's ETag (identifies its content)."""
        return self._etag

    @property
    def version(self) -> str | None:
        """The object's version id, where the bucket keeps versions."""
        return self._version

    @property
    def encryption(self) -> str | None:
        """The server-side encryption the server reports for the object (e.g. 'AES256'), where it was asked for: by
        a client made with ``encryption=``, for objects read with their info (see docs/s3.md); else None."""
        return self._encryption

    def __repr__(self) -> str:
        if not self._exists:
            return f"<S3Object {self._url} ({'prefix' if self._url.endswith('/') else 'does not exist'})>"
        size = "unknown size" if self._size is None else f"{self._size} bytes"
        return f"<S3Object {self._url} ({size})>"

    __str__ = __repr__
