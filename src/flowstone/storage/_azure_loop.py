"""One asyncio event loop per process, on a daemon thread, for the Azure backend's async client.

Synchronous callers hand it coroutines and wait for their results; it works the same whether or not the caller
is inside another running loop (Jupyter, an async application). The loop starts on first use, so nothing runs
in a process that has not touched Azure (the fork server that tasks are forked from, say). A process forked after
the loop started has no loop thread (threads do not survive fork): it starts its own on first use.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import threading
import weakref
from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

from flowstone.errors import StorageError

__all__ = ["close_at_exit", "close_when_dropped", "run", "submit"]

T = TypeVar("T")


class _Closable(Protocol):
    def close(self) -> None: ...


class _AsyncClosable(Protocol):
    async def close(self) -> None: ...


_lock = threading.Lock()
_state: dict[str, Any] = {"pid": None, "loop": None}
_to_close: weakref.WeakSet[Any] = weakref.WeakSet()
_closing: set[concurrent.futures.Future[None]] = set()  # closes started by close_when_dropped, not done yet


def _loop() -> asyncio.AbstractEventLoop:
    with _lock:
        if _state["pid"] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="flowstone-azure-loop", daemon=True).start()
            _state.update(pid=os.getpid(), loop=loop)
            atexit.register(_close_all, os.getpid())
        found: asyncio.AbstractEventLoop = _state["loop"]
        return found


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Start ``coro`` on this process's loop."""
    return asyncio.run_coroutine_threadsafe(coro, _loop())


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on this process's loop and return its result, blocking the calling thread until it is done."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is not None and running is _state["loop"]:
        coro.close()
        raise StorageError("A synchronous Azure storage call was made from its own event loop.")
    future = submit(coro)
    try:
        return future.result()
    except BaseException:
        future.cancel()  # e.g. KeyboardInterrupt: stop the batch instead of letting it run on unobserved
        raise


def close_at_exit(obj: _Closable) -> None:
    """Call ``obj.close()`` when this process exits normally (unless it is garbage-collected first)."""
    _to_close.add(obj)


def close_when_dropped(owner: object, resource: _AsyncClosable) -> weakref.finalize[Any, Any]:
    """Close ``resource`` on the loop once ``owner`` is garbage-collected in this process (its connections would
    otherwise stay open until exit, and the SDK warns about them). Detach the result when closing it yourself."""
    finalizer = weakref.finalize(owner, _close_soon, resource, os.getpid())
    finalizer.atexit = False  # at exit, close_at_exit closes it and waits for that
    return finalizer


def _close_soon(resource: _AsyncClosable, pid: int) -> None:
    """Start closing ``resource`` without waiting (a finalizer may run on the loop's own thread)."""
    if pid == os.getpid():  # not a forked child's copy: its connections are its parent's
        future = submit(resource.close())
        _closing.add(future)
        future.add_done_callback(_closing.discard)


def _close_all(pid: int) -> None:
    if pid == os.getpid():  # a forked child that exits normally runs its parent's handlers too
        for obj in list(_to_close):
            obj.close()
        concurrent.futures.wait(list(_closing), timeout=5)  # best effort: connections die with the process
