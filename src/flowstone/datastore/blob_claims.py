"""Claims: how a writer keeps a blob it found stored from being deleted by a ``flowstone gc`` running meanwhile.

gc deletes a blob only if no record refers to it and it was written, or claimed, longer ago than gc's grace
period. A writer refers to a blob some time after it saw it stored: when it finds content it saves already there,
or when it reuses an earlier task's results. A blob seen recently needs nothing (gc's grace period outlasts the
time the writer takes to record its reference); an older one is claimed first:

1. the writer stores a claim beside it (``data/_claims/<key>``): the claim's time is the blob's last use;
2. it waits while a gc has the blob marked for deletion (``data/_deleting/<key>``);
3. it checks that the blob is still stored (if not, it writes it again, or does not reuse the task).

gc marks a blob (create-if-absent), then reads the blob's and its claim's times, and deletes the blob only if
both are older than its grace period, within ``DELETING_HOLD_SECONDS`` of marking it; then it removes the mark.
Each side writes its own mark before it reads the other's, so at least one of them sees the other: gc sees the
claim and keeps the blob, or the writer sees the mark (or, after it, the blob gone). The whole argument, with
the timing it assumes, is in docs/datastore.md ("Collecting garbage safely").
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from flowstone.datastore import layout
from flowstone.storage.base import Storage

__all__ = ["DELETING_HOLD_SECONDS", "DELETING_STALE_SECONDS", "BlobClaims"]

#: gc deletes a blob it marked within this many seconds of marking it, or leaves it.
DELETING_HOLD_SECONDS = 30.0
#: A deletion mark older than this was left by a gc that died: writers stop waiting for it, gc removes it.
DELETING_STALE_SECONDS = 90.0
_POLL_SECONDS = 0.05


class BlobClaims:
    """Claims and deletion marks of the blobs stored under ``prefix``."""

    def __init__(self, storage: Storage, prefix: str, claim_after: float) -> None:
        self.storage = storage
        self.prefix = prefix
        self.claim_after = claim_after

    def blob_path(self, key: str) -> str:
        return layout.blob_key(key, self.prefix)

    def claim_path(self, key: str) -> str:
        return layout.blob_mark_key(layout.CLAIMS_DIR, key, self.prefix)

    def deleting_path(self, key: str) -> str:
        return layout.blob_mark_key(layout.DELETING_DIR, key, self.prefix)

    # -- writers ----------------------------------------------------------------------------------
    def secure(self, found: Mapping[str, float]) -> set[str]:
        """Keep blobs just seen stored (key -> the blob's modification time) until the caller's record refers to
        them; return the keys that turned out to be gone (a gc deleted them before the claim)."""
        now = time.time()
        old = [key for key, modified in found.items() if modified < now - self.claim_after]
        if not old:
            return set()
        claims = self.storage.info_many([self.claim_path(key) for key in old])
        unclaimed = [key for key, claim in zip(old, claims, strict=True)
                     if claim is None or claim.modified < now - self.claim_after]  # fmt: skip
        if not unclaimed:
            return set()
        self.storage.save_bytes([(self.claim_path(key), b"") for key in unclaimed], durable=False)
        self._wait_for_collectors(unclaimed)
        present = self.storage.info_many([self.blob_path(key) for key in unclaimed])
        return {key for key, info in zip(unclaimed, present, strict=True) if info is None}

    def secure_stored(self, keys: Iterable[str]) -> set[str]:
        """The keys among ``keys`` whose blob is missing; the others are kept until the caller refers to them."""
        keys = list(dict.fromkeys(keys))
        infos = self.storage.info_many([self.blob_path(key) for key in keys])
        missing = {key for key, info in zip(keys, infos, strict=True) if info is None}
        found = {key: info.modified for key, info in zip(keys, infos, strict=True) if info is not None}
        return missing | self.secure(found)

    def _wait_for_collectors(self, keys: list[str]) -> None:
        """Return once no live gc has any of ``keys`` marked for deletion."""
        deadline = time.monotonic() + DELETING_STALE_SECONDS
        pending = keys
        while pending and time.monotonic() < deadline:
            marks = self.storage.info_many([self.deleting_path(key) for key in pending])
            now = time.time()
            pending = [key for key, mark in zip(pending, marks, strict=True)
                       if mark is not None and mark.modified > now - DELETING_STALE_SECONDS]  # fmt: skip
            if pending:
                time.sleep(_POLL_SECONDS)  # a gc holds a mark for at most DELETING_HOLD_SECONDS

    # -- the collector ----------------------------------------------------------------------------
    def mark_deleting(self, keys: list[str]) -> list[str]:
        """Mark blobs for deletion; return those this call marked (another gc may hold the others)."""
        written = self.storage.save_bytes([(self.deleting_path(key), b"") for key in keys], overwrite=False)
        return [key for key, ok in zip(keys, written, strict=True) if ok]

    def last_written(self, keys: list[str]) -> dict[str, float | None]:
        """When each blob was last written or claimed (None: the blob is gone)."""
        infos = self.storage.info_many([self.blob_path(k) for k in keys] + [self.claim_path(k) for k in keys])
        blobs, claims = infos[: len(keys)], infos[len(keys) :]
        return {key: None if blob is None else max(blob.modified, claim.modified if claim else 0.0)
                for key, blob, claim in zip(keys, blobs, claims, strict=True)}  # fmt: skip

    def unmark(self, keys: Iterable[str]) -> None:
        self.storage.delete([self.deleting_path(key) for key in keys])
