// A task: why it ran or was reused, its artifacts with previews and downloads, its cards, its logs per attempt
// (followed while it runs), its metadata.
import { html, useEffect, useState } from "./vendor/preact-htm.js";
import { Failure, Link, Reused, Status, api, duration, navigate, query, size, useApi, when, withQuery } from "./util.js";

const LIVE_MS = 1500;

function Why({ base, attempt }) {
  const { data, error } = useApi(`${base}/why${attempt}`);
  if (!data) return html`<${Failure} error=${error} />`;
  return html`<pre class="why">${data.lines.map((line) => {
    const t = line.trimStart();
    const kind = t.startsWith("+") && !t.startsWith("+++") ? "added" : t.startsWith("-") && !t.startsWith("---") ? "removed" : "";
    return html`<div class=${`why-line ${kind}`}>${line}</div>`;
  })}</pre>`;
}

function Preview({ preview }) {
  if (preview.kind === "image") return html`<img class="artifact-image" src=${`data:${preview.mime};base64,${preview.data}`} alt="image artifact" />`;
  if (preview.kind === "too_large") return html`<p class="muted">Too large to preview here: download it.</p>`;
  if (preview.kind === "dataframe" || preview.kind === "series") {
    return html`<p class="muted">${preview.shape.join(" × ")}${preview.shape[0] > preview.rows.length ? `, first ${preview.rows.length} rows` : ""}</p>
      <table class="frame"><thead><tr><th></th>${preview.columns.map((c, i) => html`<th title=${preview.dtypes[i]}>${c}</th>`)}</tr></thead>
      <tbody>${preview.rows.map((row, i) => html`<tr><th>${preview.index[i]}</th>${row.map((x) => html`<td>${String(x)}</td>`)}</tr>`)}</tbody></table>`;
  }
  if (preview.kind === "array") {
    const s = preview.stats;
    return html`<p class="array-facts">shape (${preview.shape.join(", ")}) · ${preview.dtype}
      ${s ? html` · min ${s.min} · max ${s.max} · mean ${s.mean?.toPrecision(6)} · std ${s.std?.toPrecision(6)}` : ""}
      ${preview.non_finite ? ` · ${preview.non_finite} not finite` : ""}</p><pre class="value">${preview.sample}</pre>`;
  }
  return html`<pre class="value">${preview.repr}</pre>`;
}

function Artifacts({ base, artifacts, attempt }) {
  const chosen = query().get("artifact");
  const { data, error } = useApi(chosen ? `${base}/artifacts/${chosen}${attempt}` : null);
  return html`<table class="artifacts"><thead><tr><th>artifact</th><th>type</th><th>size</th><th>sha</th><th></th></tr></thead>
    <tbody>${artifacts.map((a) => html`<tr class=${`artifact-row${chosen === a.name ? " selected" : ""}`} data-artifact=${a.name}>
      <td><${Link} href=${withQuery({ artifact: a.name })}>${a.name}<//></td><td>${a.type}</td><td>${size(a.size)}</td>
      <td><code>${a.sha.slice(0, 12)}</code></td><td><a href=${`${base}/artifacts/${a.name}/download${attempt}`} download>download</a></td></tr>`)}
    </tbody></table>
    ${chosen ? html`<section class="preview" data-artifact=${chosen}><h3>${chosen}</h3><${Failure} error=${error} />
      ${data ? html`<${Preview} preview=${data.preview} />` : ""}</section>` : ""}`;
}

function cardLabel(card) {
  return `${card.id ? `${card.id} · ` : ""}${card.type}${card.final ? "" : " (live)"}`;
}

// The task's cards, one at a time (?card=N), each in an iframe sandboxed as its page is (see tasks_api.py): its
// scripts run, but it cannot reach this page or the API. A running task's card is its latest render.
function Cards({ base, cards, origin, attempt }) {
  if (!cards.length) return html`<p class="muted no-cards">This task has no cards.</p>`;
  const asked = Number.parseInt(query().get("card") || "0", 10);
  const index = asked >= 0 && asked < cards.length ? asked : 0;
  const card = cards[index];
  const src = `${base}/cards/${card.hash}${attempt}`;
  const choose = (e) => navigate(withQuery({ card: e.target.value === "0" ? null : e.target.value }));
  return html`<section class="cards" data-card=${card.hash}>
    <p class="card-bar">${cards.length > 1
      ? html`<select class="card-choice" value=${String(index)} onChange=${choose}>
          ${cards.map((c, i) => html`<option value=${String(i)}>${cardLabel(c)}</option>`)}</select> `
      : html`<span class="card-label">${cardLabel(card)}</span> `}
      · <a class="card-alone" href=${src} target="_blank" rel="noopener">open alone</a>
      ${origin ? html` · <span class="muted">the cards of ${origin}, whose results this task reused</span>` : ""}</p>
    <iframe class="card-frame" title=${`card: ${cardLabel(card)}`} sandbox="allow-scripts allow-popups" src=${src}></iframe>
  </section>`;
}

function Log({ base, stream, attempt, running }) {
  const [lines, setLines] = useState([]);
  const [error, setError] = useState(null);
  useEffect(() => {
    let stopped = false, timer = null, next = 0, all = [];
    const sep = attempt ? "&" : "?";
    const load = async () => {
      try {
        const got = await api(`${base}/logs/${stream}${attempt}${sep}since=${next}`);
        if (stopped) return;
        all = all.concat(got.lines); next = got.next; setLines(all);
        if (!got.finished && running) timer = setTimeout(load, LIVE_MS);
      } catch (e) { if (!stopped) setError(e.message); }
    };
    load();
    return () => { stopped = true; clearTimeout(timer); };
  }, [base, stream, attempt, running]);
  return html`<section class=${`log log-${stream}`}><h3>${stream} <span class="muted">${lines.length} lines</span></h3>
    <${Failure} error=${error} /><pre>${lines.map(([t, line]) => html`<div class="line"><span class="time">${t ? when(t).slice(11) : ""}</span> ${line}</div>`)}</pre></section>`;
}

function Metadata({ entries }) {
  return html`<table class="metadata"><thead><tr><th>name</th><th>value</th><th>type</th></tr></thead><tbody>
    ${entries.map((m) => html`<tr><td>${m.name}</td><td><code>${typeof m.value === "string" ? m.value : JSON.stringify(m.value)}</code></td><td>${m.type}</td></tr>`)}</tbody></table>`;
}

export function TaskView({ flow, runId, step, taskId }) {
  const base = `/api/tasks/${flow}/${runId}/${step}/${taskId}`;
  const chosen = query().get("attempt");
  const attempt = chosen != null ? `?attempt=${chosen}` : "";
  const { data, error } = useApi(`${base}${attempt}`, { everyMs: LIVE_MS, live: (d) => d.task.status === "running" });
  if (!data) return html`<${Failure} error=${error} />${error ? "" : html`<p class="loading">Loading…</p>`}`;
  const t = data.task;
  return html`
    <h1>${step} / ${taskId} <${Status} status=${t.status} /> ${t.reused ? html`<${Reused} count=${1} total=${1} />` : ""}</h1>
    <p class="facts">attempt <select class="attempt" value=${String(t.attempt)} onChange=${(e) => navigate(withQuery({ attempt: e.target.value }))}>
      ${data.attempts.map((a) => html`<option value=${String(a)}>${a}</option>`)}</select>
      · started ${when(t.started_at)} · ${t.reused ? "no time (reused)" : duration(t.started_at, t.finished_at)}
      ${t.foreach_index != null ? ` · foreach index ${t.foreach_index}` : ""}
      ${t.origin ? html` · results of <${Link} href=${`/runs/${t.origin}`}>${t.origin}<//>` : ""}</p>
    ${data.exception ? html`<section class="exception"><h2>${data.exception.type}</h2><pre>${data.exception.message}\n${data.exception.traceback || ""}</pre></section>` : ""}
    <h2>Cache decision</h2><${Why} base=${base} attempt=${attempt} />
    <h2>Artifacts</h2><${Artifacts} base=${base} artifacts=${data.artifacts} attempt=${attempt} />
    <h2>Cards</h2><${Cards} base=${base} cards=${data.cards} origin=${t.origin} attempt=${attempt} />
    <h2>Logs</h2><div class="logs"><${Log} base=${base} stream="stdout" attempt=${attempt} running=${t.status === "running"} />
      <${Log} base=${base} stream="stderr" attempt=${attempt} running=${t.status === "running"} /></div>
    <h2>Metadata</h2><${Metadata} entries=${data.metadata} />`;
}
