"""The records the datastore keeps beside blobs, and their JSON form."""

from __future__ import annotations

import base64
import json
from typing import Any, NamedTuple

from flowstone.errors import IntegrityError

__all__ = ["ArtifactRecord", "dump_json", "load_json"]


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
