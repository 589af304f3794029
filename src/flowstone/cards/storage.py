"""Where cards are kept: each rendered card (HTML) and each live data update (JSON) is a blob of the
content-addressed store; the task attempt's metadata entry ``cards`` lists them (type, id, the blob's key, the
latest data update). So a card belongs to its attempt, is committed with it (the DONE record holds the
metadata), and comes with the task when a resume or the cache reuses it (its metadata is copied).
"""

from __future__ import annotations

import json
import time
from typing import Any

from flowstone.cards.collector import CardSpec

__all__ = ["CARDS_METADATA", "CardStore", "card_entries"]

#: The metadata entry of a task attempt that lists its cards (the blob keys it holds keep the blobs alive).
CARDS_METADATA = "cards"


class CardStore:
    """The cards of one running task attempt, as it stores them."""

    def __init__(self, ca_store: Any, task_datastore: Any) -> None:
        self._ca_store = ca_store
        self._datastore = task_datastore
        self._entries: dict[str, dict[str, Any]] = {}

    def _entry(self, card: CardSpec) -> dict[str, Any]:
        return self._entries.setdefault(card.uuid, {"uuid": card.uuid, "type": card.type, "id": card.id})

    def save_card(self, card: CardSpec, html: str, final: bool) -> None:
        blob = self._ca_store.put(html.encode("utf-8"), durable=final)
        entry = self._entry(card)
        entry.update(key=blob.key, created_on=time.time(), final=final)
        self._write()

    def save_data(self, card: CardSpec, update: dict[str, Any]) -> None:
        """A data update for the card shown while the task runs (``{"reload_token", "data", "created_on"}``)."""
        payload = json.dumps(update, default=str).encode("utf-8")
        blob = self._ca_store.put(payload, durable=False)
        self._entry(card)["data_key"] = blob.key
        self._write()

    def _write(self) -> None:
        entries = [dict(e) for e in self._entries.values() if "key" in e]  # a card is listed once it has HTML
        self._datastore.save_metadata({CARDS_METADATA: entries})


def card_entries(task_datastore: Any) -> list[dict[str, Any]]:
    """The cards a task attempt lists (each: uuid, type, id, key, created_on, final, data_key)."""
    entries = task_datastore.load_metadata([CARDS_METADATA]).get(CARDS_METADATA) or []
    return [e for e in entries if isinstance(e, dict) and e.get("key")]
