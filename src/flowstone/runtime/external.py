"""External reads: S3 objects a step read through the S3 client. A task that read some is reused (by the cache
or by resume) only while every one of them is unchanged, which costs one HEAD request per object."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from flowstone.settings import Settings

__all__ = ["why_external_reads_changed"]


def why_external_reads_changed(reads: Iterable[Any] | None, settings: Settings) -> str | None:
    """Why the recorded ``(url, etag, version)`` reads no longer hold (the first change found), or None."""
    reads = [tuple(read) for read in reads or ()]
    if not reads:
        return None
    from flowstone.s3.config import S3Config
    from flowstone.s3.errors import S3Exception
    from flowstone.s3.locations import parse_url
    from flowstone.s3.transport import S3Transport

    by_bucket: dict[str, list[tuple[str, str, str | None]]] = defaultdict(list)
    for url, etag, *_ in reads:
        location = parse_url(url)
        by_bucket[location.bucket].append((url, location.key, etag))
    config = S3Config.from_settings(settings)
    for bucket, objects in sorted(by_bucket.items()):
        try:
            now = S3Transport(bucket, config).head_many([key for _, key, _ in objects])
        except S3Exception as exc:
            return f"the S3 objects it read cannot be checked ({exc})"
        for (url, _, etag), info in zip(objects, now, strict=True):
            if info is None:
                return f"the S3 object it read, {url}, is gone"
            if info.etag != etag:
                return f"the S3 object it read, {url}, changed (ETag {etag} -> {info.etag})"
    return None
