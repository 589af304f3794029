"""Rendering cards: a card type's HTML for a task, within the card's time limit; a card that fails to render
becomes an error card (unless ``save_errors=False``), never a failed task.

:class:`CardSession` is what the runtime holds for one task attempt: ``current.card`` (the collector) while the
step runs, the live renders its refreshes ask for, and the final render of every card when the step is done.
:func:`render_card` renders any card type for any task, from Python (``flowstone ui``, benchmarks).
"""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flowstone._alarm import raise_after
from flowstone.cards.builtin_cards import ErrorCard
from flowstone.cards.card import MetaflowCard, card_class, card_types
from flowstone.cards.collector import CardComponentCollector, CardComponentManager, CardSpec, card_spec, warn
from flowstone.cards.storage import CardStore

__all__ = ["CardSession", "render_card"]


class _RenderTimedOut(Exception):
    """A card took longer to render than its ``timeout``."""


@contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Interrupt the render after ``seconds`` (only in the main thread, where signals arrive)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    with raise_after(seconds, lambda: _RenderTimedOut(f"The card took longer than its timeout of {seconds:g} "
                                                      f"seconds to render: raise @card(timeout=...) if it needs "
                                                      f"more.")):  # fmt: skip
        yield


def _reload_token(card: MetaflowCard, task: Any, data: dict[str, Any]) -> str:
    if data.get("render_seq") == "final":
        return "final"
    if card.RELOAD_POLICY == MetaflowCard.RELOAD_POLICY_ALWAYS:
        return f"render-seq-{data.get('render_seq')}"
    if card.RELOAD_POLICY == MetaflowCard.RELOAD_POLICY_ONCHANGE:
        return str(card.reload_content_token(task, data))
    return "never"


def _instance(spec: CardSpec, components: list[str], graph: Any, flow: Any) -> MetaflowCard:
    cls = card_class(spec.type)
    if cls is None:
        raise LookupError(f"No card type named {spec.type!r}: known types are {', '.join(card_types())}. Check "
                          "the type= of @card, or import the module that defines the card type.")  # fmt: skip
    try:
        return cls(options=spec.options, components=components, graph=graph, flow=flow)
    except TypeError as exc:
        raise TypeError(f"Card type {spec.type!r} does not accept the options {spec.options!r}: {exc}") from exc


def _error_card(task: Any, spec: CardSpec, why: str) -> str | None:
    if not spec.save_errors:
        reason = why.strip().splitlines()[-1] if why.strip() else why
        warn(f"The {spec.type!r} card of {task.pathspec} was not stored (save_errors=False): {reason}")
        return None
    return ErrorCard().render(task, stack_trace=why).replace(MetaflowCard.RELOAD_POLICY_TOKEN, "final")


def render_html(spec: CardSpec, task: Any, components: list[str], data: dict[str, Any], graph: Any = None,
                flow: Any = None, runtime: bool = False) -> str | None:  # fmt: skip
    """The card's HTML (an error card's if rendering it failed), or None when there is nothing to store."""
    try:
        card = _instance(spec, components, graph, flow)
        with _time_limit(spec.timeout):
            html = card.render_runtime(task, data) if runtime else card.render(task)
            token = _reload_token(card, task, data)
    except NotImplementedError:
        if runtime:
            return None  # the card type has no live form: it is shown once the task is done
        return _error_card(task, spec, traceback.format_exc())
    except Exception:  # _RenderTimedOut included
        return _error_card(task, spec, traceback.format_exc())
    if not isinstance(html, str) or not html:
        return _error_card(task, spec, f"Card type {spec.type!r} rendered nothing (render returned {html!r}).")
    return html.replace(MetaflowCard.RELOAD_POLICY_TOKEN, token)


def render_card(task: Any, type: str = "default", options: dict[str, Any] | None = None,
                components: list[Any] | None = None, id: str | None = None) -> str:  # fmt: skip
    """The HTML of a card of ``type`` for ``task`` (a Client API Task), rendered now; nothing is stored."""
    spec = card_spec("render", {"type": type, "options": options or {}, "id": id, "timeout": None})
    manager = CardComponentManager(spec, None, components)
    html = render_html(spec, task, manager.rendered_components(), manager.latest_data(final=True))
    return html or ""


class CardSession:
    """The cards of one task attempt: collected while the step runs, rendered and stored as it ends."""

    def __init__(self, decorator_attributes: list[dict[str, Any]], store: CardStore, task: Callable[[], Any],
                 graph: Any = None, flow: Any = None) -> None:  # fmt: skip
        self._store, self._task, self._graph, self._flow = store, task, graph, flow
        self.collector = CardComponentCollector(self)
        for attributes in decorator_attributes:
            self.collector._add_card(card_spec(uuid.uuid4().hex, attributes))
        self.collector._finalize()

    def create(self, manager: CardComponentManager, mode: str) -> None:
        """A live render (``render_runtime``: the card's HTML) or data update (``refresh``) while the step runs."""
        try:
            self._create(manager, mode, self._task())
        except Exception as exc:  # a live card that cannot be shown must not stop the step
            warn(f"The live {manager.card.type!r} card could not be updated: {exc}")

    def _create(self, manager: CardComponentManager, mode: str, task: Any, final: bool = False) -> None:
        spec, data = manager.card, manager.latest_data(final=final, mode=mode)
        if mode == "refresh":
            card = _instance(spec, [], self._graph, self._flow)
            try:
                update = card.refresh(task, data)
            except NotImplementedError:
                return
            token = _reload_token(card, task, data)
            self._store.save_data(spec, {"reload_token": token, "data": update, "created_on": time.time()})
            return
        runtime = mode == "render_runtime"
        html = render_html(spec, task, manager.rendered_components(), data, self._graph, self._flow, runtime)
        if html is not None:
            self._store.save_card(spec, html, final=not runtime)

    def finish(self) -> None:
        """Render and store every card of the step (the step succeeded; its artifacts are stored)."""
        for manager in self.collector._managers_in_order:
            try:
                task = self._task()
                self._create(manager, "render", task, final=True)
                if manager.card.runtime_card:
                    self._create(manager, "refresh", task, final=True)
            except Exception as exc:  # storing failed: the task's results stand without the card
                warn(f"The {manager.card.type!r} card could not be rendered and stored: {exc}")
