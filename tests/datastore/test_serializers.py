from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowstone.datastore.serializers import Serializer, SerializerRegistry


def _roundtrip(registry: SerializerRegistry, value: Any, force_pickle: bool = False) -> tuple[Any, str]:
    s = registry.serialize(value, force_pickle=force_pickle)
    content = memoryview(bytearray(b"".join(s.chunks)))
    assert content.nbytes == s.size
    return registry.deserialize(s.serializer, content), s.serializer


def test_bytes_and_str_are_stored_raw() -> None:
    registry = SerializerRegistry()
    s = registry.serialize(b"\x00raw bytes")
    assert s.serializer == "bytes" and b"".join(s.chunks) == b"\x00raw bytes"
    s = registry.serialize("héllo")
    assert s.serializer == "str" and b"".join(s.chunks) == "héllo".encode()
    assert _roundtrip(registry, "héllo") == ("héllo", "str")
    assert _roundtrip(registry, "\ud800 lone surrogate")[0] == "\ud800 lone surrogate"


class Tagged(str):
    pass


def test_subclasses_of_bytes_and_str_are_pickled() -> None:
    registry = SerializerRegistry()
    assert registry.serialize(Tagged("x")).serializer == "pickle"


def test_force_pickle() -> None:
    assert _roundtrip(SerializerRegistry(), b"abc", force_pickle=True) == (b"abc", "pickle")


def test_numpy_buffers_go_out_of_band_without_copy() -> None:
    registry = SerializerRegistry()
    array = np.arange(1_000_000, dtype=np.float64)
    s = registry.serialize(array)
    big = [c for c in s.chunks if c.nbytes == array.nbytes]
    assert len(big) == 1
    assert np.shares_memory(np.frombuffer(big[0], dtype=np.float64), array)


def test_numpy_arrays_load_writable_and_equal() -> None:
    registry = SerializerRegistry()
    value = {"a": np.arange(10_000, dtype=np.int32), "b": np.ones((100, 7), dtype=np.complex128), "c": [1, 2]}
    out, name = _roundtrip(registry, value)
    assert name == "pickle"
    np.testing.assert_array_equal(out["a"], value["a"])
    np.testing.assert_array_equal(out["b"], value["b"])
    out["a"][0] = 99  # loaded arrays are writable, as the originals were
    assert out["b"].ctypes.data % 16 == 0


def test_out_of_band_buffers_are_aligned() -> None:
    registry = SerializerRegistry()
    s = registry.serialize([np.zeros(3, dtype=np.uint8), np.zeros(1000)])
    offset = 0
    for chunk in s.chunks:
        if chunk.nbytes in (3, 8000):
            assert offset % 64 == 0
        offset += chunk.nbytes


def test_readonly_storage_buffers_still_give_writable_arrays() -> None:
    registry = SerializerRegistry()
    s = registry.serialize(np.arange(100))
    out = registry.deserialize(s.serializer, memoryview(b"".join(s.chunks)))
    out[0] = 5
    assert out[0] == 5


def test_dataframe_roundtrip() -> None:
    registry = SerializerRegistry()
    df = pd.DataFrame({"x": np.arange(1000), "y": np.random.default_rng(0).random(1000), "z": ["a", "b"] * 500})
    out, _ = _roundtrip(registry, df)
    pd.testing.assert_frame_equal(out, df)


def test_plain_pickle_is_stored_bare() -> None:
    s = SerializerRegistry().serialize({"k": [1, 2, 3]})
    content = b"".join(s.chunks)
    assert pickle.loads(content) == {"k": [1, 2, 3]}


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children) | st.tuples(children, children),
    max_leaves=20,
)


@given(value=values)
@settings(max_examples=200, deadline=None)
def test_any_plain_value_roundtrips(value: Any) -> None:
    assert _roundtrip(SerializerRegistry(), value)[0] == value


@given(
    data=st.lists(st.integers(min_value=0, max_value=60000), max_size=200),
    dtype=st.sampled_from(["<f4", "<f8", "<i8", "<u2"]),
)
@settings(max_examples=50, deadline=None)
def test_numpy_roundtrip_any_content(data: list[int], dtype: str) -> None:
    array = np.array(data).astype(dtype)
    out, _ = _roundtrip(SerializerRegistry(), array)
    np.testing.assert_array_equal(out, array)
    assert out.dtype == array.dtype


class UpperSerializer(Serializer):
    """A toy typed format: stores a marker class as upper-case text."""

    name = "upper"

    def can_serialize(self, obj: Any) -> bool:
        return isinstance(obj, Shout)

    def serialize(self, obj: Any) -> list[memoryview]:
        return [memoryview(obj.text.upper().encode())]

    def deserialize(self, data: memoryview) -> Any:
        return Shout(bytes(data).decode())


class Shout:
    def __init__(self, text: str) -> None:
        self.text = text


def test_registered_serializer_takes_precedence() -> None:
    registry = SerializerRegistry()
    registry.register(UpperSerializer())
    out, name = _roundtrip(registry, Shout("hey"))
    assert name == "upper" and out.text == "HEY"
    assert registry.serialize("plain").serializer == "str"


def test_unknown_serializer_name_is_a_clear_error() -> None:
    from flowstone.errors import DataException

    with pytest.raises(DataException, match="No serializer named 'arrow'"):
        SerializerRegistry().deserialize("arrow", memoryview(b""))
