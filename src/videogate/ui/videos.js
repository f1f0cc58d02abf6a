// The caller's videos: a create form driven by the model catalogue, and a gallery that
// follows running jobs, plays finished ones through a content ticket, and deletes them.
import { api, fmt } from "./api.js";
import { html, useEffect, useRef, useState } from "./dom.js";

const ACTIVE = new Set(["queued", "in_progress"]);
const PAGE = 24;

const PATTERN = /[*?[]/; // a catalogue entry that names a family ("veo-3*"), not a model
const OTHER = "\u0000other";

// The catalogue as the form uses it: `models` to choose from (`/v1/models`, with what each
// accepts, `{}` when undeclared) and `hints` for a typed model. With no catalogue (404) or
// an empty one, the providers' advertised models become hints for free text.
async function loadCatalogue() {
  let listed = [];
  try {
    listed = (await api("/v1/models")).data;
  } catch (err) {
    if (err.status !== 404) throw err;
  }
  const models = listed.filter((m) => !PATTERN.test(m.id)).map((m) => ({ ...m, accepts: m.accepts || {} }));
  const hints = listed.filter((m) => PATTERN.test(m.id)).map((m) => m.id);
  if (models.length) return { exact: true, models, hints };
  for (const p of (await api("/v1/providers")).data) {
    const advertised = p.models || [];
    for (const m of advertised) hints.push(m.includes("/") ? m : `${p.id}/${m}`);
    if (!advertised.length) hints.push(`${p.id}/`);
  }
  return { exact: false, models: [], hints };
}

// A select of the model's allowed values when the catalogue lists them, else free text.
function Choice({ id, label, options, value, onChange, placeholder }) {
  if (options && options.length) {
    return html`<label>${label}<select id=${id} value=${value} onChange=${(e) => onChange(e.target.value)}>
      <option value="">default</option>
      ${options.map((o) => html`<option value=${String(o)}>${String(o)}</option>`)}
    </select></label>`;
  }
  return html`<label>${label}<input id=${id} value=${value} placeholder=${placeholder}
    onInput=${(e) => onChange(e.target.value)} /></label>`;
}

function secondsHint(accepts) {
  const { min_seconds: lo, max_seconds: hi } = accepts;
  if (lo !== null && lo !== undefined && hi !== null && hi !== undefined) return `${lo}–${hi}`;
  return "e.g. 4";
}

export function CreateForm({ onCreated }) {
  const [catalogue, setCatalogue] = useState(null);
  const [loadError, setLoadError] = useState("");
  const [model, setModel] = useState("");
  const [custom, setCustom] = useState(false); // a typed model instead of a listed one
  const [prompt, setPrompt] = useState("");
  const [size, setSize] = useState("");
  const [seconds, setSeconds] = useState("");
  const [audio, setAudio] = useState(false);
  const [negative, setNegative] = useState("");
  const [seed, setSeed] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const file = useRef(null);

  useEffect(() => {
    loadCatalogue().then(
      (c) => {
        setCatalogue(c);
        if (c.exact && c.models.length) setModel(c.models[0].id);
      },
      (err) => setLoadError(err.message),
    );
  }, []);

  const chosen = catalogue && !custom && catalogue.models.find((m) => m.id === model);
  const accepts = (chosen && chosen.accepts) || {};
  const exact = Boolean(chosen);
  const offered = (flag) => !exact || accepts[flag] !== false; // undeclared: let the provider decide
  const perSecond = chosen && chosen.price ? chosen.price.per_second : null;

  useEffect(() => {
    // a choice the newly picked model does not list goes back to its default
    if (accepts.sizes && accepts.sizes.length && !accepts.sizes.includes(size)) setSize("");
    if (accepts.seconds && accepts.seconds.length && !accepts.seconds.map(String).includes(seconds)) setSeconds("");
    if (!offered("audio")) setAudio(false);
  }, [model, catalogue]);

  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError("");
    const form = new FormData();
    form.set("prompt", prompt);
    if (model) form.set("model", model);
    if (size) form.set("size", size);
    if (seconds) form.set("seconds", seconds);
    if (audio) form.set("generate_audio", "true");
    if (negative.trim() && offered("negative_prompt")) form.set("negative_prompt", negative.trim());
    if (seed.trim() && offered("seed")) form.set("seed", seed.trim());
    const image = file.current && file.current.files[0];
    if (image) form.set("input_reference", image, image.name);
    try {
      const video = await api("/v1/videos", { method: "POST", form });
      setPrompt("");
      if (file.current) file.current.value = "";
      onCreated(video);
    } catch (err) {
      setError(`${err.message} (${err.code})`);
    } finally {
      setBusy(false);
    }
  };

  return html`<form class="card create" id="create-form" onSubmit=${submit}>
    <h2>New video</h2>
    ${loadError && html`<p class="error">Model catalogue: ${loadError}</p>`}
    ${catalogue && !catalogue.exact && html`<p class="muted small">No model catalogue here
      (<code>/v1/models</code>); type a model as <code>provider/model</code>.</p>`}
    <div class="row">
      ${catalogue && catalogue.exact &&
      html`<label>Model<select id="create-model" value=${custom ? OTHER : model} onChange=${(e) => {
        setCustom(e.target.value === OTHER);
        setModel(e.target.value === OTHER ? "" : e.target.value);
      }}>
          ${catalogue.models.map((m) => html`<option value=${m.id}>${m.id}</option>`)}
          <option value=${OTHER}>other…</option>
        </select></label>`}
      ${catalogue && (!catalogue.exact || custom) &&
      html`<label>${custom ? "Other model" : "Model"}<input id=${custom ? "create-model-other" : "create-model"}
          list="model-hints" value=${model} placeholder="provider/model (empty: the default)"
          onInput=${(e) => setModel(e.target.value)} />
        <datalist id="model-hints">${catalogue.hints.map((h) => html`<option value=${h} />`)}</datalist></label>`}
      <${Choice} id="create-size" label="Size" options=${accepts.sizes} value=${size}
        onChange=${setSize} placeholder="e.g. 1280x720" />
      <${Choice} id="create-seconds" label="Seconds" options=${accepts.seconds} value=${seconds}
        onChange=${setSeconds} placeholder=${secondsHint(accepts)} />
    </div>
    <label>Prompt<textarea id="create-prompt" required rows="3" value=${prompt}
      onInput=${(e) => setPrompt(e.target.value)} placeholder="A paper boat drifting down a rainy street"></textarea></label>
    ${(exact ? accepts.negative_prompt || accepts.seed : false) &&
    html`<div class="row">
      ${accepts.negative_prompt && html`<label>Negative prompt<input id="create-negative" value=${negative}
        onInput=${(e) => setNegative(e.target.value)} /></label>`}
      ${accepts.seed && html`<label>Seed<input id="create-seed" type="number" step="1" value=${seed}
        onInput=${(e) => setSeed(e.target.value)} /></label>`}
    </div>`}
    <div class="row">
      <label class="check"><input id="create-audio" type="checkbox" checked=${audio}
        disabled=${!offered("audio")} onChange=${(e) => setAudio(e.target.checked)} />
        Generate audio${offered("audio") ? "" : " (not offered by this model)"}</label>
      ${offered("image_input") &&
      html`<label>Reference image (first frame)<input id="create-image" type="file" ref=${file}
        accept="image/jpeg,image/png,image/webp" /></label>`}
    </div>
    <div class="row">
      <button id="create-submit" type="submit" disabled=${busy || !prompt.trim()}>${busy ? "Creating…" : "Create"}</button>
      ${perSecond !== null && perSecond !== undefined &&
      html`<span class="muted small" id="create-price">${fmt.usd(perSecond)} per second${seconds
        ? ` · about ${fmt.usd(perSecond * Number(seconds))} for ${seconds} s` : ""}</span>`}
    </div>
    ${error && html`<p class="error" role="alert" id="create-error">${error}</p>`}
  </form>`;
}

// A content ticket for `video`: the gateway's short-lived URL the <video> element can load
// (it cannot send an Authorization header). Asked for once the job completes, and again only
// when the player fails (an expired ticket mid-viewing), so a playing video is never cut off.
function useTicket(video) {
  const [ticket, setTicket] = useState(null);
  const [error, setError] = useState("");
  const live = useRef(true);
  const fetchTicket = () =>
    api("/ui/tickets", { method: "POST", json: { video_id: video.id } }).then(
      (t) => live.current && setTicket(t),
      (err) => live.current && setError(err.message),
    );
  useEffect(() => {
    live.current = true;
    if (video.status === "completed") fetchTicket();
    return () => {
      live.current = false;
    };
  }, [video.id, video.status]);
  const renew = () => {
    if (ticket && ticket.expires_at * 1000 > Date.now() + 5000) return false; // not the cause
    fetchTicket();
    return true;
  };
  return [ticket, error, renew];
}

// The player: on an error after its ticket expired, a new ticket, resuming where it was.
function Player({ ticket, renew }) {
  const resume = useRef(null);
  const failed = (event) => {
    const el = event.currentTarget;
    if (renew()) resume.current = { at: el.currentTime, playing: !el.paused };
  };
  const loaded = (event) => {
    const el = event.currentTarget;
    if (!resume.current) return;
    el.currentTime = resume.current.at;
    if (resume.current.playing) el.play().catch(() => {});
    resume.current = null;
  };
  return html`<video controls preload="metadata" playsinline src=${ticket.url}
    poster=${ticket.thumbnail_url} onError=${failed} onLoadedMetadata=${loaded}></video>`;
}

// Follows a running job: GET /v1/videos/{id} at the gateway's `openai-poll-after-ms`.
function usePolling(video, onChange) {
  useEffect(() => {
    if (!ACTIVE.has(video.status)) return undefined;
    let timer;
    let live = true;
    const poll = async (wait) => {
      timer = setTimeout(async () => {
        try {
          const { data, headers } = await api(`/v1/videos/${encodeURIComponent(video.id)}`, { withHeaders: true });
          if (!live) return;
          onChange(data);
          if (ACTIVE.has(data.status)) poll(Number(headers.get("openai-poll-after-ms")) || 1000);
        } catch (err) {
          if (live && err.status !== 404) poll(3000);
        }
      }, Math.min(Math.max(wait, 300), 5000));
    };
    poll(500);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [video.id]);
}

function VideoCard({ video, onChange, onDelete }) {
  usePolling(video, onChange);
  const [ticket, ticketError, renew] = useTicket(video);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState("");
  const remove = async () => {
    try {
      await api(`/v1/videos/${encodeURIComponent(video.id)}`, { method: "DELETE" });
      onDelete(video.id);
    } catch (err) {
      setError(err.message);
      setConfirming(false);
    }
  };
  const progress = video.status === "completed" ? 100 : video.progress || 0;
  return html`<article class="card video" data-video-id=${video.id} data-status=${video.status}>
    <div class="screen">
      ${video.status === "completed" && ticket
        ? html`<${Player} ticket=${ticket} renew=${renew} />`
        : html`<div class="placeholder">${video.status === "failed" ? "failed" : `${progress} %`}</div>`}
    </div>
    <div class="meta">
      <span class=${`badge ${video.status}`}>${video.status.replace("_", " ")}</span>
      <span class="muted small">${video.model} · ${video.size || "?"} · ${video.seconds || "?"} s</span>
    </div>
    ${ACTIVE.has(video.status) &&
    html`<div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100"
      aria-valuenow=${progress}><span style=${{ width: `${progress}%` }}></span></div>`}
    <p class="prompt" title=${video.prompt}>${video.prompt}</p>
    ${video.status === "failed" && video.error && html`<p class="error small">${video.error.message} (${video.error.code})</p>`}
    ${(error || ticketError) && html`<p class="error small">${error || ticketError}</p>`}
    <div class="actions">
      <span class="muted small">${fmt.time(video.created_at)}</span>
      ${ticket && html`<a class="small" href=${ticket.url} download>Download</a>`}
      ${confirming
        ? html`<button class="danger small" data-action="confirm-delete" onClick=${remove}>Really delete</button>
            <button class="ghost small" onClick=${() => setConfirming(false)}>Keep</button>`
        : html`<button class="ghost small" data-action="delete" onClick=${() => setConfirming(true)}>Delete</button>`}
    </div>
  </article>`;
}

export function Gallery({ videos, setVideos }) {
  const [error, setError] = useState("");
  const [more, setMore] = useState(false);
  const load = async (after) => {
    try {
      const page = await api(`/v1/videos?limit=${PAGE}${after ? `&after=${encodeURIComponent(after)}` : ""}`);
      setVideos((old) => (after ? [...old, ...page.data] : page.data));
      setMore(page.has_more);
      setError("");
    } catch (err) {
      setError(err.message);
    }
  };
  useEffect(() => {
    load();
  }, []);
  const update = (fresh) => setVideos((old) => old.map((v) => (v.id === fresh.id ? fresh : v)));
  const drop = (id) => setVideos((old) => old.filter((v) => v.id !== id));
  return html`<section>
    <div class="section-head"><h2>Your videos</h2>
      <button class="ghost small" id="gallery-refresh" onClick=${() => load()}>Refresh</button></div>
    ${error && html`<p class="error">${error}</p>`}
    ${!videos.length && !error && html`<p class="muted" id="gallery-empty">No videos yet.</p>`}
    <div class="gallery" id="gallery">
      ${videos.map((v) => html`<${VideoCard} key=${v.id} video=${v} onChange=${update} onDelete=${drop} />`)}
    </div>
    ${more && html`<button class="ghost" onClick=${() => load(videos[videos.length - 1].id)}>More</button>`}
  </section>`;
}

export function VideosTab() {
  const [videos, setVideos] = useState([]);
  const created = (video) => setVideos((old) => [video, ...old.filter((v) => v.id !== video.id)]);
  return html`<div class="videos-tab">
    <${CreateForm} onCreated=${created} />
    <${Gallery} videos=${videos} setVideos=${setVideos} />
  </div>`;
}
