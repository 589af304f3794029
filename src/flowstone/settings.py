"""Configuration: one frozen :class:`Settings`, built once from the environment and passed down.

Nothing else in flowstone reads configuration from the environment; code that needs a setting takes a
``Settings`` argument. The entry points a user calls without one (the Client API, the ``S3`` client) ask
:func:`current_settings`: inside a task, the settings of the task's run (set by the runtime with
:func:`use_settings`); elsewhere, the environment's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NamedTuple

from flowstone._config_sources import metaflow_value
from flowstone.errors import ConfigurationError

__all__ = [
    "LOCAL_ROOT_DIRNAME",
    "Settings",
    "current_settings",
    "datastore_type_of_root",
    "find_local_root",
    "resolve_username",
    "use_settings",
]

LOCAL_ROOT_DIRNAME = ".flowstone"
ENV_PREFIX = "FLOWSTONE_"
DATASTORE_TYPES = ("local", "s3", "azure", "memory")
EXECUTOR_TYPES = ("local", "ray")
#: The event loops the S3 client can run its requests on ("auto": uvloop where it is installed, else asyncio's).
S3_EVENT_LOOPS = ("auto", "uvloop", "asyncio")
#: The datastores a command line can name (memory lives and dies with one process).
SHARED_DATASTORE_TYPES = ("local", "s3", "azure")


def _metaflow_local_root(value: str) -> str:
    """Metaflow's local root is the folder that holds the datastore's own folder."""
    return os.path.join(value, LOCAL_ROOT_DIRNAME)


#: The settings Metaflow has too: flowstone's name -> (Metaflow's variable, how its value becomes flowstone's).
METAFLOW_TWINS: dict[str, tuple[str, Callable[[str], str]]] = {
    "default_datastore": ("METAFLOW_DEFAULT_DATASTORE", str),
    "datastore_sysroot_local": ("METAFLOW_DATASTORE_SYSROOT_LOCAL", _metaflow_local_root),
    "datastore_sysroot_s3": ("METAFLOW_DATASTORE_SYSROOT_S3", str),
    "datastore_sysroot_azure": ("METAFLOW_DATASTORE_SYSROOT_AZURE", str),
    "s3_endpoint_url": ("METAFLOW_S3_ENDPOINT_URL", str),
    "datatools_s3root": ("METAFLOW_DATATOOLS_S3ROOT", str),
    "s3_server_side_encryption": ("METAFLOW_S3_SERVER_SIDE_ENCRYPTION", str),
    "azure_storage_blob_service_endpoint": ("METAFLOW_AZURE_STORAGE_BLOB_SERVICE_ENDPOINT", str),
}


def _parse(variable: str, raw: str, default: object) -> object:
    """The value of ``variable`` as the type of the setting's default."""
    try:
        if isinstance(default, bool):
            return _env_bool(raw, default)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        kind = "a number" if isinstance(default, (int, float)) else "true or false"
        raise ConfigurationError(f"{variable}={raw!r} is not valid: it must be {kind}.") from None
    return raw


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


#: Where the user's name is looked for, in order (as Metaflow looks, with flowstone's own variable first).
USER_VARIABLES = ("FLOWSTONE_USER", "METAFLOW_USER", "SUDO_USER", "USERNAME", "USER")


def resolve_username(environ: Mapping[str, str] | None = None) -> str | None:
    """The name runs are attributed to, from the first of :data:`USER_VARIABLES` that is set; ``root`` does not
    count (it names no one). None if no variable names a user."""
    env = os.environ if environ is None else environ
    for name in USER_VARIABLES:
        user = metaflow_value(name, env) if name == "METAFLOW_USER" else env.get(name)
        if user and user != "root":
            return user
    return None


def datastore_type_of_root(root: str | None) -> str | None:
    """The datastore type a root names by its scheme (``s3://...`` is S3), or None for a plain path."""
    if root:
        for scheme, ds_type in (("s3://", "s3"), ("azure://", "azure")):
            if root.startswith(scheme):
                return ds_type
    return None


class _SettingsFields(NamedTuple):
    """The fields of Settings with their defaults (a NamedTuple: immutable and cheap to import)."""

    default_datastore: str = "local"
    datastore_sysroot_local: str | None = None
    datastore_sysroot_s3: str | None = None
    datastore_sysroot_azure: str | None = None
    # S3 endpoint (a local or S3-compatible server); unset means AWS, from the standard AWS configuration
    s3_endpoint_url: str | None = None
    # Where S3(run=...) keeps a run's objects; default: <datastore_sysroot_s3>/userdata
    datatools_s3root: str | None = None
    # For testing robustness: this fraction of S3 requests fails with a transient error (and is retried)
    s3_inject_failures: float = 0.0
    # How the S3 client and the S3 datastore reach S3 and how long they wait (docs/s3.md explains each)
    s3_max_concurrency: int = 64
    s3_retry_attempts: int = 6
    s3_retry_base_delay: float = 0.1
    s3_retry_max_delay: float = 10.0
    s3_connect_timeout: float = 10.0
    s3_read_timeout: float = 20.0
    s3_request_timeout: float = 120.0
    s3_deadline: float = 60.0
    s3_progress_after: float = 10.0
    s3_part_size_mb: int = 8
    s3_download_part_size_mb: int = 16
    s3_part_concurrency: int = 4
    s3_parts_in_flight: int = 16
    s3_virtual_hosted_style: bool = False
    # Server-side encryption for uploads ('AES256', 'aws:kms'); unset: the bucket's default
    s3_server_side_encryption: str | None = None
    # The event loop of the S3 client's requests: auto (uvloop where installed), uvloop or asyncio
    s3_event_loop: str = "auto"
    # Azure Blob Storage account URL (https://<account>.blob.core.windows.net, or an emulator's); unset: taken from
    # the connection string or AZURE_STORAGE_ACCOUNT. Credentials come from the standard Azure variables, never here.
    azure_storage_blob_service_endpoint: str | None = None
    # For testing robustness: this fraction of Azure requests fails its first attempt (and is retried)
    azure_inject_failures: float = 0.0
    # fsync blobs and records before they become visible, so a machine crash cannot leave a DONE task
    # whose data was still only in the page cache.
    fsync: bool = True
    # Serialized artifacts up to this many bytes are kept inside the task's record, not as separate blobs.
    inline_max_bytes: int = 1024
    # A blob is compressed when a sample of it compresses to at most this fraction of its size.
    compress_ratio_threshold: float = 0.5
    # A writer that finds a blob stored longer ago than this, and will refer to it, claims it first, so that a
    # concurrent `flowstone gc` cannot delete it (gc's --grace must exceed this by 20 minutes; docs/datastore.md).
    blob_claim_after_seconds: float = 600.0
    # Where tasks run: 'local' (processes on this machine) or 'ray' (a Ray cluster; the same as --with ray)
    executor: str = "local"
    # The Ray cluster to run on (its head's host:port); unset: Ray's own lookup (RAY_ADDRESS, else a local Ray)
    ray_address: str | None = None
    # Show the full chain of an error (tracebacks, the storage library's own report), not just what failed and why
    debug: bool = False
    # Where per-step environments (@pypi, @conda) are built and kept; default: ~/.cache/flowstone/environments
    environments_dir: str | None = None
    # Which kinds of reads decide whether a step's earlier results are reused: all, none, or some of
    # s3,client,files,env,network,random (see docs/caching.md)
    cache_reads: str = "all"
    # Environment variables that are not inputs of any step (names separated by commas, * patterns allowed)
    cache_ignore_env: str = ""


#: The settings that take one of a few values: (name, what it is, the variables that set it, the values).
_CHOICES = (
    ("default_datastore", "datastore type", "FLOWSTONE_DEFAULT_DATASTORE (or METAFLOW_DEFAULT_DATASTORE)",
     DATASTORE_TYPES),
    ("executor", "executor", "FLOWSTONE_EXECUTOR", EXECUTOR_TYPES),
    ("s3_event_loop", "S3 event loop", "FLOWSTONE_S3_EVENT_LOOP", S3_EVENT_LOOPS),
)


class Settings(_SettingsFields):
    """Every setting flowstone reads, in one immutable object."""

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Settings:
        self = super().__new__(cls, *args, **kwargs)
        for name, what, variables, choices in _CHOICES:
            value = getattr(self, name)
            if value not in choices:
                raise ConfigurationError(f"Unknown {what} '{value}'. Set {variables} to one of: {', '.join(choices)}.")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from the environment: each setting from its ``FLOWSTONE_*`` variable, else from
        Metaflow's configuration (its ``METAFLOW_*`` variable, then its profile file), else its default.
        Keyword overrides (e.g. from the command line) win over all of them."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name, default in cls._field_defaults.items():
            variable = ENV_PREFIX + name.upper()
            raw = env.get(variable) or None
            if raw is None and name in METAFLOW_TWINS:
                variable, convert = METAFLOW_TWINS[name]
                found = metaflow_value(variable, env)
                raw = convert(found) if found is not None else None
            if raw is not None:
                values[name] = _parse(variable, raw, default)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes: object) -> Settings:
        """Return a copy with ``changes`` applied (None values are ignored)."""
        return Settings(**{**self._asdict(), **{k: v for k, v in changes.items() if v is not None}})

    def s3_userdata_root(self) -> str | None:
        """The root under which ``S3(run=...)`` places each run's objects, if one is configured."""
        if self.datatools_s3root:
            return self.datatools_s3root.rstrip("/")
        if self.datastore_sysroot_s3:
            return self.datastore_sysroot_s3.rstrip("/") + "/userdata"
        return None

    def datastore_root(self, ds_type: str | None = None) -> str:
        """The root of the datastore of ``ds_type`` (default: ``default_datastore``)."""
        ds_type = ds_type or self.default_datastore
        if ds_type == "local":
            return self.datastore_sysroot_local or find_local_root()
        if ds_type == "memory":
            return "memory://"
        root = getattr(self, f"datastore_sysroot_{ds_type}", None)
        if not root:
            raise ConfigurationError(
                f"No root is configured for the '{ds_type}' datastore. "
                f"Set FLOWSTONE_DATASTORE_SYSROOT_{ds_type.upper()} (or pass --datastore-root)."
            )
        return str(root)

    def environments_root(self) -> str:
        """Where per-step environments are built and kept."""
        if self.environments_dir:
            return self.environments_dir
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return os.path.join(cache, "flowstone", "environments")

    def datastore_environ(self) -> dict[str, str]:
        """The variables that name this datastore, for processes a task starts (a flow run from a step, say)."""
        if self.default_datastore == "memory":  # private to one process: nothing another process could open
            return {}
        ds_type = self.default_datastore
        return {
            ENV_PREFIX + "DEFAULT_DATASTORE": ds_type,
            f"{ENV_PREFIX}DATASTORE_SYSROOT_{ds_type.upper()}": self.datastore_root(ds_type),
        }


_in_use: list[Settings] = []


def current_settings() -> Settings:
    """The settings of the run this process works for, while the runtime runs a task; else the environment's."""
    return _in_use[-1] if _in_use else Settings.from_env()


@contextmanager
def use_settings(settings: Settings) -> Iterator[Settings]:
    """Make ``settings`` the process's current settings for the block."""
    _in_use.append(settings)
    try:
        yield settings
    finally:
        _in_use.remove(settings)
