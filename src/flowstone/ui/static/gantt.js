// A run's tasks on a time line, one row per task, grouped by step; reused tasks show as marks (they took no time).
import { html } from "./vendor/preact-htm.js";
import { duration } from "./util.js";

const ROW = 14, LABEL = 150, WIDTH = 900;

export function Gantt({ tasks, onPick }) {
  const timed = tasks.filter((t) => t.started_at != null);
  if (!timed.length) return html`<p class="muted">No task has started yet.</p>`;
  const start = Math.min(...timed.map((t) => t.started_at));
  const now = Date.now() / 1000;
  const end = Math.max(...timed.map((t) => t.finished_at ?? now), start + 0.001);
  const scale = (WIDTH - LABEL - 10) / (end - start);
  const rows = timed.map((t, i) => {
    const x = LABEL + (t.started_at - start) * scale;
    const w = Math.max(2, ((t.finished_at ?? now) - t.started_at) * scale);
    const title = `${t.step}/${t.task_id}: ${t.status}${t.reused ? ", reused" : ""}, ${duration(t.started_at, t.finished_at)}`;
    return html`<g class=${`bar bar-${t.status}${t.reused ? " bar-reused" : ""}`} onClick=${() => onPick(t)}>
      <title>${title}</title>
      <text x="4" y=${i * ROW + 11}>${t.step}/${t.task_id}</text>
      <rect x=${x} y=${i * ROW + 2} width=${w} height=${ROW - 4} rx="2" /></g>`;
  });
  return html`<div class="gantt-box"><svg class="gantt" width=${WIDTH} height=${timed.length * ROW + 18}>
    ${rows}<text class="axis" x=${LABEL} y=${timed.length * ROW + 14}>0 s</text>
    <text class="axis" x=${WIDTH - 10} y=${timed.length * ROW + 14} text-anchor="end">${duration(start, end)}</text></svg></div>`;
}
