"""The records the datastore keeps beside blobs, and their stored form.

A record (a task's DONE marker, a run's record, a cache entry...) is canonical JSON wrapped with its own BLAKE3
checksum: ``{"blake3":"<hex>","record":<json>}``. Reading verifies it, so a record that was truncated, rewritten
or edited (an artifact pointed at another blob, a DONE emptied to ``{}``) is detected like a damaged blob, with an
IntegrityError naming it. Records written before records carried checksums are read as plain JSON.
"""

from __future__ import annotations

import base64
import json
from typing import Any, NamedTuple

from flowstone.datastore.hashing import hash_chunks
from flowstone.errors import IntegrityError

__all__ = ["ArtifactRecord", "dump_json", "dump_record", "load_json", "load_record"]


class ArtifactRecord(NamedTuple):
    """What a task stored for one artifact: enough to load it, compare it, or pass it on unread.

    ``encoding`` is 'raw' or 'zstd' for a blob in the content-addressed store, 'inline' for a small value kept
    in the record itself (``inline`` holds its bytes).
    """

    key: str
    size: int
    type: str
    serializer: str
    encoding: str
    inline: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "size": self.size,
            "type": self.type,
            "serializer": self.serializer,
            "encoding": self.encoding,
        }
        if self.inline is not None:
            out["inline"] = base64.b64encode(self.inline).decode("ascii")
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ArtifactRecord:
        inline = data.get("inline")
        return cls(
            key=data["key"],
            size=int(data["size"]),
            type=data["type"],
            serializer=data["serializer"],
            encoding=data["encoding"],
            inline=base64.b64decode(inline) if inline is not None else None,
        )


def dump_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8")


def load_json(data: Any, where: str) -> Any:
    try:
        return json.loads(bytes(data))
    except (ValueError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"Record {where} is not valid JSON ({exc}); it may be damaged.") from exc


_HEAD = b'{"blake3":"'
_MIDDLE = b'","record":'
_DIGEST_LENGTH = 64


def dump_record(value: Any) -> bytes:
    """``value`` as a stored record: its canonical JSON, wrapped with the JSON's checksum."""
    payload = dump_json(value)
    return _HEAD + hash_chunks([payload]).encode("ascii") + _MIDDLE + payload + b"}"


def load_record(data: Any, where: str) -> Any:
    """The value of a stored record, verified against its checksum."""
    raw = bytes(data)
    if not raw.startswith(_HEAD):
        return load_json(raw, where)  # written before records carried checksums
    digest_end = len(_HEAD) + _DIGEST_LENGTH
    body_start = digest_end + len(_MIDDLE)
    if raw[digest_end:body_start] != _MIDDLE or not raw.endswith(b"}"):
        raise IntegrityError(f"Record {where} is truncated or malformed; it may be damaged.")
    payload = raw[body_start:-1]
    if hash_chunks([payload]) != raw[len(_HEAD) : digest_end].decode("ascii", "replace"):
        raise IntegrityError(f"Record {where} does not match its checksum: it was damaged or edited.")
    return load_json(payload, where)
