"""Cross-run caching: each kind of change re-runs exactly the steps that depend on it, and `why` names it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cache.project import ALL_TASKS, Project, ran


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project(tmp_path)
    first = project.run()
    assert first.returncode == 0, first.stdout + first.stderr
    assert set(project.decisions()) == set(ALL_TASKS)
    assert ran(project.decisions()) == set(ALL_TASKS)  # nothing to reuse the first time
    return project


def rerun(project: Project, *args: str) -> set[str]:
    result = project.run(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    return ran(project.decisions())


def test_unchanged_rerun_executes_nothing(project: Project) -> None:
    result = project.run()
    assert result.returncode == 0
    assert ran(project.decisions()) == set()
    assert result.stdout.count("Cache hit: reusing CacheFlow/") == len(ALL_TASKS)
    assert "Task is starting" not in result.stdout


def test_formatting_and_comments_change_nothing(project: Project) -> None:
    project.edit(
        "cache_flow.py",
        "        self.scaled = [v * self.factor for v in self.values]",
        "        # a comment\n        self.scaled = [ v*self.factor  for v in self.values ]  # trailing",
    )
    project.edit("helpers.py", "def square(x):", '# helper\ndef square(x):\n    """Square it."""')
    assert rerun(project) == set()


def test_step_body_edit_reruns_the_step_and_what_its_output_changes(project: Project) -> None:
    project.edit(
        "cache_flow.py", "[v * self.factor for v in self.values]", "[v * self.factor + 1 for v in self.values]"
    )
    assert rerun(project) == {"scale", "threshold", "versioned", "end"}
    why = project.why(f"{project.latest_run_id()}/scale")
    assert "code: cache_flow.py:CacheFlow.scale changed" in why and "+ 1 for v in self.values" in why
    assert "input artifact 'scaled' changed" in project.why(f"{project.latest_run_id()}/threshold")


def test_refactor_with_equal_output_reruns_only_the_step(project: Project) -> None:
    project.edit(
        "cache_flow.py", "[v * self.factor for v in self.values]", "list(map(lambda v: v * self.factor, self.values))"
    )
    assert rerun(project) == {"scale"}


def test_helper_in_another_module(project: Project) -> None:
    project.edit("helpers.py", "return x * x", "return x ** 2")  # same values
    assert rerun(project) == {"square[0]", "square[1]", "square[2]"}
    assert "code: helpers.py:square changed" in project.why(f"{project.latest_run_id()}/square/2")
    project.edit("helpers.py", "return x ** 2", "return x ** 3")  # different values: everything after too
    assert rerun(project) == {"square[0]", "square[1]", "square[2]", "join", "scale", "threshold", "versioned", "end"}


def test_constant(project: Project) -> None:
    project.edit("cache_flow.py", "THRESHOLD = 3", "THRESHOLD = 4")  # scaled = [2, 8, 18]: same result
    assert rerun(project) == {"threshold"}
    assert "constant 'THRESHOLD' changed: 3 -> 4" in project.why(f"{project.latest_run_id()}/threshold")


def test_parameter(project: Project) -> None:
    # a parameter is an artifact every step can see: every step runs again
    assert rerun(project, "--factor", "3") == set(ALL_TASKS)
    assert "input artifact 'factor' changed" in project.why(f"{project.latest_run_id()}/scale")
    assert rerun(project, "--factor", "3") == set()


def test_upstream_artifact(project: Project) -> None:
    project.edit("cache_flow.py", "self.base = 10", "self.base = 11")
    # every task that sees 'base' runs again; the join does not pass it on, so what follows is reused
    assert rerun(project) == {"start", "square[0]", "square[1]", "square[2]", "join"}
    why = project.why(f"{project.latest_run_id()}/square/3")
    assert "input artifact 'base' changed" in why


def test_package_version(project: Project) -> None:
    project.set_package_version("1.1")
    assert rerun(project) == {"versioned"}
    assert "package 'fakepkg' changed: 1.0 -> 1.1" in project.why(f"{project.latest_run_id()}/versioned")


def test_adding_a_foreach_item_runs_one_more_task(project: Project) -> None:
    project.edit("cache_flow.py", "self.items = [1, 2, 3]", "self.items = [1, 2, 3, 4]")
    assert rerun(project) == {"start", "square[3]", "join", "scale", "threshold", "versioned", "end"}


def test_opting_out(project: Project) -> None:
    assert rerun(project, "--no-cache") == set(ALL_TASKS)
    assert {d for d in project.decisions().values()} == {"off"}
    project.edit(
        "cache_flow.py", "    @step\n    def scale(self):", "    @cache(enabled=False)\n    @step\n    def scale(self):"
    )
    assert rerun(project) == {"scale"}
    assert "not cached: the step has @cache(enabled=False)" in project.why(f"{project.latest_run_id()}/scale")


def test_cache_version_and_files(project: Project) -> None:
    (project.code / "schema.json").write_text('{"v": 1}')
    project.edit(
        "cache_flow.py",
        "    @step\n    def threshold(self):",
        "    @cache(version='1', files=['schema.json'])\n    @step\n    def threshold(self):",
    )
    assert rerun(project) == {"threshold"}  # the key gained extras
    assert rerun(project) == set()
    (project.code / "schema.json").write_text('{"v": 2}')
    assert rerun(project) == {"threshold"}
    assert "@cache extras changed" in project.why(f"{project.latest_run_id()}/threshold")
    project.edit("cache_flow.py", "version='1'", "version='2'")
    assert rerun(project) == {"threshold"}


def test_failed_tasks_are_never_reused(tmp_path: Path) -> None:
    project = Project(tmp_path)
    assert project.run(env={"FAIL_AT": "end"}).returncode == 1
    assert rerun(project) == {"end"}  # the failed end left nothing to reuse; the rest is reused


def test_caught_failures_are_never_reused(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.edit(
        "cache_flow.py", "    @step\n    def end(self):", "    @catch(var='problem')\n    @step\n    def end(self):"
    )
    assert project.run(env={"FAIL_AT": "end"}).returncode == 0
    assert rerun(project) == {"end"}
    assert rerun(project) == set()  # a clean end is reused


def test_a_lost_blob_turns_a_hit_into_a_miss(project: Project) -> None:
    start = project.fds.get_task_datastores(run_id=project.latest_run_id(), steps=["start"])[0]
    key = start.records["blob"].key
    (project.datastore / "data" / key[:2] / key).unlink()
    assert "start" in rerun(project)
    why = project.why(f"{project.latest_run_id()}/start")
    assert "lost the data of blob" in why
    assert rerun(project) == set()


def test_a_damaged_record_of_an_earlier_task_is_a_miss_not_a_failure(project: Project) -> None:
    run_id = project.latest_run_id()
    start = project.fds.get_task_datastores(run_id=run_id, steps=["start"])[0]
    done = project.datastore / "CacheFlow" / run_id / "start" / start.task_id / f"{start.attempt}.DONE"
    done.write_bytes(done.read_bytes()[:20])  # truncated, as by a full disk
    result = project.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "start" in ran(project.decisions())
    warning = next(line for line in (result.stdout + result.stderr).splitlines() if "Warning: not reusing" in line)
    assert f"CacheFlow/{run_id}/start/{start.task_id}/{start.attempt}.DONE" in warning  # names the record
    assert "records of the earlier task" in project.why(f"{project.latest_run_id()}/start")
    assert rerun(project) == set()  # the new run's start is what the cache points at now


def test_a_damaged_cache_entry_is_a_miss_not_a_failure(project: Project) -> None:
    entries = sorted((project.datastore / "CacheFlow" / "_cache").rglob("*.json"))
    assert len(entries) == len(ALL_TASKS)
    for entry in entries:
        entry.write_text("{")
    result = project.run()
    assert result.returncode == 0 and ran(project.decisions()) == set(ALL_TASKS)
    assert (result.stdout + result.stderr).count("the cache entry of this key is damaged") == len(ALL_TASKS)
    assert "cache entry of this key is damaged" in project.why(f"{project.latest_run_id()}/start")
    assert rerun(project) == set()


def test_concurrent_runs_with_the_same_keys(tmp_path: Path) -> None:
    project = Project(tmp_path)
    procs = [project.start() for _ in range(2)]
    results = [p.communicate_result() for p in procs]
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert rerun(project) == set()
    run_ids = sorted(project.fds.list_run_ids(), key=int)
    assert len(run_ids) == 3


def test_dry_run_says_what_would_be_reused(project: Project) -> None:
    plan = project.run("--dry-run")
    assert plan.returncode == 0
    assert "9 of the 9 tasks found would reuse earlier results." in plan.stdout
    project.edit("cache_flow.py", "THRESHOLD = 3", "THRESHOLD = 4")
    plan = project.run("--dry-run")
    lines = {line.split()[0]: line for line in plan.stdout.splitlines() if line.startswith("  ")}
    assert "reuse" in lines["scale"] and " run " in lines["threshold"]
    assert "follows a task that will run" in lines["versioned"]
    assert len(project.fds.list_run_ids()) == 1  # nothing ran


def test_why_from_the_flowstone_command(project: Project) -> None:
    import subprocess
    import sys

    project.edit("cache_flow.py", "THRESHOLD = 3", "THRESHOLD = 5")
    rerun(project)
    run_id = project.latest_run_id()
    out = subprocess.run([sys.executable, "-m", "flowstone.cli.main", "--datastore-root", str(project.datastore),
                          "why", f"CacheFlow/{run_id}/threshold"], capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0 and "constant 'THRESHOLD' changed: 3 -> 5" in out.stdout
    out = subprocess.run([sys.executable, "-m", "flowstone.cli.main", "--datastore-root", str(project.datastore),
                          "why", f"CacheFlow/{run_id}/join"], capture_output=True, text=True)  # fmt: skip
    assert "cache hit, reused CacheFlow/" in out.stdout


def test_a_damaged_blob_found_by_a_read_is_healed_by_the_next_plain_run(project: Project) -> None:
    from flowstone.errors import IntegrityError

    old_run = project.latest_run_id()
    start = project.fds.get_task_datastores(run_id=old_run, steps=["start"])[0]
    key = start.records["blob"].key
    path = project.datastore / "data" / key[:2] / key
    stored = bytearray(path.read_bytes())
    stored[len(stored) // 2] ^= 0x01  # one flipped bit, as bit rot leaves
    path.write_bytes(bytes(stored))
    assert rerun(project) == set()  # nothing read the blob: nothing knows yet
    with pytest.raises(IntegrityError, match=f"Blob {key} .* is corrupted"):
        project.fds.get_datastore_for_task(old_run, "start", start.task_id)["blob"]
    ran = rerun(project)  # the read left a mark: the producing task is not reused...
    assert "start" in ran
    assert "has damaged data for blob" in project.why(f"{project.latest_run_id()}/start")
    healed = project.fds.get_datastore_for_task(old_run, "start", start.task_id)["blob"]
    assert healed == bytes(range(256)) * 64  # ... and its write repaired the old run too
    assert rerun(project) == set()


def test_max_num_splits_holds_for_a_foreach_reused_from_the_cache(project: Project) -> None:
    limited = project.run("--max-num-splits", "2")
    assert limited.returncode == 1
    assert "would start 3 tasks, more than --max-num-splits=2" in limited.stdout + limited.stderr
    assert "more than --max-num-splits=2" in project.why(f"{project.latest_run_id()}/start")
    assert rerun(project, "--max-num-splits", "3") == set()  # within the limit: reused again
