"""Watching a step for what it reads, in this process: files and network connections (audit hooks), environment
variables, unseeded random numbers; and checking the reads again."""

from __future__ import annotations

import os
import pathlib
import random
import socket
import sysconfig
import threading
from collections.abc import Callable
from pathlib import Path
from random import seed as imported_seed  # a name the project gave a seeding function
from typing import Any

import numpy
import numpy.random
import pytest

from flowstone import reads
from flowstone.errors import ConfigurationError
from flowstone.reads.callers import FLOWSTONE_DIR, made_by_step
from flowstone.runtime import watch_env, watch_files
from flowstone.runtime.read_checks import ReadPolicy, check_env, check_files, parse_cache_reads, why_reads_differ
from flowstone.runtime.watch import watching_reads
from flowstone.settings import Settings


class ThisProject:
    """Stands for a flow class: its file's folder is the project whose Python sources are not file reads."""


def watched(step: Callable[[], Any], settings: Settings | None = None) -> dict[str, list[Any]]:
    with watching_reads(ThisProject, settings or Settings(datastore_sysroot_local="/nonexistent/ds")) as log:
        step()
    return log.to_json()


def as_flowstone(code: str, **names: Any) -> None:
    """Run ``code`` as if flowstone's own code ran it (its frames name a file in flowstone's folder)."""
    exec(compile(code, os.path.join(FLOWSTONE_DIR, "runtime", "pretend.py"), "exec"), names)


def test_files_read_are_described_and_files_written_or_not_the_steps_are_not(tmp_path: Path) -> None:
    data, written, later = tmp_path / "data.csv", tmp_path / "out.txt", tmp_path / "written-then-read.txt"
    data.write_text("a,b\n1,2\n")
    flowstones = tmp_path / "flowstones.txt"
    flowstones.write_text("flowstone reads this")

    def step() -> None:
        data.read_text()
        written.write_text("result")
        later.write_text("x")
        later.read_text()
        os.close(os.open(data, os.O_RDONLY))
        with pytest.raises(FileNotFoundError):
            (tmp_path / "missing.txt").read_text()
        pathlib.Path(__file__).read_text()  # the project's Python source: the code package, not a read
        pathlib.Path(random.__file__).read_text()  # the Python installation
        as_flowstone("open(path).read()", path=str(flowstones))

    found = watched(step)
    assert set(found) == {"files"}
    by_path = {answer[0]: answer for answer in found["files"]}
    assert set(by_path) == {str(data), str(tmp_path / "missing.txt")}
    _, size, mtime_ns, digest = by_path[str(data)]
    assert size == 8 and mtime_ns == data.stat().st_mtime_ns and len(digest) == 64
    assert by_path[str(tmp_path / "missing.txt")] == [str(tmp_path / "missing.txt"), None, None, None]


def test_a_changed_file_is_told_from_a_touched_one(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("one")
    answers = watched(data.read_text)["files"]
    context = reads.CheckContext(Settings(), {}, str(tmp_path))
    assert check_files(answers, context) is None
    data.write_text("one")  # a newer modification time, the same content
    os.utime(data, ns=(0, 10**9))
    assert check_files(answers, context) is None
    data.write_text("two")
    assert check_files(answers, context) == f"the file {data} it read changed"
    data.unlink()
    assert check_files(answers, context) == f"the file {data} it read is gone"


def test_environment_variables_the_step_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from os import environ

    monkeypatch.setenv("WATCH_A", "1")
    monkeypatch.setenv("WATCH_B", "2")
    monkeypatch.setenv("WATCH_API_TOKEN", "s3cret")
    monkeypatch.setenv("FLOWSTONE_WATCH", "own")

    def step() -> None:
        assert os.environ["WATCH_A"] == "1" and os.getenv("WATCH_B") == "2" and environ.get("WATCH_C") is None
        assert "WATCH_D" not in os.environ and os.environ.get("FLOWSTONE_WATCH") == "own"
        assert os.environ["WATCH_API_TOKEN"] == "s3cret"
        copied = {**os.environ, **os.environ.copy(), **dict(os.environ.items())}  # for a subprocess, say
        assert copied["WATCH_B"] == "2"
        os.environ["WATCH_E"] = "mine"
        assert os.environ["WATCH_E"] == "mine"  # the step's own value
        as_flowstone("os.environ.get('WATCH_F')", os=os)

    found = watched(step)
    assert set(found) == {"env"}
    answers = {answer[0]: answer for answer in found["env"]}
    assert set(answers) == {"WATCH_A", "WATCH_B", "WATCH_C", "WATCH_D", "WATCH_API_TOKEN"}
    assert answers["WATCH_A"][2] == "1" and answers["WATCH_C"] == ["WATCH_C", None, None]
    assert answers["WATCH_API_TOKEN"][1] and answers["WATCH_API_TOKEN"][2] is None  # a secret's value is not kept
    monkeypatch.delenv("WATCH_E")
    environ_now = {**os.environ, "WATCH_A": "3"}
    context = reads.CheckContext(Settings(), environ_now, "/")
    assert check_env(found["env"], context) == "the environment variable WATCH_A it read changed ('1' -> '3')"
    assert check_env(found["env"], context._replace(environ=dict(os.environ))) is None
    environ_now = {**os.environ, "WATCH_API_TOKEN": "other"}
    assert check_env(found["env"], context._replace(environ=environ_now)) == (
        "the environment variable WATCH_API_TOKEN it read changed"
    )


def test_environ_is_itself_again_after_the_step() -> None:
    environ_class = type(os.environ)
    methods = {name: environ_class.__dict__[name] for name in ("__getitem__", "__iter__", "__setitem__")}
    watched(lambda: os.environ.get("HOME"))
    assert methods == {name: environ_class.__dict__[name] for name in methods}


def test_unseeded_random_draws() -> None:
    assert watched(random.random) == {"random": [["random", "drew from the global generator (random) without "
                                                            "seeding it"]]}  # fmt: skip
    assert watched(lambda: (random.seed(4), random.random())) == {}
    assert watched(lambda: (imported_seed(4), random.random())) == {}  # seeded through a name the project gave it
    assert watched(lambda: (random.random(), random.seed(4))) != {}  # a draw before the seeding
    assert watched(lambda: random.Random(1).random()) == {}
    assert watched(lambda: (numpy.random.seed(1), numpy.random.rand(), numpy.random.default_rng(2).random())) == {}
    found = watched(lambda: numpy.random.default_rng().random())["random"]
    assert found == [["numpy.random.default_rng", "made a generator with numpy.random.default_rng() without a seed"]]
    assert [name for name, _ in watched(numpy.random.rand)["random"]] == ["numpy.random"]
    assert random.seed is not None and imported_seed.__name__ == "seed"  # put back after the step


def test_network_connections_of_the_step(tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    unix_path = str(tmp_path / "sock")
    unix_server = socket.socket(socket.AF_UNIX)
    unix_server.bind(unix_path)
    unix_server.listen(1)

    def step() -> None:
        socket.create_connection(("127.0.0.1", port), timeout=10).close()
        with socket.socket(socket.AF_UNIX) as unix:
            unix.connect(unix_path)
        as_flowstone("socket.create_connection(('127.0.0.1', port), timeout=10).close()", socket=socket, port=port)

    try:
        found = watched(step)
    finally:
        server.close()
        unix_server.close()
    assert found == {"network": [[f"127.0.0.1:{port}"], [f"unix:{unix_path}"]]}


def test_reads_in_a_thread_are_the_steps_if_its_code_runs_there() -> None:
    def steps_target() -> None:
        os.environ.get("WATCH_FROM_THE_STEPS_THREAD")

    library = {"os": os}  # a thread a library started on its own: no frame of the step's code on its stack
    exec(compile("def target():\n    os.environ.get('WATCH_FROM_A_LIBRARYS_THREAD')",
                 os.path.join(sysconfig.get_paths()["stdlib"], "pretend_library.py"), "exec"), library)  # fmt: skip

    def step() -> None:
        for target in (steps_target, library["target"]):
            thread = threading.Thread(target=target)
            thread.start()
            thread.join(timeout=10)

    assert watched(step) == {"env": [["WATCH_FROM_THE_STEPS_THREAD", None, None]]}


def test_which_reads_count(tmp_path: Path) -> None:
    assert parse_cache_reads("all") == frozenset(reads.KINDS) and parse_cache_reads("none") == frozenset()
    assert parse_cache_reads("files, env") == {"files", "env"}
    with pytest.raises(ConfigurationError, match="unknown kinds of reads: disk"):
        parse_cache_reads("files,disk")
    settings = Settings(cache_reads="all", cache_ignore_env="DEBUG_*")
    policy = ReadPolicy.of_step({"ignore_env": ["LOG_LEVEL"], "ignore_files": ["cache/*"]}, settings, str(tmp_path))
    env = [["DEBUG_X", "h", "1"], ["LOG_LEVEL", "h", "2"], ["MODEL", "h", "3"]]
    assert policy.counted("env", env) == [["MODEL", "h", "3"]]
    files = [[str(tmp_path / "cache" / "x"), 1, 1, "h"], [str(tmp_path / "data"), 1, 1, "h"]]
    assert policy.counted("files", files) == [files[1]]
    context = reads.CheckContext(settings, {}, str(tmp_path))
    stored = {"network": [["example.com:443"]], "random": [["random", "drew ..."]]}
    changed = why_reads_differ(stored, policy, context, "F/1/s/2")
    assert changed is not None and changed.kind == "random"
    allowed = ReadPolicy.of_step({"random": True, "version": "2"}, settings, str(tmp_path))  # a version: network ok
    assert why_reads_differ(stored, allowed, context, "F/1/s/2") is None
    narrowed = ReadPolicy.of_step({}, settings._replace(cache_reads="files,env"), str(tmp_path))
    assert why_reads_differ(stored, narrowed, context, "F/1/s/2") is None
    assert reads.stored_reads([["s3://b/k", "etag", None]]) == {"s3": [["s3://b/k", "etag", None]]}


def test_files_past_the_hashing_budget_are_known_by_size_and_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first.bin", tmp_path / "second.bin"
    first.write_bytes(b"x" * 100)
    second.write_bytes(b"y" * 100)
    monkeypatch.setattr(watch_files, "HASH_BUDGET", 150)  # the first file takes most of the budget
    answers = watched(lambda: (first.read_bytes(), second.read_bytes()))["files"]
    assert [(a[0], a[1], a[3] is not None) for a in answers] == [(str(first), 100, True), (str(second), 100, False)]
    context = reads.CheckContext(Settings(), {}, str(tmp_path))
    assert check_files(answers, context) is None
    second.write_bytes(b"y" * 100)  # unhashed: a newer modification time is a change, whatever the content
    os.utime(second, ns=(0, second.stat().st_mtime_ns + 10**9))
    assert check_files(answers, context) == f"the file {second} it read changed"


def test_a_failure_to_note_a_read_is_not_the_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data.txt"
    data.write_text("kept")
    monkeypatch.setenv("WATCH_BROKEN", "1")

    def broken(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("noting the read failed")

    monkeypatch.setattr(watch_env, "made_by_step", broken)
    monkeypatch.setattr(watch_files, "made_by_step", broken)
    results: list[Any] = []
    found = watched(lambda: results.extend([os.environ["WATCH_BROKEN"], os.getenv("WATCH_NONE"), data.read_text()]))
    assert results == ["1", None, "kept"] and found == {}
    with pytest.raises(KeyError):
        watched(lambda: os.environ["WATCH_NONE"])  # the step's own KeyError, not the noting's error


def test_frames_of_the_watching_code_are_passed_over() -> None:
    names: dict[str, Any] = {"os": os}  # code in a file named as the watching code's are: runtime/watch*.py
    exec(compile("def read(name):\n    return os.environ.get(name)", watch_files.WATCHERS + "_pretend.py", "exec"),
         names)  # fmt: skip
    found = watched(lambda: names["read"]("WATCH_THROUGH_THE_WATCHERS"))
    assert found == {"env": [["WATCH_THROUGH_THE_WATCHERS", None, None]]}  # the step's read, not flowstone's
    assert made_by_step(depth=10_000) is False  # a stack shallower than asked for has no code of the step's
