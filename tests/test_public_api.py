"""The public API is pinned: a Metaflow flow's imports keep working after s/metaflow/flowstone/."""

from __future__ import annotations

import subprocess
import sys

import flowstone

PUBLIC = {
    "FlowSpec", "step", "Parameter", "JSONType", "current", "retry", "catch", "cache", "timeout", "resources",
    "environment", "IncludeFile",
    "Metaflow", "Flow", "Run", "Step", "Task", "DataArtifact", "namespace", "get_namespace", "default_namespace",
    "metadata", "get_metadata", "default_metadata", "Runner",
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


def test_import_is_light() -> None:
    """``import flowstone`` loads nothing heavy: names are imported on first use."""
    code = "import sys, flowstone; print(','.join(sorted(m for m in sys.modules if m.startswith('flowstone'))))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "flowstone,flowstone._lazy"
    code = "import sys; from flowstone import Run; print('click' in sys.modules, 'asyncio' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split() == ["False"] * 2
