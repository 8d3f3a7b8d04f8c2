// Byte dashboard (minimal): channel list with live status, join/part/retry.
// The token lives in sessionStorage and is sent as a bearer header; the page never
// builds HTML from data strings (textContent only), so chat-controlled names cannot inject.
"use strict";

const TOKEN_KEY = "bytebot.token";
const $ = (sel) => document.querySelector(sel);
let timer = null;

function token() { return sessionStorage.getItem(TOKEN_KEY); }

async function api(path, options = {}) {
  const res = await fetch(`/api/v1${path}`, {
    ...options,
    headers: { "Authorization": `Bearer ${token()}`, "Content-Type": "application/json", ...(options.headers || {}) },
  });
  if (res.status === 401) { signOut("That token was not accepted."); throw new Error("unauthorized"); }
  const body = res.status === 204 ? null : await res.json();
  if (!res.ok) { throw new Error(body && body.error ? body.error.message : `HTTP ${res.status}`); }
  return body;
}

function say(text, isError = false) {
  const el = $("#message");
  el.textContent = text;
  el.className = isError ? "status-quarantined" : "";
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function actionButton(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

function render(channels) {
  const filter = $("#filter").value.trim().toLowerCase();
  const body = $("#channels tbody");
  body.replaceChildren();
  for (const ch of channels.filter((c) => c.login.includes(filter))) {
    const tr = document.createElement("tr");
    tr.dataset.login = ch.login;
    tr.append(
      cell(ch.login),
      cell(ch.status + (ch.quarantine_reason ? ` — ${ch.quarantine_reason}` : ""), `status-${ch.status}`),
      cell(String(ch.messages_seen), "num"),
      cell(String(ch.events_seen), "num"),
      cell(String(ch.restarts), "num"),
      cell(ch.last_failure || ""),
    );
    const actions = document.createElement("td");
    if (ch.status === "quarantined") {
      actions.append(actionButton("Retry", () => act(`/channels/${ch.login}/retry`, "POST", `Retrying ${ch.login}`)));
    }
    actions.append(actionButton("Part", () => act(`/channels/${ch.login}`, "DELETE", `Parted ${ch.login}`)));
    tr.append(actions);
    body.append(tr);
  }
}

async function act(path, method, done) {
  try { await api(path, { method }); say(done); await refresh(); }
  catch (e) { say(e.message, true); }
}

async function refresh() {
  try {
    // The runtime report is fleet-wide, so admin-only: a streamer's token sees its channel.
    const [list, runtime] = await Promise.all([
      api("/channels"),
      api("/runtime").catch(() => null),
    ]);
    render(list.channels);
    if (!runtime) {
      $("#runtime-status").textContent = "channel view";
      $("#runtime-details").textContent = `${list.total} channel`;
      return;
    }
    const pill = $("#runtime-status");
    pill.textContent = runtime.ready ? "ready" : runtime.degraded ? "degraded" : "connecting";
    pill.className = `pill ${runtime.ready ? "ok" : runtime.degraded ? "bad" : "warn"}`;
    $("#degraded-banner").hidden = !runtime.degraded;
    const p = runtime.persistence || {};
    const spilled = p.spill_rows ?? 0;
    const irc = runtime.irc.connected ? "connected"
      : runtime.irc.recovering ? "reconnecting" : "not connected";
    $("#runtime-details").textContent =
      `${list.total} channels · IRC ${irc} · ` +
      `${p.chat_written ?? 0} messages stored · backlog ${p.queued_rows ?? 0} rows in memory` +
      (spilled > 0 ? `, ${spilled} on disk (${Math.round((p.spill_bytes ?? 0) / 1024)} KiB)` : "");
  } catch (e) {
    if (e.message !== "unauthorized") say(e.message, true);
  }
}

function signIn() {
  $("#login-panel").hidden = true;
  $("#app").hidden = false;
  refresh();
  timer = setInterval(refresh, 2000);
}

function signOut(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(timer);
  $("#app").hidden = true;
  $("#login-panel").hidden = false;
  if (reason) say(reason, true);
}

$("#login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
  signIn();
});
$("#sign-out").addEventListener("click", () => signOut());
$("#filter").addEventListener("input", refresh);
$("#join-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const login = $("#join-login").value.trim();
  try {
    await api("/channels", { method: "POST", body: JSON.stringify({ login }) });
    say(`Joined ${login}`);
    $("#join-login").value = "";
    await refresh();
  } catch (err) { say(err.message, true); }
});

if (token()) signIn();
