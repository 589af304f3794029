"""The flow's graph as an SVG picture for cards: steps in rows by their distance from the start step, arrows
to the steps each leads to, the task's own step highlighted."""

from __future__ import annotations

from typing import Any

from flowstone.cards.html import esc

__all__ = ["dag_svg"]

BOX_H, ROW_GAP, COL_GAP, CHAR_W, PAD = 28, 30, 24, 7.5, 10


def _levels(steps: dict[str, list[str]], start: str) -> dict[str, int]:
    """Each step's row: the longest way from the start step without going round a loop."""
    level = {start: 0}
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str, path: set[str]) -> None:  # depth-first, to order the steps (back edges ignored)
        if name in seen or name not in steps:
            return
        seen.add(name)
        for nxt in steps[name]:
            if nxt not in path:
                visit(nxt, path | {nxt})
        order.append(name)

    visit(start, {start})
    rank = {name: i for i, name in enumerate(reversed(order))}
    for name in reversed(order):
        for nxt in steps[name]:
            if nxt in rank and rank[nxt] > rank[name]:
                level[nxt] = max(level.get(nxt, 0), level[name] + 1)
    return level


def dag_svg(graph_steps: list[dict[str, Any]], start_step: str, current_step: str | None = None) -> str:
    """An SVG of the steps (dicts with ``name`` and ``next``, as a run records its graph)."""
    steps = {s["name"]: list(s.get("next") or []) for s in graph_steps}
    if start_step not in steps:
        return ""
    level = _levels(steps, start_step)
    rows: dict[int, list[str]] = {}
    for name in steps:
        rows.setdefault(level.get(name, max(level.values()) + 1), []).append(name)
    width_of = {name: max(60.0, len(name) * CHAR_W + 2 * PAD) for name in steps}
    row_widths = {r: sum(width_of[n] for n in names) + COL_GAP * (len(names) - 1) for r, names in rows.items()}
    total_w = max(row_widths.values()) + 2 * PAD + 30  # room for loops drawn round the right side
    box: dict[str, tuple[float, float, float]] = {}  # name -> (x, y, width)
    for r, names in sorted(rows.items()):
        x = (total_w - row_widths[r]) / 2
        for name in names:
            box[name] = (x, PAD + r * (BOX_H + ROW_GAP), width_of[name])
            x += width_of[name] + COL_GAP
    total_h = PAD * 2 + len(rows) * BOX_H + (len(rows) - 1) * ROW_GAP
    edges = [_edge(box[a], box[b]) for a, nexts in steps.items() for b in nexts if b in box]
    nodes = [_node(name, *box[name], name == current_step) for name in steps]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {total_w:.0f} {total_h:.0f}" '
            f'width="{total_w:.0f}" height="{total_h:.0f}" role="img" aria-label="flow graph">'
            '<defs><marker id="fs-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#59636e"/></marker></defs>'
            f'{"".join(edges)}{"".join(nodes)}</svg>')  # fmt: skip


def _node(name: str, x: float, y: float, w: float, current: bool) -> str:
    cls = "fs-node fs-current" if current else "fs-node"
    return (f'<g class="{cls}" data-step="{esc(name)}"><rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" '
            f'height="{BOX_H}" rx="5"/><text x="{x + w / 2:.1f}" y="{y + BOX_H / 2 + 4:.1f}" '
            f'text-anchor="middle">{esc(name)}</text></g>')  # fmt: skip


def _edge(a: tuple[float, float, float], b: tuple[float, float, float]) -> str:
    ax, ay, aw = a
    bx, by, bw = b
    x1, x2 = ax + aw / 2, bx + bw / 2
    if by > ay:  # downwards, from the bottom of one box to the top of the next
        return (f'<line x1="{x1:.1f}" y1="{ay + BOX_H:.1f}" x2="{x2:.1f}" y2="{by:.1f}" '
                'marker-end="url(#fs-arrow)"/>')  # fmt: skip
    side = max(ax + aw, bx + bw) + 18  # a loop back up: round the right side
    return (f'<path d="M {ax + aw:.1f} {ay + BOX_H / 2:.1f} C {side:.1f} {ay + BOX_H / 2:.1f}, {side:.1f} '
            f'{by + BOX_H / 2:.1f}, {bx + bw:.1f} {by + BOX_H / 2:.1f}" marker-end="url(#fs-arrow)"/>')
