"""How the Azure Blob backend reaches an account and how hard it pushes it: endpoint, credentials, sizes, retries.

:class:`AzureConfig` is frozen. :meth:`AzureConfig.from_settings` takes the endpoint from
:class:`~flowstone.settings.Settings` and the credentials the Azure way, from the environment, first match wins:

1. ``AZURE_STORAGE_CONNECTION_STRING`` (account, key or SAS, and endpoint in one string);
2. ``AZURE_STORAGE_KEY`` with ``AZURE_STORAGE_ACCOUNT`` (shared key);
3. ``AZURE_STORAGE_SAS_TOKEN`` (a shared access signature);
4. ``DefaultAzureCredential`` from ``azure-identity``, when it is installed (environment, workload or managed
   identity, the Azure CLI login, ...).

Credentials never appear in the config's ``repr`` or in an error message (:meth:`AzureConfig.scrub`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from flowstone.errors import ConfigurationError, StorageError
from flowstone.settings import Settings

__all__ = ["AzureConfig", "MiB"]

MiB = 1024 * 1024
_SAS_SIGNATURE = re.compile(r"(sig=)[^&\s;'\"]+", re.IGNORECASE)


@dataclass(frozen=True)
class AzureConfig:
    """Everything the Azure transport needs to reach an account, and its limits.

    ``inject_failures`` (a rate in ``[0, 1]``) makes the first attempt of that fraction of requests fail with a
    connection error before it is sent, chosen deterministically from ``seed`` and the request, so tests and
    robustness runs exercise the retries.
    """

    account_url: str | None = None
    account_name: str | None = None
    connection_string: str | None = field(default=None, repr=False)
    account_key: str | None = field(default=None, repr=False)
    sas_token: str | None = field(default=None, repr=False)
    #: Requests in flight at once, across every blob of every batch.
    max_concurrency: int = 32
    #: Blobs up to this size go up in one Put Blob (joined if they come in chunks); larger ones as blocks.
    single_put_max: int = 32 * MiB
    #: Size of a staged block, and of a ranged read of a large download.
    block_size: int = 8 * MiB
    #: Blocks (or download ranges) of one blob in flight at once; with ``block_size`` this bounds the memory a
    #: large upload copies into.
    block_concurrency: int = 8
    #: Retries of a request after a transient failure (connection refused or dropped, timeout, 5xx).
    retries: int = 3
    #: The delay before retry n is drawn from [0, min(max_backoff, backoff * 2**(n-1))] ("full jitter").
    backoff: float = 0.2
    max_backoff: float = 4.0
    connect_timeout: float = 5.0
    #: Longest wait for the next bytes of a response (not for a whole transfer).
    read_timeout: float = 60.0
    inject_failures: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_concurrency < 1 or self.block_concurrency < 1:
            raise ConfigurationError("AzureConfig: max_concurrency and block_concurrency must be at least 1")
        if not MiB <= self.block_size <= 4000 * MiB:
            raise ConfigurationError("AzureConfig: block_size must be between 1 MiB and 4000 MiB")
        if self.retries < 0 or not 0.0 <= self.inject_failures <= 1.0:
            raise ConfigurationError("AzureConfig: retries must be >= 0 and inject_failures a rate between 0 and 1")

    @classmethod
    def from_settings(
        cls, settings: Settings, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> AzureConfig:
        """The config for ``settings`` (endpoint) and the Azure environment (credentials).

        Keyword ``overrides`` set any field directly (e.g. ``block_size=16 * MiB``).
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {"inject_failures": settings.azure_inject_failures or None}
        connection_string = env.get("AZURE_STORAGE_CONNECTION_STRING")
        if connection_string:
            parts = _parse_connection_string(connection_string)
            values.update(
                connection_string=connection_string,
                account_name=parts.get("accountname") or _account_of_url(parts.get("blobendpoint")),
                account_url=parts.get("blobendpoint") or _default_url(parts),
            )
        else:
            account = env.get("AZURE_STORAGE_ACCOUNT")
            url = settings.azure_storage_blob_service_endpoint
            if not url and account:
                url = f"https://{account}.blob.core.windows.net"
            values.update(
                account_url=url,
                account_name=account or _account_of_url(url),
                account_key=env.get("AZURE_STORAGE_KEY") or env.get("AZURE_STORAGE_ACCESS_KEY"),
                sas_token=env.get("AZURE_STORAGE_SAS_TOKEN"),
            )
        values.update(overrides)
        return cls(**{name: value for name, value in values.items() if value not in (None, "")})

    def replace(self, **changes: Any) -> AzureConfig:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)

    @property
    def endpoint(self) -> str:
        """The account URL without any query string (safe to show)."""
        if not self.account_url:
            return "(no endpoint)"
        parts = urlsplit(self.account_url)
        return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")

    @property
    def credential_kind(self) -> str:
        """Which of the supported credentials this config uses, for messages."""
        if self.connection_string:
            return "the connection string in AZURE_STORAGE_CONNECTION_STRING"
        if self.account_key:
            return "the account key in AZURE_STORAGE_KEY"
        if self.sas_token:
            return "the SAS token in AZURE_STORAGE_SAS_TOKEN"
        return "DefaultAzureCredential (azure-identity)"

    def secrets(self) -> tuple[str, ...]:
        """Every credential value, so error messages can be scrubbed of them."""
        found = [self.connection_string, self.account_key, self.sas_token]
        if self.connection_string:
            parts = _parse_connection_string(self.connection_string)
            found += [parts.get("accountkey"), parts.get("sharedaccesssignature")]
        return tuple(sorted({s for s in found if s}, key=len, reverse=True))

    def scrub(self, text: str) -> str:
        """``text`` with every credential and SAS signature replaced by ``***``."""
        for secret in self.secrets():
            text = text.replace(secret, "***")
        return _SAS_SIGNATURE.sub(r"\1***", text)

    def client_arguments(self) -> tuple[str, Any]:
        """``(account_url, credential)`` for a client without a connection string.

        Raises :class:`StorageError` when no account URL is known or no credential can be had.
        """
        if not self.account_url:
            raise StorageError(
                "No Azure Blob endpoint is configured. Set AZURE_STORAGE_CONNECTION_STRING, or "
                "FLOWSTONE_AZURE_STORAGE_BLOB_SERVICE_ENDPOINT (https://<account>.blob.core.windows.net), or "
                "AZURE_STORAGE_ACCOUNT."
            )
        if self.account_key:
            if not self.account_name:
                raise StorageError(
                    f"AZURE_STORAGE_KEY is set but the account name is unknown for {self.endpoint}. "
                    "Set AZURE_STORAGE_ACCOUNT."
                )
            return self.account_url, {"account_name": self.account_name, "account_key": self.account_key}
        if self.sas_token:
            from azure.core.credentials import AzureSasCredential

            return self.account_url, AzureSasCredential(self.sas_token.lstrip("?"))
        try:
            from azure.identity.aio import DefaultAzureCredential
        except ImportError as exc:
            raise StorageError(
                f"No credentials for the Azure account at {self.endpoint}. Set AZURE_STORAGE_CONNECTION_STRING, or "
                "AZURE_STORAGE_KEY (with AZURE_STORAGE_ACCOUNT), or AZURE_STORAGE_SAS_TOKEN, or install "
                "azure-identity (pip install azure-identity) to use DefaultAzureCredential."
            ) from exc
        return self.account_url, DefaultAzureCredential()


def _parse_connection_string(text: str) -> dict[str, str]:
    """``Key=Value;...`` pairs, keys lower-cased (values may contain '=')."""
    pairs = (item.split("=", 1) for item in text.split(";") if "=" in item)
    return {key.strip().lower(): value.strip() for key, value in pairs}


def _default_url(parts: Mapping[str, str]) -> str | None:
    account = parts.get("accountname")
    if not account:
        return None
    protocol = parts.get("defaultendpointsprotocol", "https")
    return f"{protocol}://{account}.blob.{parts.get('endpointsuffix', 'core.windows.net')}"


def _account_of_url(url: str | None) -> str | None:
    """The account an endpoint names: the first label of ``<account>.blob.<suffix>``, else (an emulator's
    ``http://host:port/<account>``) the first path segment."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ".blob." in host:
        return host.split(".", 1)[0]
    segment = parts.path.strip("/").split("/", 1)[0]
    return segment or host or None
