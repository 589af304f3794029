"""The S3 objects a step read through the S3 client: the ``s3`` kind of :mod:`flowstone.reads`.

The S3 client calls :func:`record_read` for every object it downloads or describes (and for one it found
missing). A task that read some is reused only while every one of them is as it was, which costs one HEAD
request per object, sent in a batch per bucket.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from flowstone import reads

__all__ = ["ExternalRead", "check_s3_reads", "describe_s3_read", "record_read", "recording_reads"]

KIND = "s3"


class ExternalRead(NamedTuple):
    """One object read: its URL and what identifies its content (ETag, and version id where enabled); an object
    found missing has no ETag."""

    url: str
    etag: str | None
    version: str | None = None


def record_read(url: str, etag: str | None, version: str | None = None) -> None:
    """Note that ``url`` was read, as it was at ``etag``/``version`` (no-op when nothing is recording)."""
    reads.record(KIND, url, ExternalRead(url, etag, version))


@contextmanager
def recording_reads() -> Iterator[dict[str, ExternalRead]]:
    """Collect, by URL, the objects read through the S3 client inside the block."""
    with reads.recording() as log:
        found: dict[str, ExternalRead] = {}
        try:
            yield found
        finally:
            found.update(log.kinds.get(KIND, {}))


def check_s3_reads(answers: list[Any], context: reads.CheckContext) -> str | None:
    """Why the recorded ``(url, etag, version)`` reads no longer hold (the first change found), or None."""
    from flowstone.s3.config import S3Config
    from flowstone.s3.errors import S3Exception
    from flowstone.s3.locations import parse_url
    from flowstone.s3.transport import S3Transport

    by_bucket: dict[str, list[tuple[str, str, str | None]]] = defaultdict(list)
    for url, etag, *_ in answers:
        location = parse_url(url)
        by_bucket[location.bucket].append((url, location.key, etag))
    config = S3Config.from_settings(context.settings)
    for bucket, objects in sorted(by_bucket.items()):
        try:
            now = S3Transport(bucket, config).head_many([key for _, key, _ in objects])
        except S3Exception as exc:
            return f"the S3 objects it read cannot be checked ({exc})"
        for (url, _, etag), info in zip(objects, now, strict=True):
            if info is None and etag is not None:
                return f"the S3 object it read, {url}, is gone"
            if info is not None and etag is None:
                return f"the S3 object {url}, missing when it ran, exists now"
            if info is not None and info.etag != etag:
                return f"the S3 object it read, {url}, changed (ETag {etag} -> {info.etag})"
    return None


def describe_s3_read(answer: Any) -> str:
    url, etag, *_ = answer
    return f"S3 object {url}" + (f" (ETag {etag})" if etag else " (missing)")


reads.register_kind(KIND, check_s3_reads, describe_s3_read)
