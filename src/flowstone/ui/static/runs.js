// Flows with their latest runs, and one flow's runs: filtered by status, user and tag, newest first, live.
import { html, useState } from "./vendor/preact-htm.js";
import { Failure, Link, Reused, Status, duration, navigate, query, useApi, when, withQuery } from "./util.js";

const LIVE_MS = 3000;
const anyRunning = (runs) => runs.some((r) => r.status === "running");

function TaskCounts({ run }) {
  if (run.tasks_done == null) return html`<span class="muted">–</span>`;
  return html`<span>${run.tasks_ran} ran</span>${run.tasks_reused ? html`, <${Reused} count=${run.tasks_reused} total=${run.tasks_done} />` : ""}`;
}

function RunRows({ flow, runs }) {
  return runs.map((run) => html`
    <tr class="run-row" data-run=${run.run_id}>
      <td><${Link} href=${`/runs/${flow}/${run.run_id}`} class="run-id">${run.run_id}<//></td>
      <td><${Status} status=${run.status} /></td>
      <td>${when(run.created_at)}</td>
      <td>${duration(run.created_at, run.finished_at ?? (run.status === "running" ? null : run.created_at))}</td>
      <td>${run.user ?? "–"}</td>
      <td>${run.user_tags.map((t) => html`<span class="tag">${t}</span>`)}</td>
      <td><${TaskCounts} run=${run} /></td>
    </tr>`);
}

function RunTable({ flow, runs }) {
  return html`<table class="runs">
    <thead><tr><th>run</th><th>status</th><th>started</th><th>duration</th><th>user</th><th>tags</th><th>tasks</th></tr></thead>
    <tbody><${RunRows} flow=${flow} runs=${runs} /></tbody></table>`;
}

export function FlowsView() {
  const { data, error } = useApi("/api/flows", { everyMs: LIVE_MS, live: () => true });
  if (!data) return html`<${Failure} error=${error} />${error ? "" : html`<p class="loading">Loading…</p>`}`;
  if (!data.flows.length) return html`<p>No runs in this datastore yet.</p>`;
  return html`<h1>Flows</h1>${data.flows.map((flow) => html`
    <section class="flow" data-flow=${flow.name}>
      <h2><${Link} href=${`/flows/${flow.name}`}>${flow.name}<//> <span class="muted">${flow.runs} runs</span></h2>
      <${RunTable} flow=${flow.name} runs=${flow.latest} />
    </section>`)}`;
}

function Filters({ flow }) {
  const q = query();
  const [user, setUser] = useState(q.get("user") || "");
  const [tag, setTag] = useState(q.get("tag") || "");
  const apply = (event) => { event.preventDefault(); navigate(withQuery({ user, tag })); };
  return html`<form class="filters" onSubmit=${apply}>
    <label>status <select name="status" value=${q.get("status") || ""}
      onChange=${(e) => navigate(withQuery({ status: e.target.value }))}>
      <option value="">any</option>${["running", "succeeded", "failed", "interrupted"].map((s) => html`<option value=${s}>${s}</option>`)}
    </select></label>
    <label>user <input name="user" value=${user} onInput=${(e) => setUser(e.target.value)} /></label>
    <label>tag <input name="tag" value=${tag} onInput=${(e) => setTag(e.target.value)} /></label>
    <button type="submit">filter</button>
  </form>`;
}

function CompareForm({ flow }) {
  const [a, setA] = useState(""), [b, setB] = useState("");
  const go = (event) => { event.preventDefault(); if (a && b) navigate(`/compare/${flow}/${a}/${b}`); };
  return html`<form class="compare-form" onSubmit=${go}>compare runs
    <input placeholder="run id" value=${a} onInput=${(e) => setA(e.target.value.trim())} /> and
    <input placeholder="run id" value=${b} onInput=${(e) => setB(e.target.value.trim())} />
    <button type="submit">compare</button></form>`;
}

export function RunsView({ flow }) {
  const q = query();
  const params = new URLSearchParams();
  for (const key of ["status", "user", "tag", "before"]) if (q.get(key)) params.set(key, q.get(key));
  const { data, error } = useApi(`/api/flows/${flow}/runs?${params}`, { everyMs: LIVE_MS, live: () => !q.get("before") });
  const last = data && data.runs.length ? data.runs[data.runs.length - 1].run_id : null;
  return html`<h1>${flow}</h1><${Filters} flow=${flow} /><${CompareForm} flow=${flow} /><${Failure} error=${error} />
    ${data ? html`<${RunTable} flow=${flow} runs=${data.runs} />
      ${!data.runs.length ? html`<p>No run matches.</p>` : ""}
      <p class="pager">${q.get("before") ? html`<${Link} href=${withQuery({ before: null })}>newest<//> ` : ""}
      ${data.more ? html`<${Link} href=${withQuery({ before: last })} class="older">older runs<//>` : ""}</p>`
    : error ? "" : html`<p class="loading">Loading…</p>`}`;
}

export { anyRunning };
