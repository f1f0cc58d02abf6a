// The one way the UI talks to the gateway: the signed-in credential as a Bearer header,
// JSON or multipart bodies, and the gateway's error envelope turned into an ApiError.
const TOKEN = "videogate.token";
export const UNAUTHORIZED = "videogate:unauthorized";

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN) || "";
  },
  save(token) {
    sessionStorage.setItem(TOKEN, token);
  },
  clear() {
    sessionStorage.removeItem(TOKEN);
  },
};

export class ApiError extends Error {
  constructor(status, body, text) {
    const err = body && body.error;
    super((err && err.message) || text || `HTTP ${status}`);
    this.status = status;
    this.code = (err && err.code) || `http_${status}`;
  }
}

export async function api(path, { method = "GET", json, form, token, withHeaders } = {}) {
  const headers = {};
  const credential = token === undefined ? session.token : token;
  if (credential) headers.Authorization = `Bearer ${credential}`;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = form; // the browser writes the multipart boundary
  }
  const response = await fetch(path, { method, headers, body });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data, text);
    // the signed-in credential stopped working (revoked, expired): back to sign-in
    if (response.status === 401 && token === undefined && credential) {
      window.dispatchEvent(new CustomEvent(UNAUTHORIZED, { detail: `${error.message} (${error.code})` }));
    }
    throw error;
  }
  return withHeaders ? { data, headers: response.headers } : data;
}

// What a credential is, read from its shape (the gateway checks it; this only picks the
// views): a virtual key, or a JWT whose role says admin or virtual key.
export function describe(token) {
  if (!token) return { kind: "local", admin: true, label: "local mode (auth off)" };
  if (token.toLowerCase().startsWith("sk-bf-")) {
    return { kind: "virtual_key", admin: false, label: `key ${token.slice(0, 10)}…` };
  }
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(part));
    if (claims.role === "admin") {
      return { kind: "admin", admin: true, label: `admin ${claims.sub || ""}`.trim() };
    }
    return { kind: "virtual_key", admin: false, label: `key JWT ${claims.vk || ""}`.trim() };
  } catch {
    return { kind: "unknown", admin: false, label: "token" };
  }
}

export const fmt = {
  time(unix) {
    return unix ? new Date(unix * 1000).toLocaleString() : "—";
  },
  usd(v) {
    // cents, and sub-cent digits only where there are some ($0.0125, $0.10, $12.50)
    return v === null || v === undefined ? "—" : `$${Number(v).toFixed(4).replace(/(\.\d\d\d*?)0+$/, "$1")}`;
  },
  num(v) {
    return v === null || v === undefined || v === "" ? "—" : String(v);
  },
};
