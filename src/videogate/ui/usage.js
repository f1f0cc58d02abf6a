// Usage and cost over time from /api/governance/usage, bucketed here by hour or day and
// split by key, team, customer, model or provider; drawn with uPlot (a canvas).
import { api, fmt } from "./api.js";
import { html, useEffect, useRef, useState } from "./dom.js";

const RANGES = { "24h": [86400, 3600], "7d": [7 * 86400, 86400], "30d": [30 * 86400, 86400] };
const GROUPS = { key_id: "key", team_id: "team", customer_id: "customer", model: "model", provider: "provider" };
const METRICS = {
  spend: ["Spend (USD; running jobs at their estimate)", (r) => (r.status === "reserved" ? r.estimate_usd : r.cost_usd)],
  seconds: ["Video seconds", (r) => r.seconds],
  jobs: ["Jobs", () => 1],
};
const COLOURS = ["#2f5bea", "#e8590c", "#2b8a3e", "#ae3ec9", "#c92a2a", "#1098ad", "#f08c00", "#5c7cfa", "#868e96"];
const MAX_SERIES = 8;

// rows -> uPlot's columns: [x bucket starts, one array per group] plus the group names.
export function series(rows, group, metric, since, step, labels = {}) {
  const value = METRICS[metric][1];
  rows = rows.map((r) => ({ ...r, [group]: labels[r[group]] || r[group] }));
  const now = Date.now() / 1000;
  const start = Math.floor(since / step) * step;
  const xs = [];
  for (let t = start; t <= now; t += step) xs.push(t);
  const totals = new Map();
  for (const r of rows) totals.set(r[group] || "—", (totals.get(r[group] || "—") || 0) + value(r));
  const names = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a));
  const kept = names.slice(0, MAX_SERIES);
  const columns = new Map(kept.map((n) => [n, xs.map(() => 0)]));
  if (names.length > MAX_SERIES) columns.set("other", xs.map(() => 0));
  for (const r of rows) {
    const i = Math.floor((r.created_at - start) / step);
    if (i < 0 || i >= xs.length) continue;
    const name = columns.has(r[group] || "—") ? r[group] || "—" : "other";
    columns.get(name)[i] += value(r);
  }
  return { xs, names: [...columns.keys()], ys: [...columns.values()] };
}

function Chart({ data, label }) {
  const box = useRef(null);
  useEffect(() => {
    if (!box.current || !window.uPlot) return undefined;
    const opts = {
      width: Math.max(box.current.clientWidth, 320),
      height: 280,
      scales: { x: { time: true } },
      series: [{}, ...data.names.map((n, i) => ({
        label: n,
        stroke: COLOURS[i % COLOURS.length],
        fill: `${COLOURS[i % COLOURS.length]}22`,
        width: 2,
        points: { show: true, size: 5 },
      }))],
      axes: [{}, { label, size: 70 }],
    };
    const plot = new window.uPlot(opts, [data.xs, ...data.ys], box.current);
    const resize = () => plot.setSize({ width: Math.max(box.current.clientWidth, 320), height: 280 });
    window.addEventListener("resize", resize);
    return () => {
      window.removeEventListener("resize", resize);
      plot.destroy();
    };
  }, [data, label]);
  const points = data.ys.reduce((n, ys) => n + ys.filter((y) => y > 0).length, 0);
  return html`<div class="chart" ref=${box} data-series=${data.names.length} data-points=${points}></div>`;
}

export function UsageTab() {
  const [range, setRange] = useState("7d");
  const [group, setGroup] = useState("key_id");
  const [metric, setMetric] = useState("spend");
  const [body, setBody] = useState(null);
  const [error, setError] = useState("");
  const [names, setNames] = useState({}); // key, team and customer ids -> their names
  const [since, step] = [Date.now() / 1000 - RANGES[range][0], RANGES[range][1]];
  const load = () =>
    api(`/api/governance/usage?since=${Math.floor(since)}`).then(
      (b) => {
        setBody(b);
        setError("");
      },
      (err) => setError(err.message),
    );
  useEffect(() => {
    load();
  }, [range]);
  useEffect(() => {
    const kinds = ["virtual-keys", "teams", "customers"];
    Promise.all(kinds.map((k) => api(`/api/governance/${k}`).catch(() => ({ data: [] })))).then((lists) =>
      setNames(Object.fromEntries(lists.flatMap((l) => l.data.map((r) => [r.id, r.name])))),
    );
  }, []);
  const data = body && series(body.data, group, metric, since, step, names);
  const select = (id, value, set, options) => html`<select id=${id} value=${value} onChange=${(e) => set(e.target.value)}>
    ${Object.entries(options).map(([k, v]) => html`<option value=${k}>${Array.isArray(v) ? v[0] : v}</option>`)}</select>`;
  return html`<section>
    <div class="section-head"><h2>Usage and cost</h2>
      <div class="row">
        ${select("usage-range", range, setRange, { "24h": "last 24 hours (hourly)", "7d": "last 7 days (daily)", "30d": "last 30 days (daily)" })}
        ${select("usage-group", group, setGroup, Object.fromEntries(Object.entries(GROUPS).map(([k, v]) => [k, `by ${v}`])))}
        ${select("usage-metric", metric, setMetric, METRICS)}
        <button class="ghost small" onClick=${load}>Refresh</button>
      </div></div>
    ${error && html`<p class="error">${error}</p>`}
    ${body && html`<div class="totals" id="usage-totals">
      <div class="card stat"><span class="muted small">Jobs</span><strong>${body.totals.jobs}</strong></div>
      <div class="card stat"><span class="muted small">Video seconds</span><strong>${body.totals.seconds}</strong></div>
      <div class="card stat"><span class="muted small">Cost (settled)</span><strong>${fmt.usd(body.totals.cost_usd)}</strong></div>
      <div class="card stat"><span class="muted small">Reserved by running jobs</span><strong>${fmt.usd(body.totals.reserved_usd)}</strong></div>
    </div>`}
    ${data && html`<div class="card"><${Chart} data=${data} label=${METRICS[metric][0].split(" (")[0]} /></div>`}
    ${body && html`<table class="table small" id="usage-rows"><thead><tr><th>When</th><th>Key</th><th>Team</th>
      <th>Model</th><th>Seconds</th><th>Estimate</th><th>Cost</th><th>Status</th></tr></thead>
      <tbody>${body.data.slice(0, 50).map((r) => html`<tr><td>${fmt.time(r.created_at)}</td><td>${names[r.key_id] || fmt.num(r.key_id)}</td>
        <td>${names[r.team_id] || fmt.num(r.team_id)}</td><td>${r.provider}/${r.model}</td><td>${r.seconds}</td><td>${fmt.usd(r.estimate_usd)}</td>
        <td>${fmt.usd(r.cost_usd)}</td><td>${r.status}</td></tr>`)}</tbody></table>`}
  </section>`;
}
