"""The sections of the default card: the task's timing, parameters, artifacts (with previews; DataFrames and
images in sections of their own), code and place in the flow's graph."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flowstone.cards.dag import dag_svg
from flowstone.cards.html import esc
from flowstone.cards.previews import full_classname, image_data_uri, is_dataframe, preview_html
from flowstone.cards.task_view import MAX_ARTIFACT_SIZE, TaskFacts

__all__ = ["default_sections", "header", "section"]


def section(title: str, body: str, css: str = "") -> str:
    return f'<section class="fs-section {css}"><h2>{esc(title)}</h2>{body}</section>'


def header(facts: TaskFacts, subtitle: str | None = None) -> str:
    line = subtitle if subtitle is not None else f"step {facts.step_name}, attempt {facts.attempt}"
    return f'<h1 class="fs-title">{esc(facts.pathspec)}</h1><p class="fs-subtitle">{esc(line)}</p>'


def _when(moment: float | None) -> str:
    return datetime.fromtimestamp(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _duration(facts: TaskFacts) -> str:
    if facts.started is None or facts.finished is None:
        return "running" if facts.started else "-"
    seconds = max(facts.finished - facts.started, 0.0)
    return f"{seconds:.2f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n:.1f} GiB"


def _vertical_table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="fs-table fs-vertical"><tbody>{body}</tbody></table>'


def task_section(facts: TaskFacts) -> str:
    rows = [("Started", esc(_when(facts.started))), ("Finished", esc(_when(facts.finished))),
            ("Duration", esc(_duration(facts))), ("Attempt", esc(facts.attempt)), ("User", esc(facts.user or "-")),
            ("Tags", esc(", ".join(facts.tags) or "-"))]  # fmt: skip
    return section("Task", _vertical_table(rows), "fs-task-info")


def _load(facts: TaskFacts, names: list[str], max_size: int) -> dict[str, Any]:
    records = facts.datastore.records
    small = [n for n in names if records[n].size <= max_size]
    return dict(facts.datastore.load_artifacts(small)) if small else {}


def _artifact_rows(names: list[str], values: dict[str, Any], records: Any, only_repr: bool) -> tuple[str, list[str]]:
    """The artifacts table, and the names of those shown in a section of their own (tables, images)."""
    rows, special = [], []
    for name in names:
        record = records[name]
        if name not in values:
            preview = '<span class="fs-muted">not loaded: larger than the card\'s max_artifact_size</span>'
        elif is_dataframe(values[name]) or _image(values[name]):
            special.append(name)
            shape = getattr(values[name], "shape", None)
            preview = f'<span class="fs-muted">{"DataFrame " + esc(shape) if shape else "image"}: shown below</span>'
        else:
            preview = preview_html(values[name], compressed=only_repr)
        kind = full_classname(values[name]) if name in values else record.type
        rows.append(f'<tr data-artifact="{esc(name)}"><td class="fs-artifact-name">{esc(name)}</td>'
                    f"<td>{esc(kind)}</td><td>{esc(_size(record.size))}</td><td>{preview}</td></tr>")  # fmt: skip
    head = "<thead><tr><th>name</th><th>type</th><th>size</th><th>value</th></tr></thead>"
    return f'<table class="fs-table fs-artifacts">{head}<tbody>{"".join(rows)}</tbody></table>', special


def _image(value: Any) -> bool:
    try:
        return not isinstance(value, str) and image_data_uri(value) is not None
    except Exception:
        return False


def artifact_sections(facts: TaskFacts, only_repr: bool, max_size: int) -> list[str]:
    records = facts.datastore.records
    visible = sorted(n for n in records if not n.startswith("_") and n != "name")
    params = [n for n in visible if n in facts.parameter_names]
    artifacts = [n for n in visible if n not in facts.parameter_names]
    values = _load(facts, visible, max_size)
    sections = []
    if params:
        rows = [(n, preview_html(values[n], only_repr) if n in values else "-") for n in params]
        sections.append(section("Parameters", _vertical_table(rows), "fs-parameters"))
    if not artifacts:
        return [*sections, section("Artifacts", '<p class="fs-muted">No artifacts.</p>', "fs-artifacts-section")]
    table, special = _artifact_rows(artifacts, values, records, only_repr)
    sections.append(section("Artifacts", table, "fs-artifacts-section"))
    frames = [n for n in special if is_dataframe(values[n])]
    if frames:
        body = "".join(f'<div class="fs-component"><div class="fs-artifact-name">{esc(n)}</div>'
                       f"{preview_html(values[n], only_repr)}</div>" for n in frames)  # fmt: skip
        sections.append(section("Tables", body, "fs-tables"))
    images = [n for n in special if n not in frames]
    if images:
        body = "".join(f'<figure class="fs-image"><img alt="{esc(n)}" src="{image_data_uri(values[n])}">'
                       f"<figcaption>{esc(n)}</figcaption></figure>" for n in images)  # fmt: skip
        sections.append(section("Images", f'<div class="fs-grid">{body}</div>', "fs-images"))
    return sections


def default_sections(facts: TaskFacts, components: list[str], options: dict[str, Any], runtime: bool) -> str:
    """Everything the default card shows below its title."""
    parts = [section("Report", "".join(components), "fs-user-components")] if components else []
    parts.append(task_section(facts))
    if not runtime:  # while the task runs its artifacts are not stored yet
        only_repr = bool(options.get("only_repr", True))
        parts += artifact_sections(facts, only_repr, int(options.get("max_artifact_size", MAX_ARTIFACT_SIZE)))
    if facts.step_source:
        parts.append(section("Code", f"<pre><code>{esc(facts.step_source)}</code></pre>", "fs-code-section"))
    if facts.graph_steps and facts.start_step:
        svg = dag_svg(facts.graph_steps, facts.start_step, facts.step_name)
        parts.append(section("Graph", f'<div class="fs-dag">{svg}</div>', "fs-dag-section"))
    return "".join(parts)
