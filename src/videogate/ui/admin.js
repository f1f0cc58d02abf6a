// Admin views over the existing admin API: customers, teams and virtual keys with their
// budgets and limits, usage charts, upstream keys and provider health, webhook deliveries,
// and the request log where the gateway has one.
import { api, fmt } from "./api.js";
import { html, useEffect, useState } from "./dom.js";
import { UsageTab } from "./usage.js";

export function adminTabs(withLogs) {
  return [
    ["keys", "Keys"],
    ["teams", "Teams"],
    ["customers", "Customers"],
    ["usage", "Usage"],
    ["providers", "Providers"],
    ["webhooks", "Webhooks"],
    ...(withLogs ? [["logs", "Logs"]] : []),
  ];
}

// Limits every level (customer, team, key) may set (governance/registry.py LIMIT_FIELDS).
const LIMITS = [
  ["budget_usd", "Budget (USD)", "number"],
  ["budget_period", "Budget period", ["", "daily", "weekly", "monthly", "never"]],
  ["rpm", "Requests / min", "number"],
  ["max_active_jobs", "Active jobs", "number"],
  ["video_seconds_per_day", "Video s / day", "number"],
];
const MODELS = ["allowed_models", "Allowed models (comma-separated, provider/model, wildcards)", "list"];
const FIELDS = {
  key: [["name", "Name", "text"], ["team_id", "Team", "team"], ...LIMITS, MODELS,
    ["allowed_providers", "Allowed providers (comma-separated)", "list"]],
  team: [["name", "Name", "text"], ["customer_id", "Customer", "customer"], ...LIMITS, MODELS],
  customer: [["name", "Name", "text"], ...LIMITS],
};
const ROUTES = {
  key: "/api/governance/virtual-keys",
  team: "/api/governance/teams",
  customer: "/api/governance/customers",
};

function useList(path) {
  const [rows, setRows] = useState(null);
  const [error, setError] = useState("");
  const reload = () =>
    api(path).then(
      (body) => {
        setRows(body.data);
        setError("");
      },
      (err) => setError(err.message),
    );
  useEffect(() => {
    reload();
  }, [path]);
  return [rows, reload, error];
}

// The form's strings -> the API's values: numbers, lists, null to clear (on edit only).
function values(kind, draft, editing) {
  const out = {};
  for (const [name, , type] of FIELDS[kind]) {
    const raw = draft[name] === undefined ? "" : String(draft[name]).trim();
    if (raw === "") {
      if (editing && name !== "name") out[name] = null;
      continue;
    }
    out[name] = type === "number" ? Number(raw) : type === "list" ? raw.split(",").map((s) => s.trim()).filter(Boolean) : raw;
  }
  return out;
}

function EntityForm({ kind, row, teams, customers, onDone, onCancel }) {
  const start = {};
  for (const [name, , type] of FIELDS[kind]) {
    const v = row ? row[name] : "";
    start[name] = v === null || v === undefined ? "" : type === "list" ? (v || []).join(", ") : String(v);
  }
  const [draft, setDraft] = useState(start);
  const [error, setError] = useState("");
  const set = (name) => (e) => setDraft({ ...draft, [name]: e.target.value });
  const submit = async (event) => {
    event.preventDefault();
    try {
      const body = values(kind, draft, Boolean(row));
      const saved = row
        ? await api(`${ROUTES[kind]}/${encodeURIComponent(row.id)}`, { method: "PATCH", json: body })
        : await api(ROUTES[kind], { method: "POST", json: body });
      onDone(saved);
    } catch (err) {
      setError(`${err.message} (${err.code})`);
    }
  };
  const input = ([name, label, type]) => {
    const id = `${kind}-${name}`;
    if (type === "team" || type === "customer") {
      const options = type === "team" ? teams || [] : customers || [];
      return html`<label>${label}<select id=${id} value=${draft[name]} onChange=${set(name)}>
        <option value="">none</option>
        ${options.map((o) => html`<option value=${o.id}>${o.name}</option>`)}</select></label>`;
    }
    if (Array.isArray(type)) {
      return html`<label>${label}<select id=${id} value=${draft[name]} onChange=${set(name)}>
        ${type.map((o) => html`<option value=${o}>${o || "never resets (default)"}</option>`)}</select></label>`;
    }
    return html`<label class=${type === "list" ? "wide" : ""}>${label}<input id=${id}
      type=${type === "number" ? "number" : "text"} step=${type === "number" ? "any" : undefined}
      min=${type === "number" ? "0" : undefined} value=${draft[name]}
      required=${name === "name"} onInput=${set(name)} /></label>`;
  };
  return html`<form class="card entity-form" id=${`${kind}-form`} onSubmit=${submit}>
    <div class="grid-form">${FIELDS[kind].map(input)}</div>
    <div class="actions">
      <button type="submit" id=${`${kind}-save`}>${row ? "Save" : "Create"}</button>
      ${onCancel && html`<button type="button" class="ghost" onClick=${onCancel}>Cancel</button>`}
    </div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </form>`;
}

function limitsText(row) {
  const parts = [];
  if (row.budget_usd !== null && row.budget_usd !== undefined) {
    // no period (or "never"): the budget never resets (governance/policy.py budget_window)
    const period = row.budget_period && row.budget_period !== "never" ? ` / ${row.budget_period}` : " in total";
    parts.push(`${fmt.usd(row.budget_usd)}${period}`);
  }
  if (row.rpm) parts.push(`${row.rpm} rpm`);
  if (row.max_active_jobs) parts.push(`${row.max_active_jobs} active`);
  if (row.video_seconds_per_day) parts.push(`${row.video_seconds_per_day} s/day`);
  return parts.join(" · ") || "no limits";
}

function Secret({ secret, onClose }) {
  return html`<div class="card secret" role="status" id="new-secret">
    <p><strong>Copy this key now:</strong> it is not shown again.</p>
    <code class="selectable">${secret.key}</code>
    ${secret.old_key_valid_until && html`<p class="muted small">The old key still works until ${fmt.time(secret.old_key_valid_until)}.</p>`}
    <button class="ghost small" onClick=${onClose}>Done</button>
  </div>`;
}

function EntityTab({ kind }) {
  const [rows, reload, error] = useList(ROUTES[kind]);
  const [teams] = useList(ROUTES.team);
  const [customers] = useList(ROUTES.customer);
  const [editing, setEditing] = useState(null); // a row, "new", or null
  const [secret, setSecret] = useState(null);
  const [actionError, setActionError] = useState("");
  const act = async (fn) => {
    try {
      setActionError("");
      await fn();
      await reload();
    } catch (err) {
      setActionError(`${err.message} (${err.code})`);
    }
  };
  const path = (row) => `${ROUTES[kind]}/${encodeURIComponent(row.id)}`;
  const nameOf = (list, id) => (list || []).find((r) => r.id === id)?.name || id || "—";
  const done = (saved) => {
    if (saved && saved.key) setSecret(saved);
    setEditing(null);
    reload();
  };
  const title = { key: "Virtual keys", team: "Teams", customer: "Customers" }[kind];
  return html`<section>
    <div class="section-head"><h2>${title}</h2>
      <button id=${`${kind}-new`} onClick=${() => setEditing("new")}>New ${kind}</button></div>
    ${secret && html`<${Secret} secret=${secret} onClose=${() => setSecret(null)} />`}
    ${editing === "new" && html`<${EntityForm} kind=${kind} teams=${teams} customers=${customers}
      onDone=${done} onCancel=${() => setEditing(null)} />`}
    ${(error || actionError) && html`<p class="error" role="alert">${error || actionError}</p>`}
    <table class="table" id=${`${kind}-table`}>
      <thead><tr><th>Name</th><th>Id</th>
        ${kind !== "customer" && html`<th>${kind === "key" ? "Team" : "Customer"}</th>`}
        <th>Budget and limits</th>${kind === "key" && html`<th>State</th>`}<th></th></tr></thead>
      <tbody>
        ${(rows || []).map(
          (row) => html`<tr data-id=${row.id} data-name=${row.name}>
            <td>${row.name}</td><td><code class="small">${row.id}</code>
              ${row.key_prefix && html`<div class="muted small">${row.key_prefix}…</div>`}</td>
            ${kind === "key" && html`<td>${nameOf(teams, row.team_id)}</td>`}
            ${kind === "team" && html`<td>${nameOf(customers, row.customer_id)}</td>`}
            <td class="small">${limitsText(row)}
              ${row.allowed_models && row.allowed_models.length ? html`<div class="muted">models: ${row.allowed_models.join(", ")}</div>` : null}</td>
            ${kind === "key" &&
            html`<td><span class=${`badge ${row.revoked_at ? "failed" : row.blocked ? "queued" : "completed"}`}>
              ${row.revoked_at ? "revoked" : row.blocked ? "blocked" : "active"}</span></td>`}
            <td class="row-actions">
              ${!row.revoked_at && html`<button class="ghost small" data-action="edit" onClick=${() => setEditing(row)}>Edit</button>`}
              ${kind === "key" && !row.revoked_at &&
              html`<button class="ghost small" data-action="rotate"
                  onClick=${() => act(async () => setSecret(await api(`${path(row)}/rotate`, { method: "POST" })))}>Rotate</button>
                <button class="ghost small" data-action="block"
                  onClick=${() => act(() => api(path(row), { method: "PATCH", json: { blocked: !row.blocked } }))}>
                  ${row.blocked ? "Unblock" : "Block"}</button>
                <button class="danger small" data-action="revoke"
                  onClick=${() => act(() => api(path(row), { method: "DELETE" }))}>Revoke</button>`}
              ${kind !== "key" && html`<button class="danger small" data-action="delete"
                onClick=${() => act(() => api(path(row), { method: "DELETE" }))}>Delete</button>`}
            </td></tr>
            ${editing && editing.id === row.id &&
            html`<tr><td colspan="6"><${EntityForm} kind=${kind} row=${row} teams=${teams}
              customers=${customers} onDone=${done} onCancel=${() => setEditing(null)} /></td></tr>`}`,
        )}
      </tbody>
    </table>
    ${rows && !rows.length && html`<p class="muted">None yet.</p>`}
  </section>`;
}

function ProvidersTab() {
  const [upstream, reload, error] = useList("/api/providers");
  const [catalogue] = useList("/v1/providers");
  const [draft, setDraft] = useState({ provider: "", name: "", value: "", weight: "1", models: "" });
  const [formError, setFormError] = useState("");
  const info = (id) => (catalogue || []).find((p) => p.id === id) || {};
  const set = (name) => (e) => setDraft({ ...draft, [name]: e.target.value });
  const add = async (event) => {
    event.preventDefault();
    try {
      await api(`/api/providers/${encodeURIComponent(draft.provider)}/keys`, {
        method: "POST",
        json: {
          name: draft.name,
          value: draft.value,
          weight: Number(draft.weight || 1),
          models: draft.models.split(",").map((s) => s.trim()).filter(Boolean),
        },
      });
      setDraft({ ...draft, name: "", value: "" });
      setFormError("");
      reload();
    } catch (err) {
      setFormError(`${err.message} (${err.code})`);
    }
  };
  const remove = (p, k) =>
    api(`/api/providers/${encodeURIComponent(p)}/keys/${encodeURIComponent(k)}`, { method: "DELETE" }).then(reload, (err) => setFormError(err.message));
  return html`<section>
    <h2>Providers and upstream keys</h2>
    ${error && html`<p class="error">${error}</p>`}
    <div class="providers">
      ${(upstream || []).map(
        (p) => html`<article class="card provider" data-provider=${p.id}>
          <div class="section-head"><h3>${p.id} <span class="muted small">${p.type}</span></h3>
            <span class=${`badge ${p.keys.every((k) => k.healthy) ? "completed" : p.keys.some((k) => k.healthy) ? "queued" : "failed"}`}>
              ${p.keys.length ? `${p.keys.filter((k) => k.healthy).length}/${p.keys.length} keys healthy` : "no keys needed"}</span></div>
          <p class="muted small">${p.capabilities.join(", ")}${info(p.id).poll_after_ms ? ` · polled every ${info(p.id).poll_after_ms} ms` : ""}</p>
          ${info(p.id).models && info(p.id).models.length ? html`<p class="small">models: ${info(p.id).models.join(", ")}</p>` : null}
          ${p.keys.length > 0 && html`<table class="table small"><tbody>
            ${p.keys.map((k) => html`<tr><td>${k.name}</td><td>weight ${k.weight}</td>
              <td>${k.models.length ? k.models.join(", ") : "all models"}</td>
              <td><span class=${`badge ${k.healthy ? "completed" : "failed"}`}>${k.healthy ? "healthy" : "cooling down"}</span></td>
              <td class="muted">${k.source}</td>
              <td>${k.source === "admin" && html`<button class="danger small" onClick=${() => remove(p.id, k.name)}>Remove</button>`}</td></tr>`)}
          </tbody></table>`}
        </article>`,
      )}
    </div>
    <form class="card" onSubmit=${add} id="upstream-form">
      <h3>Add an upstream key</h3>
      <div class="grid-form">
        <label>Provider<select value=${draft.provider} onChange=${set("provider")} required>
          <option value="">choose…</option>${(upstream || []).map((p) => html`<option value=${p.id}>${p.id}</option>`)}</select></label>
        <label>Name<input value=${draft.name} onInput=${set("name")} required /></label>
        <label>Secret<input type="password" autocomplete="off" value=${draft.value} onInput=${set("value")} required /></label>
        <label>Weight<input type="number" step="any" min="0" value=${draft.weight} onInput=${set("weight")} /></label>
        <label class="wide">Models (comma-separated; empty: all)<input value=${draft.models} onInput=${set("models")} /></label>
      </div>
      <button type="submit">Add key</button>
      ${formError && html`<p class="error" role="alert">${formError}</p>`}
    </form>
  </section>`;
}

function WebhooksTab() {
  const [endpoints, reloadEndpoints, error] = useList("/api/webhooks");
  const [deliveries, reloadDeliveries] = useList("/api/webhooks/deliveries");
  return html`<section>
    <div class="section-head"><h2>Webhooks</h2>
      <button class="ghost small" id="webhooks-refresh" onClick=${() => { reloadEndpoints(); reloadDeliveries(); }}>Refresh</button></div>
    ${error && html`<p class="error">${error}</p>`}
    <h3>Endpoints</h3>
    <table class="table"><thead><tr><th>Id</th><th>Owner</th><th>URL</th><th>Events</th><th>Enabled</th></tr></thead>
      <tbody>${(endpoints || []).map((e) => html`<tr><td><code class="small">${e.id}</code></td><td>${e.owner}</td>
        <td class="small">${e.url}</td><td class="small">${e.events.join(", ")}</td><td>${e.enabled ? "yes" : "no"}</td></tr>`)}</tbody></table>
    ${endpoints && !endpoints.length && html`<p class="muted">No endpoints.</p>`}
    <h3>Deliveries</h3>
    <table class="table" id="deliveries"><thead><tr><th>Event</th><th>Video</th><th>State</th><th>Attempts</th>
      <th>Last status</th><th>Created</th><th>Delivered / next try</th></tr></thead>
      <tbody>${(deliveries || []).map((d) => html`<tr><td>${d.event_type}</td><td><code class="small">${d.video_id}</code></td>
        <td><span class=${`badge ${d.state === "delivered" ? "completed" : d.state === "failed" ? "failed" : "queued"}`}>${d.state}</span></td>
        <td>${d.attempts}</td><td class="small">${fmt.num(d.last_status)} ${d.last_error || ""}</td>
        <td class="small">${fmt.time(d.created_at)}</td><td class="small">${fmt.time(d.delivered_at || d.next_attempt_at)}</td></tr>`)}</tbody></table>
    ${deliveries && !deliveries.length && html`<p class="muted">No deliveries.</p>`}
  </section>`;
}

// The request log's rows as they come (the module serving /api/logs owns their shape).
function LogsTab() {
  const [rows, reload, error] = useList("/api/logs?limit=200");
  const columns = rows && rows.length ? Object.keys(rows[0]).filter((c) => typeof rows[0][c] !== "object").slice(0, 10) : [];
  const cell = (c, v) => (typeof v === "number" && /(_at|time|timestamp)$/.test(c) && v > 1e9 ? fmt.time(v) : fmt.num(v));
  return html`<section>
    <div class="section-head"><h2>Request log</h2><button class="ghost small" onClick=${reload}>Refresh</button></div>
    ${error && html`<p class="error">${error}</p>`}
    <table class="table small" id="logs"><thead><tr>${columns.map((c) => html`<th>${c}</th>`)}</tr></thead>
      <tbody>${(rows || []).map((r) => html`<tr>${columns.map((c) => html`<td>${cell(c, r[c])}</td>`)}</tr>`)}</tbody></table>
    ${rows && !rows.length && html`<p class="muted">No requests logged.</p>`}
  </section>`;
}

export function AdminTabs({ tab }) {
  switch (tab) {
    case "keys":
      return html`<${EntityTab} kind="key" key="key" />`;
    case "teams":
      return html`<${EntityTab} kind="team" key="team" />`;
    case "customers":
      return html`<${EntityTab} kind="customer" key="customer" />`;
    case "usage":
      return html`<${UsageTab} />`;
    case "providers":
      return html`<${ProvidersTab} />`;
    case "webhooks":
      return html`<${WebhooksTab} />`;
    case "logs":
      return html`<${LogsTab} />`;
    default:
      return null;
  }
}
