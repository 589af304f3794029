"""Why a task on a loop or of a @parallel step has a new cache key: its round or its number of nodes, in words."""

from __future__ import annotations

from flowstone.runtime.why import describe_differences


def test_a_new_round_and_a_new_number_of_nodes_are_named() -> None:
    old = {"inputs": {"artifacts": {}, "foreach": [{"index": 1, "num_nodes": 3}]}, "iteration": 2}
    new = {"inputs": {"artifacts": {}, "foreach": [{"index": 1, "num_nodes": 4}]}, "iteration": 3}
    assert describe_differences(old, new) == ["@parallel tasks: 3 -> 4", "loop round: 2 -> 3"]
    assert describe_differences(old, old) == []
