"""``current.card``: the components a step adds to its cards while it runs (Metaflow's
``CardComponentCollector``), and the refreshes of live cards.

``current.card.append(c)`` adds to the step's one editable card: the only card whose type takes components, or
among several, the only one without an ``id`` (or the one with ``customize=True``); ``current.card['id']``
reaches a card by its id. What cannot be done is warned about, never raised: a card never fails a task.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple, Protocol

from flowstone.cards.card import MetaflowCardComponent, card_class, create_component_id
from flowstone.cards.components import render_component
from flowstone.cards.errors import ComponentOverwriteNotSupportedException

__all__ = ["CardComponentCollector", "CardComponentManager", "CardSpec", "ComponentStore", "card_spec"]

#: What a card id may look like (Metaflow's rule); a card with another id cannot be reached by it.
CARD_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_]+$")


def warn(message: str) -> None:
    print(f"[@card WARNING] {message}", file=sys.stderr)


class CardSpec(NamedTuple):
    """One @card of a step, as the task renders it."""

    uuid: str
    type: str
    id: str | None
    options: dict[str, Any]
    timeout: float | None
    save_errors: bool
    refresh_interval: float
    customize: bool

    @property
    def editable(self) -> bool:
        cls = card_class(self.type)
        return cls is not None and cls.ALLOW_USER_COMPONENTS

    @property
    def runtime_card(self) -> bool:
        cls = card_class(self.type)
        return cls is not None and cls.RUNTIME_UPDATABLE


def card_spec(uuid: str, attributes: dict[str, Any]) -> CardSpec:
    """The spec of a card from its decorator's attributes (an id that breaks the rule is dropped, with a warning)."""
    card_id = attributes.get("id")
    if card_id is not None and not CARD_ID_PATTERN.match(str(card_id)):
        warn(f"@card id {card_id!r} is not made of letters, digits and '_': current.card[{card_id!r}] cannot "
             "reach it, and the card is stored without an id.")  # fmt: skip
        card_id = None
    timeout = attributes.get("timeout")
    return CardSpec(
        uuid=uuid,
        type=str(attributes.get("type") or "default"),
        id=card_id,
        options=dict(attributes.get("options") or {}),
        timeout=float(timeout) if timeout else None,
        save_errors=str(attributes.get("save_errors", True)) != "False",  # --with gives strings
        refresh_interval=float(attributes.get("refresh_interval") or 5),
        customize=str(attributes.get("customize")) == "True",
    )


class ComponentStore:
    """The components of one card, in order, by id."""

    def __init__(self, card: CardSpec, components: Iterable[Any] | None = None) -> None:
        self._card = card
        self._components: dict[str, Any] = {}
        self.layout_last_changed_on = time.time()
        for component in components or ():
            self._store(component)

    def _store(self, component: Any, component_id: str | None = None) -> None:
        if not isinstance(component, MetaflowCardComponent):
            warn(f"{component!r} is not a card component (a MetaflowCardComponent); it is not added.")
            return
        if component_id is not None:
            component.component_id = component_id
        elif component.component_id is None:
            component.component_id = create_component_id(component)
        self._components[component.component_id] = component  # type: ignore[index]
        self.layout_last_changed_on = time.time()

    def append(self, component: Any, id: str | None = None) -> None:
        self._store(component, id)

    def extend(self, components: Iterable[Any]) -> None:
        for component in components:
            self._store(component)

    def clear(self) -> None:
        self._components.clear()
        self.layout_last_changed_on = time.time()

    def keys(self) -> list[str]:
        return list(self._components)

    def values(self) -> list[Any]:
        return list(self._components.values())

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._components.values()))

    def __len__(self) -> int:
        return len(self._components)

    def __contains__(self, key: object) -> bool:
        return key in self._components

    def __getitem__(self, key: str) -> Any:
        return self._components[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key in self._components:
            raise ComponentOverwriteNotSupportedException(key, self._card.id, self._card.type)
        self._store(value, key)

    def __delitem__(self, key: str) -> None:
        if key not in self._components:
            raise KeyError(f"The card has no component with id {key!r}; it has: {', '.join(self._components)}.")
        del self._components[key]
        self.layout_last_changed_on = time.time()


class CardCreator(Protocol):
    """What renders and stores a card while the task runs (``cards/rendering.py``)."""

    def create(self, manager: CardComponentManager, mode: str) -> None: ...


class CardComponentManager:
    """One card of the step: its components, and refreshes of the card while the task runs."""

    def __init__(self, card: CardSpec, creator: CardCreator | None, components: Iterable[Any] | None = None):
        self.card = card
        self._creator = creator
        self._components = ComponentStore(card, components)
        self._user_data: Any = None
        self._last_refresh = 0.0
        self._layout_rendered: float | None = None

    @property
    def components(self) -> ComponentStore:
        return self._components

    def append(self, component: Any, id: str | None = None) -> None:
        self._components.append(component, id=id)

    def extend(self, components: Iterable[Any]) -> None:
        self._components.extend(components)

    def clear(self) -> None:
        self._components.clear()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._components)

    def __len__(self) -> int:
        return len(self._components)

    def refresh(self, data: Any = None, force: bool = False) -> None:
        """Show the card as it is now to whoever watches the running task (``card server``). Calls closer
        together than the card's ``refresh_interval`` are skipped, unless ``force``."""
        self._user_data = data
        now = time.time()
        if self._creator is None or not self.card.runtime_card:
            return
        if not force and now - self._last_refresh < self.card.refresh_interval:
            return
        self._last_refresh = now
        if force or self._layout_rendered != self._components.layout_last_changed_on:
            self._layout_rendered = self._components.layout_last_changed_on
            self._creator.create(self, "render_runtime")
        self._creator.create(self, "refresh")

    def rendered_components(self) -> list[str]:
        return [html for html in (render_component(c) for c in self._components) if html is not None]

    def latest_data(self, final: bool = False, mode: str | None = None) -> dict[str, Any]:
        """What the card type's ``render_runtime``, ``refresh`` and ``reload_content_token`` receive."""
        updatable = {}
        for component in self._components:
            if getattr(component, "REALTIME_UPDATABLE", False):
                html = render_component(component)
                if html is not None:
                    updatable[component.component_id] = html
        return {"user": self._user_data, "components": updatable, "render_seq": "final" if final else "runtime",
                "component_update_ts": self._components.layout_last_changed_on, "mode": mode}  # fmt: skip


class CardComponentCollector:
    """``current.card`` in a step with @card: ``append``, ``extend``, ``clear``, ``refresh`` and ``components``
    act on the step's editable card; ``current.card['id']`` is the card with that id."""

    def __init__(self, creator: CardCreator | None = None) -> None:
        self._creator = creator
        self._managers: dict[str, CardComponentManager] = {}  # by card uuid, in decorator order
        self._by_id: dict[str, str] = {}
        self._editable: str | None = None
        self._warned: set[str] = set()

    def _add_card(self, card: CardSpec) -> None:
        self._managers[card.uuid] = CardComponentManager(card, self._creator)

    def _finalize(self) -> None:
        """Settle which card ``append`` adds to, and which ids reach a card (once every @card is added)."""
        cards = [m.card for m in self._managers.values()]
        ids = [c.id for c in cards if c.id is not None]
        for card_id in dict.fromkeys(ids):
            if ids.count(card_id) > 1:
                warn(f"Several @card decorators have the id {card_id!r}: current.card[{card_id!r}] reaches none.")
            else:
                self._by_id[card_id] = next(c.uuid for c in cards if c.id == card_id)
        editable = [c for c in cards if c.editable]
        customized = [c for c in editable if c.customize]
        without_id = [c for c in editable if c.id is None]
        if len(editable) == 1:
            self._editable = editable[0].uuid
        elif len(customized) == 1:
            self._editable = customized[0].uuid
        elif len(without_id) == 1:
            self._editable = without_id[0].uuid
        if len(customized) > 1:
            warn("Several @card decorators have customize=True: only one may; current.card.append ignores them.")

    @property
    def _managers_in_order(self) -> list[CardComponentManager]:
        return list(self._managers.values())

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warn(message)

    def _editable_card(self, action: str) -> CardComponentManager | None:
        if self._editable is not None:
            return self._managers[self._editable]
        cards = [m.card for m in self._managers.values()]
        if len(cards) == 1:
            known = card_class(cards[0].type) is not None
            why = f"card type {cards[0].type!r} " + ("does not take components" if known else "does not exist")
        else:
            why = "it cannot tell which of the step's @card decorators is meant: give each an id"
        self._warn_once(action, f"current.card.{action} does nothing in this task: {why}.")
        return None

    def append(self, component: Any, id: str | None = None) -> None:
        card = self._editable_card("append")
        if card is not None:
            card.append(component, id=id)

    def extend(self, components: Iterable[Any]) -> None:
        card = self._editable_card("extend")
        if card is not None:
            card.extend(components)

    def clear(self) -> None:
        if self._editable is not None:
            self._managers[self._editable].clear()

    def refresh(self, *args: Any, **kwargs: Any) -> None:
        if self._editable is not None:
            self._managers[self._editable].refresh(*args, **kwargs)

    @property
    def components(self) -> ComponentStore | None:
        card = self._editable_card("components")
        return card.components if card is not None else None

    def get(self, type: str | None = None) -> list[CardComponentManager]:
        """The cards of this type (a step may have several)."""
        return [m for m in self._managers.values() if m.card.type == type]

    def __getitem__(self, key: str) -> Any:
        if key in self._by_id:
            return self._managers[self._by_id[key]]
        self._warn_once(f"getitem:{key}", f"current.card[{key!r}] is no card of this step: set @card(id={key!r}) to "
                        "reach it; what is added to it is not shown.")  # fmt: skip
        return []

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in self._by_id:
            self._warn_once(f"setitem:{key}", f"current.card[{key!r}] is no card of this step: set @card(id={key!r}).")
            return
        if not isinstance(value, list):
            warn(f"current.card[{key!r}] must be set to a list of components; it is unchanged.")
            return
        uuid = self._by_id[key]
        self._managers[uuid] = CardComponentManager(self._managers[uuid].card, self._creator, value)
