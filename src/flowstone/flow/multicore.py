"""``parallel_map`` and ``parallel_imap_unordered``: a function over items in forked processes, and ``profile``.

Each item runs in a child forked from the caller, so the function may be a lambda or a closure over anything in
memory (nothing is pickled but the results). At most ``max_parallel`` children run at once (default: the
number of CPUs). A child that raises makes the whole call raise, with the child's traceback.
"""

from __future__ import annotations

import os
import pickle
import selectors
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any, TypeVar

from flowstone.errors import FlowstoneException

__all__ = ["ParallelMapError", "parallel_imap_unordered", "parallel_map", "profile"]

T = TypeVar("T")
R = TypeVar("R")


class ParallelMapError(FlowstoneException):
    """The function failed on an item (in its child process)."""

    headline = "parallel_map failed"


def _spawn(func: Callable[[Any], Any], item: Any) -> tuple[int, int]:
    """Fork a child computing ``func(item)``; return its pid and the read end of the pipe of its result."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        try:
            payload = pickle.dumps((True, func(item)), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException:
            payload = pickle.dumps((False, traceback.format_exc()))
        with os.fdopen(write, "wb") as out:
            out.write(payload)
        os._exit(0)
    os.close(write)
    return pid, read


def _collect(pid: int, read: int) -> Any:
    """The child's result (its pipe fully read, the child reaped)."""
    with os.fdopen(read, "rb") as source:
        data = source.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        raise ParallelMapError(f"A parallel_map child process ended without a result (status {status}).")
    ok, value = pickle.loads(data)
    if not ok:
        raise ParallelMapError(f"The function failed in a parallel_map child process:\n{value}")
    return value


def parallel_imap_unordered(func: Callable[[T], R], iterable: Iterable[T], max_parallel: int | None = None,
                            dir: str | None = None) -> Iterator[R]:  # fmt: skip
    """Yield ``func(item)`` for each item, in the order the children finish. ``dir`` is accepted as Metaflow's
    function takes it (results travel over pipes here, not files)."""
    items = iter(iterable)
    limit = max_parallel or os.cpu_count() or 1
    selector = selectors.DefaultSelector()
    try:
        for item in islice(items, limit):
            pid, read = _spawn(func, item)
            selector.register(read, selectors.EVENT_READ, pid)
        while selector.get_map():
            key, _ = selector.select()[0]
            selector.unregister(key.fd)
            result = _collect(key.data, key.fd)  # reads to the end: the child has finished writing
            for item in islice(items, 1):
                pid, read = _spawn(func, item)
                selector.register(read, selectors.EVENT_READ, pid)
            yield result
    finally:
        for key in list(selector.get_map().values()):  # stopped early: do not leave children behind
            os.kill(key.data, 9)
            os.waitpid(key.data, 0)
            os.close(key.fd)
        selector.close()


def parallel_map(func: Callable[[T], R], iterable: Iterable[T], max_parallel: int | None = None,
                 dir: str | None = None) -> list[R]:  # fmt: skip
    """``[func(item) for item in iterable]``, computed in forked processes, in the items' order."""
    indexed = parallel_imap_unordered(lambda pair: (pair[0], func(pair[1])), enumerate(iterable), max_parallel)
    return [value for _, value in sorted(indexed, key=lambda pair: pair[0])]


@contextmanager
def profile(label: str, stats_dict: dict[str, int] | None = None) -> Iterator[None]:
    """Time a block: print when it starts and how many milliseconds it took, or add the milliseconds to
    ``stats_dict[label]`` (printing nothing)."""
    if stats_dict is None:
        print(f"PROFILE: {label} starting")
    start = time.time()
    yield
    took = int((time.time() - start) * 1000)
    if stats_dict is None:
        print(f"PROFILE: {label} completed in {took}ms")
    else:
        stats_dict[label] = stats_dict.get(label, 0) + took
