"""Configuration: one frozen :class:`Settings`, built once from the environment and passed down.

Nothing else in flowstone reads configuration from the environment; code that needs a setting takes a
``Settings`` argument.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

from flowstone.errors import FlowstoneException

__all__ = ["LOCAL_ROOT_DIRNAME", "Settings", "find_local_root"]

LOCAL_ROOT_DIRNAME = ".flowstone"
ENV_PREFIX = "FLOWSTONE_"
DATASTORE_TYPES = ("local", "s3", "azure", "memory")


def _env_bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


def find_local_root(start: str | os.PathLike[str] | None = None) -> str:
    """Return the nearest ``.flowstone`` folder at or above ``start``; if none, one in ``start``.

    The folder is not created here; the local storage creates it on first write.
    """
    first = os.path.realpath(start if start is not None else os.getcwd())
    folder = first
    while True:
        candidate = os.path.join(folder, LOCAL_ROOT_DIRNAME)
        if os.path.isdir(candidate):
            return candidate
        parent = os.path.dirname(folder)
        if parent == folder:
            return os.path.join(first, LOCAL_ROOT_DIRNAME)
        folder = parent


@dataclass(frozen=True)
class Settings:
    """Every setting flowstone reads, in one immutable object."""

    default_datastore: str = "local"
    datastore_sysroot_local: str | None = None
    datastore_sysroot_s3: str | None = None
    datastore_sysroot_azure: str | None = None
    # fsync blobs and records before they become visible, so a machine crash cannot leave a DONE task
    # whose data was still only in the page cache.
    fsync: bool = True
    # Serialized artifacts up to this many bytes are kept inside the task's record, not as separate blobs.
    inline_max_bytes: int = 1024
    # A blob is compressed when a sample of it compresses to at most this fraction of its size.
    compress_ratio_threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.default_datastore not in DATASTORE_TYPES:
            raise FlowstoneException(
                f"Unknown datastore type '{self.default_datastore}'. "
                f"Set FLOWSTONE_DEFAULT_DATASTORE to one of: {', '.join(DATASTORE_TYPES)}."
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``FLOWSTONE_*`` variables; keyword overrides (e.g. from the CLI) win."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + field.name.upper())
            if raw is None or raw == "":
                continue
            default = field.default
            if isinstance(default, bool):
                values[field.name] = _env_bool(raw, default)
            elif isinstance(default, int):
                values[field.name] = int(raw)
            elif isinstance(default, float):
                values[field.name] = float(raw)
            else:
                values[field.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def replace(self, **changes: object) -> Settings:
        """Return a copy with ``changes`` applied (None values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]

    def datastore_root(self, ds_type: str | None = None) -> str:
        """The root of the datastore of ``ds_type`` (default: ``default_datastore``)."""
        ds_type = ds_type or self.default_datastore
        if ds_type == "local":
            return self.datastore_sysroot_local or find_local_root()
        if ds_type == "memory":
            return "memory://"
        root = getattr(self, f"datastore_sysroot_{ds_type}", None)
        if not root:
            raise FlowstoneException(
                f"No root is configured for the '{ds_type}' datastore. "
                f"Set FLOWSTONE_DATASTORE_SYSROOT_{ds_type.upper()} (or pass --datastore-root)."
            )
        return str(root)
