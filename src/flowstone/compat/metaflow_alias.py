"""An import hook that serves ``import metaflow`` (and ``metaflow.X``) from flowstone, so a file written for
Metaflow runs unmodified under ``flowstone exec``.

``metaflow`` is the ``flowstone`` package itself and ``metaflow.X`` is ``flowstone.X`` (the same module object
under both names: no module is loaded twice, and ``isinstance`` checks hold), except where Metaflow keeps a name
elsewhere than flowstone does (:data:`RENAMED`). The hook is installed only in the process that asks for it
(and the task processes forked from it): an installed Metaflow is untouched elsewhere.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType

from flowstone.executors.spawned import METAFLOW_IMPORTS

__all__ = ["RENAMED", "install", "installed"]

ALIAS = "metaflow"
TARGET = "flowstone"

#: Metaflow module paths whose flowstone module has another path (anything else: metaflow.X -> flowstone.X).
RENAMED = {
    "metaflow.plugins.datatools.s3": "flowstone.s3",
    "metaflow.plugins.datatools.s3.s3": "flowstone.s3",
    "metaflow.plugins.datatools": "flowstone.s3",
    "metaflow.datatools": "flowstone.s3",
    "metaflow.client.core": "flowstone.client",
    "metaflow.runner.metaflow_runner": "flowstone.client.runner",
    "metaflow.plugins.timeout_decorator": "flowstone.exception",
}


def _target(fullname: str) -> str:
    if fullname in RENAMED:
        return RENAMED[fullname]
    return TARGET + fullname[len(ALIAS) :]


class _Loader(importlib.abc.Loader):
    """Binds the alias name to flowstone's module (the import system returns what ``sys.modules`` holds after
    ``exec_module``), leaving the real module's own name and spec as they are."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # a placeholder, replaced in exec_module

    def exec_module(self, module: ModuleType) -> None:
        sys.modules[module.__name__] = importlib.import_module(self.target)


class MetaflowFinder(importlib.abc.MetaPathFinder):
    """Finds ``metaflow`` and ``metaflow.*`` in flowstone."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != ALIAS and not fullname.startswith(ALIAS + "."):
            return None
        real = _target(fullname)
        try:
            found = importlib.util.find_spec(real)
        except (ImportError, ValueError):
            found = None
        if found is None:
            raise ModuleNotFoundError(
                f"No module named '{fullname}': flowstone has no counterpart of Metaflow's '{fullname}'.",
                name=fullname,
            )
        is_package = found.submodule_search_locations is not None
        return importlib.util.spec_from_loader(fullname, _Loader(real), is_package=is_package)


def installed() -> bool:
    return any(isinstance(finder, MetaflowFinder) for finder in sys.meta_path)


def install() -> None:
    """Serve ``metaflow`` imports from flowstone in this process (and the processes forked from it)."""
    if installed():
        return
    for name in [n for n in sys.modules if n == ALIAS or n.startswith(ALIAS + ".")]:
        del sys.modules[name]  # a Metaflow imported before: later imports get flowstone
    sys.meta_path.insert(0, MetaflowFinder())
    os.environ[METAFLOW_IMPORTS] = "1"  # fork servers spawned for this run (Ray nodes, environments) install it too
