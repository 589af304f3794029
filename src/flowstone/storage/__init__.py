"""Storage backends: bytes by key. Optional backends are imported only when asked for."""

from __future__ import annotations

import importlib
from typing import Any

from flowstone.errors import FlowstoneException
from flowstone.settings import Settings
from flowstone.storage.base import ListEntry, ObjectInfo, Payload, Storage

__all__ = ["ListEntry", "ObjectInfo", "Payload", "Storage", "make_storage", "storage_class"]

# type -> (module, class, pip extra that provides its dependencies)
_BACKENDS: dict[str, tuple[str, str, str | None]] = {
    "local": ("flowstone.storage.local", "LocalStorage", None),
    "memory": ("flowstone.storage.memory", "MemoryStorage", None),
    "s3": ("flowstone.storage.s3", "S3Storage", "s3"),
    "azure": ("flowstone.storage.azure", "AzureStorage", "azure"),
}


def storage_class(ds_type: str) -> type[Storage]:
    """The backend class of ``ds_type``, imported now (it opens no connection and starts no thread)."""
    if ds_type not in _BACKENDS:
        raise FlowstoneException(f"Unknown datastore type '{ds_type}'; choose one of: {', '.join(sorted(_BACKENDS))}.")
    module_name, class_name, extra = _BACKENDS[ds_type]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f" Install it with: pip install 'flowstone[{extra}]'." if extra else ""
        raise FlowstoneException(f"The '{ds_type}' datastore is not available ({exc}).{hint}") from exc
    return getattr(module, class_name)


def make_storage(ds_type: str, settings: Settings, root: str | None = None) -> Storage:
    """Instantiate the storage backend ``ds_type`` rooted at ``root`` (default: from settings)."""
    cls: Any = storage_class(ds_type)
    root = root or settings.datastore_root(ds_type)
    if ds_type == "local":
        return cls(root, fsync=settings.fsync)
    if ds_type == "memory":
        return cls(root)
    return cls(root, settings=settings)
