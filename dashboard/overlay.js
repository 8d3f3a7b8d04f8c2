// The OBS overlay: /overlay/{login}#token=<overlay token>[&max=3][&hold=20][&status=1][&pos=tr]
//
// A transparent page for an OBS browser source. It shows each new coaching hint as a large
// card (newest on top, at most `max`, each for `hold` seconds or until it expires) and,
// unless status=0, a small line with the health score and chat rate. The token is read from
// the URL fragment, which the browser never sends to the server (so it stays out of logs). The
// live stream reconnects by itself; a discreet notice shows while it is down.

import { resolve } from "./js/api.js";
import { openStream } from "./js/sse.js";
import { h, setText } from "./js/dom.js";
import * as fmt from "./js/format.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.hash.replace(/^#/, ""));
const token = params.get("token") || "";
const login = decodeURIComponent(location.pathname.replace(/^\/overlay\//, "").replace(/\/$/, "")).toLowerCase();
const clamp = (v, lo, hi, d) => (Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : d);
const MAX = clamp(Number(params.get("max")), 1, 6, 3);
const HOLD_S = clamp(Number(params.get("hold")), 3, 600, 20);
const SHOW_STATUS = params.get("status") !== "0";
const POS = ["tr", "tl", "br", "bl"].includes(params.get("pos")) ? params.get("pos") : "tr";

document.documentElement.dataset.pos = POS;
const list = $("ov-hints");
const connEl = $("ov-conn");
const statusEl = $("ov-status");

function setup(text) {
  $("ov-setup").hidden = false;
  setText($("ov-setup-text"), text);
  document.documentElement.dataset.state = "setup";
}

function show(hint) {
  if (!hint || !hint.id || list.querySelector(`[data-id="${CSS.escape(hint.id)}"]`)) return;
  const kind = fmt.hintKind(hint.kind);
  const card = h("li", { class: ["ov-hint", `prio-${hint.priority || "normal"}`], dataset: { id: hint.id } },
    h("div", { class: "ov-kind" }, h("span", { "aria-hidden": "true" }, kind.icon), " ", kind.label),
    h("div", { class: "ov-title" }, hint.title || kind.label),
    hint.suggested_action ? h("div", { class: "ov-action" }, hint.suggested_action) : null,
    h("div", { class: "ov-message" }, hint.message || hint.body || hint.detail || ""));
  list.prepend(card);
  // Keep the newest MAX cards.
  const cards = [...list.children].filter((c) => !c.classList.contains("leaving"));
  for (const old of cards.slice(MAX)) leave(old);
  const untilExpiry = hint.expires_at ? Date.parse(hint.expires_at) - Date.now() : Infinity;
  const ms = Math.max(3000, Math.min(HOLD_S * 1000, Number.isFinite(untilExpiry) ? untilExpiry : Infinity));
  setTimeout(() => leave(card), ms);
}

function leave(card) {
  if (card.classList.contains("leaving")) return;
  card.classList.add("leaving");
  // The fade lasts 400 ms (overlay.css); remove even if animations are off.
  setTimeout(() => card.remove(), 450);
}

function status(ctx) {
  if (!SHOW_STATUS) return;
  const score = ctx.health ? ctx.health.score : null;
  statusEl.hidden = false;
  statusEl.replaceChildren(
    h("span", { class: ["ov-stat", fmt.healthTone(score)] }, "Health ", h("b", {}, score === null || score === undefined ? "—" : String(Math.round(score)))),
    h("span", { class: "ov-stat" }, "Chat ", h("b", {}, fmt.rate(ctx.chat_rate_per_min)), "/min"),
    ctx.sentiment === null || ctx.sentiment === undefined ? null : h("span", { class: ["ov-stat", fmt.sentimentTone(ctx.sentiment)] }, "Mood ", h("b", {}, fmt.sentiment(ctx.sentiment))));
}

let downSince = null;
let downTimer = null;
function conn(state, detail) {
  document.documentElement.dataset.state = state;
  clearTimeout(downTimer);
  if (state === "open") {
    downSince = null;
    connEl.hidden = true;
    setText(connEl, "");
    return;
  }
  if (state === "denied") {
    connEl.hidden = false;
    connEl.className = "ov-conn ov-conn-bad";
    setText(connEl, detail === 404
      ? `Byte overlay: channel “${login}” not found for this token.`
      : "Byte overlay: this token was not accepted (revoked?). Create a new overlay token in the dashboard.");
    return;
  }
  // Short blips stay invisible on stream; a longer outage shows a small notice.
  downSince = downSince || Date.now();
  downTimer = setTimeout(() => {
    connEl.hidden = false;
    connEl.className = "ov-conn";
    setText(connEl, "Byte overlay reconnecting…");
  }, Math.max(0, 5000 - (Date.now() - downSince)));
}

if (!/^[a-z0-9_]{1,25}$/.test(login)) {
  setup("The address should look like /overlay/<your_channel>#token=<overlay token>.");
} else if (!token) {
  setup(`Add your overlay token to this address: /overlay/${login}#token=… — create one in the Byte dashboard under “Access tokens” (role: Overlay); it gives you the full URL to paste into OBS.`);
} else {
  const { url } = resolve("GET /channels/{login}/stream", { login });
  openStream(url, token, {
    onEvent(name, data) {
      if (!data || typeof data !== "object") return;
      if (name === "hint") show(data.hint && data.hint.id ? data.hint : data);
      else if (name === "context") status(data);
    },
    onState: conn,
  });
}
