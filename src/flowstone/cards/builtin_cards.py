"""The card types flowstone ships: ``default`` (the task's artifacts, parameters, timing and graph, with the
step's components on top), ``blank`` (only the components), ``html`` (an artifact holding HTML, as the
metaflow-card-html package does) and ``error`` (what a card shows when its own rendering failed)."""

from __future__ import annotations

from typing import Any

from flowstone.cards.card import MetaflowCard, MetaflowCardComponent
from flowstone.cards.default_card import default_sections, header, section
from flowstone.cards.html import esc, page
from flowstone.cards.task_view import task_facts

__all__ = ["BlankCard", "DefaultCard", "ErrorCard", "HTMLCard", "PageComponent"]


class PageComponent(MetaflowCardComponent):
    """A titled part of a page holding other components (rendered fragments or components)."""

    def __init__(self, title: str | None = None, subtitle: str | None = None, contents: list[Any] | None = None):
        self._title, self._subtitle, self._contents = title, subtitle, list(contents or [])

    def render(self) -> str:
        from flowstone.cards.components import render_component

        inner = "".join(c if isinstance(c, str) else (render_component(c) or "") for c in self._contents)
        title = f"<h2>{esc(self._title)}</h2>" if self._title else ""
        subtitle = f'<p class="fs-subtitle">{esc(self._subtitle)}</p>' if self._subtitle else ""
        return f'<section class="fs-section">{title}{subtitle}{inner}</section>'


class _ComponentCard(MetaflowCard):
    """A card that shows the components its step appended, and updates while the task runs."""

    ALLOW_USER_COMPONENTS = True
    RUNTIME_UPDATABLE = True
    RELOAD_POLICY = MetaflowCard.RELOAD_POLICY_ONCHANGE

    def __init__(self, options: dict[str, Any] | None = None, components: list[Any] | None = None,
                 graph: Any = None, flow: Any = None, **kwargs: Any) -> None:  # fmt: skip
        self._options = dict(options or {})
        self._components = [c for c in (components or []) if isinstance(c, str)]
        self._graph, self._flow = graph, flow

    def render_runtime(self, task: Any, data: dict[str, Any]) -> str:
        return self._render(task, runtime=True)

    def render(self, task: Any) -> str:
        return self._render(task, runtime=False)

    def _render(self, task: Any, runtime: bool) -> str:
        raise NotImplementedError()

    def refresh(self, task: Any, data: dict[str, Any]) -> Any:
        return data.get("components")

    def reload_content_token(self, task: Any, data: dict[str, Any]) -> str:
        return f"runtime-{data.get('component_update_ts')}"


class DefaultCard(_ComponentCard):
    type = "default"

    def _render(self, task: Any, runtime: bool) -> str:
        facts = task_facts(task, self._graph, self._flow, runtime)
        status = "running" if runtime else f"attempt {facts.attempt}"
        body = header(facts, f"step {facts.step_name}, {status}") + default_sections(
            facts, self._components, self._options, runtime
        )
        return page(facts.pathspec, body)


class BlankCard(_ComponentCard):
    type = "blank"

    def _render(self, task: Any, runtime: bool) -> str:
        title = self._options.get("title") or ""
        heading = f'<h1 class="fs-title">{esc(title)}</h1>' if title else ""
        return page(title or task.pathspec, heading + "".join(self._components))


class ErrorCard(MetaflowCard):
    type = "error"

    def __init__(self, options: dict[str, Any] | None = None, components: list[Any] | None = None,
                 graph: Any = None, flow: Any = None, **kwargs: Any) -> None:  # fmt: skip
        pass

    def render(self, task: Any, stack_trace: str | None = None) -> str:
        body = (f'<h1 class="fs-title">{esc(task.pathspec)}</h1>'
                + section("Card render failed with error", f'<div class="fs-error"><pre>{esc(stack_trace or "None")}'
                          "</pre></div>", "fs-render-error"))  # fmt: skip
        return page(f"Error card: {task.pathspec}", body)


class HTMLCard(MetaflowCard):
    """The HTML an artifact holds (``options={"attribute": "html"}`` names it), shown as it is."""

    type = "html"

    def __init__(self, options: dict[str, Any] | None = None, components: list[Any] | None = None,
                 graph: Any = None, flow: Any = None, **kwargs: Any) -> None:  # fmt: skip
        self._attribute = (options or {}).get("attribute", "html")

    def render(self, task: Any) -> str:
        if self._attribute not in task:
            body = f'<p>Task {esc(task.pathspec)} has no artifact <code>{esc(self._attribute)}</code> to show.</p>'
            return page(task.pathspec, body)
        return str(task[self._attribute].data)
