"""Where the S3 client's keys point: parsing ``s3://`` URLs and choosing a client's root.

A client has a root (a URL prefix) when made with ``s3root=``, ``bucket=``/``prefix=`` or ``run=``; keys are then
relative to it (a full ``s3://`` URL is refused: it would silently escape the root). Without a root, every key
must be a full ``s3://bucket/key`` URL.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from flowstone.s3.errors import S3URLException
from flowstone.s3.task_context import task_context

__all__ = ["S3Location", "client_root", "parse_url", "resolve", "shown"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOT_IN_BUCKET = re.compile(r"[ \\?#]")


class S3Location(NamedTuple):
    """A parsed ``s3://bucket/key`` URL (``key`` may be empty: the bucket's top)."""

    url: str
    bucket: str
    key: str


def shown(url: str) -> str:
    """``url`` for a message: ASCII control characters (valid in S3 keys) written as ``\\xNN``."""
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", url)


def parse_url(url: str) -> S3Location:
    """Split ``s3://bucket/key`` into its parts; raise :class:`S3URLException` if it is not such a URL."""
    if not isinstance(url, str) or not url.startswith("s3://"):
        raise S3URLException(f"'{url}' is not an S3 URL: write it as s3://bucket/key.")
    bucket, _, key = url[len("s3://") :].partition("/")
    if not bucket or _NOT_IN_BUCKET.search(bucket):
        raise S3URLException(f"'{url}' names no valid bucket: write it as s3://bucket/key.")
    return S3Location(url, bucket, key)


def resolve(root: str | None, key: str | None) -> str:
    """The URL ``key`` names: a key under ``root`` (None or '': the root itself), or, for a client without a root,
    a full ``s3://`` URL."""
    if key is not None and not isinstance(key, str):
        raise S3URLException(f"Keys are strings (or S3GetObject/S3PutObject), not {type(key).__name__}.")
    if root is None:
        if key and key.startswith("s3://"):
            return key
        raise S3URLException(
            f"'{key}' is not a full S3 URL and this S3 client has no root to resolve it against. Use "
            f"s3://bucket/key, or create the client with S3(s3root=...), S3(bucket=..., prefix=...) or S3(run=...)."
        )
    if not key:
        return root
    if key.startswith("s3://"):
        raise S3URLException(f"'{key}' is a full S3 URL, but this client's keys are relative to its root {root}: "
                             f"pass the key under the root, or use a client without a root (S3()).")  # fmt: skip
    return root + "/" + key.lstrip("/")


def client_root(
    s3root: str | None, bucket: str | None, prefix: str | None, run: Any, userdata_root: str | None
) -> str | None:
    """The root URL of a client made with these arguments (None: keys must be full URLs); ``userdata_root`` is
    where runs keep their objects (see :meth:`~flowstone.settings.Settings.s3_userdata_root`)."""
    if run is not None:
        if s3root is not None:
            raise S3URLException("Pass either run= or s3root= to S3(), not both.")
        return _run_root(run, bucket, prefix, userdata_root)
    if s3root is not None:
        if bucket is not None or prefix is not None:
            raise S3URLException("Pass either s3root= or bucket=/prefix= to S3(), not both.")
        parse_url(s3root)
        return s3root.rstrip("/")
    if bucket is not None:
        return _make_root(bucket, prefix)
    if prefix is not None:
        raise S3URLException("S3(prefix=...) needs a bucket= (or use s3root='s3://bucket/prefix').")
    return None


def _make_root(bucket: str, prefix: str | None, *more: str) -> str:
    parts = [part.strip("/") for part in (prefix or "", *more)]
    root = "/".join(["s3://" + bucket.strip("/"), *(part for part in parts if part)])
    parse_url(root)
    return root


def _run_root(run: Any, bucket: str | None, prefix: str | None, base: str | None) -> str:
    """``<userdata root>/<FlowName>/<run_id>``, with ``bucket``/``prefix`` replacing the root's parts."""
    flow_name, run_id = _run_ids(run)
    if base is None and bucket is None:
        raise S3URLException(
            "S3(run=...) needs a root for run data: set FLOWSTONE_DATATOOLS_S3ROOT (or FLOWSTONE_DATASTORE_SYSROOT_S3, "
            "whose 'userdata' folder is then used), or pass S3(bucket=..., prefix=..., run=...)."
        )
    base_bucket, base_prefix = ("", "") if base is None else parse_url(base)[1:]
    return _make_root(bucket or base_bucket, base_prefix if prefix is None else prefix, flow_name, run_id)


def _run_ids(run: Any) -> tuple[str, str]:
    """(flow name, run id) of a client ``Run`` (its pathspec) or, for a flow inside a step, of the running task."""
    pathspec = getattr(run, "pathspec", None)
    if isinstance(pathspec, str) and pathspec.count("/") >= 1:
        flow_name, run_id = pathspec.split("/")[:2]
        return flow_name, run_id
    context = task_context()
    if context is None:
        raise S3URLException(
            "S3(run=self) works inside a running step only. Elsewhere pass a client Run "
            "(S3(run=Run('Flow/run_id'))) or a location (S3(s3root='s3://bucket/prefix'))."
        )
    return context.flow_name, context.run_id
