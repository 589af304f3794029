"""The code package: the flow file and the project-local modules it imported, as one content-addressed tarball.

Only files under the flow file's folder count as project code; installed packages (site-packages, virtual
environments) are left out. The tarball is deterministic (sorted names, fixed times and owners), so unchanged
code gives the same key run after run.
"""

from __future__ import annotations

import io
import os
import sys
import sysconfig
import tarfile
from collections.abc import Iterable

from flowstone.datastore import ContentAddressedStore

__all__ = ["CODE_PACKAGE_ROOT", "collect_code_files", "save_code_package"]

CODE_PACKAGE_ROOT = "code"
_INSTALL_DIRS = {os.path.realpath(p) for p in sysconfig.get_paths().values() if p}


def _is_installed(path: str) -> bool:
    parts = path.split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts:
        return True
    return any(path.startswith(d + os.sep) for d in _INSTALL_DIRS)


def collect_code_files(flow_file: str, modules: Iterable[object] | None = None) -> dict[str, str]:
    """Archive name -> absolute path, for the flow file and the loaded modules that live beside it."""
    flow_file = os.path.realpath(flow_file)
    root = os.path.dirname(flow_file)
    files = {os.path.basename(flow_file): flow_file}
    for module in list(modules if modules is not None else sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not path or not path.endswith(".py"):
            continue
        path = os.path.realpath(path)
        if path.startswith(root + os.sep) and not _is_installed(path) and os.path.isfile(path):
            files[os.path.relpath(path, root)] = path
    return files


def build_tarball(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            with open(files[name], "rb") as f:
                data = f.read()
            info = tarfile.TarInfo(f"{CODE_PACKAGE_ROOT}/{name}")
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def save_code_package(ca_store: ContentAddressedStore, flow_file: str) -> tuple[str, list[str]]:
    """Store the code package; return its key and the archived file names."""
    files = collect_code_files(flow_file)
    blob = ca_store.put(build_tarball(files))
    return blob.key, sorted(files)
