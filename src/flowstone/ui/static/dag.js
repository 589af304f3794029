// A run's graph drawn as SVG: steps in layers from the start down (a step sits below every step leading to it),
// coloured by the status of their tasks, with a foreach's fan-out counted and reused steps marked.
import { html } from "./vendor/preact-htm.js";

const W = 168, H = 58, GAP_X = 32, GAP_Y = 46, PAD = 16;

// Layers by longest path from the start, ignoring edges back to an earlier step (a switch's loop).
function layout(steps) {
  const order = new Map(steps.map((s, i) => [s.name, i]));
  const layer = new Map();
  for (const step of steps) if (!layer.has(step.name)) layer.set(step.name, 0);
  for (const step of steps) {
    for (const next of step.next) {
      if (order.get(next) > order.get(step.name)) layer.set(next, Math.max(layer.get(next) ?? 0, layer.get(step.name) + 1));
    }
  }
  const rows = [];
  for (const step of steps) (rows[layer.get(step.name)] ||= []).push(step.name);
  const x = new Map();
  rows.forEach((names, depth) => {
    if (depth > 0) {  // under the steps that lead to them
      const parents = (name) => steps.filter((s) => s.next.includes(name) && layer.get(s.name) < depth);
      const centre = (name) => { const ps = parents(name); return ps.length ? ps.reduce((a, p) => a + x.get(p.name), 0) / ps.length : 0; };
      names.sort((a, b) => centre(a) - centre(b));
    }
    names.forEach((name, i) => x.set(name, i - (names.length - 1) / 2));
  });
  const widest = Math.max(...rows.map((r) => r.length));
  const width = widest * W + (widest - 1) * GAP_X + 2 * PAD;
  const pos = new Map(steps.map((s) => [s.name, {
    x: width / 2 + x.get(s.name) * (W + GAP_X) - W / 2, y: PAD + layer.get(s.name) * (H + GAP_Y) }]));
  return { pos, width, height: rows.length * (H + GAP_Y) - GAP_Y + 2 * PAD };
}

export function stepStatus(state) {
  if (!state || !state.tasks) return "pending";
  const s = state.status;
  if (s.failed) return "failed";
  if (s.running) return "running";
  return "succeeded";
}

function Edge({ from, to, label, back }) {
  const x1 = from.x + W / 2, y1 = from.y + H, x2 = to.x + W / 2, y2 = to.y;
  const d = back ? `M${from.x + W},${from.y + H / 2} C${from.x + W + 60},${from.y} ${to.x + W + 60},${to.y + H} ${to.x + W},${to.y + H / 2}`
    : `M${x1},${y1} C${x1},${y1 + GAP_Y / 2} ${x2},${y2 - GAP_Y / 2} ${x2},${y2}`;
  return html`<g class="edge"><path d=${d} marker-end="url(#arrow)" />
    ${label ? html`<text class="fanout" x=${(x1 + x2) / 2 + 6} y=${(y1 + y2) / 2 + 4}>${label}</text>` : ""}</g>`;
}

export function Dag({ graph, steps, selected, onSelect }) {
  const nodes = graph.steps || [];
  if (!nodes.length) return html`<p class="muted">This run recorded no graph.</p>`;
  const { pos, width, height } = layout(nodes);
  const order = new Map(nodes.map((s, i) => [s.name, i]));
  const edges = nodes.flatMap((s) => s.next.filter((n) => pos.has(n)).map((n) => html`<${Edge} from=${pos.get(s.name)} to=${pos.get(n)}
    back=${order.get(n) <= order.get(s.name)}
    label=${s.type === "foreach" && steps[n] ? `× ${steps[n].tasks}` : ""} />`));
  const boxes = nodes.map((s) => {
    const p = pos.get(s.name), state = steps[s.name], status = stepStatus(state);
    const fanned = nodes.some((o) => o.type === "foreach" && o.next.includes(s.name)) || (state && state.tasks > 1);
    const reused = state && state.reused ? (state.reused === state.tasks ? "reused" : `reused ${state.reused}/${state.tasks}`) : "";
    return html`<g class=${`step step-${status}${selected === s.name ? " selected" : ""}`} data-step=${s.name}
        transform=${`translate(${p.x},${p.y})`} onClick=${() => onSelect(s.name)}>
      ${fanned ? html`<rect class="shadow" x="5" y="5" width=${W} height=${H} rx="7" />` : ""}
      <rect width=${W} height=${H} rx="7" />
      <text class="name" x="10" y="21">${s.name}</text>
      <text class="info" x="10" y="41">${s.type}${state && state.tasks > 1 ? ` · ${state.tasks} tasks` : ""}</text>
      ${reused ? html`<g class="reused-mark"><rect x=${W - 74} y="-9" width="70" height="18" rx="9" /><text x=${W - 39} y="4">${reused}</text></g>` : ""}
    </g>`;
  });
  return html`<svg class="dag" width=${width + 70} height=${height} viewBox=${`0 0 ${width + 70} ${height}`} role="img" aria-label="the run's graph">
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
      <path d="M0,0 L10,5 L0,10 z" /></marker></defs>
    ${edges}${boxes}</svg>`;
}
