// The action queue of one channel: what autonomy and the playbooks propose, each with the
// explanation shown to the streamer, approve / reject buttons (streamer, moderator, admin),
// a "Decide now" button that runs one autonomy step, and the recent history with results.
// Polled; every string from the server goes in as text.

import { call } from "./api.js";
import { h, replace, setText, toast } from "./dom.js";
import * as fmt from "./format.js";

const POLL_MS = 5000;

const KIND_LABEL = { chat_message: "Chat message", coaching_hint: "Coaching hint", slow_mode: "Slow mode (by hand)" };
const STATUS_TONE = { proposed: "pill-warn", approved: "pill", executing: "pill", executed: "pill-ok", acknowledged: "pill-ok", failed: "pill-bad", rejected: "pill-muted", expired: "pill-muted" };

function describe(a) {
  const p = a.payload || {};
  if (a.kind === "chat_message") return `“${p.text || ""}”`;
  if (a.kind === "coaching_hint") return `${p.title || ""} — ${p.message || ""}`;
  if (a.kind === "slow_mode") return `Slow mode ${p.seconds || 30} s for ${fmt.duration(p.duration_secs || 300)}: set it in Twitch, then approve to acknowledge.`;
  return a.kind;
}

function resultText(a) {
  const r = a.result;
  if (!r) return "";
  if (r.error) return `failed: ${r.error}`;
  if (r.by_hand) return "acknowledged (set by hand)";
  if (r.said) return r.said.delivered ? "sent in chat" : "dry run (the bot reads anonymously)";
  if (r.published) return "shown on the HUD";
  return "";
}

/** Builds the queue into `section`; returns { load, destroy }. */
export function mountActions(section, app, login) {
  const pending = h("ul", { class: "action-list", "aria-label": "Actions waiting for approval" });
  const history = h("tbody");
  const summary = h("p", { class: "muted small", role: "status" });
  const decideBtn = h("button", { type: "button", class: "btn-secondary btn-small", id: "autonomy-tick" }, "Decide now");
  let timer = null;
  let alive = true;

  section.append(
    h("div", { class: "toolbar" }, summary, decideBtn),
    pending,
    h("details", {},
      h("summary", {}, "Recent actions"),
      h("div", { class: "table-wrap" }, h("table", { class: "data-table" },
        h("caption", { class: "sr-only" }, "Recent actions, newest first"),
        h("thead", {}, h("tr", {}, ["When", "Kind", "What", "Why", "Status", "Result"].map((c) => h("th", { scope: "col" }, c)))),
        history))));

  async function decide(a, approve) {
    const op = approve ? "POST /channels/{login}/actions/{id}/approve" : "POST /channels/{login}/actions/{id}/reject";
    try {
      const row = await call(op, { params: { login, id: a.id } });
      toast(approve ? `Approved: ${row.status}${row.result && row.result.error ? ` (${row.result.error})` : ""}.` : "Rejected.");
    } catch (e) {
      toast(e.message, "error");
    }
    load();
  }

  function renderPending(items) {
    if (!items.length) {
      replace(pending, h("li", { class: "muted" }, "Nothing waiting. Proposals from autonomy and the playbooks appear here."));
      return;
    }
    replace(pending, items.map((a) => h("li", { class: "action-item", dataset: { id: String(a.id), kind: a.kind } },
      h("div", { class: "action-head" },
        h("strong", {}, KIND_LABEL[a.kind] || a.kind),
        h("span", { class: "muted small" }, ` · ${a.origin}${a.playbook ? ` (${a.playbook})` : ""} · ${fmt.ago(a.created_at)} · expires ${fmt.clock(a.expires_at)}`)),
      h("p", { class: "action-what" }, describe(a)),
      h("p", { class: "action-why muted" }, a.reason),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "btn-primary btn-small", on: { click: () => decide(a, true) } }, a.kind === "slow_mode" ? "Done it — acknowledge" : "Approve"),
        h("button", { type: "button", class: "btn-secondary btn-small", on: { click: () => decide(a, false) } }, "Reject")))));
  }

  function renderHistory(items) {
    replace(history, items.filter((a) => a.status !== "proposed").slice(0, 30).map((a) => h("tr", {},
      h("td", {}, fmt.clock(a.created_at)),
      h("td", {}, KIND_LABEL[a.kind] || a.kind),
      h("td", {}, describe(a)),
      h("td", { class: "muted" }, a.reason),
      h("td", {}, h("span", { class: ["pill", STATUS_TONE[a.status] || ""] }, a.status), a.auto ? h("span", { class: "muted small" }, " auto") : null),
      h("td", { class: "muted small" }, resultText(a)))));
  }

  async function load() {
    try {
      const [waiting, all] = await Promise.all([
        call("GET /channels/{login}/actions", { params: { login }, query: { status: "proposed", limit: 50 } }),
        call("GET /channels/{login}/actions", { params: { login }, query: { limit: 50 } }),
      ]);
      if (!alive) return;
      setText(summary, `${waiting.pending} waiting for approval`);
      renderPending(waiting.items);
      renderHistory(all.items);
    } catch (e) {
      setText(summary, `Action queue unavailable: ${e.message}`);
    }
  }

  decideBtn.addEventListener("click", async () => {
    decideBtn.disabled = true;
    try {
      const out = await call("POST /channels/{login}/autonomy/tick", { params: { login } });
      const r = out.report;
      toast(r.skipped ? `Nothing decided: ${r.skipped}` : `${r.actions.length} action(s) decided${r.suppressed.length ? `, ${r.suppressed.length} held back` : ""}.`);
    } catch (e) {
      toast(e.message, "error");
    } finally {
      decideBtn.disabled = false;
    }
    load();
  });

  const poll = async () => { await load(); if (alive) timer = setTimeout(poll, POLL_MS); };
  let started = false;
  return {
    /** First call starts polling; later calls refresh once. */
    load() { if (started) return load(); started = true; return poll(); },
    destroy() { alive = false; clearTimeout(timer); },
  };
}
