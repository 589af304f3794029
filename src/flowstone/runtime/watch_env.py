"""Environment variables a step read: ``os.environ[...]``, ``os.environ.get``, ``os.getenv``, ``name in
os.environ``, also through ``from os import environ``.

While a step runs, the read path of ``os.environ``'s class is wrapped (all of these end in its ``__getitem__``).
A read is the step's when its code asked for it (``flowstone/reads/callers.py``); flowstone's own variables
(``FLOWSTONE_*``, ``METAFLOW_*``) and those the step set itself are not inputs. Copying the whole environment
(``dict(os.environ)``, ``{**os.environ}``, ``os.environ.copy()``, ``.items()``) reads every variable, for a
subprocess say: it is not recorded variable by variable. Such a copy lists the names first (or one by one) and
reads them in the order listed, so a read of the name listed next is passed over; any other read is recorded.

A value is kept as a hash; it is shown by ``why`` too, unless its name looks like a secret's.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flowstone import reads
from flowstone.datastore.hashing import hash_chunks
from flowstone.reads.callers import made_by_step
from flowstone.runtime.watch_files import WATCHERS

__all__ = ["KIND", "env_answer", "watching_environ"]

KIND = "env"
OWN_PREFIXES = ("FLOWSTONE_", "METAFLOW_")
_SECRET = re.compile(r"KEY|SECRET|TOKEN|PASSW|CREDENTIAL|AUTH|PRIVATE|SESSION|COOKIE|SIGNATURE", re.IGNORECASE)
_SHOWN_LENGTH = 200


def env_answer(name: str, value: str | None) -> list[Any]:
    """``[name, hash of the value (None: not set), the value as shown by why (None: hidden or not set)]``."""
    if value is None:
        return [name, None, None]
    shown = value if len(value) <= _SHOWN_LENGTH and not _SECRET.search(name) else None
    return [name, hash_chunks([value.encode("utf-8", "surrogateescape")])[:32], shown]


class _EnvironWatch:
    def __init__(self) -> None:
        self.written: set[str] = set()
        self.listed: deque[str] = deque()  # names iteration yielded and no read has taken yet: a copy's

    def on_read(self, key: Any, value: str | None) -> None:
        if self.listed:
            if self.listed[0] == key:
                self.listed.popleft()
                return
            self.listed.clear()
        if key in self.written or not isinstance(key, str):
            return
        if key.startswith(OWN_PREFIXES) or not made_by_step(through=WATCHERS):
            return
        reads.record(KIND, key, env_answer(key, value))


@contextmanager
def watching_environ() -> Iterator[None]:
    """Record the variables read inside the block."""
    environ_class = type(os.environ)
    saved = {name: environ_class.__dict__[name] for name in ("__getitem__", "__iter__", "__setitem__", "__delitem__")}
    watch = _EnvironWatch()
    patches = {
        "__getitem__": _wrap_getitem(saved["__getitem__"], watch),
        "__iter__": _wrap_iter(saved["__iter__"], watch),
        "__setitem__": _wrap_write(saved["__setitem__"], watch),
        "__delitem__": _wrap_write(saved["__delitem__"], watch),
    }
    for name, patch in patches.items():
        setattr(environ_class, name, patch)
    try:
        yield
    finally:
        for name, original in saved.items():
            setattr(environ_class, name, original)


def _wrap_getitem(original: Callable[..., str], watch: _EnvironWatch) -> Callable[..., str]:
    def __getitem__(self: Any, key: Any) -> str:
        try:
            value = original(self, key)
        except KeyError:
            _safely(watch.on_read, key, None)
            raise
        _safely(watch.on_read, key, value)
        return value

    return __getitem__


def _wrap_iter(original: Callable[..., Iterator[str]], watch: _EnvironWatch) -> Callable[..., Iterator[str]]:
    def __iter__(self: Any) -> Iterator[str]:
        for name in original(self):
            watch.listed.append(name)
            yield name

    return __iter__


def _wrap_write(original: Callable[..., None], watch: _EnvironWatch) -> Callable[..., None]:
    def write(self: Any, key: Any, *value: Any) -> None:
        original(self, key, *value)
        if isinstance(key, str) and made_by_step(through=WATCHERS):
            watch.written.add(key)

    return write


def _safely(note: Callable[..., None], *args: Any) -> None:
    """Note a read; an error in doing so must not become the step's (its read succeeded)."""
    try:
        note(*args)
    except Exception:
        pass
