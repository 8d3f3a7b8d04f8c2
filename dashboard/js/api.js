// The API client. Every call the UI makes goes through `call(operation, …)`, and every
// operation must be listed in ROUTES, so this table is the complete and honest list of what the
// dashboard and the overlay use (a test compares it with /api/v1/openapi.json; operations the UI
// deliberately never calls are listed in dashboard/headless.json with the reason).

/** Every API operation the UI calls: "METHOD /path/{template}" → what it is used for. */
export const ROUTES = Object.freeze({
  "GET /fleet": "fleet overview table (sort, filter, pages), polled",
  "GET /channels": "which channel a channel token belongs to (sign-in)",
  "POST /channels": "join a channel (fleet toolbar)",
  "GET /channels/{login}": "status, restarts and quarantine reason in the focused view",
  "DELETE /channels/{login}": "part a channel (fleet row, focused view)",
  "POST /channels/{login}/retry": "retry a quarantined channel",
  "GET /channels/{login}/context": "health factors, churn, timeline, clips, open questions",
  "GET /channels/{login}/history": "history charts and the comparison view",
  "GET /channels/{login}/sessions": "sessions table",
  "GET /channels/{login}/hints": "coaching feed backlog",
  "GET /channels/{login}/clips": "clip candidates",
  "POST /channels/{login}/session": "start or stop the stream session",
  "GET /channels/{login}/tokens": "token list; also tells a streamer token from a moderator one",
  "POST /channels/{login}/tokens": "mint a token (shown once)",
  "DELETE /channels/{login}/tokens/{token_id}": "revoke a token",
  "GET /channels/{login}/agent": "agent settings of the channel",
  "PUT /channels/{login}/agent": "pause/resume, temperature, top_p, operator notes",
  "GET /channels/{login}/stream": "live context, hints and agent changes (SSE), dashboard and overlay",
  "GET /agent": "global suspension state; also tells the admin token apart",
  "POST /agent/suspend-all": "panic button: suspend the agent everywhere",
  "POST /agent/resume-all": "resume the agent everywhere",
  "GET /runtime": "database / IRC / backlog status line for the admin",
  "GET /channels/{login}/actions": "action queue: pending proposals with their explanation, and history",
  "POST /channels/{login}/actions/{id}/approve": "approve (and run) a queued action",
  "POST /channels/{login}/actions/{id}/reject": "reject a queued action",
  "GET /channels/{login}/goals": "session goals, live progress and past outcomes",
  "PUT /channels/{login}/goals": "goals editor (streamer, admin)",
  "GET /channels/{login}/autonomy": "autonomy policy: mode per action kind",
  "PUT /channels/{login}/autonomy": "autonomy policy editor (streamer, admin)",
  "POST /channels/{login}/autonomy/tick": "\"Decide now\" button of the action queue",
  "GET /playbooks": "playbook list with triggers and actions",
  "POST /channels/{login}/playbooks/{name}/run": "run a playbook by hand",
  "GET /channels/{login}/playbooks/runs": "playbook run history",
  "GET /channels/{login}/prompt-profile": "prompt studio: the active system prompt and persona",
  "PUT /channels/{login}/prompt-profile": "prompt studio: save a new version (streamer, admin)",
  "GET /channels/{login}/prompt-profile/versions": "prompt studio: version history",
  "POST /channels/{login}/prompt-profile/rollback": "prompt studio: roll back to a version",
  "POST /channels/{login}/prompt-profile/preview": "prompt studio: the exact prompt a reply would send",
  "GET /models/catalog": "models per activity and the endpoint's model list (prompt studio)",
  "GET /channels/{login}/reports": "post-stream reports list",
  "POST /channels/{login}/reports": "generate a report now",
  "GET /channels/{login}/reports/{id}": "one report rendered",
  "GET /channels/{login}/reports/{id}/markdown": "download a report as Markdown",
  "GET /channels/{login}/replies": "co-pilot panel: what the bot answered viewers",
  "GET /channels/{login}/budget": "co-pilot panel: the channel's LLM spend and caps today",
  "PUT /channels/{login}/budget": "co-pilot panel: set the channel's daily caps (admin)",
  "GET /channels/{login}/models": "co-pilot panel: the model per activity",
  "PUT /channels/{login}/models": "co-pilot panel: choose a model per activity (streamer)",
  "GET /budgets": "fleet page: the fleet's LLM spend and caps today",
  "GET /channels/{login}/memory": "memory panel: entries by kind, paginated",
  "PUT /channels/{login}/memory": "memory panel: add or edit an entry",
  "DELETE /channels/{login}/memory/{id}": "memory panel: delete an entry",
  "GET /channels/{login}/memory/search": "memory panel: search by meaning with k, min similarity, exact, ef_search and diagnostics",
});

const TOKEN_KEY = "bytebot.token";

/** The stored bearer token: this tab's session, or this browser when the user asked. */
export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || localStorage.getItem(TOKEN_KEY) || "";
}

/** Stores the token; `remember` keeps it across browser restarts on this device. */
export function setToken(token, remember) {
  clearToken();
  (remember ? localStorage : sessionStorage).setItem(TOKEN_KEY, token);
}

/** Forgets the token everywhere. */
export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(TOKEN_KEY);
}

/** An API failure with the server's error code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Splits a ROUTES key into its method and its URL under /api/v1, with `params` filled in. */
export function resolve(operation, params = {}, query = null) {
  if (!Object.hasOwn(ROUTES, operation)) throw new Error(`not in ROUTES: ${operation}`);
  const [method, template] = operation.split(" ");
  const path = template.replace(/\{(\w+)\}/g, (_, name) => {
    if (params[name] === undefined || params[name] === null) throw new Error(`missing ${name} for ${operation}`);
    return encodeURIComponent(String(params[name]));
  });
  let url = `/api/v1${path}`;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
    const s = q.toString();
    if (s) url += `?${s}`;
  }
  return { method, url };
}

let onUnauthorized = () => {};
/** What to do when the server says the token is no longer valid (sign out). */
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

/**
 * Calls one operation of ROUTES. `params` fill the path template, `query` becomes the query
 * string, `body` is sent as JSON. Resolves to the parsed JSON (null for 204); rejects with an
 * ApiError carrying the server's message.
 */
export async function call(operation, { params, query, body, signal, token } = {}) {
  const { method, url } = resolve(operation, params, query);
  const headers = { "Authorization": `Bearer ${token ?? getToken()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(url, { method, headers, signal, cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "network", "Byte is not reachable — check that it is running.");
  }
  let payload = null;
  if (res.status !== 204) {
    const text = await res.text();
    try { payload = text ? JSON.parse(text) : null; } catch { payload = null; }
  }
  if (!res.ok) {
    const err = payload && payload.error ? payload.error : {};
    const error = new ApiError(res.status, err.code || `http_${res.status}`, err.message || `HTTP ${res.status}`);
    if (res.status === 401 && token === undefined) onUnauthorized(error);
    throw error;
  }
  return payload;
}
