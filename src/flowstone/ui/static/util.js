// Shared helpers: the API, links that change the view without reloading, and how times and sizes read.
import { html, useEffect, useState } from "./vendor/preact-htm.js";

export async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

// Load `path` (again whenever it changes, and every `everyMs` while `live(data)` says the data can change).
export function useApi(path, { everyMs = 0, live = () => false } = {}) {
  const [state, setState] = useState({ data: null, error: null, path: null });
  useEffect(() => {
    if (!path) return undefined;
    let stopped = false, timer = null;
    const load = async () => {
      try {
        const data = await api(path);
        if (stopped) return;
        setState({ data, error: null, path });
        if (everyMs && live(data)) timer = setTimeout(load, everyMs);
      } catch (error) {
        if (!stopped) setState((old) => ({ ...old, error: error.message, path }));
      }
    };
    load();
    return () => { stopped = true; clearTimeout(timer); };
  }, [path]);
  return state.path === path ? state : { data: null, error: null };
}

export function navigate(url) {
  history.pushState(null, "", url);
  window.dispatchEvent(new Event("popstate"));
}

export function Link({ href, children, ...rest }) {
  const go = (event) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    navigate(href);
  };
  return html`<a href=${href} onClick=${go} ...${rest}>${children}</a>`;
}

export function when(seconds) {
  if (seconds == null) return "–";
  const d = new Date(seconds * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function duration(start, end) {
  if (start == null) return "–";
  const seconds = Math.max(0, (end ?? Date.now() / 1000) - start);
  const text = seconds < 1 ? `${Math.round(seconds * 1000)} ms` : seconds < 120 ? `${seconds.toFixed(1)} s`
    : seconds < 7200 ? `${(seconds / 60).toFixed(1)} min` : `${(seconds / 3600).toFixed(1)} h`;
  return end == null ? `${text}+` : text;
}

export function size(bytes) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let n = bytes, unit = 0;
  while (n >= 1024 && unit < units.length - 1) { n /= 1024; unit += 1; }
  return unit ? `${n.toFixed(1)} ${units[unit]}` : `${n} B`;
}

export function Status({ status }) {
  return html`<span class=${`status status-${status}`}>${status}</span>`;
}

export function Reused({ count, total }) {
  if (!count) return null;
  const text = total > 1 ? `reused ${count}/${total}` : "reused";
  return html`<span class="badge reused" title="results reused from an earlier run (cache or resume)">${text}</span>`;
}

export function Failure({ error }) {
  return error ? html`<p class="error">${error}</p>` : null;
}

export function query() {
  return new URLSearchParams(location.search);
}

// The current URL with these query parameters changed (null removes one).
export function withQuery(changes) {
  const params = query();
  for (const [key, value] of Object.entries(changes)) {
    if (value == null || value === "") params.delete(key); else params.set(key, value);
  }
  const text = params.toString();
  return location.pathname + (text ? `?${text}` : "");
}
