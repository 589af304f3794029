// Two runs side by side: parameters, what each step did (ran or reused), and artifact values; differences marked.
import { html } from "./vendor/preact-htm.js";
import { Failure, Link, query, useApi, withQuery } from "./util.js";

function Decisions({ d }) {
  if (!d.tasks) return html`<span class="muted">did not run</span>`;
  const statuses = Object.entries(d.status).map(([s, n]) => `${n} ${s}`).join(", ");
  return html`<span>${d.tasks} task${d.tasks > 1 ? "s" : ""} (${statuses})${d.reused ? html`, <span class="badge reused">${d.reused} reused</span>` : ""}</span>`;
}

function Value({ v }) {
  if (!v) return html`<span class="muted">–</span>`;
  return html`<code title=${`${v.type}, sha ${v.sha.slice(0, 12)}`}>${v.value ?? `<${v.type}, ${v.size} bytes>`}</code>`;
}

export function CompareView({ flow, a, b }) {
  const { data, error } = useApi(`/api/compare/${flow}/${a}/${b}`);
  if (!data) return html`<${Failure} error=${error} />${error ? "" : html`<p class="loading">Loading…</p>`}`;
  const all = query().get("all") === "1";
  const rows = data.steps.flatMap((s) => s.tasks.flatMap((t) => t.artifacts.filter((r) => all || !r.same).map((r) => ({ s, t, r }))));
  const runLink = (id) => html`<${Link} href=${`/runs/${flow}/${id}`}>${id}<//>`;
  return html`<h1>Compare ${runLink(a)} and ${runLink(b)}</h1>
    <h2>Parameters</h2><table class="compare"><thead><tr><th>parameter</th><th>${a}</th><th>${b}</th></tr></thead><tbody>
      ${data.parameters.map((p) => html`<tr class=${p.same ? "same" : "differs"}><td>${p.name}</td><td><code>${p.a ?? "–"}</code></td><td><code>${p.b ?? "–"}</code></td></tr>`)}
    </tbody></table>
    <h2>Steps</h2><table class="compare"><thead><tr><th>step</th><th>${a}</th><th>${b}</th></tr></thead><tbody>
      ${data.steps.map((s) => html`<tr class="step-row" data-step=${s.step}><td>${s.step}</td><td><${Decisions} d=${s.a} /></td><td><${Decisions} d=${s.b} /></td></tr>`)}
    </tbody></table>
    <h2>Artifacts <span class="muted">${all ? "all" : "that differ"}</span></h2>
    <p><${Link} href=${withQuery({ all: all ? null : "1" })} class="toggle-all">${all ? "show only differences" : "show all artifacts"}<//></p>
    <table class="compare artifacts-compare"><thead><tr><th>step</th><th>artifact</th><th>${a}</th><th>${b}</th></tr></thead><tbody>
      ${rows.map(({ s, t, r }) => html`<tr class=${r.same ? "same" : "differs"} data-artifact=${`${s.step}.${r.name}`}>
        <td>${s.step}${t.index != null ? `[${t.index}]` : ""}</td><td>${r.name}</td><td><${Value} v=${r.a} /></td><td><${Value} v=${r.b} /></td></tr>`)}
    </tbody></table>`;
}
