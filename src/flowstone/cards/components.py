"""The card components of ``flowstone.cards`` (Metaflow's ``metaflow.cards`` names and arguments): each renders
as an HTML fragment; a component whose rendering fails shows the error in its place, never breaking the card.

Components with ``REALTIME_UPDATABLE`` change what a live card shows when ``update(...)`` is followed by
``current.card.refresh()``. Images, charts and the rest are in :mod:`flowstone.cards.media`.
"""

from __future__ import annotations

import inspect
import json
import sys
import textwrap
import traceback
from collections.abc import Callable
from typing import Any

from flowstone.cards.card import MetaflowCardComponent, create_component_id
from flowstone.cards.html import attr, esc, markdown
from flowstone.cards.previews import dataframe_rows, full_classname, is_dataframe, preview_html

__all__ = [
    "Artifact",
    "Error",
    "JSONViewer",
    "Markdown",
    "PythonCode",
    "Table",
    "UserComponent",
    "YAMLViewer",
    "error_fragment",
    "render_component",
]


def error_fragment(headline: str, detail: str = "") -> str:
    body = f"<pre>{esc(detail)}</pre>" if detail else ""
    return f'<div class="fs-component fs-error"><h3>{esc(headline)}</h3>{body}</div>'


def _warn(message: str) -> None:
    print(f"[@card-component WARNING] {message}", file=sys.stderr)


class UserComponent(MetaflowCardComponent):
    """A component users append to a card. Subclasses implement ``_html()``, the fragment's inner HTML."""

    css_class = ""

    def _html(self) -> str:
        raise NotImplementedError()

    def render(self) -> str:
        if self.component_id is None:
            self.component_id = create_component_id(self)
        try:
            inner = self._html()
        except Exception as exc:
            return error_fragment(f"{type(self).__name__} could not be rendered: {exc}", traceback.format_exc())
        return (f'<div class="fs-component {self.css_class}" data-component-id={attr(self.component_id)}>'
                f"{inner}</div>")  # fmt: skip

    def update(self, *args: Any, **kwargs: Any) -> None:
        _warn(f"{type(self).__name__} has no update(); it does not change while the task runs.")


def render_component(component: Any) -> str | None:
    """A component's HTML as a card shows it: a fragment; a dict (a component of Metaflow's JSON form) as JSON;
    None for anything that is not a component, or whose render() fails (it is left out, as in Metaflow)."""
    if not isinstance(component, MetaflowCardComponent):
        return None
    try:
        rendered = component.render()
    except Exception:
        return None
    if isinstance(rendered, dict):
        return f'<div class="fs-component"><pre>{esc(json.dumps(rendered, indent=2, default=str))}</pre></div>'
    return rendered if isinstance(rendered, str) else None


class Markdown(UserComponent):
    """Text formatted in Markdown (indentation common to all lines is removed)."""

    REALTIME_UPDATABLE = True
    css_class = "fs-markdown"

    def __init__(self, text: str | None = None) -> None:
        self._text = textwrap.dedent(text) if text is not None else None

    def update(self, text: str | None = None) -> None:
        self._text = textwrap.dedent(text) if text is not None else None

    def _html(self) -> str:
        return markdown(self._text or "")


class Artifact(UserComponent):
    """A readable preview of any Python object, with an optional name."""

    REALTIME_UPDATABLE = True
    css_class = "fs-artifact"

    def __init__(self, artifact: Any, name: str | None = None, compressed: bool = True) -> None:
        self._artifact, self._name, self._compressed = artifact, name, compressed

    def update(self, artifact: Any) -> None:
        self._artifact = artifact

    def _html(self) -> str:
        name = f'<div class="fs-artifact-name">{esc(self._name)}</div>' if self._name is not None else ""
        return name + preview_html(self._artifact, self._compressed)


class Table(UserComponent):
    """A table of text, numbers or other components (rows of cells), with optional headers."""

    REALTIME_UPDATABLE = True
    css_class = "fs-table-component"

    def __init__(self, data: list[list[Any]] | None = None, headers: list[str] | None = None,
                 disable_updates: bool = False) -> None:  # fmt: skip
        self._data = [list(row) for row in (data or [])]
        self._headers = [str(h) for h in (headers or [])]
        if disable_updates:
            self.REALTIME_UPDATABLE = False  # type: ignore[misc]

    @classmethod
    def from_dataframe(cls, dataframe: Any = None, truncate: bool = True) -> Table:
        """A table of a pandas DataFrame (its first rows and columns only, when ``truncate``)."""
        if not is_dataframe(dataframe):
            return cls(headers=[f"Object type {full_classname(dataframe)} not supported"], disable_updates=True)
        headers, rows = dataframe_rows(dataframe, truncate)
        return cls(data=rows, headers=headers, disable_updates=True)

    def update(self, *args: Any, **kwargs: Any) -> None:
        _warn("Table has no update(): update the components inside it instead.")

    @staticmethod
    def _cell(value: Any) -> str:
        if isinstance(value, MetaflowCardComponent):
            return render_component(value) or ""
        return esc(value)

    def _html(self) -> str:
        head = "".join(f"<th>{esc(h)}</th>" for h in self._headers)
        body = "".join("<tr>" + "".join(f"<td>{self._cell(v)}</td>" for v in row) + "</tr>" for row in self._data)
        thead = f"<thead><tr>{head}</tr></thead>" if head else ""
        return f'<table class="fs-table">{thead}<tbody>{body}</tbody></table>'


class Error(UserComponent):
    """An exception, shown with a title (and its traceback, when it has one)."""

    css_class = "fs-error"

    def __init__(self, exception: BaseException, title: str | None = None) -> None:
        self._exception, self._title = exception, title

    def _html(self) -> str:
        exc = self._exception
        detail = repr(exc)
        if isinstance(exc, BaseException) and exc.__traceback__ is not None:
            detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return f"<h3>{esc(self._title or type(exc).__name__)}</h3><pre>{esc(detail)}</pre>"


class PythonCode(UserComponent):
    """Python source code: a function's (``code_func``) or a string (``code_string``)."""

    css_class = "fs-code"

    def __init__(self, code_func: Callable[..., Any] | None = None, code_string: str | None = None) -> None:
        self._code = inspect.getsource(code_func) if code_func is not None else code_string

    def _html(self) -> str:
        if self._code is None:
            return error_fragment("PythonCode needs code_func or code_string; neither was given.")
        return f'<pre><code class="language-python">{esc(textwrap.dedent(self._code))}</code></pre>'


class JSONViewer(UserComponent):
    """Data shown as indented JSON, collapsible."""

    REALTIME_UPDATABLE = True
    css_class = "fs-json"
    _kind = "JSON"

    def __init__(self, data: Any, collapsible: bool = True, max_height: str | None = None,
                 show_copy_button: bool = True, title: str | None = None) -> None:  # fmt: skip
        self._data, self._collapsible, self._max_height = data, collapsible, max_height
        self._title = title or self._kind

    def update(self, data: Any) -> None:
        self._data = data

    def _text(self) -> str:
        if isinstance(self._data, str):
            try:
                return json.dumps(json.loads(self._data), indent=2, ensure_ascii=False)
            except ValueError:
                pass
        return json.dumps(self._data, indent=2, ensure_ascii=False, default=str)

    def _html(self) -> str:
        style = f' style="max-height: {esc(self._max_height)}"' if self._max_height else ""
        pre = f"<pre{style}>{esc(self._text())}</pre>"
        if not self._collapsible:
            return f"<div class=\"fs-artifact-name\">{esc(self._title)}</div>{pre}"
        return f"<details open><summary>{esc(self._title)}</summary>{pre}</details>"


class YAMLViewer(JSONViewer):
    """Data shown as YAML, collapsible."""

    css_class = "fs-yaml"
    _kind = "YAML"

    def _text(self) -> str:
        return "\n".join(_yaml_lines(self._data, 0))


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def _yaml_lines(value: Any, depth: int) -> list[str]:
    pad = "  " * depth
    if isinstance(value, dict) and value:
        lines = []
        for key, item in value.items():
            if isinstance(item, (dict, list, tuple)) and item:
                lines += [f"{pad}{key}:", *_yaml_lines(item, depth + 1)]
            else:
                lines.append(f"{pad}{key}: {_yaml_lines(item, 0)[0]}")
        return lines
    if isinstance(value, (list, tuple)) and value:
        lines = []
        for item in value:
            nested = _yaml_lines(item, depth + 1)
            lines.append(f"{pad}- {nested[0].strip()}")
            lines += nested[1:]
        return lines
    if isinstance(value, (list, tuple, dict)):
        return [pad + ("[]" if isinstance(value, (list, tuple)) else "{}")]
    return [pad + _yaml_scalar(value)]
