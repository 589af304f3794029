"""``IncludeFile``: a parameter whose value is the content of a file, read once when the run starts.

The file (a local path or an ``s3://`` URL) is read by the runner before any step runs; its bytes go into the
content-addressed store and the run records where they came from (file name, size, content key). Every step sees
the content through ``self.<name>`` (``str`` when ``is_text``, else ``bytes``); ``resume`` and the step cache see
the same content hash, and the Client API returns the content.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from flowstone.errors import ParameterError
from flowstone.flow.parameters import Parameter

__all__ = ["IncludeFile", "IncludedFile", "plain_values"]


class IncludedFile(NamedTuple):
    """A file read for an IncludeFile parameter: where it came from, its bytes, and how to decode them."""

    source: str
    raw: bytes
    is_text: bool
    encoding: str

    @property
    def value(self) -> str | bytes:
        """What steps see: the decoded text, or the bytes."""
        return self.raw.decode(self.encoding) if self.is_text else self.raw

    def describe(self, key: str) -> dict[str, Any]:
        """How the run records this file (the content itself is in the store under ``key``)."""
        return {"included_file": self.source, "size": len(self.raw), "key": key, "is_text": self.is_text,
                "encoding": self.encoding}  # fmt: skip


class IncludeFile(Parameter):
    """A parameter naming a file whose content the flow uses: ``data = IncludeFile('data', default='in.csv')``."""

    def __init__(
        self,
        name: str,
        required: bool = False,
        is_text: bool = True,
        encoding: str = "utf-8",
        help: str | None = None,
        default: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, default=default, type=str, help=help, required=required, **kwargs)
        self.is_text = is_text
        self.encoding = encoding

    @property
    def type_name(self) -> str:
        return "file path or s3:// URL"

    def convert(self, value: Any) -> IncludedFile | None:
        """Read the named file now; a missing, unreadable or undecodable file is a ParameterError."""
        if value is None or isinstance(value, IncludedFile):
            return value
        source = str(value)
        raw = _read_s3(self.name, source) if source.startswith("s3://") else _read_local(self.name, source)
        included = IncludedFile(source, raw, self.is_text, self.encoding)
        if self.is_text:
            try:
                included.raw.decode(self.encoding)
            except (UnicodeDecodeError, LookupError) as exc:
                raise ParameterError(
                    f"IncludeFile '{self.name}': {source} is not {self.encoding} text ({exc}). "
                    f"Pass encoding= or is_text=False to read it as bytes."
                ) from exc
        return included


def _read_local(name: str, path: str) -> bytes:
    expanded = os.path.expanduser(path)
    if os.path.isdir(expanded):
        raise ParameterError(f"IncludeFile '{name}': {path} is a directory; pass the path of a file.")
    try:
        with open(expanded, "rb") as f:
            return f.read()
    except FileNotFoundError as exc:
        raise ParameterError(f"IncludeFile '{name}': the file {path} does not exist.") from exc
    except OSError as exc:
        raise ParameterError(f"IncludeFile '{name}': cannot read {path} ({exc.strerror or exc}).") from exc


def _read_s3(name: str, url: str) -> bytes:
    from flowstone.s3 import S3
    from flowstone.s3.errors import S3Exception

    try:
        with S3() as s3:
            return s3.get(url).blob
    except S3Exception as exc:
        raise ParameterError(f"IncludeFile '{name}': cannot read {url} ({exc}).") from exc


def plain_values(parameter_values: dict[str, Any]) -> dict[str, Any]:
    """Parameter values as steps see them: included files replaced by their content."""
    return {name: v.value if isinstance(v, IncludedFile) else v for name, v in parameter_values.items()}
