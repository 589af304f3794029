"""The public API is pinned: a Metaflow flow's imports keep working after s/metaflow/flowstone/."""

from __future__ import annotations

import subprocess
import sys

import flowstone

PUBLIC = {
    "FlowSpec", "step", "Parameter", "JSONType", "current", "retry", "catch", "cache", "timeout", "resources",
    "environment", "parallel", "IncludeFile", "card",
    "Metaflow", "Flow", "Run", "Step", "Task", "DataArtifact", "namespace", "get_namespace", "default_namespace",
    "metadata", "get_metadata", "default_metadata", "Runner", "S3",
    "kubernetes", "batch", "secrets", "profile", "parallel_map", "parallel_imap_unordered", "pypi", "conda",
    "pypi_base", "conda_base", "schedule", "trigger", "trigger_on_finish",
    "NBRunner", "Deployer",
    "Config", "config_expr", "project", "FlowMutator", "StepMutator", "UserStepDecorator", "user_step_decorator",
}  # fmt: skip


def test_public_names() -> None:
    assert set(flowstone.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(flowstone, name) is not None


def test_metaflow_exception_names() -> None:
    from flowstone.datastore.exceptions import DataException
    from flowstone.errors import FlowstoneNotFound
    from flowstone.exception import MetaflowException, MetaflowNotFound, UnpicklableArtifactException

    assert MetaflowNotFound is FlowstoneNotFound and issubclass(MetaflowNotFound, MetaflowException)
    assert issubclass(UnpicklableArtifactException, DataException)


def test_metaflow_s3_names() -> None:
    from flowstone import s3
    from flowstone.exception import MetaflowException

    for name in ("S3", "S3Object", "S3GetObject", "S3PutObject", "RangeInfo"):
        assert getattr(s3, name) is not None
    for suffix in ("Exception", "NotFound", "AccessDenied", "URLException", "InvalidObject", "InvalidRange"):
        assert getattr(s3, f"MetaflowS3{suffix}") is getattr(s3, f"S3{suffix}")
        assert issubclass(getattr(s3, f"S3{suffix}"), MetaflowException)


def test_import_is_light() -> None:
    """``import flowstone`` loads nothing heavy: names are imported on first use."""
    code = "import sys, flowstone; print(','.join(sorted(m for m in sys.modules if m.startswith('flowstone'))))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "flowstone,flowstone._lazy"
    code = "import sys; from flowstone import Run; print('click' in sys.modules, 'asyncio' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split() == ["False"] * 2


def test_every_error_is_under_the_one_root_and_drawn_in_its_tree() -> None:
    """Every exception class flowstone defines, in any module, is a FlowstoneException and appears in errors.py's
    tree, so the tree stays the one place to see what flowstone raises."""
    import importlib
    import inspect
    import pkgutil

    from flowstone import errors

    classes = set()
    for module_info in pkgutil.walk_packages(flowstone.__path__, "flowstone."):
        try:
            module = importlib.import_module(module_info.name)
        except ImportError:  # an optional dependency this environment lacks
            continue
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, Exception) and value.__module__ == module.__name__:
                classes.add(value)
    internal = {"ExceptionWrapper", "FlowFileLoaded", "FailureHandledByCatch", "BlobFormatError", "InjectedFailure",
                "SignedRequestError", "StalledResponse", "DeadlineExceeded",
                "Expired"}  # the S3 transport's, never raised out
    assert errors.__doc__ is not None
    tree = errors.__doc__.split("Where Metaflow has the same exception")[0]
    for cls in classes:
        if cls.__name__ in internal or cls.__name__.startswith("_"):
            continue
        assert issubclass(cls, errors.FlowstoneException), f"{cls.__module__}.{cls.__name__} is outside the root"
        assert f" {cls.__name__} " in tree, f"{cls.__module__}.{cls.__name__} is missing from errors.py's tree"


def test_metaflows_module_paths_that_flows_import() -> None:
    from flowstone import current
    from flowstone.cards import get_cards
    from flowstone.errors import FlowstoneNotFound
    from flowstone.metaflow_current import current as current_at_metaflows_path
    from flowstone.metaflow_version import get_version
    from flowstone.plugins.cards.exception import CardNotPresentException

    assert current_at_metaflows_path is current
    assert get_version() == flowstone.__version__
    try:  # a task that does not exist has no cards: Metaflow's get_cards raises MetaflowNotFound
        get_cards("SomeFlow/1/start/1")
        raise AssertionError("get_cards found a task that does not exist")
    except FlowstoneNotFound:
        pass
    assert CardNotPresentException("F/1/s/2", card_id="x").headline == "Card not found in datastore"
    code = "from flowstone import metaflow_version; print(metaflow_version.get_version())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == flowstone.__version__
