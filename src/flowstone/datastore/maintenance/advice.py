"""What to do about each kind of problem fsck finds (one place for the wording)."""

from __future__ import annotations

from flowstone.datastore.maintenance.inventory import RunObjects

__all__ = [
    "GC_CLEANS",
    "bad_cache_entry",
    "damaged_blob",
    "damaged_record",
    "finish_removal",
    "missing_blob",
    "stale_damage_mark",
]

GC_CLEANS = "Harmless; `flowstone gc` removes it."


def finish_removal(flow: str, run_id: str) -> str:
    return f"Readers do not see it. `flowstone rm {flow}/{run_id}` (or `flowstone gc`) finishes the removal."


def damaged_record(kind: str, run: RunObjects) -> str:
    rm = f"`flowstone rm {run.flow}/{run.run_id}`"
    if kind in ("done", "data", "metadata", "attempt", "times"):
        return (f"The task counts as not done: the cache and resume do not reuse it, and the next plain run of "
                f"the flow computes it again. To drop the run, {rm}.")  # fmt: skip
    if kind == "run":
        return f"The run cannot be read or resumed: remove it with {rm}."
    if kind == "end":
        return f"The run's status is judged from its end task instead. To drop the run, {rm}."
    return f"The run's user tags cannot be read. To drop the run, {rm}."


def bad_cache_entry() -> str:
    return "It is a cache miss (the step runs again, and its new entry replaces it); `flowstone gc` removes it."


def damaged_blob(referrer: str | None) -> str:
    if referrer is None:
        return "No record refers to it: `flowstone gc` deletes it."
    return (f"Run the flow again (a plain run): the task that produced it runs again, since the cache does not "
            f"reuse a task whose data is damaged, and its write repairs the blob for every run that refers to it "
            f"(among them {referrer}).")  # fmt: skip


def missing_blob(referrer: str) -> str:
    return (f"Loading the artifact fails. Run the flow again: the task that produced it runs again (the cache and "
            f"resume do not reuse a task whose data is gone) and stores it anew; or remove the run of {referrer} "
            f"with `flowstone rm`.")  # fmt: skip


def stale_damage_mark(mark_key: str) -> str:
    return (f"A read was bad once; the mark makes the cache run the tasks that need the blob again. A plain run "
            f"of the flow lifts it, or delete {mark_key}.")  # fmt: skip
