"""The two things a card is made of, with Metaflow's names: :class:`MetaflowCard` (a card type: it renders a
task as HTML) and :class:`MetaflowCardComponent` (a piece of a card, added with ``current.card.append``).

A card type is known by its ``type`` string. Defining a subclass that sets ``type`` registers it (as a flow file
or a module it imports does); packages written for Metaflow register theirs the way Metaflow finds them, in a
``metaflow_extensions.<name>.plugins.cards`` package whose modules list them in ``CARDS``.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
import uuid
from typing import Any, ClassVar

__all__ = ["MetaflowCard", "MetaflowCardComponent", "card_class", "card_types", "create_component_id"]

_REGISTRY: dict[str, type[MetaflowCard]] = {}


class MetaflowCard:
    """A card type: ``render(task)`` returns the card's HTML for a task (a Client API ``Task``).

    ``options`` are the ``@card(options=...)`` given on the step; ``components`` the rendered components the
    step appended (HTML fragments); ``graph`` the flow's steps (name -> description); ``flow`` the flow object.
    """

    RELOAD_POLICY_NEVER = "never"
    RELOAD_POLICY_ALWAYS = "always"
    RELOAD_POLICY_ONCHANGE = "onchange"
    #: Replaced in the rendered HTML by the reload token of the render (live cards compare it to data updates).
    RELOAD_POLICY_TOKEN = "[METAFLOW_RELOAD_TOKEN]"

    type: ClassVar[str | None] = None
    ALLOW_USER_COMPONENTS: ClassVar[bool] = False
    RUNTIME_UPDATABLE: ClassVar[bool] = False
    RELOAD_POLICY: ClassVar[str] = RELOAD_POLICY_NEVER
    scope: ClassVar[str] = "task"
    runtime_data: Any = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if isinstance(cls.__dict__.get("type"), str):  # only a class that names its own type registers it
            _REGISTRY[cls.__dict__["type"]] = cls

    def __init__(self, options: dict[str, Any] | None = None, components: list[Any] | None = None,
                 graph: dict[str, Any] | None = None, flow: Any = None, **kwargs: Any) -> None:  # fmt: skip
        pass

    def render(self, task: Any) -> str:
        """The card's HTML for ``task``."""
        raise NotImplementedError(f"card type {self.type!r} does not implement render(task)")

    def render_runtime(self, task: Any, data: dict[str, Any]) -> str:
        """The card's HTML while the task runs (cards with ``RUNTIME_UPDATABLE``)."""
        raise NotImplementedError()

    def refresh(self, task: Any, data: dict[str, Any]) -> Any:
        """A data update for a card shown while the task runs (JSON-serializable)."""
        raise NotImplementedError()

    def reload_content_token(self, task: Any, data: dict[str, Any]) -> str:
        return "content-token"


class MetaflowCardComponent:
    """A piece of a card: ``render()`` returns an HTML fragment (or a dict, shown as JSON)."""

    #: Whether ``update()`` changes what a live card shows while the task runs.
    REALTIME_UPDATABLE: ClassVar[bool] = False
    _component_id: str | None = None
    _logger: Any = None

    @property
    def component_id(self) -> str | None:
        return self._component_id

    @component_id.setter
    def component_id(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("A component id must be a string.")
        self._component_id = value

    def update(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError()

    def render(self) -> Any:
        raise NotImplementedError()


def create_component_id(component: Any) -> str:
    return f"{type(component).__name__.lower()}_{uuid.uuid4().hex[:6]}"


_extensions_loaded = False


def _load_extension_cards() -> None:
    """Card types of packages written for Metaflow: ``metaflow_extensions.*.plugins.cards`` modules' ``CARDS``.

    Only when such packages are installed (flowstone does not import Metaflow itself for this)."""
    global _extensions_loaded
    if _extensions_loaded:
        return
    _extensions_loaded = True
    if importlib.util.find_spec("metaflow_extensions") is None:
        return
    namespace = importlib.import_module("metaflow_extensions")
    for ext in pkgutil.iter_modules(namespace.__path__, "metaflow_extensions."):
        for module in _card_modules(f"{ext.name}.plugins.cards"):
            for cls in getattr(module, "CARDS", None) or []:
                if isinstance(cls, type) and issubclass(cls, MetaflowCard) and isinstance(cls.type, str):
                    _REGISTRY.setdefault(cls.type, cls)


def _card_modules(package: str) -> list[Any]:
    try:
        root = importlib.import_module(package)
    except Exception:  # an extension that fails to import adds no cards; a flow does not fail for it
        return []
    modules = [root]
    for sub in pkgutil.iter_modules(getattr(root, "__path__", []), package + "."):
        try:
            modules.append(importlib.import_module(sub.name))
        except Exception as exc:
            print(f"[@card WARNING] card package {sub.name} failed to import: {exc}", file=sys.stderr)
    return modules


def card_class(card_type: str) -> type[MetaflowCard] | None:
    """The card type named ``card_type``, or None."""
    from flowstone.cards import builtin_cards  # noqa: F401  (registers the built-in types)

    if card_type not in _REGISTRY:
        _load_extension_cards()
    return _REGISTRY.get(card_type)


def card_types() -> list[str]:
    from flowstone.cards import builtin_cards  # noqa: F401

    _load_extension_cards()
    return sorted(_REGISTRY)
