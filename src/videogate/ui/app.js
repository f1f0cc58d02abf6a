// The shell: sign-in, the tabs a caller may see, and sign-out.
import { AdminTabs, adminTabs } from "./admin.js";
import { UNAUTHORIZED, api, describe, session } from "./api.js";
import { html, render, useEffect, useState } from "./dom.js";
import { VideosTab } from "./videos.js";

function SignIn({ onSignedIn, error }) {
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    await onSignedIn(token.trim());
    setBusy(false);
  };
  return html`<section class="signin card">
    <h1>videogate</h1>
    <p class="muted">Sign in with a virtual key (<code>sk-bf-…</code>) or an admin JWT. It is kept
      in this tab only (sessionStorage) and sent as <code>Authorization: Bearer</code>.</p>
    <form onSubmit=${submit}>
      <label>Key or token
        <input id="signin-token" type="password" autocomplete="off" required
          value=${token} onInput=${(e) => setToken(e.target.value)} /></label>
      <button id="signin-submit" type="submit" disabled=${busy}>Sign in</button>
    </form>
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </section>`;
}

function App() {
  const [who, setWho] = useState(null); // describe() of the signed-in credential
  const [error, setError] = useState("");
  const [tab, setTab] = useState("videos");
  const [logs, setLogs] = useState(false); // /api/logs answers (another module adds it)
  const [booted, setBooted] = useState(false);

  const signIn = async (token) => {
    try {
      await api("/v1/videos?limit=1", { token });
    } catch (err) {
      if (token) setError(`${err.message} (${err.code})`);
      return false;
    }
    const me = describe(token);
    if (token) session.save(token);
    setError("");
    setWho(me);
    if (me.admin) {
      api("/api/logs?limit=1").then(
        () => setLogs(true),
        () => setLogs(false),
      );
    }
    return true;
  };

  useEffect(() => {
    // a stored credential first; else whether the gateway runs with auth off
    signIn(session.token).finally(() => setBooted(true));
    const expired = (event) => {
      session.clear();
      setWho(null);
      setError(`Signed out: ${event.detail}`);
    };
    window.addEventListener(UNAUTHORIZED, expired);
    return () => window.removeEventListener(UNAUTHORIZED, expired);
  }, []);

  if (!booted) return html`<p class="muted boot">Loading videogate…</p>`;
  if (!who) return html`<${SignIn} onSignedIn=${signIn} error=${error} />`;
  const tabs = [["videos", "Videos"], ...(who.admin ? adminTabs(logs) : [])];
  const signOut = () => {
    session.clear();
    setWho(null);
    setTab("videos");
  };
  return html`<div class="shell">
    <header class="topbar">
      <strong class="brand">videogate</strong>
      <nav class="tabs" role="tablist">
        ${tabs.map(
          ([id, label]) => html`<button role="tab" id=${`tab-${id}`} aria-selected=${tab === id}
            class=${tab === id ? "tab active" : "tab"} onClick=${() => setTab(id)}>${label}</button>`,
        )}
      </nav>
      <span class="who muted" id="who">${who.label}</span>
      ${who.kind !== "local" && html`<button class="ghost" id="signout" onClick=${signOut}>Sign out</button>`}
    </header>
    <section class="content">
      ${tab === "videos" ? html`<${VideosTab} />` : html`<${AdminTabs} tab=${tab} />`}
    </section>
  </div>`;
}

render(html`<${App} />`, document.getElementById("app"));
