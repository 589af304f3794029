"""Which S3 objects a piece of code read: the step cache's "external reads".

The S3 client calls :func:`record_read` for every object it downloads or reads. The runtime wraps a step in
:func:`recording_reads`, stores what was read with the task, and a later run reuses the task only if those
objects are unchanged. Outside a recording block, reads are not tracked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

__all__ = ["ExternalRead", "record_read", "recording_reads"]


class ExternalRead(NamedTuple):
    """One object read: its URL and what identifies its content (ETag, and version id where enabled)."""

    url: str
    etag: str | None
    version: str | None = None


_active: list[dict[str, ExternalRead]] = []


def record_read(url: str, etag: str | None, version: str | None = None) -> None:
    """Note that ``url`` was read, as it was at ``etag``/``version`` (no-op when nothing is recording)."""
    if _active:
        _active[-1][url] = ExternalRead(url, etag, version)


@contextmanager
def recording_reads() -> Iterator[dict[str, ExternalRead]]:
    """Collect, by URL, the objects read through the S3 client inside the block."""
    reads: dict[str, ExternalRead] = {}
    _active.append(reads)
    try:
        yield reads
    finally:
        _active.remove(reads)
