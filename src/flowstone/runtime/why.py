"""Why a task ran again: the differences between two cache keys, in words.

Keys are compared component by component: code (with a diff of the changed sources), constants, decorators,
``@cache`` extras, input artifacts (old and new content hashes), foreach position, joined inputs, Python and
package versions.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

__all__ = ["describe_differences", "summarize_differences"]

SourceLoader = Callable[[str], str | None]


def _short(key: Any) -> str:
    return str(key)[:12] if key is not None else "(none)"


def _dict_changes(label: str, old: dict[str, Any], new: dict[str, Any], fmt: Callable[[Any], str] = str) -> list[str]:
    lines = []
    for name in sorted(set(old) | set(new)):
        if name not in old:
            lines.append(f"{label} '{name}' is new ({fmt(new[name])})")
        elif name not in new:
            lines.append(f"{label} '{name}' is gone (was {fmt(old[name])})")
        elif old[name] != new[name]:
            lines.append(f"{label} '{name}' changed: {fmt(old[name])} -> {fmt(new[name])}")
    return lines


def _code_changes(old: dict[str, Any], new: dict[str, Any], load: SourceLoader | None) -> list[str]:
    lines = []
    old_sources, new_sources = old.get("sources", {}), new.get("sources", {})
    for name in sorted(set(old_sources) | set(new_sources)):
        before, after = old_sources.get(name), new_sources.get(name)
        if before == after:
            continue
        if before is None:
            lines.append(f"code: {name} is now used")
        elif after is None:
            lines.append(f"code: {name} is no longer used")
        else:
            lines.append(f"code: {name} changed")
            if load is not None:
                old_text, new_text = load(before), load(after)
                if old_text is not None and new_text is not None:
                    diff = difflib.unified_diff(
                        old_text.splitlines(), new_text.splitlines(), "before", "now", lineterm="", n=1
                    )
                    lines.extend(f"    {line}" for line in diff)
    lines += _dict_changes("constant", old.get("constants", {}), new.get("constants", {}))
    if old.get("decorators") != new.get("decorators"):
        lines.append(f"decorators changed: {old.get('decorators')} -> {new.get('decorators')}")
    if old.get("extra") != new.get("extra"):
        lines.append(f"@cache extras changed: {old.get('extra')} -> {new.get('extra')}")
    return lines


def _input_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    lines = _dict_changes("input artifact", old.get("artifacts", {}), new.get("artifacts", {}), _short)
    lines += _dict_changes("config", old.get("configs", {}), new.get("configs", {}), _short)
    old_foreach, new_foreach = old.get("foreach", []), new.get("foreach", [])
    if old_foreach != new_foreach:
        for level, (before, after) in enumerate(zip(old_foreach, new_foreach, strict=False)):
            if before.get("index") != after.get("index"):
                lines.append(f"foreach position (level {level}): {before.get('index')} -> {after.get('index')}")
            elif before.get("item") != after.get("item"):
                lines.append(f"foreach item at index {after.get('index')} changed (level {level})")
            elif before.get("num_nodes") != after.get("num_nodes"):
                lines.append(f"@parallel tasks: {before.get('num_nodes')} -> {after.get('num_nodes')}")
        if len(old_foreach) != len(new_foreach):
            lines.append("the foreach nesting changed")
    old_joined, new_joined = old.get("joined", []), new.get("joined", [])
    if old_joined != new_joined:
        changed = [i for i, (a, b) in enumerate(zip(old_joined, new_joined, strict=False)) if a != b]
        if len(old_joined) != len(new_joined):
            lines.append(f"the join has {len(new_joined)} inputs, it had {len(old_joined)}")
        if changed:
            lines.append(f"joined inputs changed: {', '.join(str(i) for i in changed[:20])}"
                         + (" ..." if len(changed) > 20 else ""))  # fmt: skip
    return lines


def describe_differences(
    old: dict[str, Any], new: dict[str, Any], load_source: SourceLoader | None = None
) -> list[str]:
    """Every difference between two keys' components, most telling first (empty if the keys match)."""
    lines = _code_changes(old.get("code", {}), new.get("code", {}), load_source)
    lines += _input_changes(old.get("inputs", {}), new.get("inputs", {}))
    old_env, new_env = old.get("environment", {}), new.get("environment", {})
    if old_env.get("python") != new_env.get("python"):
        lines.append(f"Python changed: {old_env.get('python')} -> {new_env.get('python')}")
    lines += _dict_changes("package", old_env.get("packages", {}), new_env.get("packages", {}))
    if old.get("iteration") != new.get("iteration"):
        lines.append(f"loop round: {old.get('iteration')} -> {new.get('iteration')}")
    if old.get("format") != new.get("format"):
        lines.append("the cache key format changed (a newer flowstone)")
    return lines


def summarize_differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    """One line naming what changed, for the run's output."""
    lines = [line for line in describe_differences(old, new) if not line.startswith("    ")]
    if not lines:
        return "its cache key changed"
    return "; ".join(lines[:3]) + (f" (and {len(lines) - 3} more)" if len(lines) > 3 else "")
