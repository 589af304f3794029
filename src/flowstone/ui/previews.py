"""What the UI shows of an artifact's value, as JSON: a picture for an image, the head of a DataFrame, an array's
shape and statistics, a shortened ``repr`` for anything else; and the bytes a download sends.

numpy, pandas, PIL and matplotlib are never imported to find out what a value is: a value is one of theirs only
if its class comes from their module, and then that module is already loaded.
"""

from __future__ import annotations

import base64
import io
import math
import pickle
import reprlib
from typing import Any

__all__ = ["MAX_PREVIEW_BYTES", "download", "preview", "short_repr"]

#: Artifacts larger than this (serialized) are not loaded to be previewed: they can be downloaded.
MAX_PREVIEW_BYTES = 64 << 20
MAX_ROWS, MAX_COLUMNS = 20, 40
_IMAGES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
           (b"GIF89a", "image/gif"))  # fmt: skip


def _shortener(limit: int) -> reprlib.Repr:
    shortener = reprlib.Repr()
    shortener.maxstring = shortener.maxother = limit
    shortener.maxlist = shortener.maxtuple = shortener.maxset = shortener.maxdict = 50
    shortener.maxlevel = 4
    return shortener


_LONG, _SHORT = _shortener(4000), _shortener(120)


def short_repr(value: Any, long: bool = True) -> str:
    """``repr`` of ``value``, shortened (to a line when not ``long``); a broken ``__repr__`` is reported."""
    try:
        return (_LONG if long else _SHORT).repr(value)
    except Exception as exc:
        return f"<{type(value).__name__}: repr failed: {exc}>"


def _module_of(value: Any) -> str:
    return type(value).__module__.split(".", 1)[0]


def _image(value: Any) -> tuple[str, bytes] | None:
    """(MIME type, bytes) of an image value: PNG/JPEG/GIF bytes, a PIL image, a matplotlib figure."""
    if isinstance(value, (bytes, bytearray)):
        head = bytes(value[:8])
        return next(((mime, bytes(value)) for magic, mime in _IMAGES if head.startswith(magic)), None)
    module = _module_of(value)
    if module == "PIL" and hasattr(value, "save"):
        out = io.BytesIO()
        value.save(out, format="PNG")
        return "image/png", out.getvalue()
    if module == "matplotlib" and hasattr(value, "savefig"):
        out = io.BytesIO()
        value.savefig(out, format="png", bbox_inches="tight")
        return "image/png", out.getvalue()
    return None


def _number(x: Any) -> float | None:
    number = float(x)
    return number if math.isfinite(number) else None


def _array(value: Any) -> dict[str, Any]:
    import numpy as np  # already imported: the value is a numpy array

    found: dict[str, Any] = {"kind": "array", "shape": list(value.shape), "dtype": str(value.dtype),
                             "sample": short_repr(value)}  # fmt: skip
    if value.size and (np.issubdtype(value.dtype, np.number) or value.dtype == bool):
        numbers = value.astype(float)
        finite = numbers[np.isfinite(numbers)]
        if finite.size:
            found["stats"] = {"min": _number(finite.min()), "max": _number(finite.max()),
                              "mean": _number(finite.mean()), "std": _number(finite.std())}  # fmt: skip
        found["non_finite"] = int(numbers.size - finite.size)
    return found


def _cell(x: Any) -> Any:
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else str(x)
    return short_repr(x, long=False)


def _dataframe(value: Any) -> dict[str, Any]:
    head = value.iloc[:MAX_ROWS, :MAX_COLUMNS]
    return {"kind": "dataframe", "shape": list(value.shape), "columns": [str(c) for c in head.columns],
            "dtypes": [str(t) for t in head.dtypes], "index": [_cell(i) for i in head.index],
            "rows": [[_cell(x) for x in row] for row in head.itertuples(index=False, name=None)]}  # fmt: skip


def preview(value: Any) -> dict[str, Any]:
    """The preview of a value, by kind: 'image', 'dataframe', 'series', 'array' or 'value'."""
    image = _image(value)
    if image is not None:
        return {"kind": "image", "mime": image[0], "data": base64.b64encode(image[1]).decode("ascii")}
    module, name = _module_of(value), type(value).__name__
    if module == "pandas" and name == "DataFrame":
        return _dataframe(value)
    if module == "pandas" and name == "Series":
        return _dataframe(value.to_frame()) | {"kind": "series"}
    if module == "numpy" and name == "ndarray":
        return _array(value)
    return {"kind": "value", "repr": short_repr(value)}


def download(name: str, value: Any) -> tuple[bytes, str, str]:
    """(bytes, content type, file name) of an artifact's download: text and bytes as they are, images as
    pictures, anything else pickled (``pickle.load`` reads it back)."""
    if isinstance(value, str):
        return value.encode("utf-8"), "text/plain; charset=utf-8", f"{name}.txt"
    image = _image(value)
    if image is not None:
        return image[1], image[0], f"{name}.{image[0].split('/')[1]}"
    if isinstance(value, (bytes, bytearray)):
        return bytes(value), "application/octet-stream", f"{name}.bin"
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), "application/octet-stream", f"{name}.pkl"
