"""Who made a read inside a task: the step's own code (directly or through a library it called), or flowstone.

A read made while the step runs is the step's only if the step asked for it: flowstone loading an artifact,
listing a run for the Client API or reading its own settings is not. The stack says which: walking out from the
read, frames of the standard library and of installed packages are passed over, and the first other frame
decides. flowstone's means flowstone's read; any other code (the flow file, the project's modules, a notebook
cell) means the step's. A stack with neither (a thread a library started on its own) is not the step's either.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig

__all__ = ["FLOWSTONE_DIR", "LIBRARY_ROOTS", "is_step_code", "made_by_step"]

_LIBRARY, _FLOWSTONE, _STEP = 0, 1, 2

FLOWSTONE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
#: How flowstone's code files are named in its frames (as imported: relative if its sys.path entry was).
_FLOWSTONE_PREFIXES = (FLOWSTONE_DIR, os.path.dirname(os.path.dirname(__file__)) + os.sep)


def _library_roots() -> tuple[str, ...]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    roots.update(p for p in sysconfig.get_paths().values() if p)
    roots.update(getattr(site, "getsitepackages", list)())
    roots.add(site.getusersitepackages() or "")
    found = set()
    for root in filter(None, roots):
        found.update({os.path.abspath(root) + os.sep, os.path.realpath(root) + os.sep})
    return tuple(sorted(found))


LIBRARY_ROOTS = _library_roots()
_origins: dict[str, int] = {}


def _origin(filename: str) -> int:
    origin = _origins.get(filename)
    if origin is None:
        if filename.startswith(_FLOWSTONE_PREFIXES):
            origin = _FLOWSTONE
        elif filename.startswith(("<frozen ", "<__array_function__")) or filename.startswith(LIBRARY_ROOTS):
            origin = _LIBRARY
        else:
            parts = filename.split(os.sep)
            origin = _LIBRARY if "site-packages" in parts or "dist-packages" in parts else _STEP
        _origins[filename] = origin
    return origin


def is_step_code(filename: str) -> bool:
    """Whether code in ``filename`` is the user's (neither flowstone's nor a library's)."""
    return bool(filename) and _origin(filename) == _STEP


def made_by_step(depth: int = 0, through: str = "\0") -> bool:
    """Whether the read made ``depth`` frames above the caller (0: by the caller itself) is the step's. Frames of
    files whose path starts with ``through`` (the recording code's own files) are passed over too."""
    try:
        frame = sys._getframe(depth + 1)
    except ValueError:  # a shallower stack than asked for: no code of the step's on it
        return False
    while frame is not None:
        filename = frame.f_code.co_filename
        origin = _LIBRARY if filename.startswith(through) else _origin(filename)
        if origin != _LIBRARY:
            return origin == _STEP
        frame = frame.f_back  # type: ignore[assignment]
    return False
