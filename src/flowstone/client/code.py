"""A run's code package: the flow file and its local modules, as they were when the run started."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from flowstone.datastore import FlowDataStore

if TYPE_CHECKING:
    import tarfile
    import tempfile

__all__ = ["MetaflowCode"]

_ROOT = "code/"


class MetaflowCode:
    """Access to a run's snapshotted code: ``flowspec`` (the flow file's text), ``tarball``, ``extract()``."""

    def __init__(self, flow_datastore: FlowDataStore, key: str, flow_file: str) -> None:
        self._fds = flow_datastore
        self.key = key
        self._path = flow_file
        self._tarball: tarfile.TarFile | None = None

    @property
    def path(self) -> str:
        """The flow file's name inside the package."""
        return self._path

    script_name = path

    @property
    def tarball(self) -> tarfile.TarFile:
        if self._tarball is None:
            import tarfile

            data = bytes(self._fds.ca_store.load_blob(self.key))
            self._tarball = tarfile.open(fileobj=io.BytesIO(data))  # noqa: SIM115 - kept open for later reads
        return self._tarball

    @property
    def files(self) -> list[str]:
        return [m.name[len(_ROOT) :] for m in self.tarball.getmembers()]

    def read(self, name: str) -> str:
        member = self.tarball.extractfile(_ROOT + name)
        if member is None:
            raise KeyError(f"The code package has no file '{name}'")
        return member.read().decode("utf-8")

    @property
    def flowspec(self) -> str:
        return self.read(self._path)

    @property
    def info(self) -> dict[str, Any]:
        return {"script": self._path, "files": self.files, "key": self.key}

    def extract(self) -> tempfile.TemporaryDirectory[str]:
        """Unpack the package into a temporary folder (removed when the returned object is cleaned up)."""
        import tempfile

        folder = tempfile.TemporaryDirectory(prefix="flowstone-code-")
        for member in self.tarball.getmembers():
            member.name = member.name[len(_ROOT) :]
            self.tarball.extract(member, folder.name, filter="data")
        self._tarball = None  # member names were rewritten: reopen next time
        return folder

    def __repr__(self) -> str:
        return f"<MetaflowCode {self._path} ({len(self.files)} files)>"
