"""Readable previews of Python values for cards: DataFrames as tables, arrays with their shape and a sample,
containers and other objects as a shortened ``repr``, images as pictures. Nothing heavy is imported to find
out what a value is: pandas, numpy, PIL and matplotlib are looked at only when the value is one of theirs."""

from __future__ import annotations

import base64
import io
import pprint
import reprlib
from typing import Any

from flowstone.cards.html import esc

__all__ = ["dataframe_rows", "full_classname", "image_data_uri", "preview_html", "short_repr"]

#: Rows and columns of a DataFrame shown in a preview (the rest is counted, not shown).
MAX_ROWS, MAX_COLUMNS = 20, 30
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)


def full_classname(value: Any) -> str:
    cls = type(value)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _repr_limits() -> reprlib.Repr:
    shortener = reprlib.Repr()
    shortener.maxstring = shortener.maxother = 600
    shortener.maxlist = shortener.maxtuple = shortener.maxset = shortener.maxdict = 40
    shortener.maxlevel = 5
    return shortener


_SHORT = _repr_limits()


def short_repr(value: Any, compressed: bool = True) -> str:
    """``repr`` of ``value``, shortened unless ``compressed`` is False (then pretty-printed whole)."""
    try:
        if not compressed:
            return pprint.pformat(value, width=110, sort_dicts=False)
        if isinstance(value, (dict, list, tuple)) and len(repr(value)) <= 2000:
            return pprint.pformat(value, width=110, sort_dicts=False)
        return _SHORT.repr(value)
    except Exception as exc:  # a broken __repr__ must not break a card
        return f"<{full_classname(value)}: repr failed: {exc}>"


def image_data_uri(value: Any) -> str | None:
    """A data URI for an image value (PNG, JPEG or GIF bytes, a PIL image, a matplotlib figure), else None."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value[:16])
        for magic, kind in _IMAGE_MAGIC:
            if data.startswith(magic):
                return f"data:image/{kind};base64,{base64.b64encode(bytes(value)).decode('ascii')}"
        return None
    if isinstance(value, str):
        return value if value.startswith("data:image/") else None
    name = full_classname(value)
    png = None
    if name.startswith("PIL.") and hasattr(value, "save"):
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        png = buffer.getvalue()
    elif name.startswith("matplotlib.") and (hasattr(value, "savefig") or hasattr(value, "get_figure")):
        figure = value if hasattr(value, "savefig") else value.get_figure()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        png = buffer.getvalue()
    return None if png is None else f"data:image/png;base64,{base64.b64encode(png).decode('ascii')}"


def is_dataframe(value: Any) -> bool:
    cls = type(value)
    return cls.__name__ == "DataFrame" and cls.__module__.split(".")[0] == "pandas"


def dataframe_rows(frame: Any, truncate: bool = True) -> tuple[list[str], list[list[str]]]:
    """(headers, rows of cell texts) of a DataFrame, the index first; at most MAX_ROWS rows and MAX_COLUMNS
    columns when ``truncate``."""
    shown = frame.iloc[:MAX_ROWS, :MAX_COLUMNS] if truncate else frame
    headers = [str(frame.index.name or "")] + [str(c) for c in shown.columns]
    pairs = zip(shown.index, shown.itertuples(index=False), strict=True)
    return headers, [[str(index)] + [_cell(v) for v in values] for index, values in pairs]


def _cell(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 200 else text[:197] + "..."


def table_html(headers: list[str], rows: list[list[str]], escape: bool = True) -> str:
    cell = esc if escape else str
    head = "".join(f"<th>{cell(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table class="fs-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def dataframe_html(frame: Any, truncate: bool = True) -> str:
    rows, columns = frame.shape
    headers, body = dataframe_rows(frame, truncate)
    note = f"{rows} rows x {columns} columns"
    if truncate and (rows > MAX_ROWS or columns > MAX_COLUMNS):
        note += f" (first {min(rows, MAX_ROWS)} rows, {min(columns, MAX_COLUMNS)} columns shown)"
    return f'<div class="fs-muted">{esc(note)}</div>{table_html(headers, body)}'


def _array_text(value: Any) -> str:
    import numpy

    sample = numpy.array2string(value, threshold=200, edgeitems=5, max_line_width=110)
    return f"array of shape {value.shape}, dtype {value.dtype}\n{sample}"


def preview_html(value: Any, compressed: bool = True) -> str:
    """An HTML preview of ``value``."""
    if is_dataframe(value):
        return dataframe_html(value, truncate=compressed)
    if type(value).__name__ == "ndarray" and type(value).__module__ == "numpy":
        return f"<pre>{esc(_array_text(value))}</pre>"
    try:
        uri = image_data_uri(value)
    except Exception:
        uri = None
    if uri is not None:
        return f'<figure class="fs-image"><img alt="image" src="{uri}"></figure>'
    return f"<pre>{esc(short_repr(value, compressed))}</pre>"
