// The front end: which view the address shows. Every view is a path (and query), so it can be shared and reloaded.
import { html, render, useEffect, useState } from "./vendor/preact-htm.js";
import { Link } from "./util.js";
import { FlowsView, RunsView } from "./runs.js";
import { RunView } from "./run.js";
import { TaskView } from "./task.js";
import { CompareView } from "./compare.js";

const ROUTES = [
  [/^\/$/, () => html`<${FlowsView} />`],
  [/^\/flows\/([^/]+)$/, (flow) => html`<${RunsView} flow=${flow} />`],
  [/^\/runs\/([^/]+)\/([^/]+)$/, (flow, run) => html`<${RunView} flow=${flow} runId=${run} />`],
  [/^\/runs\/([^/]+)\/([^/]+)\/([^/]+)\/([^/]+)$/,
    (flow, run, step, task) => html`<${TaskView} flow=${flow} runId=${run} step=${step} taskId=${task} />`],
  [/^\/compare\/([^/]+)\/([^/]+)\/([^/]+)$/, (flow, a, b) => html`<${CompareView} flow=${flow} a=${a} b=${b} />`],
];

function Breadcrumbs() {
  const parts = location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  const crumbs = [html`<${Link} href="/">flows<//>`];
  if (parts[0] === "flows" || parts[0] === "runs" || parts[0] === "compare") {
    crumbs.push(html`<${Link} href=${`/flows/${parts[1]}`}>${parts[1]}<//>`);
  }
  if (parts[0] === "runs" && parts.length >= 3) crumbs.push(html`<${Link} href=${`/runs/${parts[1]}/${parts[2]}`}>${parts[2]}<//>`);
  if (parts[0] === "runs" && parts.length >= 5) {
    crumbs.push(html`<${Link} href=${`/runs/${parts[1]}/${parts[2]}?step=${parts[3]}`}>${parts[3]}<//>`);
    crumbs.push(html`<span>${parts[4]}</span>`);
  }
  if (parts[0] === "compare") crumbs.push(html`<span>${parts[2]} vs ${parts[3]}</span>`);
  return html`<nav class="crumbs">${crumbs.map((c, i) => html`${i ? " / " : ""}${c}`)}</nav>`;
}

function App() {
  const [, setAddress] = useState(location.href);
  useEffect(() => {
    const changed = () => setAddress(location.href);
    window.addEventListener("popstate", changed);
    return () => window.removeEventListener("popstate", changed);
  }, []);
  const path = location.pathname.replace(/\/+$/, "") || "/";
  let view = html`<p class="error">Nothing at ${path}.</p>`;
  for (const [pattern, make] of ROUTES) {
    const match = path.match(pattern);
    if (match) { view = make(...match.slice(1).map(decodeURIComponent)); break; }
  }
  return html`
    <header class="top"><${Link} href="/" class="brand">flowstone<//><${Breadcrumbs} /></header>
    <main key=${path}>${view}</main>`;
}

const root = document.getElementById("app");
root.textContent = "";  // the page's own "Loading…"
render(html`<${App} />`, root);
