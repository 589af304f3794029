"""A private event loop on a daemon thread, so synchronous code can run batches of S3 requests (uvloop's where
it is installed, else asyncio's; FLOWSTONE_S3_EVENT_LOOP chooses).

Running on its own thread, it works the same whether or not the caller is inside another running loop (Jupyter,
an async application). One loop serves the whole process. A child forked after the loop started cannot use it
(nor obstore, whose runtime does not survive fork) and gets a clear error instead of a hang.

At exit the loop is stopped cleanly (its remaining tasks cancelled and finished, the thread joined), and the GIL
left free for a moment, before the interpreter finalizes. An obstore I/O thread hands each result to the loop with
``call_soon_threadsafe``, whose wake-up write releases the GIL: if the loop (and then the main thread) moved on
meanwhile, that thread took the GIL back inside a finalizing interpreter, which ends such a thread with
``pthread_exit``, and unwinding its Rust frames aborted the process (SIGABRT at exit, about one run in ten).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from flowstone.s3.errors import S3Exception
from flowstone.settings import current_settings

__all__ = ["run"]

T = TypeVar("T")

_lock = threading.Lock()
_state: dict[str, Any] = {"loop": None, "pid": None, "thread": None}
#: How long the exit waits for the loop's last tasks to wind down.
_EXIT_WAIT = 5.0
#: How long the exit leaves the GIL free at the end, for obstore's I/O threads still returning from the loop.
_SETTLE = 0.05


def _loop() -> asyncio.AbstractEventLoop:
    with _lock:
        loop: asyncio.AbstractEventLoop | None = _state["loop"]
        if loop is not None and _state["pid"] != os.getpid():
            # obstore's I/O runtime does not survive fork: its requests would hang forever in this child.
            raise S3Exception(
                "This process was forked from one that had already used the S3 client, and the S3 client cannot "
                "work in such a child. Use S3 in the child only, or start it with multiprocessing's 'spawn' or "
                "'forkserver' method."
            )
        if loop is None:
            loop = _new_loop()
            thread = threading.Thread(target=loop.run_forever, name="flowstone-s3-loop", daemon=True)
            thread.start()
            _state.update(loop=loop, pid=os.getpid(), thread=thread)
            atexit.register(_stop)
        return loop


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop where it is installed, else asyncio's (FLOWSTONE_S3_EVENT_LOOP chooses). Every request's
    result comes back from obstore's I/O threads through the loop, and with uvloop's a small request costs the
    client about a fifth less CPU (docs/s3.md)."""
    choice = current_settings().s3_event_loop
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError as exc:
            if choice == "uvloop":
                raise S3Exception(f"FLOWSTONE_S3_EVENT_LOOP=uvloop needs the 'uvloop' package ({exc}). Install it "
                                  f"with: pip install 'flowstone[s3]', or set FLOWSTONE_S3_EVENT_LOOP=auto.") from None
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


async def _cancel_all() -> None:
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _stop() -> None:
    """Cancel what still runs on the loop, stop it and join its thread (at exit, in the process that started it)."""
    with _lock:
        loop, thread = _state["loop"], _state["thread"]
        if loop is None or _state["pid"] != os.getpid():
            return
        _state.update(loop=None, pid=None, thread=None)
    with contextlib.suppress(Exception):
        asyncio.run_coroutine_threadsafe(_cancel_all(), loop).result(_EXIT_WAIT)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(_EXIT_WAIT)
    if not thread.is_alive():
        loop.close()
    time.sleep(_SETTLE)  # the GIL free a moment: an I/O thread that woke the loop last finishes with Python


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the S3 loop and return its result (blocking the calling thread until it is done)."""
    try:
        loop = _loop()
    except BaseException:
        coro.close()
        raise
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coro.close()
        raise S3Exception("A synchronous S3 call was made from the S3 event loop itself; await the async method.")
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return future.result()
    except BaseException:
        future.cancel()  # e.g. KeyboardInterrupt: stop the batch instead of letting it run on unobserved
        raise
