"""Listings that name every key exactly: ListObjectsV2 with ``encoding-type=url``, page by page.

XML 1.0 cannot carry some characters S3 allows in keys (ASCII control characters), so without
``encoding-type=url`` a server mangles them (SeaweedFS writes U+FFFD) and the listed key names no object. obstore
does not ask for the encoding, so flowstone signs its own LIST requests (:mod:`flowstone.s3._signed`). Without
static credentials it lists through obstore and refuses a listing holding a key it cannot have read exactly,
rather than return (or drop) a wrong one.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import unquote_plus

import obstore

from flowstone.s3._signed import SignedClient
from flowstone.s3._watch import answered
from flowstone.s3.errors import S3Exception
from flowstone.s3.transport_values import ObjectInfo, object_info

__all__ = ["Listing", "list_pages", "list_through_obstore"]

T = TypeVar("T")
#: One retried request (the transport's :meth:`~flowstone.s3.transport.S3Transport.retried`).
Retried = Callable[..., Awaitable[T]]
#: The objects and the sub-prefixes (ending in '/') of a listing.
Listing = tuple[list[ObjectInfo], list[str]]
_UNREADABLE = re.compile(r"[\x00-\x1f\x7f\ufffd]")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(element: ElementTree.Element, name: str) -> str | None:
    found = next((child for child in element if _local(child.tag) == name), None)
    return None if found is None else (found.text or "")


def parse_page(body: bytes) -> tuple[list[ObjectInfo], list[str], str | None]:
    """The objects, sub-prefixes and continuation token of one ListObjectsV2 answer."""
    root = ElementTree.fromstring(body)
    encoded = (_text(root, "EncodingType") or "").lower() == "url"

    def key(value: str | None) -> str:
        return unquote_plus(value or "", errors="strict") if encoded else value or ""

    objects, prefixes = [], []
    for child in root:
        name = _local(child.tag)
        if name == "Contents":
            modified = datetime.fromisoformat((_text(child, "LastModified") or "").replace("Z", "+00:00"))
            objects.append(ObjectInfo(key(_text(child, "Key")), int(_text(child, "Size") or 0), modified.timestamp(),
                                      _text(child, "ETag")))  # fmt: skip
        elif name == "CommonPrefixes":
            prefixes.append(key(_text(child, "Prefix")))
    truncated = (_text(root, "IsTruncated") or "").lower() == "true"
    return objects, prefixes, _text(root, "NextContinuationToken") if truncated else None


async def list_pages(retried: Retried[Any], signed: SignedClient, prefix: str, delimiter: bool) -> Listing:
    """Every page of the listing of ``prefix`` (each page one retried request); sorted by key."""
    objects: list[ObjectInfo] = []
    prefixes: list[str] = []
    token: str | None = None
    while True:
        query = [("list-type", "2"), ("encoding-type", "url"), ("prefix", prefix)]
        query += [("delimiter", "/")] if delimiter else []
        query += [("continuation-token", token)] if token else []

        async def page(query: list[tuple[str, str]] = query) -> bytes:
            return (await signed.send("GET", None, query)).body

        found, below, token = parse_page(await retried("LIST", prefix, page))
        objects += found
        prefixes += below
        if token is None:
            return sorted(objects, key=lambda info: info.key), sorted(prefixes)


async def list_through_obstore(retried: Retried[Any], store: Any, url: str, prefix: str, delimiter: bool,
                               wait: float) -> Listing:  # fmt: skip
    """The listing of ``prefix`` by obstore (no static credentials to sign one), each page within ``wait`` seconds;
    refused if it holds a key that obstore cannot have read exactly."""

    async def attempt() -> Listing:
        if delimiter:
            listing = await answered(obstore.list_with_delimiter_async(store, prefix.rstrip("/") or None), wait)
            return [object_info(meta) for meta in listing["objects"]], [p.rstrip("/") + "/" for p in
                                                                       listing["common_prefixes"]]  # fmt: skip
        found: list[ObjectInfo] = []
        pages = obstore.list(store, prefix.rstrip("/") or None, chunk_size=1000).__aiter__()
        while True:
            try:
                found.extend(object_info(meta) for meta in await answered(pages.__anext__(), wait))
            except StopAsyncIteration:
                return found, []

    objects, prefixes = await retried("LIST", prefix, attempt, deadlines=None)  # pages come as they come
    for name in [info.key for info in objects] + prefixes:
        if _UNREADABLE.search(name):
            raise S3Exception(
                f"The listing of {url} holds a key with characters that cannot be listed without signing the request "
                f"(ASCII control characters): {name!r}. flowstone signs such listings itself when it has static "
                f"credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile in the shared "
                f"credentials file)."
            )
    return sorted(objects, key=lambda info: info.key), sorted(prefixes)
