"""Keeping a datastore healthy for years: ``fsck`` checks it, ``remove_runs`` removes runs' records, and
``collect_garbage`` applies a retention rule and deletes the blobs nothing refers to any more.

They know the datastore's layout (:mod:`flowstone.datastore.layout`) and what refers to what
(:mod:`~flowstone.datastore.maintenance.inventory`); they never go through the Client API. Each takes the
:class:`~flowstone.storage.Storage` of a datastore::

    from flowstone.datastore.maintenance import collect_garbage, fsck
    from flowstone.settings import Settings
    from flowstone.storage import make_storage

    storage = make_storage("local", Settings.from_env())
    report = fsck(storage)
    for problem in report.problems:
        print(problem.key, problem.what, problem.todo)
    collect_garbage(storage, keep_last=10, dry_run=True)
"""

from flowstone.datastore.maintenance.fsck import FsckReport, Problem, fsck
from flowstone.datastore.maintenance.gc import GcReport, collect_garbage
from flowstone.datastore.maintenance.remove import RemovedRun, remove_runs

__all__ = ["FsckReport", "GcReport", "Problem", "RemovedRun", "collect_garbage", "fsck", "remove_runs"]
