"""A real Ray cluster for tests and benchmarks: one head node (``ray start --head``) on loopback.

Every port it opens is a free one chosen here (two test workers' clusters never collide), it keeps its files in a
private temporary folder, runs no dashboard and reports no usage. It is stopped by killing the processes it
started, found from its process group and their children: never ``ray stop``, which stops every Ray process on
the machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.servers._process import free_ports, venv_binary
from tests.servers.seaweedfs import SeaweedFS

__all__ = ["RayCluster", "ray_cluster"]

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Ray replaces a 127.0.0.1 address (a node's, or the one a driver connects to) by the machine's network address
#: unless it believes it runs a one-machine cluster. This keeps the cluster and its drivers on loopback; it is read
#: when Ray is imported, so it is set here, before any test imports Ray.
LOOPBACK_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
os.environ.update(LOOPBACK_ONLY)
START_TIMEOUT = 120.0
#: Ports the raylet hands to worker processes (and drivers): more than a 2-CPU node ever runs at once.
WORKER_PORTS = 24


@dataclass
class RayCluster:
    """One running single-node Ray cluster. Use as a context manager, or call start() and stop()."""

    num_cpus: int = 2
    environment: dict[str, str] = field(default_factory=dict)  # for the cluster's processes (and so its tasks)
    # short: Ray's Unix socket paths live below it and must stay under ~107 characters
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fsray-", dir="/tmp")))
    port: int = 0
    group: int | None = None  # the process group of everything `ray start` launched

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def driver_environment(self) -> dict[str, str]:
        """Variables for a process that connects to this cluster."""
        return {"FLOWSTONE_RAY_ADDRESS": self.address, **LOOPBACK_ONLY}

    def start(self) -> RayCluster:
        ports = free_ports(7 + WORKER_PORTS)
        self.port = ports[0]
        names = ["node-manager-port", "object-manager-port", "dashboard-agent-listen-port",
                 "dashboard-agent-grpc-port", "metrics-export-port", "runtime-env-agent-port"]  # fmt: skip
        command = [
            venv_binary("ray"), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={self.port}",
            *(f"--{name}={port}" for name, port in zip(names, ports[1:7], strict=True)),
            f"--worker-port-list={','.join(map(str, ports[7:]))}", "--include-dashboard=false",
            "--disable-usage-stats", f"--num-cpus={self.num_cpus}", "--num-gpus=0",
            "--object-store-memory=100000000", f"--temp-dir={self.workdir}",
        ]  # fmt: skip
        env = {
            **os.environ,
            **self.environment,
            **LOOPBACK_ONLY,
            "TMPDIR": str(self.workdir),  # the nodes' caches (code packages) go with the cluster
            # tasks of the executor tests are functions of the test modules
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        }
        log = open(self.workdir / "start.log", "wb")  # noqa: SIM115 - closed below
        # its own session: every daemon `ray start` leaves behind is in this process group
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        log.close()
        self.group = process.pid
        try:
            returncode = process.wait(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            returncode = None
        if returncode != 0:
            message = (self.workdir / "start.log").read_text(errors="replace")[-4000:]
            self.stop()
            raise RuntimeError(f"The Ray cluster did not start (status {returncode}):\n{message}")
        return self

    def processes(self) -> set[int]:
        """The cluster's processes: its group, and their descendants (Ray's workers lead groups of their own)."""
        if self.group is None:
            return set()
        parents: dict[int, int] = {}
        members: set[int] = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()  # after the command name, which may hold spaces
            pid, ppid, pgid = int(entry), int(fields[1]), int(fields[2])
            parents[pid] = ppid
            if pgid == self.group:
                members.add(pid)
        grew = True
        while grew:
            children = {pid for pid, ppid in parents.items() if ppid in members and pid not in members}
            members |= children
            grew = bool(children)
        return members

    def stop(self) -> None:
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self._alive() and time.monotonic() < deadline:
            time.sleep(0.05)  # the kernel takes a moment to tear the processes down
        self.group = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _alive(self) -> bool:
        for pid in self.processes():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z":
                    return True
        return False

    def __enter__(self) -> RayCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_shared: RayCluster | None = None


@pytest.fixture(scope="session")
def ray_cluster(seaweedfs: SeaweedFS) -> Iterator[RayCluster]:
    """One Ray cluster per test worker, shared by every module that imports this fixture. Its nodes have the
    test S3 server's credentials, as a real cluster's nodes have their own."""
    global _shared
    if _shared is None:
        _shared = RayCluster(environment=seaweedfs.environment).start()
    yield _shared
    if _shared is not None:
        _shared.stop()
        _shared = None
