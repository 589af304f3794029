"""Benchmarks: flowstone against Metaflow 2.19, in one run, on this machine.

    python bench/run.py datastore [--repeat N]
    python bench/run.py s3 [--repeat N]    # S3 clients against a local SeaweedFS (see bench/s3_ops.py)
    python bench/run.py azure [--repeat N] # the Azure datastore on Azurite vs local disk and plain SDK calls
    python bench/run.py ray [--repeat N]   # per-task overhead on a local Ray cluster vs the local executor
    python bench/run.py reads [--repeat N] # watching a step for what it reads: its cost per task
    python bench/run.py cards [--repeat N] # rendering the default card of a task with 50 artifacts
    python bench/run.py ui [--repeat N]    # flowstone ui over 10,000 runs and a 1,000-task foreach
    python bench/run.py maintenance        # fsck of 10 GiB of blobs vs plain BLAKE3 (needs 12 GiB free)

Metaflow is installed only into ``bench/.venv-metaflow`` (created on first use); flowstone runs from the
project's ``.venv``. Every measurement runs in a fresh process; flowstone and Metaflow alternate, and the
median of ``--repeat`` runs is reported with the ratio and the target it is checked against.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PROJECT = BENCH.parent
METAFLOW_VENV = BENCH / ".venv-metaflow"
METAFLOW_REQUIREMENT = "metaflow==2.19.*"
BENCH_PACKAGES = ["numpy", "pandas", "pyarrow"]


def venv_python(venv: Path) -> str:
    return str(venv / "bin" / "python")


def ensure_metaflow_venv() -> str:
    python = venv_python(METAFLOW_VENV)
    if not Path(python).exists():
        print(f"creating {METAFLOW_VENV} with {METAFLOW_REQUIREMENT} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(METAFLOW_VENV)], check=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", METAFLOW_REQUIREMENT, *BENCH_PACKAGES], check=True)
    return python


def flowstone_python() -> str:
    python = venv_python(PROJECT / ".venv")
    if not Path(python).exists():
        subprocess.run([str(PROJECT / "scripts" / "setup.sh"), "dev"], check=True)
    # Byte-compile the sources, as `pip install` does for Metaflow in its venv: with PYTHONDONTWRITEBYTECODE set
    # (it is on this machine) an editable install would otherwise compile every module in every process.
    subprocess.run([python, "-m", "compileall", "-q", str(PROJECT / "src" / "flowstone")], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return python


def run_json(cmd: list[str], cwd: str | None = None, env: dict[str, str] | None = None) -> dict:
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


@dataclass
class Comparison:
    """One line of the report: flowstone's and Metaflow's medians, and the target on their ratio."""

    name: str
    unit: str
    flowstone: float
    metaflow: float | None
    target: str
    met: bool

    def line(self) -> str:
        mf = f"{self.metaflow:10.3f}" if self.metaflow is not None else f"{'-':>10}"
        ratio = f"{self.metaflow / self.flowstone:8.1f}x" if self.metaflow and self.flowstone else f"{'':>9}"
        return (
            f"{self.name:<42} {self.flowstone:10.3f} {mf} {ratio}  {self.unit:<4} "
            f"{'PASS' if self.met else 'MISS'}  {self.target}"
        )


def median_of(repeat: int, measure: Callable[[int], dict]) -> dict:
    samples = [measure(i) for i in range(repeat)]
    return {k: statistics.median(s[k] for s in samples) for k in samples[0]}


# -- datastore ------------------------------------------------------------------------------------
def bench_datastore(repeat: int) -> list[Comparison]:
    pythons = {"flowstone": flowstone_python(), "metaflow": ensure_metaflow_venv()}
    script = str(BENCH / "datastore_ops.py")
    results: dict[tuple[str, str, str], list[dict]] = {}

    def measure(impl: str, python: str, obj: str, ops: tuple[str, ...]) -> None:
        root = tempfile.mkdtemp(prefix=f"bench-{impl}-", dir=BENCH / ".work")
        try:
            for op in ops:
                os.sync()  # start each measurement with no other writes in flight
                cmd = [python, script, "--impl", impl, "--op", op, "--object", obj, "--root", root]
                sample = run_json(cmd)
                results.setdefault((impl, op, obj), []).append(sample)
                print(f"  {impl:9} {op:4} {obj:9} {sample['seconds']:8.3f} s", flush=True)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    for i in range(repeat):
        order = list(pythons.items()) if i % 2 == 0 else list(pythons.items())[::-1]
        for obj in ("array", "dataframe"):
            for impl, python in order:
                measure(impl, python, obj, ("save", "load"))
        measure("floor", pythons["flowstone"], "array", ("save",))

    def med(impl: str, op: str, obj: str, key: str = "seconds") -> float:
        return statistics.median(s[key] for s in results[(impl, op, obj)])

    def peak_ratio(impl: str) -> float:
        return statistics.median(s["peak_rss"] / s["object_bytes"] for s in results[(impl, "save", "array")])

    rows = []
    for op, obj, label, factor in [
        ("save", "array", "save 1 GiB float64 array", 20),
        ("load", "array", "load 1 GiB float64 array", 5),
        ("save", "dataframe", "save 500 MiB DataFrame", 10),
        ("load", "dataframe", "load 500 MiB DataFrame", 3),
    ]:
        fs, mf = med("flowstone", op, obj), med("metaflow", op, obj)
        rows.append(Comparison(label, "s", fs, mf, f"Metaflow/flowstone >= {factor}", mf / fs >= factor))
    floor = med("floor", "save", "array")
    rows.append(Comparison("  floor: raw write+fsync of the array", "s", floor, None, "(machine limit, info)", True))
    fs_peak, mf_peak = peak_ratio("flowstone"), peak_ratio("metaflow")
    rows.append(
        Comparison(
            "peak RSS while saving array / array size", "x", fs_peak, mf_peak, "flowstone <= 1.3x", fs_peak <= 1.3
        )
    )
    return rows


# -- runtime --------------------------------------------------------------------------------------
FLOW_FILES = {"foreach": "foreach_flow.py", "linear": "linear_flow.py", "two_step": "two_step_flow.py"}


def _bench_env(folder: Path) -> dict[str, str]:
    return {
        **os.environ,
        "USER": os.environ.get("USER", "bench"),
        "USERNAME": os.environ.get("USER", "bench"),
        "METAFLOW_DEFAULT_DATASTORE": "local",
        "METAFLOW_DEFAULT_METADATA": "local",
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(folder),
        "FLOWSTONE_DATASTORE_SYSROOT_LOCAL": str(folder / ".flowstone"),
    }


def prepare_flows(impl: str, folder: Path) -> dict[str, Path]:
    """Copy the benchmark flows; Metaflow's copies differ only in their imports (the compatibility promise)."""
    paths = {}
    for name, file in FLOW_FILES.items():
        text = (BENCH / "flows" / file).read_text()
        if impl == "metaflow":
            text = text.replace("from flowstone import", "from metaflow import")
        paths[name] = folder / file
        paths[name].write_text(text)
    return paths


def timed_run(python: str, args: list[str], cwd: Path, env: dict[str, str]) -> dict:
    """Wall seconds and CPU seconds (this process's waited-for descendants) of one command."""
    import resource
    import time

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run([python, *args], cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{args} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": wall, "cpu": cpu}


def import_seconds(python: str, module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    result = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return float(result.stdout.strip())


def bench_runtime(repeat: int) -> list[Comparison]:
    pythons = {"flowstone": flowstone_python(), "metaflow": ensure_metaflow_venv()}
    runs = {
        "foreach": ["run", "--max-workers", "2", "--max-num-splits", "1000"],
        "linear": ["run", "--max-workers", "2"],
        "two_step": ["run"],
    }
    samples: dict[tuple[str, str], list[dict]] = {}
    imports: dict[str, list[float]] = {}
    for i in range(repeat):
        order = list(pythons.items()) if i % 2 == 0 else list(pythons.items())[::-1]
        for impl, python in order:
            folder = Path(tempfile.mkdtemp(prefix=f"bench-{impl}-", dir=BENCH / ".work"))
            env = _bench_env(folder)
            try:
                flows = prepare_flows(impl, folder)
                for name, args in runs.items():
                    os.sync()
                    sample = timed_run(python, [str(flows[name]), "--no-pylint", "--quiet", *args], folder, env)
                    samples.setdefault((impl, name), []).append(sample)
                    print(f"  {impl:9} {name:9} {sample['seconds']:7.2f} s wall {sample['cpu']:7.2f} s cpu", flush=True)
                imports.setdefault(impl, []).append(import_seconds(python, impl))
            finally:
                shutil.rmtree(folder, ignore_errors=True)

    def med(impl: str, name: str, key: str = "seconds") -> float:
        return statistics.median(s[key] for s in samples[(impl, name)])

    rows = []
    for key, label in (("seconds", "wall"), ("cpu", "CPU")):
        fs, mf = med("flowstone", "foreach", key) / 200, med("metaflow", "foreach", key) / 200
        rows.append(Comparison(f"200-way foreach, 2 workers: {label} s per task", "s", fs, mf,
                               "Metaflow/flowstone >= 10", mf / fs >= 10))  # fmt: skip
    fs, mf = med("flowstone", "linear"), med("metaflow", "linear")
    rows.append(Comparison("20-step linear flow", "s", fs, mf, "Metaflow/flowstone >= 10", mf / fs >= 10))
    fs, mf = med("flowstone", "two_step"), med("metaflow", "two_step")
    rows.append(Comparison("2-step flow", "s", fs, mf, "flowstone < 0.3 s", fs < 0.3))
    fs, mf = statistics.median(imports["flowstone"]), statistics.median(imports["metaflow"])
    rows.append(Comparison("import flowstone / import metaflow", "s", fs, mf, "flowstone < 0.15 s", fs < 0.15))
    return rows


# -- client ---------------------------------------------------------------------------------------
CLIENT_RUNS = 50
LISTED_RUNS = 10_000


def bench_client(repeat: int) -> list[Comparison]:
    pythons = {"flowstone": flowstone_python(), "metaflow": ensure_metaflow_venv()}
    folders = {impl: Path(tempfile.mkdtemp(prefix=f"bench-client-{impl}-", dir=BENCH / ".work")) for impl in pythons}
    try:
        run_ids = {}
        for impl, python in pythons.items():
            flows = prepare_flows(impl, folders[impl])
            env = _bench_env(folders[impl])
            print(f"  generating {CLIENT_RUNS} runs with {impl} ...", flush=True)
            for _ in range(CLIENT_RUNS):
                subprocess.run([python, str(flows["two_step"]), "--no-pylint", "--quiet", "run", "--run-id-file",
                                str(folders[impl] / "run_id")], cwd=folders[impl], env=env, check=True,
                               capture_output=True)  # fmt: skip
            run_ids[impl] = (folders[impl] / "run_id").read_text().strip()
        big = folders["flowstone"] / "generated"
        print(f"  generating {LISTED_RUNS} runs for the listing measure ...", flush=True)
        subprocess.run([pythons["flowstone"], str(BENCH / "client_ops.py"), "--impl", "flowstone", "--op",
                        "generate", "--flow", "ListFlow", "--runs", str(LISTED_RUNS), "--root", str(big)],
                       check=True, capture_output=True)  # fmt: skip
        read_walls: dict[str, list[float]] = {impl: [] for impl in pythons}
        list_50: dict[str, list[float]] = {impl: [] for impl in pythons}
        list_10k: list[float] = []
        for i in range(max(repeat, 5)):
            order = list(pythons.items()) if i % 2 == 0 else list(pythons.items())[::-1]
            for impl, python in order:
                env = _bench_env(folders[impl])
                code = (f"from {impl} import Run, namespace; namespace(None); "
                        f"assert Run('BenchTwoStepFlow/{run_ids[impl]}').data.message == 'hi'")  # fmt: skip
                read_walls[impl].append(timed_run(python, ["-c", code], folders[impl], env)["seconds"])
                listing = run_json([python, str(BENCH / "client_ops.py"), "--impl", impl, "--op", "list",
                                    "--flow", "BenchTwoStepFlow"], cwd=str(folders[impl]), env=env)  # fmt: skip
                list_50[impl].append(listing["seconds"])
            env = {**os.environ, "FLOWSTONE_DATASTORE_SYSROOT_LOCAL": str(big)}
            listing = run_json([pythons["flowstone"], str(BENCH / "client_ops.py"), "--impl", "flowstone", "--op",
                                "list", "--flow", "ListFlow"], env=env)  # fmt: skip
            assert listing["count"] == LISTED_RUNS
            list_10k.append(listing["seconds"])
            print(f"  read: flowstone {read_walls['flowstone'][-1]:.3f}s metaflow {read_walls['metaflow'][-1]:.3f}s; "
                  f"list {LISTED_RUNS}: {list_10k[-1]:.3f}s", flush=True)  # fmt: skip
    finally:
        for folder in folders.values():
            shutil.rmtree(folder, ignore_errors=True)
    fs, mf = statistics.median(read_walls["flowstone"]), statistics.median(read_walls["metaflow"])
    rows = [Comparison(f"fresh process: open run, read artifact ({CLIENT_RUNS} runs)", "s", fs, mf,
                       "flowstone < 0.15 s", fs < 0.15)]  # fmt: skip
    fs, mf = statistics.median(list_50["flowstone"]), statistics.median(list_50["metaflow"])
    rows.append(Comparison(f"list {CLIENT_RUNS} runs (in process, with import)", "s", fs, mf, "(info)", True))
    fs = statistics.median(list_10k)
    rows.append(Comparison(f"list {LISTED_RUNS} runs (in process, with import)", "s", fs, None, "flowstone < 1 s",
                           fs < 1.0))  # fmt: skip
    return rows


# -- cache and resume -----------------------------------------------------------------------------
def _count_started(output: str) -> int:
    return output.count("Task is starting")


def bench_cache(repeat: int) -> list[Comparison]:
    pythons = {"flowstone": flowstone_python(), "metaflow": ensure_metaflow_venv()}
    rerun: dict[str, list[float]] = {impl: [] for impl in pythons}
    executed: dict[str, list[int]] = {impl: [] for impl in pythons}
    resume: dict[str, list[float]] = {impl: [] for impl in pythons}
    per_task: dict[str, list[float]] = {"linear": [], "foreach": []}
    for i in range(repeat):
        order = list(pythons.items()) if i % 2 == 0 else list(pythons.items())[::-1]
        for impl, python in order:
            for purpose in ("rerun", "resume"):
                folder = Path(tempfile.mkdtemp(prefix=f"bench-cache-{impl}-", dir=BENCH / ".work"))
                try:
                    flows = prepare_flows(impl, folder)
                    env = {**_bench_env(folder), "FLOWSTONE_CACHE_IGNORE_ENV": "BENCH_FAIL_AT"}  # not an input
                    args = [str(flows["linear"]), "--no-pylint"]
                    if purpose == "rerun":
                        timed_run(python, [*args, "run"], folder, env)
                        os.sync()
                        result = subprocess.run([python, *args, "run"], cwd=folder, env=env, capture_output=True,
                                                text=True)  # fmt: skip
                        sample = timed_run(python, [*args, "run"], folder, env)  # the measured re-run
                        rerun[impl].append(sample["seconds"])
                        executed[impl].append(_count_started(result.stdout + result.stderr))
                        if impl == "flowstone":
                            for name in ("linear", "foreach"):
                                if name == "foreach":
                                    timed_run(python, [str(flows["foreach"]), "--quiet", "run", "--max-num-splits",
                                                       "1000"], folder, env)  # fmt: skip
                                keys = run_json([python, str(BENCH / "cache_keys.py"), str(flows[name]),
                                                 str(folder / ".flowstone")])  # fmt: skip
                                per_task[name].append(keys["per_task"])
                    else:
                        fail_env = {**env, "BENCH_FAIL_AT": "step18"}
                        failing = subprocess.run([python, *args, "run"], cwd=folder, env=fail_env, capture_output=True)
                        assert failing.returncode != 0
                        os.sync()
                        resume[impl].append(timed_run(python, [*args, "resume"], folder, env)["seconds"])
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
            print(f"  {impl:9} re-run {rerun[impl][-1]:.2f}s ({executed[impl][-1]} tasks started), "
                  f"resume {resume[impl][-1]:.2f}s", flush=True)  # fmt: skip
    med = statistics.median
    fs_rerun, mf_rerun = med(rerun["flowstone"]), med(rerun["metaflow"])
    rows = [
        Comparison("re-run an unchanged 20-step flow", "s", fs_rerun, mf_rerun, "flowstone < 0.5 s, 0 tasks run",
                   fs_rerun < 0.5 and max(executed["flowstone"]) == 0),
        Comparison("  tasks executed by that re-run", "n", float(med(executed["flowstone"])),
                   float(med(executed["metaflow"])), "(info)", True),
        Comparison("resume after the 19th step failed", "s", med(resume["flowstone"]), med(resume["metaflow"]),
                   "flowstone < 0.5 s", med(resume["flowstone"]) < 0.5),
        Comparison("cache key per task, 20-step linear flow", "s", med(per_task["linear"]), None,
                   "flowstone < 5 ms", med(per_task["linear"]) < 0.005),
        Comparison("cache key per task, 200-way foreach", "s", med(per_task["foreach"]), None,
                   "flowstone < 5 ms", med(per_task["foreach"]) < 0.005),
    ]  # fmt: skip
    return rows


# -- s3 -------------------------------------------------------------------------------------------
S3_BUCKET = "bench"
S3_CLIENTS = ("flowstone", "metaflow", "boto3", "obstore")  # boto3 and metaflow run in the Metaflow venv
S3_WORKLOADS = {"small": (1000, 10 * 1024), "large": (16, 32 * 1024 * 1024)}
S3_LABELS = {"small": "1000 x 10 KiB", "large": "16 x 32 MiB"}
S3_PEAK_LIMIT_MB = 100.0
#: The server's volumes are this large: with the tests' small ones, a transfer that fills one waits a second or
#: more while the server sets up the next, which made whole rows depend on which client hit that moment.
S3_VOLUME_MB = 4096


def ensure_bench_package(python: str, module: str, requirement: str) -> None:
    """A package that only the benchmarks use, installed into a bench venv (never the project's)."""
    if subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode != 0:
        print(f"installing {requirement} into {Path(python).parent.parent} ...", flush=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", requirement], check=True)


def flowstone_s3_missing(python: str) -> str | None:
    """Why ``from flowstone import S3`` fails, or None if it works."""
    result = subprocess.run([python, "-c", "from flowstone import S3"], capture_output=True, text=True)
    return None if result.returncode == 0 else (result.stderr.strip().splitlines() or ["?"])[-1]


def s3_source_files(folder: Path, count: int, size: int) -> Path:
    """The files that put_files sends: file i holds the bytes s3_ops.object_bytes(i, size)."""
    import random

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / str(i)).write_bytes(random.Random(i).randbytes(size))
    return folder


class S3Comparison(Comparison):
    """A row whose other column is the fastest (or named) other client; flowstone may be missing (NaN)."""

    def line(self) -> str:
        if self.flowstone == self.flowstone:  # not NaN
            return super().line()
        mf = f"{self.metaflow:10.3f}" if self.metaflow is not None else f"{'-':>10}"
        return f"{self.name:<42} {'skipped':>10} {mf} {'':>9}  {self.unit:<4} SKIP  {self.target} (no flowstone.S3)"


def s3_others(sample: dict) -> float:
    """CPU seconds that processes other than the client (and its children) and the server used during a transfer."""
    return max(sample["machine_processes"] - sample["client_cpu"] - sample["server_cpu"], 0.0)


def busiest(sample: dict) -> str:
    """The other processes that used the most CPU during a transfer, when others used a noticeable amount."""
    if s3_others(sample) < 0.5:
        return ""
    return "; busiest others: " + ", ".join(f"{name} {cpu:.2f} s" for name, cpu in sample["busiest_others"])


def s3_transfer(python: str, impl: str, op: str, workload: str, prefix: str, work: Path, source: Path,
                server_pid: int, env: dict[str, str]) -> dict:  # fmt: skip
    """One transfer by ``impl`` in a fresh process (bench/s3_ops.py), in a folder of its own; its sample."""
    count, size = S3_WORKLOADS[workload]
    folder = Path(tempfile.mkdtemp(prefix=f"{impl}-{op}-", dir=work))
    cmd = [python, str(BENCH / "s3_ops.py"), "--impl", impl, "--op", op, "--count", str(count), "--size", str(size),
           "--bucket", S3_BUCKET, "--prefix", prefix, "--workdir", str(folder),
           "--server-pid", str(server_pid)]  # fmt: skip
    if op == "put" and workload == "large":
        cmd += ["--source", str(source)]
    os.sync()
    try:
        return run_json(cmd, cwd=str(folder), env=env)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def s3_warm_up(python: str, work: Path, source: Path, server_pid: int, env: dict[str, str]) -> None:
    """Each workload once, unmeasured, through raw obstore: a fresh server's first writes wait while it sets up
    its first volumes (about 0.6 s), which would otherwise fall on whichever client comes first."""
    for workload in S3_WORKLOADS:
        for op in ("put", "get"):
            s3_transfer(python, "obstore", op, workload, f"warm-up/{workload}", work, source, server_pid, env)


def bench_s3(repeat: int) -> list[Comparison]:
    fs_python, mf_python = flowstone_python(), ensure_metaflow_venv()
    ensure_bench_package(mf_python, "boto3", "boto3")
    pythons = {"flowstone": fs_python, "metaflow": mf_python, "boto3": mf_python, "obstore": fs_python}
    clients = list(S3_CLIENTS)
    missing = flowstone_s3_missing(fs_python)
    if missing:
        print(f"  flowstone.S3 is not importable ({missing}): measuring the other clients only", flush=True)
        clients.remove("flowstone")
    # The server: one `weed mini` for the whole suite; its binary is in the project's venv.
    os.environ["PATH"] = f"{Path(fs_python).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    sys.path.insert(0, str(PROJECT))
    from tests.servers.seaweedfs import SeaweedFS

    work = Path(tempfile.mkdtemp(prefix="bench-s3-", dir=BENCH / ".work"))
    samples: dict[tuple[str, str, str], list[dict]] = {}
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    try:
        count, size = S3_WORKLOADS["large"]
        source = s3_source_files(work / "source", count, size)
        with SeaweedFS(buckets=(S3_BUCKET,), volume_size_limit_mb=S3_VOLUME_MB) as server:
            assert server.process is not None
            env = {**os.environ, **server.environment, "BENCH_S3_ENDPOINT_URL": server.endpoint,
                   "METAFLOW_DEFAULT_DATASTORE": "local", "METAFLOW_DEFAULT_METADATA": "local",
                   "USER": os.environ.get("USER", "bench")}  # fmt: skip
            print(f"  SeaweedFS at {server.endpoint}, pid {server.process.pid}", flush=True)
            s3_warm_up(fs_python, work, source, server.process.pid, env)
            for i in range(repeat):
                order = clients[i % len(clients) :] + clients[: i % len(clients)]
                for workload in S3_WORKLOADS:
                    for impl in order:
                        prefix = f"{stamp}/{i}/{workload}/{impl}"
                        for op in ("put", "get"):
                            sample = s3_transfer(pythons[impl], impl, op, workload, prefix, work, source,
                                                 server.process.pid, env)  # fmt: skip
                            samples.setdefault((impl, workload, op), []).append(sample)
                            print(f"  {impl:9} {op} {S3_LABELS[workload]:13} {sample['seconds']:7.3f} s, "
                                  f"client CPU {sample['client_cpu']:6.2f} s, server CPU {sample['server_cpu']:6.2f} s"
                                  f" ({sample['server_cpu'] / sample['seconds']:.2f} cores); other processes "
                                  f"{s3_others(sample):5.2f} s, interrupts {sample['machine_interrupts']:4.2f} s, "
                                  f"steal {sample['machine_steal']:4.2f} s, I/O wait {sample['machine_iowait']:4.2f} s"
                                  f"{busiest(sample)}", flush=True)  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def med(impl: str, workload: str, op: str, key: str = "seconds") -> float:
        return statistics.median(s[key] for s in samples[(impl, workload, op)])

    def peak(impl: str) -> float:  # this process above its baseline, plus its largest child process (s3op)
        return statistics.median(s["peak_above_baseline_mb"] + s["children_peak_mb"]
                                 for s in samples[(impl, "large", "get")])  # fmt: skip

    cores = os.cpu_count() or 1
    print(f"\n  S3 on SeaweedFS (`weed mini`, one process) on {cores} cores, median of {repeat}; gets land in files")
    print("  (machine busy: CPU time of every process, interrupts and steal / (wall x cores); others: CPU s of")
    print("  other processes; irq: the kernel's interrupt work, loopback networking included; steal: the host's)")
    print(f"  {'transfer':<31} {'client':<10} {'wall s':>7} {'client CPU s':>12} {'server CPU s':>12} "
          f"{'server cores':>12} {'machine busy':>12} {'others s':>8} {'irq s':>6} {'steal s':>7} "
          f"{'peak MB':>8}")  # fmt: skip
    for workload in S3_WORKLOADS:
        for op in ("put", "get"):
            where = "to files" if op == "get" else "from files" if workload == "large" else "from memory"
            label = f"{op} {S3_LABELS[workload]} ({where})"
            for impl in clients:
                runs = samples[(impl, workload, op)]
                wall, ccpu, scpu, irq, steal = (med(impl, workload, op, k) for k in
                                                ("seconds", "client_cpu", "server_cpu", "machine_interrupts",
                                                 "machine_steal"))  # fmt: skip
                busy = statistics.median((s["machine_processes"] + s["machine_interrupts"] + s["machine_steal"])
                                         / (s["seconds"] * cores) for s in runs)  # fmt: skip
                others = statistics.median(s3_others(s) for s in runs)
                mem = statistics.median(s["peak_above_baseline_mb"] + s["children_peak_mb"] for s in runs)
                print(f"  {label:<31} {impl:<10} {wall:7.3f} {ccpu:12.2f} {scpu:12.2f} {scpu / wall:12.2f} "
                      f"{busy:11.0%} {others:8.2f} {irq:6.2f} {steal:7.2f} {mem:8.0f}")  # fmt: skip
            floor = min(med(impl, workload, op, "server_cpu") for impl in clients)
            print(f"  {label:<31} {'(server)':<10} {floor / cores:7.3f} {'':>12} {floor:12.2f} {cores:12.2f}"
                  f"   floor: the least server CPU s seen, on every core")  # fmt: skip

    every = [sample for runs in samples.values() for sample in runs]
    wall_cores = sum(s["seconds"] for s in every) * cores
    share = sum(s3_others(s) for s in every) / wall_cores
    steal = sum(s["machine_steal"] for s in every) / wall_cores
    print(f"  while transfers ran, other processes took {share:.0%} of the machine and the host {steal:.0%}"
          f"{': these figures are not reliable' if share + steal > 0.1 else ''}")  # fmt: skip

    rows: list[Comparison] = []
    nan = float("nan")
    for workload in S3_WORKLOADS:
        for op in ("put", "get"):
            others = {impl: med(impl, workload, op) for impl in clients if impl != "flowstone"}
            fastest = min(others, key=others.__getitem__)
            fs = med("flowstone", workload, op) if "flowstone" in clients else nan
            rows.append(S3Comparison(f"S3 {op} {S3_LABELS[workload]} (vs {fastest})", "s", fs, others[fastest],
                                     "flowstone <= fastest other", fs <= others[fastest]))  # fmt: skip
            floor = min(med(impl, workload, op, "server_cpu") for impl in clients) / cores
            fs_server = med("flowstone", workload, op, "server_cpu") if "flowstone" in clients else nan
            rows.append(S3Comparison(f"  server CPU s during it (vs {fastest})", "s", fs_server,
                                     med(fastest, workload, op, "server_cpu"),
                                     f"(info; server-bound floor {floor:.2f} s)", True))  # fmt: skip
    fs_peak = peak("flowstone") if "flowstone" in clients else nan
    rows.append(S3Comparison("S3 get 16 x 32 MiB peak RSS (vs metaflow)", "MB", fs_peak,
                             peak("metaflow"), f"flowstone < {S3_PEAK_LIMIT_MB:.0f} MB",
                             fs_peak < S3_PEAK_LIMIT_MB))  # fmt: skip
    return rows


# -- azure ----------------------------------------------------------------------------------------
AZURE_CONTAINER = "bench"
AZURE_LABELS = {"array": "256 MiB float64 array", "small": "500 artifacts of 4 KiB"}
#: 'azure' and 'local' are flowstone's datastore; the others plain azure-storage-blob calls (see azure_ops.py).
AZURE_IMPLS = {"array": ("azure", "local", "sdk"), "small": ("azure", "local", "sdk", "sdk-threads", "sdk-async")}


def bench_azure(repeat: int) -> list[Comparison]:
    """flowstone's datastore on Azurite, on local disk, and the same bytes through plain SDK calls."""
    python = flowstone_python()
    sys.path.insert(0, str(PROJECT))
    from tests.servers.azurite import Azurite

    script = str(BENCH / "azure_ops.py")
    work = Path(tempfile.mkdtemp(prefix="bench-azure-", dir=BENCH / ".work"))
    samples: dict[tuple[str, str, str], list[dict]] = {}
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    try:
        with Azurite(containers=(AZURE_CONTAINER,), workdir=Path(tempfile.mkdtemp(dir=work))) as server:
            assert server.process is not None
            env = {**os.environ, **server.environment}
            print(f"  Azurite at {server.endpoint}, pid {server.process.pid}, data on disk", flush=True)
            for i in range(repeat):
                for obj, impls in AZURE_IMPLS.items():
                    for impl in impls[i % len(impls) :] + impls[: i % len(impls)]:
                        local = impl == "local"
                        root = (tempfile.mkdtemp(prefix="local-", dir=work) if local
                                else f"azure://{AZURE_CONTAINER}/{stamp}-{i}-{obj}-{impl}")  # fmt: skip
                        for op in ("save", "load"):
                            cmd = [python, script, "--impl", "flowstone" if impl in ("azure", "local") else impl,
                                   "--op", op, "--object", obj, "--root", root,
                                   "--server-pid", str(0 if local else server.process.pid)]  # fmt: skip
                            os.sync()
                            sample = run_json(cmd, env=env)
                            samples.setdefault((impl, obj, op), []).append(sample)
                            print(f"  {impl:11} {op} {AZURE_LABELS[obj]:22} {sample['seconds']:7.3f} s, client CPU "
                                  f"{sample['client_cpu']:6.2f} s, server CPU {sample['server_cpu']:6.2f} s",
                                  flush=True)  # fmt: skip
                        if local:
                            shutil.rmtree(root, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def med(impl: str, obj: str, op: str, key: str = "seconds") -> float:
        return statistics.median(s[key] for s in samples[(impl, obj, op)])

    print(f"\n  Azure datastore on Azurite (one node process, data on disk), median of {repeat}")
    print(f"  {'transfer':<32} {'how':<12} {'wall s':>7} {'MiB/s':>7} {'client CPU s':>12} {'server CPU s':>12}")
    for obj, impls in AZURE_IMPLS.items():
        for op in ("save", "load"):
            for impl in impls:
                wall = med(impl, obj, op)
                rate = samples[(impl, obj, op)][0]["object_bytes"] / wall / (1 << 20)
                print(f"  {op + ' ' + AZURE_LABELS[obj]:<32} {impl:<12} {wall:7.3f} {rate:7.0f} "
                      f"{med(impl, obj, op, 'client_cpu'):12.2f} {med(impl, obj, op, 'server_cpu'):12.2f}")  # fmt: skip

    rows: list[Comparison] = []
    for obj, impls in AZURE_IMPLS.items():
        for op in ("save", "load"):
            azure = med("azure", obj, op)
            for other in impls[2:]:
                rows.append(Comparison(f"azure {op} {AZURE_LABELS[obj]} (vs {other})", "s", azure,
                                       med(other, obj, op), "(info)", True))  # fmt: skip
            rows.append(Comparison("  local backend, same (vs azure)", "s", med("local", obj, op), azure,
                                   "(info)", True))  # fmt: skip
    for impl in ("azure", "sdk"):
        extra = statistics.median(s["peak_above_before"] / s["object_bytes"] for s in samples[(impl, "array", "save")])
        rows.append(Comparison(f"memory added while saving the array ({impl}) / size", "x", extra, None,
                               "flowstone <= 0.3x" if impl == "azure" else "(info)",
                               extra <= 0.3 or impl != "azure"))  # fmt: skip
    return rows


# -- ray ------------------------------------------------------------------------------------------
RAY_WIDTHS = (10, 110)  # foreach widths: the per-task overhead is the slope between them


def bench_ray(repeat: int) -> list[Comparison]:
    """Per-task overhead of running tasks on a local Ray cluster (2 CPUs) against the local fork executor, on
    local disk and on S3 (SeaweedFS); see bench/ray_ops.py."""
    python = flowstone_python()
    os.environ["PATH"] = f"{Path(python).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    sys.path.insert(0, str(PROJECT))
    from tests.servers.ray_cluster import RayCluster
    from tests.servers.seaweedfs import SeaweedFS

    script = str(BENCH / "ray_ops.py")
    work = Path(tempfile.mkdtemp(prefix="bench-ray-", dir=BENCH / ".work"))
    samples: dict[tuple[str, str, int], list[float]] = {}
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    try:
        with SeaweedFS() as server, RayCluster(environment=server.environment) as cluster:
            env = {**os.environ, **server.environment, **cluster.driver_environment}
            for i in range(repeat):
                for width in RAY_WIDTHS:
                    for datastore in ("local", "s3"):
                        executors = ("ray", "local") if i % 2 == 0 else ("local", "ray")
                        for executor in executors:
                            root = (tempfile.mkdtemp(prefix="ds-", dir=work) if datastore == "local"
                                    else f"s3://flowstone-test/{stamp}-{i}-{width}-{executor}")  # fmt: skip
                            cmd = [python, script, "--executor", executor, "--datastore", datastore,
                                   "--root", root, "--width", str(width)]  # fmt: skip
                            sample = run_json(cmd, env=env)
                            samples.setdefault((executor, datastore, width), []).append(sample["seconds"])
                            print(f"  {executor:5} {datastore:5} {sample['tasks']:4} tasks {sample['seconds']:7.2f} s",
                                  flush=True)  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def med(executor: str, datastore: str, width: int) -> float:
        return statistics.median(samples[(executor, datastore, width)])

    def per_task(executor: str, datastore: str) -> float:
        narrow, wide = RAY_WIDTHS
        return (med(executor, datastore, wide) - med(executor, datastore, narrow)) / (wide - narrow)

    rows = []
    for datastore, where in (("local", "local disk"), ("s3", "S3")):
        ray, local = per_task("ray", datastore), per_task("local", datastore)
        rows.append(Comparison(f"per-task cost, {where}: ray (vs local)", "s", ray, local,
                               "ray within 0.05 s of local", ray - local < 0.05))  # fmt: skip
        narrow = RAY_WIDTHS[0]
        ray_run, local_run = med("ray", datastore, narrow), med("local", datastore, narrow)
        rows.append(Comparison(f"  {narrow + 3}-task run, {where}: ray (vs local)", "s", ray_run, local_run,
                               "(info)", True))  # fmt: skip
    return rows


# -- maintenance ----------------------------------------------------------------------------------
def bench_maintenance(repeat: int) -> list[Comparison]:
    """`flowstone fsck` over 10 GiB of blobs on local disk (page cache warm) against plain BLAKE3 of the same
    files, and gc's scan of the records; see bench/maintenance_ops.py. Needs 12 GiB free under bench/.work."""
    python, script, gib = flowstone_python(), str(BENCH / "maintenance_ops.py"), 10.0
    if shutil.disk_usage(BENCH / ".work").free < (gib + 2) * (1 << 30):
        raise RuntimeError(f"The maintenance suite needs {gib + 2:.0f} GiB free under {BENCH / '.work'}.")
    root = tempfile.mkdtemp(prefix="bench-maintenance-", dir=BENCH / ".work")
    samples: dict[str, list[dict]] = {}
    try:
        made = run_json([python, script, "--root", root, "--op", "setup", "--gib", str(gib)])
        print(f"  setup: {made['bytes'] / (1 << 30):.1f} GiB of blobs in {made['seconds']:.1f} s", flush=True)
        for i in range(repeat):
            for op in ("blake3", "fsck", "gc") if i % 2 == 0 else ("fsck", "blake3", "gc"):
                sample = run_json([python, script, "--root", root, "--op", op])
                samples.setdefault(op, []).append(sample)
                print(f"  {op:6} {sample['seconds']:8.2f} s", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    fsck_s, b3_s = (statistics.median(s["seconds"] for s in samples[op]) for op in ("fsck", "blake3"))
    size = samples["fsck"][0]["bytes"] / (1 << 30)
    return [
        Comparison(f"fsck {size:.0f} GiB of blobs (vs plain BLAKE3)", "s", fsck_s, b3_s,
                   "fsck within 1.3x of BLAKE3's time", fsck_s <= 1.3 * b3_s),
        Comparison(f"  fsck throughput: {size / fsck_s:.2f} GiB/s, BLAKE3 {size / b3_s:.2f} GiB/s", "s", fsck_s,
                   None, "(info)", True),
        Comparison("  gc --dry-run (reads every record)", "s", statistics.median(s["seconds"] for s in samples["gc"]),
                   None, "(info)", True),
    ]  # fmt: skip


# -- cards ----------------------------------------------------------------------------------------
def bench_cards(repeat: int) -> list[Comparison]:
    """The default card of a task with 50 artifacts (bench/card_ops.py), rendered in fresh processes."""
    python = flowstone_python()
    folder = Path(tempfile.mkdtemp(prefix="bench-cards-", dir=BENCH / ".work"))
    try:
        env = _bench_env(folder)
        timed_run(python, [str(BENCH / "flows" / "card_bench_flow.py"), "--quiet", "run", "--run-id-file",
                           str(folder / "run_id")], folder, env)  # fmt: skip
        cmd = [python, str(BENCH / "card_ops.py"), "--root", str(folder / ".flowstone"), "--run-id",
               (folder / "run_id").read_text().strip()]  # fmt: skip
        samples = []
        for _ in range(repeat):
            samples.append(run_json(cmd, env=env))
            print(f"  first {samples[-1]['first'] * 1000:.1f} ms, then {samples[-1]['median'] * 1000:.1f} ms "
                  f"({samples[-1]['artifacts']} artifacts, {samples[-1]['bytes']} bytes)", flush=True)  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    first, again = (statistics.median(s[k] for s in samples) for k in ("first", "median"))
    return [Comparison("default card, 50 artifacts: first render", "s", first, None, "flowstone < 0.2 s", first < 0.2),
            Comparison("  the same, rendered again", "s", again, None, "flowstone < 0.2 s", again < 0.2)]  # fmt: skip
# -- ui -------------------------------------------------------------------------------------------
UI_FOREACH_WIDTH = 1000


def bench_ui(repeat: int) -> list[Comparison]:
    """``flowstone ui`` over a datastore with 10,000 runs of one flow and a run of a 1,000-task foreach."""
    python = flowstone_python()
    folder = Path(tempfile.mkdtemp(prefix="bench-ui-", dir=BENCH / ".work"))
    root = folder / ".flowstone"
    try:
        print(f"  generating {LISTED_RUNS} runs and a {UI_FOREACH_WIDTH}-task foreach ...", flush=True)
        subprocess.run([python, str(BENCH / "client_ops.py"), "--impl", "flowstone", "--op", "generate", "--flow",
                        "ListFlow", "--runs", str(LISTED_RUNS), "--root", str(root)], check=True,
                       capture_output=True)  # fmt: skip
        flows = prepare_flows("flowstone", folder)
        subprocess.run([python, str(flows["foreach"]), "--no-pylint", "--quiet", "run", "--width",
                        str(UI_FOREACH_WIDTH), "--max-num-splits", str(UI_FOREACH_WIDTH), "--max-workers", "2",
                        "--run-id-file", str(folder / "run_id")], cwd=folder, env=_bench_env(folder), check=True,
                       capture_output=True)  # fmt: skip
        foreach_run = f"BenchForeachFlow/{(folder / 'run_id').read_text().strip()}"
        samples = []
        for _ in range(repeat):
            sample = run_json([python, str(BENCH / "ui_ops.py"), "--root", str(root), "--runs-flow", "ListFlow",
                               "--foreach-run", foreach_run])  # fmt: skip
            assert sample["tasks"] == UI_FOREACH_WIDTH + 3, sample
            samples.append(sample)
            print("  " + ", ".join(f"{k} {v:.3f}s" for k, v in sample.items() if k != "tasks"), flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    def med(key: str) -> float:
        return statistics.median(s[key] for s in samples)

    first_page = med("assets") + med("flows_page")
    return [
        Comparison("ui: server listening (fresh process)", "s", med("listening"), None, "(info)", True),
        Comparison(f"ui: first page, {LISTED_RUNS} runs (page+scripts+data)", "s", first_page, None, "< 1 s",
                   first_page < 1.0),
        Comparison(f"ui: run list, first 50 of {LISTED_RUNS} runs", "s", med("runs_page"), None, "< 1 s",
                   med("runs_page") < 1.0),
        Comparison(f"ui: run page, {UI_FOREACH_WIDTH}-task foreach", "s", med("run_page"), None, "< 1 s",
                   med("run_page") < 1.0),
        Comparison(f"ui: status filter over {LISTED_RUNS} runs, cold", "s", med("filtered"), None, "(info)", True),
        Comparison("ui: the same filter again (ended runs kept)", "s", med("filtered_again"), None, "(info)",
                   True),
    ]


# -- reads ----------------------------------------------------------------------------------------
def bench_reads(repeat: int) -> list[Comparison]:
    """Watching a step for what it reads (bench/read_watch.py): its cost on a task that reads nothing, in tasks
    forked as the local executor forks them, without and with numpy loaded; and hashing a file read, per MiB."""
    python = flowstone_python()
    samples: dict[str, list[dict]] = {"plain": [], "numpy": []}
    for _ in range(repeat):
        for variant, extra in (("plain", []), ("numpy", ["--numpy"])):
            sample = run_json([python, str(BENCH / "read_watch.py"), str(BENCH / "flows" / "linear_flow.py"), *extra])
            samples[variant].append(sample)
            print(f"  {variant:6} empty step {sample['empty'] * 1000:.3f} ms (p90 {sample['empty_p90'] * 1000:.3f} "
                  f"ms, CPU {sample['empty_cpu'] * 1000:.3f} ms), file read {sample['file_per_mb'] * 1000:.2f} ms/MiB",
                  flush=True)  # fmt: skip
    med = statistics.median
    plain, with_numpy = (med(s["empty"] for s in samples[v]) for v in ("plain", "numpy"))
    per_mb = med(s["file_per_mb"] for s in samples["plain"])
    cpu = med(s["empty_cpu"] for s in samples["plain"])
    return [Comparison("watching a step that reads nothing", "s", plain, None, "flowstone < 1 ms", plain < 0.001),
            Comparison("  the same, numpy loaded", "s", with_numpy, None, "flowstone < 1 ms", with_numpy < 0.001),
            Comparison("  CPU time of watching a step that reads nothing", "s", cpu, None, "(info)", True),
            Comparison("  a file read: described and hashed, per MiB", "s", per_mb, None, "(info)", True)]  # fmt: skip


SUITES: dict[str, Callable[[int], list[Comparison]]] = {
    "cards": bench_cards,
    "cache": bench_cache,
    "datastore": bench_datastore,
    "runtime": bench_runtime,
    "client": bench_client,
    "s3": bench_s3,
    "azure": bench_azure,
    "ray": bench_ray,
    "reads": bench_reads,
    "ui": bench_ui,
    "maintenance": bench_maintenance,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suites", nargs="*", default=list(SUITES), choices=list(SUITES))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    (BENCH / ".work").mkdir(exist_ok=True)
    rows: list[Comparison] = []
    for suite in args.suites:
        print(f"== {suite}", flush=True)
        rows.extend(SUITES[suite](args.repeat))
    stamp = datetime.date.today().isoformat()
    print(f"\nflowstone vs Metaflow 2.19, median of {args.repeat}, {stamp}, {os.cpu_count()} cores")
    print(f"{'measure':<42} {'flowstone':>10} {'metaflow':>10} {'ratio':>9}")
    for row in rows:
        print(row.line())
    sys.exit(0 if all(r.met for r in rows) else 1)


if __name__ == "__main__":
    main()
