"""Walks over a graph given as ``{step: [next steps]}``: reachability, back edges and loops.

Names a step goes to that are not steps are ignored here (the checks report them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["find_back_edges", "find_loops", "reachable_from"]

Successors = Mapping[str, Sequence[str]]


def reachable_from(successors: Successors, first: str) -> set[str]:
    """``first`` and every step reachable from it."""
    seen: set[str] = set()
    stack = [first]
    while stack:
        name = stack.pop()
        if name in seen or name not in successors:
            continue
        seen.add(name)
        stack.extend(successors[name])
    return seen


def find_back_edges(successors: Successors, first: str) -> set[tuple[str, str]]:
    """The edges of a depth-first walk from ``first`` that go back to a step on the current path. Every cycle
    reachable from ``first`` contains at least one of them, so a graph without them is acyclic."""
    back: set[tuple[str, str]] = set()
    on_path: set[str] = set()
    done: set[str] = set()
    # iterative depth-first walk: (step, index of the next successor to look at)
    stack: list[tuple[str, int]] = [(first, 0)]
    on_path.add(first)
    while stack:
        name, index = stack[-1]
        outs = [o for o in successors[name] if o in successors]
        if index == len(outs):
            stack.pop()
            on_path.discard(name)
            done.add(name)
            continue
        stack[-1] = (name, index + 1)
        out = outs[index]
        if out in on_path:
            back.add((name, out))
        elif out not in done:
            on_path.add(out)
            stack.append((out, 0))
    return back


def find_loops(successors: Successors) -> dict[str, frozenset[str]]:
    """Step -> the steps of the cycle(s) it is on (its strongly connected component), for steps on a cycle."""
    reach = {name: reachable_from(successors, name) - {name} for name in successors}
    for name in successors:
        if any(name in reach[out] or out == name for out in successors[name] if out in successors):
            reach[name].add(name)  # on a cycle: it reaches itself
    loops: dict[str, frozenset[str]] = {}
    for name in successors:
        if name in reach[name] and name not in loops:
            loop = frozenset(other for other in reach[name] if name in reach[other])
            loops.update(dict.fromkeys(loop, loop))
    return loops
