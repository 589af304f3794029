"""Turning artifact values into bytes and back.

The registry tries serializers in order; the first whose ``can_serialize`` accepts a value wins, and its name is
recorded with the artifact so the value is read back by the same serializer. Built in:

- ``bytes`` and ``str``: stored as they are (UTF-8 for str), readable by any tool;
- ``pickle``: protocol 5, with buffers of numpy arrays and other buffer-protocol objects kept out of band, so
  saving them copies nothing and loading them can map the stored bytes directly.

A typed format (Arrow IPC for DataFrames, say) is added with ``default_registry().register(MySerializer())``.
"""

from __future__ import annotations

import pickle
import struct
from abc import ABC, abstractmethod
from typing import Any, ClassVar, NamedTuple

from flowstone.errors import DataException
from flowstone.storage.base import byte_view

__all__ = [
    "BytesSerializer",
    "PickleSerializer",
    "Serialized",
    "Serializer",
    "SerializerRegistry",
    "StrSerializer",
    "default_registry",
    "type_name",
]


def type_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


class Serialized(NamedTuple):
    """A serialized value: its chunks (concatenated, they are the content that is hashed)."""

    serializer: str
    chunks: list[memoryview]
    size: int
    type: str


class Serializer(ABC):
    """Turns values of some types into a list of byte chunks and back."""

    name: ClassVar[str]

    @abstractmethod
    def can_serialize(self, obj: Any) -> bool: ...

    @abstractmethod
    def serialize(self, obj: Any) -> list[memoryview]: ...

    @abstractmethod
    def deserialize(self, data: memoryview) -> Any: ...


class BytesSerializer(Serializer):
    name = "bytes"

    def can_serialize(self, obj: Any) -> bool:
        return type(obj) is bytes

    def serialize(self, obj: Any) -> list[memoryview]:
        return [memoryview(obj)]

    def deserialize(self, data: memoryview) -> Any:
        return bytes(data)


class StrSerializer(Serializer):
    name = "str"

    def can_serialize(self, obj: Any) -> bool:
        return type(obj) is str

    def serialize(self, obj: Any) -> list[memoryview]:
        return [memoryview(obj.encode("utf-8", "surrogatepass"))]

    def deserialize(self, data: memoryview) -> Any:
        return str(data, "utf-8", "surrogatepass")


# Out-of-band frame: magic, buffer count, pickle length, then one length per buffer; the pickle and each buffer
# start on a 64-byte boundary. A plain pickle (no buffers) is stored bare: it starts with 0x80, never the magic.
_OOB_MAGIC = b"FSOB"
_OOB_HEAD = struct.Struct("<4sIQ")
_ALIGN = 64


def _padding(offset: int) -> int:
    return -offset % _ALIGN


class PickleSerializer(Serializer):
    name = "pickle"

    def can_serialize(self, obj: Any) -> bool:
        return True

    def serialize(self, obj: Any) -> list[memoryview]:
        buffers: list[pickle.PickleBuffer] = []
        data = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
        if not buffers:
            return [memoryview(data)]
        raws = [byte_view(b.raw()) for b in buffers]
        head = _OOB_HEAD.pack(_OOB_MAGIC, len(raws), len(data)) + struct.pack(
            f"<{len(raws)}Q", *(r.nbytes for r in raws)
        )
        chunks = [memoryview(head + b"\0" * _padding(len(head))), memoryview(data)]
        offset = len(head) + _padding(len(head)) + len(data)
        for raw in raws:
            pad = _padding(offset)
            if pad:
                chunks.append(memoryview(b"\0" * pad))
            chunks.append(raw)
            offset += pad + raw.nbytes
        return chunks

    def deserialize(self, data: memoryview) -> Any:
        if data[:4] != _OOB_MAGIC:
            return pickle.loads(data)
        if data.readonly:  # values built on these buffers (numpy arrays) must be writable, as they were
            data = memoryview(bytearray(data))
        _, count, pickle_len = _OOB_HEAD.unpack_from(data)
        lengths = struct.unpack_from(f"<{count}Q", data, _OOB_HEAD.size)
        offset = _OOB_HEAD.size + 8 * count
        offset += _padding(offset)
        pickled = data[offset : offset + pickle_len]
        offset += pickle_len
        buffers = []
        for length in lengths:
            offset += _padding(offset)
            buffers.append(data[offset : offset + length])
            offset += length
        if offset != data.nbytes:
            raise DataException(f"Pickled value is {data.nbytes} bytes but its frame describes {offset}.")
        return pickle.loads(pickled, buffers=buffers)


class SerializerRegistry:
    """An ordered set of serializers; the pickle serializer is the fallback and always last."""

    def __init__(self, serializers: list[Serializer] | None = None) -> None:
        self._pickle = PickleSerializer()
        self._ordered: list[Serializer] = list(serializers or [BytesSerializer(), StrSerializer()])
        self._by_name: dict[str, Serializer] = {s.name: s for s in [*self._ordered, self._pickle]}

    def register(self, serializer: Serializer) -> None:
        """Add a serializer, tried before every one already registered."""
        self._ordered.insert(0, serializer)
        self._by_name[serializer.name] = serializer

    def get(self, name: str) -> Serializer:
        try:
            return self._by_name[name]
        except KeyError:
            raise DataException(
                f"No serializer named '{name}' is registered; register it before loading this artifact."
            ) from None

    def serialize(self, obj: Any, force_pickle: bool = False) -> Serialized:
        """Serialize with the first serializer that accepts ``obj``; exceptions propagate to the caller."""
        serializer: Serializer = self._pickle
        if not force_pickle:
            for candidate in self._ordered:
                if candidate.can_serialize(obj):
                    serializer = candidate
                    break
        chunks = serializer.serialize(obj)
        return Serialized(serializer.name, chunks, sum(c.nbytes for c in chunks), type_name(obj))

    def deserialize(self, name: str, data: memoryview) -> Any:
        return self.get(name).deserialize(data)


_DEFAULT = SerializerRegistry()


def default_registry() -> SerializerRegistry:
    """The process-wide registry used by datastores unless they are given another."""
    return _DEFAULT
