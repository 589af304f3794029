"""What a task read from outside its artifacts and parameters, so that a later run can tell whether reading it
again would give the same answer (the step cache reuses a task only then).

Every layer records into one log, each kind of read under its own name (:data:`KINDS`): the S3 client the
objects it read (``s3``), the Client API the runs and tasks it resolved and the artifacts it loaded
(``client``), the runtime the step's local files, environment variables, network connections and unseeded
random draws (``files``, ``env``, ``network``, ``random``). A read is a key (what was asked) and an answer (what
came back), both plain JSON values. The runtime wraps a step in :func:`recording` and stores the log with the
task; outside a recording block nothing is recorded.

At lookup, the layer that knows a kind of read checks it: it registers a :data:`Check` with
:func:`register_kind` (the client's check, for one, needs the Client API, which the runtime may not import).
This module imports nothing of flowstone's, so that every layer may import it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NamedTuple

__all__ = [
    "KINDS",
    "Check",
    "CheckContext",
    "KindHandler",
    "ReadLog",
    "handler_for",
    "is_recording",
    "paused",
    "record",
    "recording",
    "register_kind",
    "stored_reads",
]

#: Every kind of read, in the order a lookup checks them (the cheap ones first).
KINDS = ("random", "network", "env", "files", "client", "s3")

#: Decides which of two answers to the same key is kept: the first one, unless told otherwise.
Merge = Callable[[Any, Any], Any]


class ReadLog:
    """The reads of one task: kind -> key -> answer."""

    def __init__(self) -> None:
        self.kinds: dict[str, dict[Any, Any]] = {}

    def add(self, kind: str, key: Any, answer: Any, merge: Merge | None = None) -> None:
        reads = self.kinds.setdefault(kind, {})
        if key not in reads:
            reads[key] = answer
        elif merge is not None:
            reads[key] = merge(reads[key], answer)

    def answers(self, kind: str) -> list[Any]:
        return list(self.kinds.get(kind, {}).values())

    def to_json(self) -> dict[str, list[Any]]:
        """What is stored with the task: kind -> answers (each answer names its key too)."""
        return {kind: list(reads.values()) for kind, reads in self.kinds.items() if reads}


_active: list[ReadLog] = []
_local = threading.local()  # .paused: how many paused() blocks this thread is in


def record(kind: str, key: Any, answer: Any, merge: Merge | None = None) -> None:
    """Note that ``key`` was read and gave ``answer`` (nothing happens outside :func:`recording`)."""
    if _active and not getattr(_local, "paused", 0):
        _active[-1].add(kind, key, answer, merge)


def is_recording() -> bool:
    return bool(_active) and not getattr(_local, "paused", 0)


@contextmanager
def recording() -> Iterator[ReadLog]:
    """Collect the reads made inside the block."""
    log = ReadLog()
    _active.append(log)
    try:
        yield log
    finally:
        _active.remove(log)


@contextmanager
def paused() -> Iterator[None]:
    """Record nothing in this thread inside the block: the reads that answer a query already recorded as a whole
    (the runs listed to find the latest successful one) are not inputs of their own."""
    _local.paused = getattr(_local, "paused", 0) + 1
    try:
        yield
    finally:
        _local.paused -= 1


class CheckContext(NamedTuple):
    """What a check needs to read things again as the task would: the run's settings, the environment the step
    would see, and the folder relative paths start from (the flow file's)."""

    settings: Any
    environ: Mapping[str, str]
    root: str


#: A check: (the answers of one kind, as stored; the context) -> None if each read would give the same answer
#: today, else a sentence saying what changed ("the file /data/x.csv changed").
Check = Callable[[list[Any], CheckContext], "str | None"]


class KindHandler(NamedTuple):
    """How the layer that records a kind of read checks it again, and names one read (for ``why``)."""

    check: Check
    describe: Callable[[Any], str]


_handlers: dict[str, KindHandler] = {}


def register_kind(kind: str, check: Check, describe: Callable[[Any], str]) -> None:
    """Say how reads of ``kind`` are checked and described (called by the layer that records them, on import)."""
    _handlers[kind] = KindHandler(check, describe)


def handler_for(kind: str) -> KindHandler | None:
    return _handlers.get(kind)


def stored_reads(value: Any) -> dict[str, list[Any]]:
    """The reads stored with a task, by kind (tasks stored before reads had kinds kept a list of S3 reads)."""
    if not value:
        return {}
    if isinstance(value, list):
        return {"s3": value}
    return {kind: list(answers) for kind, answers in dict(value).items() if answers}
