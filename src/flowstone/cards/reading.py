"""Reading the cards a task stored: :func:`get_cards` (Metaflow's ``metaflow.cards.get_cards``), the
:class:`CardContainer` it returns and the :class:`Card` objects in it. A card's HTML is read when asked for."""

from __future__ import annotations

import importlib
import json
import os
import tempfile
import uuid
from datetime import datetime
from typing import Any

from flowstone.cards.errors import IncorrectArgumentException, IncorrectPathspecException
from flowstone.cards.storage import card_entries

__all__ = ["Card", "CardContainer", "client_task", "get_cards"]


class Card:
    """One card of a task: one HTML page. ``get()`` reads it (once)."""

    def __init__(self, ca_store: Any, entry: dict[str, Any], pathspec: str, from_resumed: bool = False,
                 origin_pathspec: str | None = None) -> None:  # fmt: skip
        self._ca_store, self._entry = ca_store, entry
        self._html: str | None = None
        self.pathspec = pathspec
        self.hash: str = entry["key"]
        self.type: str = entry["type"]
        self.from_resumed, self.origin_pathspec = from_resumed, origin_pathspec

    @property
    def id(self) -> str | None:
        return self._entry.get("id")

    @property
    def uuid(self) -> str:
        """Names this card of the task across its live renders and its final one."""
        return str(self._entry.get("uuid") or self.hash)

    @property
    def path(self) -> str:
        """Where the card's HTML is stored (a blob of the datastore, named by its content)."""
        return str(self._ca_store.blob_path(self.hash))

    @property
    def created_on(self) -> datetime | None:
        stamp = self._entry.get("created_on")
        return datetime.fromtimestamp(stamp) if stamp else None

    @property
    def is_final(self) -> bool:
        """False for a card rendered while its task was still running (a live card)."""
        return bool(self._entry.get("final"))

    def get(self) -> str:
        """The card's HTML."""
        if self._html is None:
            self._html = bytes(self._ca_store.load_blob(self.hash)).decode("utf-8")
        return self._html

    def get_data(self) -> dict[str, Any] | None:
        """The card's latest data update (``{"reload_token", "data", "created_on"}``), if it has one."""
        key = self._entry.get("data_key")
        return None if not key else json.loads(bytes(self._ca_store.load_blob(key)))

    def view(self) -> None:
        """Open the card in a web browser."""
        import webbrowser

        with tempfile.NamedTemporaryFile(suffix=".html", prefix="card-", delete=False) as file:
            file.write(self.get().encode("utf-8"))
        webbrowser.open("file://" + os.path.abspath(file.name))

    def __str__(self) -> str:
        return f"<Card at '{self.path}'>"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return f"<div class='embed' data-container='{uuid.uuid4()}'>{self.get()}</div>"


class CardContainer(list):
    """The cards of one task. Shows them all in a notebook."""

    def __init__(self, cards: list[Card] | None = None, origin_pathspec: str | None = None) -> None:
        super().__init__(cards or [])
        self.origin_pathspec = origin_pathspec
        self.from_resumed = origin_pathspec is not None

    def _repr_html_(self) -> str:
        parts = [f"<h1>Displaying card of type: {card.type.title()}</h1>{card._repr_html_()}" for card in self]
        return "\n".join(parts)


def client_task(pathspec: str, ds_spec: tuple[str, str] | None = None) -> Any:
    """The Client API ``Task`` of ``pathspec`` (in the datastore ``(type, root)`` if given, else the client's),
    in no namespace. The Client API sits above cards: it is reached at call time, as Metaflow's cards do."""
    client = importlib.import_module("flowstone.client")
    return client.Task(pathspec, _namespace_check=False, _ds=ds_spec)


def _task(task: Any) -> Any:
    if isinstance(task, str):
        if len(task.strip("/").split("/")) != 4:
            raise IncorrectPathspecException(task)
        return client_task(task)
    if not hasattr(task, "_get_datastore") or not hasattr(task, "pathspec"):
        raise IncorrectArgumentException(type(task))
    return task


def get_cards(task: Any, id: str | None = None, type: str | None = None, follow_resumed: bool = True) -> CardContainer:
    """The cards of ``task`` (a Task, or its pathspec 'Flow/run_id/step/task_id'), optionally only those with
    this ``id`` or of this ``type``. A task reused by a resume or the cache has its origin's cards; with
    ``follow_resumed`` the container says where they come from (``origin_pathspec``)."""
    task = _task(task)
    datastore = task._get_datastore()
    origin = getattr(task, "origin_pathspec", None) if follow_resumed else None
    ca_store = task._fds.ca_store
    cards = [Card(ca_store, entry, task.pathspec, origin is not None, origin) for entry in card_entries(datastore)
             if (id is None or entry.get("id") == id) and (type is None or entry.get("type") == type)]  # fmt: skip
    return CardContainer(cards, origin)
