"""Watching a step for what it reads from outside its artifacts and parameters (``flowstone.reads``): local
files and network connections (``watch_files``), environment variables (``watch_env``), unseeded random draws
(``watch_random``); the S3 client and the Client API record their own reads into the same log."""

from __future__ import annotations

import inspect
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from flowstone import reads
from flowstone.reads.callers import FLOWSTONE_DIR, LIBRARY_ROOTS
from flowstone.runtime.watch_env import watching_environ
from flowstone.runtime.watch_files import FileWatch, watch_files
from flowstone.runtime.watch_random import find_imported_seeders, numpy_state_reader, watching_randomness
from flowstone.settings import Settings

__all__ = ["prepare_watching", "project_root", "watching_reads"]


def project_root(flow_cls: type) -> str:
    """The flow file's folder: the project whose Python sources are the code package."""
    flow_file = getattr(sys.modules.get(flow_cls.__module__), "__file__", None) or inspect.getsourcefile(flow_cls)
    return os.path.dirname(os.path.abspath(flow_file or os.getcwd()))


def _excluded(settings: Settings) -> tuple[str, ...]:
    """Where files read are not inputs: the Python installation and packages, flowstone, the datastore's folder,
    flowstone's scratch folders (``current.tempdir``, the S3 client's downloads: ``flowstone*`` in the temporary
    folder)."""
    prefixes = [*LIBRARY_ROOTS, FLOWSTONE_DIR, os.path.join(tempfile.gettempdir(), "flowstone")]
    if settings.default_datastore == "local":  # paths are compared as opened: made absolute, links not resolved
        prefixes.append(os.path.abspath(settings.datastore_root("local")) + os.sep)
    return tuple(prefixes)


@contextmanager
def watching_reads(flow_cls: type, settings: Settings) -> Iterator[reads.ReadLog]:
    """Record what the block reads (the step of a task of ``flow_cls``, in a run with ``settings``)."""
    with _watching(project_root(flow_cls), _excluded(settings)) as log:
        yield log


@contextmanager
def _watching(root: str, excluded: tuple[str, ...]) -> Iterator[reads.ReadLog]:
    files = FileWatch(excluded, root)
    with reads.recording() as log:
        watch_files(files)
        try:
            with watching_environ(), watching_randomness():
                yield log
        finally:
            watch_files(None)
            for answer in files.file_answers():
                log.add("files", answer[0], answer)
            for address in files.connected:
                log.add("network", address, [address])


def prepare_watching() -> None:
    """Get this process ready to watch the tasks forked from it, once rather than in every task: numpy 2 imports
    ``numpy.random`` only when it is first used (10-30 ms), and a step that used it first could not be watched for
    unseeded draws, so it is imported now if the flow imported numpy; the names the project's modules gave the
    seeding functions are found now, and where numpy keeps its global generator's state. The audit hook is
    installed here (it does nothing while no step is watched)."""
    if "numpy" in sys.modules and "numpy.random" not in sys.modules:
        import numpy.random  # noqa: F401
    find_imported_seeders()
    numpy_state_reader()
    with _watching(os.getcwd(), _excluded(Settings())):  # the audit hook installed and this code run once, here:
        pass  # a forked task would pay for both (copying the pages a first run writes to), each time
