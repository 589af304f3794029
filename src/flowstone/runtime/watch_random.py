"""Unseeded random numbers a step drew: a step whose results depend on them gives other results on every run, so
it is not reused (unless ``@cache(random=True)`` says its randomness does not matter).

How it is seen: the state of Python's global generator (``random``), and of numpy's legacy global one
(``numpy.random``) if numpy is imported when the step starts, is kept when the step starts and compared when it
ends. The seeding functions (``random.seed``, ``numpy.random.seed``) are wrapped while the step runs: a changed
state is a draw from an unseeded generator unless the step seeded it first (a draw before the seeding counts).
``numpy.random.default_rng()`` is wrapped too: calling it without a seed counts as an unseeded draw. The wrappers
replace the module attributes and the names the project's modules imported from them (``from random import
seed``).

Not seen: generators made with ``random.Random()``, ``numpy.random.RandomState()`` or a bit generator without a
seed; numpy imported for the first time inside the step; ``os.urandom``, ``uuid.uuid4``, ``secrets``; random
numbers drawn by native code (a GPU library's own generator).
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flowstone import reads
from flowstone.reads.callers import is_step_code, made_by_step
from flowstone.runtime.watch_files import WATCHERS

__all__ = ["KIND", "find_imported_seeders", "numpy_state_reader", "watching_randomness"]

KIND = "random"


class _Generator:
    """One global generator: how to read its state, and whether the step seeded it."""

    def __init__(self, name: str, get_state: Callable[[], Any], same: Callable[[Any, Any], bool]) -> None:
        self.name, self.get_state, self.same = name, get_state, same
        self.start = get_state()
        self.seeded = False
        self.drew_unseeded = False

    def before_seeding(self) -> None:
        if not self.seeded and not self.same(self.start, self.get_state()):
            self.drew_unseeded = True
        self.seeded = True

    def finish(self) -> None:
        if self.drew_unseeded or (not self.seeded and not self.same(self.start, self.get_state())):
            reads.record(KIND, self.name, [self.name, f"drew from the global generator ({self.name}) without "
                                                      f"seeding it"])  # fmt: skip


_numpy_readers: dict[int, Callable[[], Any]] = {}


def numpy_state_reader() -> Callable[[], Any] | None:
    """How to read the state of numpy's legacy global generator (an MT19937), if numpy.random is imported: its 624
    words and position, read from its memory (a microsecond; its ``state`` property takes near 100). Found once
    per generator (the runner finds it before it forks the processes of the tasks)."""
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is None:
        return None
    bit_generator = numpy_random.mtrand._rand._bit_generator
    if id(bit_generator) not in _numpy_readers:
        if type(bit_generator).__name__ == "MT19937":
            import ctypes

            address = bit_generator.ctypes.state_address
            _numpy_readers[id(bit_generator)] = lambda: ctypes.string_at(address, 624 * 4 + 4)
        else:
            _numpy_readers[id(bit_generator)] = lambda: repr(bit_generator.state)
    return _numpy_readers[id(bit_generator)]


def _seeding(generator: _Generator, seed: Callable[..., Any]) -> Callable[..., Any]:
    def seeding(*args: Any, **kwargs: Any) -> Any:
        if made_by_step(through=WATCHERS):
            generator.before_seeding()
        return seed(*args, **kwargs)

    return seeding


def _default_rng(make: Callable[..., Any]) -> Callable[..., Any]:
    def default_rng(seed: Any = None) -> Any:
        if seed is None and made_by_step(through=WATCHERS):
            reads.record(KIND, "numpy.random.default_rng", ["numpy.random.default_rng", "made a generator with "
                                                            "numpy.random.default_rng() without a seed"])  # fmt: skip
        return make(seed)

    return default_rng


def _seeders() -> dict[int, str]:
    """The functions that seed (or make) a global generator, by id: what a step's code may have imported."""
    found = {id(random.seed): "random.seed"}
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        found.update({id(numpy_random.seed): "numpy.random.seed", id(numpy_random.default_rng): "default_rng"})
    return found


_imported: list[tuple[Any, str, str]] | None = None  # (module, name, seeder) found by find_imported_seeders


def find_imported_seeders() -> list[tuple[Any, str, str]]:
    """The names the project's modules gave the seeding functions (``from random import seed``), found once per
    process: the runner looks before it forks the processes of the tasks, which inherit what it found."""
    global _imported
    if _imported is None:
        seeders = _seeders()
        _imported = [(module, name, seeders[id(value)]) for module in list(sys.modules.values())
                     if is_step_code(getattr(module, "__file__", None) or "")
                     for name, value in list(vars(module).items()) if id(value) in seeders]  # fmt: skip
    return _imported


@contextmanager
def watching_randomness() -> Iterator[None]:
    """Record the unseeded draws made inside the block."""
    generators = [_Generator("random", random.getstate, lambda a, b: bool(a == b))]
    wrappers = {"random.seed": _seeding(generators[0], random.seed)}
    replaced: dict[tuple[Any, str], Any] = {(random, "seed"): wrappers["random.seed"]}
    numpy_random, numpy_state = sys.modules.get("numpy.random"), numpy_state_reader()
    if numpy_random is not None and numpy_state is not None:
        generators.append(_Generator("numpy.random", numpy_state, lambda a, b: bool(a == b)))
        wrappers["numpy.random.seed"] = _seeding(generators[1], numpy_random.seed)
        wrappers["default_rng"] = _default_rng(numpy_random.default_rng)
        replaced[(numpy_random, "seed")] = wrappers["numpy.random.seed"]
        replaced[(numpy_random, "default_rng")] = wrappers["default_rng"]
    for module, name, seeder in find_imported_seeders():
        if seeder in wrappers:
            replaced[(module, name)] = wrappers[seeder]
    saved = {target: getattr(*target) for target in replaced}
    for (module, name), wrapper in replaced.items():
        setattr(module, name, wrapper)
    try:
        yield
    finally:
        for (module, name), original in saved.items():
            setattr(module, name, original)
        for generator in generators:
            generator.finish()
