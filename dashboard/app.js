// Byte dashboard: the shell. Signs in (finds out whether the token is the admin's, a
// streamer's or a moderator's), routes between views by the URL fragment, and runs the
// operator's global status: runtime health and the agent's panic switch.
//
// Views: #/ (fleet overview, admin), #/channel/{login} (focused channel),
// #/compare/{a,b,…} (channels side by side over time).
//
// Safety: no HTML is ever built from strings (see js/dom.js); the token is sent only as a
// bearer header; a `#token=…` sign-in link is consumed and removed from the address bar at once.

import { call, clearToken, getToken, setToken, setUnauthorizedHandler, ApiError } from "./js/api.js";
import { h, replace, toast, confirmDialog } from "./js/dom.js";
import * as fleet from "./js/fleet.js";
import * as channel from "./js/channel.js";
import * as compare from "./js/compare.js";

const $ = (id) => document.getElementById(id);

/** What every view can reach. */
const app = {
  role: null,          // "admin" | "streamer" | "moderator"
  channel: null,       // the channel of a channel token
  suspended: false,    // the agent is suspended everywhere (admin's view of it)
  isAdmin() { return this.role === "admin"; },
  canManage() { return this.role === "admin" || this.role === "streamer"; },
  navigate(hash) { if (location.hash !== hash) location.hash = hash; else route(); },
  setSuspended(value) { this.suspended = value; renderPanic(); },
};

let current = null;      // the mounted view
let statusTimer = null;

// ---------------------------------------------------------------- sign-in

/** Finds out who a token belongs to, using only operations the UI needs anyway. */
async function identify(token) {
  try {
    const agent = await call("GET /agent", { token });
    return { role: "admin", suspended: Boolean(agent && agent.suspended) };
  } catch (e) {
    if (!(e instanceof ApiError) || e.status === 401 || e.status === 429 || e.status === 0) throw e;
    if (e.status !== 403) {
      // No global agent route on this server: the runtime report is admin-only too.
      try {
        await call("GET /runtime", { token });
        return { role: "admin", suspended: false };
      } catch (e2) {
        if (e2.status === 401) throw e2;
      }
    }
  }
  let list;
  try {
    list = await call("GET /channels", { token });
  } catch (e) {
    if (e.status === 403) {
      throw new ApiError(403, "overlay_token", "This is an overlay token: it only works in the OBS overlay URL (/overlay/<channel>#token=…), not here.");
    }
    throw e;
  }
  const login = list.channels && list.channels[0] ? list.channels[0].login : null;
  if (!login) throw new ApiError(404, "no_channel", "This token's channel is not joined in Byte right now. Ask the operator to join it.");
  try {
    await call("GET /channels/{login}/tokens", { token, params: { login } });
    return { role: "streamer", channel: login };
  } catch (e) {
    if (e.status === 403) return { role: "moderator", channel: login };
    throw e;
  }
}

async function signIn(token, remember) {
  const who = await identify(token);
  setToken(token, remember);
  Object.assign(app, { role: who.role, channel: who.channel || null, suspended: Boolean(who.suspended) });
  $("login-panel").hidden = true;
  $("view").hidden = false;
  renderHeader();
  startStatus();
  route();
}

function signOut(message) {
  clearToken();
  clearTimeout(statusTimer);
  if (current) current.unmount();
  current = null;
  Object.assign(app, { role: null, channel: null, suspended: false });
  $("view").hidden = true;
  $("view").replaceChildren();
  $("banners").replaceChildren();
  for (const id of ["who", "panic", "sign-out", "runtime-status", "runtime-details"]) $(id).hidden = true;
  $("nav").replaceChildren();
  $("login-panel").hidden = false;
  const err = $("login-error");
  err.hidden = !message;
  err.textContent = message || "";
  $("token").value = "";
  $("token").focus();
}

setUnauthorizedHandler(() => signOut("Your token is no longer accepted (revoked or expired). Sign in again."));

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const button = e.submitter || $("login-form").querySelector("button");
  button.disabled = true;
  const err = $("login-error");
  err.hidden = true;
  try {
    await signIn($("token").value.trim(), $("remember").checked);
  } catch (ex) {
    err.textContent = ex.status === 401 ? "That token was not accepted. Check that you pasted all of it." : ex.message;
    err.hidden = false;
  } finally {
    button.disabled = false;
  }
});
$("sign-out").addEventListener("click", () => signOut());

// ---------------------------------------------------------------- header and status

function renderHeader() {
  const who = $("who");
  who.hidden = false;
  who.textContent = app.isAdmin() ? "Operator" : `${app.role === "streamer" ? "Streamer" : "Moderator"} · ${app.channel}`;
  who.className = `who role-${app.role}`;
  $("sign-out").hidden = false;
  const nav = $("nav");
  replace(nav,
    app.isAdmin() ? h("a", { href: "#/", "data-nav": "fleet" }, "Fleet") : h("a", { href: `#/channel/${encodeURIComponent(app.channel)}`, "data-nav": "channel" }, "My channel"),
  );
  renderPanic();
}

function renderPanic() {
  const panic = $("panic");
  panic.hidden = !app.isAdmin();
  replace(panic, app.suspended ? "Resume all" : "Suspend all", h("span", { class: "wide" }, " agents"));
  panic.title = app.suspended ? "Resume the agent on every channel" : "Suspend the agent on every channel (panic button)";
  panic.className = app.suspended ? "btn-primary" : "btn-danger";
  panic.setAttribute("aria-pressed", String(app.suspended));
  const banners = $("banners");
  let banner = document.getElementById("suspended-banner");
  if (app.isAdmin() && app.suspended) {
    if (!banner) {
      banner = h("div", { id: "suspended-banner", class: "banner banner-bad", role: "status" },
        h("strong", {}, "Agent suspended on every channel. "),
        "Coaching analysis keeps running; the agent takes no action until you resume it.");
      banners.prepend(banner);
    }
  } else if (banner) {
    banner.remove();
  }
}

$("panic").addEventListener("click", async () => {
  const resume = app.suspended;
  const ok = await confirmDialog(resume
    ? { title: "Resume the agent everywhere?", body: "Every channel that is not paused on its own goes back to normal.", confirm: "Resume all" }
    : { title: "Suspend the agent on every channel?", body: "Use this if the agent misbehaves anywhere. Per-channel pauses are kept; resume with the same button.", confirm: "Suspend all", danger: true });
  if (!ok) return;
  try {
    const res = await call(resume ? "POST /agent/resume-all" : "POST /agent/suspend-all");
    app.setSuspended(Boolean(res.suspended));
    toast(`${res.suspended ? "Suspended" : "Resumed"} the agent on ${res.channels} channel${res.channels === 1 ? "" : "s"}.`);
    if (current && current.refresh) current.refresh();
  } catch (e) {
    toast(e.message, "error");
  }
});

/** Admin status line: database, IRC, backlog; and the global agent state. Every 10 s. */
async function refreshStatus() {
  clearTimeout(statusTimer);
  if (!app.isAdmin()) return;
  try {
    const [runtime, agent] = await Promise.all([
      call("GET /runtime").catch(() => null),
      call("GET /agent").catch(() => null),
    ]);
    if (agent) app.setSuspended(Boolean(agent.suspended));
    if (runtime) renderRuntime(runtime);
  } finally {
    if (app.isAdmin()) statusTimer = setTimeout(refreshStatus, document.hidden ? 30000 : 10000);
  }
}

function renderRuntime(rt) {
  const pill = $("runtime-status");
  pill.hidden = false;
  pill.textContent = rt.ready ? "All systems go" : rt.degraded ? "Database down" : "Connecting";
  pill.className = `pill ${rt.ready ? "pill-ok" : rt.degraded ? "pill-bad" : "pill-warn"}`;
  const p = rt.persistence || {};
  const irc = rt.irc || {};
  const spilled = p.spill_rows || 0;
  const details = $("runtime-details");
  details.hidden = false;
  details.textContent = `${rt.channels ?? "?"} channels · Twitch chat ${irc.connected ? "connected" : irc.recovering ? "reconnecting" : "not connected"} · ` +
    `${(p.chat_written ?? 0).toLocaleString()} messages stored · backlog ${(p.queued_rows ?? 0).toLocaleString()} rows in memory` +
    (spilled > 0 ? `, ${spilled.toLocaleString()} on disk` : "");
  let banner = document.getElementById("degraded-banner");
  if (rt.degraded && !banner) {
    banner = h("div", { id: "degraded-banner", class: "banner banner-warn", role: "status" },
      h("strong", {}, "Database unreachable. "),
      "Chat is still read and kept safe (in memory, then on disk) and will be written when it returns; history may lag.");
    $("banners").append(banner);
  } else if (!rt.degraded && banner) {
    banner.remove();
  }
}

function startStatus() {
  if (app.isAdmin()) refreshStatus();
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && app.isAdmin()) refreshStatus();
});

// ---------------------------------------------------------------- routing

function parseRoute() {
  const hash = location.hash.replace(/^#/, "");
  const parts = hash.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "channel" && parts[1]) return { view: "channel", login: parts[1] };
  if (parts[0] === "compare" && parts[1]) return { view: "compare", logins: parts[1].split(",").filter(Boolean) };
  return { view: "fleet" };
}

function route() {
  if (!app.role) return;
  let r = parseRoute();
  if (!app.isAdmin()) {
    // Channel tokens have one channel: everything else leads there.
    if (r.view !== "channel" || r.login !== app.channel) {
      history.replaceState(null, "", `#/channel/${encodeURIComponent(app.channel)}`);
      r = { view: "channel", login: app.channel };
    }
  }
  if (current) current.unmount();
  const view = $("view");
  view.replaceChildren();
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.nav === r.view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (r.view === "channel") current = channel.mount(view, app, r.login);
  else if (r.view === "compare") current = compare.mount(view, app, r.logins);
  else current = fleet.mount(view, app);
  document.title = r.view === "channel" ? `${r.login} — Byte` : r.view === "compare" ? "Compare — Byte" : "Fleet — Byte";
}

window.addEventListener("hashchange", route);

// ---------------------------------------------------------------- start

/** A sign-in link `…/#token=…` (the fragment never reaches the server): use it, then drop it. */
function tokenFromFragment() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!m) return null;
  history.replaceState(null, "", `${location.pathname}#/`);
  return decodeURIComponent(m[1]);
}

async function start() {
  const linked = tokenFromFragment();
  const token = linked || getToken();
  if (!token) { signOut(); return; }
  try {
    await signIn(token, linked ? false : Boolean(localStorage.getItem("bytebot.token")));
  } catch (e) {
    signOut(e.status === 401 ? "That token was not accepted." : e.message);
  }
}

start();
