"""Ctrl-C in the runner, taken only where it cannot cut the runner's bookkeeping in half.

Inside :func:`deferred` (the runner's scheduling loop), SIGINT is noted instead of raised wherever it lands; it
raises ``KeyboardInterrupt`` at once only inside :func:`interruptible` blocks (a blocking wait that holds no
half-made change: a ``select``, a sleep), or on entering the next one. A task handed to the executor is then always
recorded as running, so stopping the run kills it and records its end. Outside :func:`deferred`, or off the main
thread, Ctrl-C behaves as Python's default.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["deferred", "interruptible", "raise_if_pending"]


class _State:
    installed = False
    pending = False  # a Ctrl-C noted and not raised yet
    waiting = False  # inside an interruptible block


_state = _State()


def _on_sigint(signum: int, frame: Any) -> None:
    if _state.waiting:
        _state.waiting = False
        raise KeyboardInterrupt
    _state.pending = True


@contextmanager
def deferred() -> Iterator[None]:
    """Defer Ctrl-C in the block to its ``interruptible`` parts (a no-op off the main thread or when nested)."""
    if _state.installed or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _on_sigint)
    _state.installed, _state.pending, _state.waiting = True, False, False
    try:
        yield
    finally:  # a Ctrl-C noted after the last wait came too late to stop anything: the block has done its work
        signal.signal(signal.SIGINT, previous)
        _state.installed = _state.pending = _state.waiting = False


def raise_if_pending() -> None:
    """A point where Ctrl-C may stop the work: raise ``KeyboardInterrupt`` if one has been noted."""
    if _state.pending:
        _state.pending = False
        raise KeyboardInterrupt


@contextmanager
def interruptible() -> Iterator[None]:
    """A blocking call that Ctrl-C may break off: it raises ``KeyboardInterrupt`` here, now if one is pending."""
    _state.waiting = True  # before the check: a Ctrl-C landing in between raises from the handler
    try:
        raise_if_pending()
        yield
    finally:
        _state.waiting = False
