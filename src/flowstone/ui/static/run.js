// A run: its status, parameters and tags, its graph, its tasks on a time line, and the tasks of the step chosen.
import { html, useState } from "./vendor/preact-htm.js";
import { Failure, Link, Reused, Status, api, duration, navigate, query, useApi, when, withQuery } from "./util.js";
import { Dag } from "./dag.js";
import { Gantt } from "./gantt.js";

const LIVE_MS = 2000;

function Tags({ flow, run }) {
  const [tags, setTags] = useState(run.user_tags);
  const [text, setText] = useState("");
  const [error, setError] = useState(null);
  const change = async (body) => {
    try {
      const answer = await api(`/api/runs/${flow}/${run.run_id}/tags`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      setTags(answer.user_tags); setText(""); setError(null);
    } catch (e) { setError(e.message); }
  };
  const add = (event) => { event.preventDefault(); if (text.trim()) change({ add: [text.trim()] }); };
  return html`<div class="tags">tags:
    ${tags.map((t) => html`<span class="tag">${t}<button class="remove" title="remove this tag"
      onClick=${() => change({ remove: [t] })}>×</button></span>`)}
    <form class="add-tag" onSubmit=${add}><input placeholder="add a tag" value=${text}
      onInput=${(e) => setText(e.target.value)} /><button type="submit">add</button></form>
    <span class="system-tags muted">${run.system_tags.join(" · ")}</span><${Failure} error=${error} /></div>`;
}

function StepTasks({ flow, runId, step, tasks }) {
  const mine = tasks.filter((t) => t.step === step);
  return html`<section class="step-tasks"><h2>Tasks of ${step} <span class="muted">${mine.length}</span></h2>
    <table class="tasks"><thead><tr><th>task</th><th>index</th><th>status</th><th>attempt</th><th>started</th>
      <th>duration</th><th>cache</th></tr></thead>
    <tbody>${mine.map((t) => html`<tr class="task-row" data-task=${t.task_id}>
      <td><${Link} href=${`/runs/${flow}/${runId}/${t.step}/${t.task_id}`}>${t.task_id}<//></td>
      <td>${t.foreach_index ?? ""}</td><td><${Status} status=${t.status} /></td><td>${t.attempt}</td>
      <td>${when(t.started_at)}</td><td>${t.reused ? "–" : duration(t.started_at, t.finished_at)}</td>
      <td>${t.reused ? html`<${Reused} count=${1} total=${1} />` : t.decision ?? ""}</td></tr>`)}</tbody></table></section>`;
}

function Parameters({ parameters }) {
  const names = Object.keys(parameters);
  if (!names.length) return null;
  return html`<table class="parameters"><thead><tr><th>parameter</th><th>value</th></tr></thead><tbody>
    ${names.map((n) => html`<tr><td>${n}</td><td><code>${JSON.stringify(parameters[n])}</code></td></tr>`)}</tbody></table>`;
}

function CompareWith({ flow, runId }) {
  const [other, setOther] = useState("");
  const go = (event) => { event.preventDefault(); if (other) navigate(`/compare/${flow}/${other}/${runId}`); };
  return html`<form class="compare-form" onSubmit=${go}>compare with run
    <input placeholder="run id" value=${other} onInput=${(e) => setOther(e.target.value.trim())} />
    <button type="submit">compare</button></form>`;
}

export function RunView({ flow, runId }) {
  const { data, error } = useApi(`/api/runs/${flow}/${runId}`, { everyMs: LIVE_MS, live: (d) => d.run.status === "running" });
  if (!data) return html`<${Failure} error=${error} />${error ? "" : html`<p class="loading">Loading…</p>`}`;
  const run = data.run;
  const selected = query().get("step");
  const select = (name) => navigate(withQuery({ step: name }));
  const reused = data.tasks.filter((t) => t.reused).length;
  return html`
    <h1>${flow} / <span class="run-id">${run.run_id}</span> <${Status} status=${run.status} /></h1>
    <p class="facts">started ${when(run.created_at)} · ${duration(run.created_at, run.finished_at ?? (run.status === "running" ? null : run.created_at))}
      · user ${run.user ?? "–"} · ${data.tasks.length} tasks, ${data.tasks.length - reused} ran
      ${reused ? html`, <${Reused} count=${reused} total=${data.tasks.length} />` : ""}
      ${run.origin_run_id ? html` · resumed from <${Link} href=${`/runs/${flow}/${run.origin_run_id}`}>${run.origin_run_id}<//>` : ""}</p>
    <${Tags} flow=${flow} run=${run} /><${Failure} error=${error} />
    <div class="run-top"><div><h2>Graph</h2><${Dag} graph=${data.graph} steps=${data.steps} selected=${selected} onSelect=${select} /></div>
      <div><h2>Parameters</h2><${Parameters} parameters=${run.parameters} /><${CompareWith} flow=${flow} runId=${runId} /></div></div>
    ${selected ? html`<${StepTasks} flow=${flow} runId=${runId} step=${selected} tasks=${data.tasks} />` : ""}
    <h2>Timeline</h2><${Gantt} tasks=${data.tasks} onPick=${(t) => navigate(`/runs/${flow}/${runId}/${t.step}/${t.task_id}`)} />`;
}
