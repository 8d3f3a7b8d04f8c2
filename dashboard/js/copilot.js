// The co-pilot in chat, for one channel: what the bot answered viewers (live), the channel's
// LLM budget today, and its model per activity. Streamers choose models; only the operator
// (admin) sets budgets; moderators see everything here but change nothing.

import { call } from "./api.js";
import { h, setText, toast } from "./dom.js";
import * as fmt from "./format.js";

const OUTCOME = {
  sent: ["Sent", "dot-ok"],
  dry_run: ["Not sent: no bot login (dry run)", "dot-warn"],
  banned: ["Dropped: banned pattern", "dot-bad"],
  paused: ["Not sent: agent paused", "dot-warn"],
  suspended: ["Not sent: suspended", "dot-warn"],
  rate_limited: ["Not sent: Twitch send limit", "dot-warn"],
  duplicate: ["Not sent: same text within 30 s", "dot-warn"],
  empty: ["Not sent: nothing safe left", "dot-bad"],
  irc_error: ["Not sent: IRC error", "dot-bad"],
  unavailable: ["Not sent: channel unavailable", "dot-bad"],
};

function usd(x) {
  return x >= 1 ? `$${x.toFixed(2)}` : `$${x.toFixed(4)}`;
}

/** Builds the panel into `section`. Returns { load, addLive, destroy }. */
export function mountCopilot(section, app, login) {
  const canPickModels = app.canManage();
  const isAdmin = app.isAdmin();

  // Replies feed
  const feed = h("ol", { class: "reply-feed", id: "reply-feed", "aria-live": "polite" });
  const feedEmpty = h("p", { class: "empty" }, "No questions for the bot yet. Viewers ask with !ask or by mentioning it.");

  // Budget
  const budgetLine = h("p", { id: "copilot-budget", class: "budget-line" }, "…");
  const meter = h("meter", { id: "copilot-budget-meter", min: 0, max: 1, low: 0.7, high: 0.9, optimum: 0, value: 0 });
  const capTokens = h("input", { id: "budget-tokens", type: "number", min: 0, step: 1000, placeholder: "default", inputMode: "numeric" });
  const capUsd = h("input", { id: "budget-usd", type: "number", min: 0, step: 0.01, placeholder: "default", inputMode: "decimal" });
  const budgetForm = isAdmin ? h("form", { class: "inline-form", "aria-label": "Daily LLM caps for this channel" },
    h("label", { htmlFor: "budget-tokens" }, "Tokens / day"), capTokens,
    h("label", { htmlFor: "budget-usd" }, "US$ / day"), capUsd,
    h("button", { type: "submit", class: "btn-secondary" }, "Set caps"),
    h("button", { type: "button", class: "btn-link", id: "budget-reset" }, "Use default")) : null;

  // Models
  const modelsBody = h("tbody");
  const modelsTable = h("table", { class: "data-table", id: "copilot-models" },
    h("caption", { class: "sr-only" }, "Model per activity in this channel"),
    h("thead", {}, h("tr", {}, ["Activity", "Model", ""].map((c) => h("th", { scope: "col" }, c)))),
    modelsBody);

  section.append(
    h("h3", { class: "subhead" }, "Answers in chat"), feedEmpty, feed,
    h("h3", { class: "subhead" }, "LLM budget today"), budgetLine, meter, budgetForm,
    h("h3", { class: "subhead" }, "Models"), h("div", { class: "table-wrap" }, modelsTable));

  function replyItem(r) {
    const [label, dot] = OUTCOME[r.outcome] || [r.outcome, "dot-warn"];
    const at = r.created_at || new Date().toISOString();
    return h("li", { class: "reply", dataset: { outcome: r.outcome } },
      h("div", { class: "reply-head" },
        h("span", { class: ["dot", dot], "aria-hidden": "true" }),
        h("strong", {}, r.viewer), h("span", { class: "muted" }, " asked"),
        r.question ? h("q", {}, r.question) : null,
        h("time", { dateTime: at, title: fmt.dateTime(at) }, fmt.ago(at))),
      (r.parts && r.parts.length)
        ? h("p", { class: "reply-text" }, r.parts.join(" "))
        : null,
      h("p", { class: "muted small" }, label,
        r.source === "fallback" ? " · rule-based fallback (no model answer)" : r.model ? ` · ${r.model}` : "",
        r.latency_ms !== undefined ? ` · ${fmt.num(r.latency_ms / 1000, 1)} s` : ""));
  }

  async function loadReplies() {
    try {
      const rows = await call("GET /channels/{login}/replies", { params: { login }, query: { limit: 20 } });
      feed.replaceChildren(...rows.map(replyItem));
      feedEmpty.hidden = rows.length > 0;
    } catch (e) {
      if (e.status !== 404) toast(e.message, "error");
    }
  }

  function addLive(event) {
    feed.prepend(replyItem(event));
    feedEmpty.hidden = true;
    while (feed.children.length > 20) feed.lastChild.remove();
  }

  async function loadBudget() {
    try {
      const b = await call("GET /channels/{login}/budget", { params: { login } });
      const caps = [];
      if (b.cap_tokens) caps.push(`${fmt.num(b.spent_tokens)} of ${fmt.num(b.cap_tokens)} tokens`);
      if (b.cap_usd) caps.push(`${usd(b.spent_usd)} of ${usd(b.cap_usd)}`);
      setText(budgetLine, caps.length
        ? `${caps.join(" · ")} used today (${fmt.pct(b.used_ratio)})${b.denied ? ` · ${b.denied} refused` : ""}${b.overridden ? " · caps set for this channel" : ""}`
        : `No cap. ${fmt.num(b.spent_tokens)} tokens, ${usd(b.spent_usd)} today across ${fmt.num(b.requests)} model calls.`);
      meter.value = Math.min(1, b.used_ratio || 0);
      meter.hidden = !caps.length;
      budgetLine.className = `budget-line ${b.used_ratio >= 0.9 ? "bad" : b.used_ratio >= 0.7 ? "warn" : ""}`;
      if (budgetForm && document.activeElement !== capTokens && document.activeElement !== capUsd) {
        capTokens.value = b.overridden ? b.cap_tokens : "";
        capUsd.value = b.overridden ? b.cap_usd : "";
      }
    } catch (e) {
      if (e.status !== 404) setText(budgetLine, e.message);
    }
  }

  if (budgetForm) {
    budgetForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = {};
      if (capTokens.value.trim() !== "") body.daily_tokens = Number(capTokens.value);
      if (capUsd.value.trim() !== "") body.daily_usd = Number(capUsd.value);
      if (!Object.keys(body).length) body.daily_tokens = 0;
      try {
        await call("PUT /channels/{login}/budget", { params: { login }, body });
        toast(`Budget of ${login} saved.`);
        loadBudget();
      } catch (err) {
        toast(err.message, "error");
      }
    });
    budgetForm.querySelector("#budget-reset").addEventListener("click", async () => {
      try {
        await call("PUT /channels/{login}/budget", { params: { login }, body: {} });
        toast(`${login} uses the default budget again.`);
        capTokens.value = "";
        capUsd.value = "";
        loadBudget();
      } catch (err) {
        toast(err.message, "error");
      }
    });
  }

  async function loadModels() {
    try {
      const m = await call("GET /channels/{login}/models", { params: { login } });
      modelsBody.replaceChildren(...m.activities.map((a) => {
        const select = h("select", { "aria-label": `Model for ${a.activity}`, disabled: !canPickModels || !m.available.length, dataset: { activity: a.activity } },
          h("option", { value: "" }, "configured default"),
          m.available.map((name) => h("option", { value: name, selected: a.overridden && a.model === name }, name)));
        select.addEventListener("change", async () => {
          try {
            await call("PUT /channels/{login}/models", { params: { login }, body: { [a.activity]: select.value || null } });
            toast(`${a.activity.replaceAll("_", " ")} now uses ${select.value || "the configured default"}.`);
            loadModels();
          } catch (err) {
            toast(err.message, "error");
          }
        });
        return h("tr", {},
          h("td", {}, a.activity.replaceAll("_", " ")),
          h("td", {}, a.model || h("span", { class: "muted" }, "rule-based (no model)")),
          h("td", {}, select));
      }));
    } catch (e) {
      if (e.status !== 404) toast(e.message, "error");
    }
  }

  const timer = setInterval(() => { if (!document.hidden) loadBudget(); }, 15000);
  return {
    load() { loadReplies(); loadBudget(); loadModels(); },
    addLive,
    destroy() { clearInterval(timer); },
  };
}

/** The operator's fleet-wide budget line (fleet page). */
export async function fleetBudget(el) {
  try {
    const b = await call("GET /budgets");
    const g = b.global;
    const caps = [];
    if (g.cap_tokens) caps.push(`${fmt.num(g.spent_tokens)} / ${fmt.num(g.cap_tokens)} tokens`);
    if (g.cap_usd) caps.push(`${usd(g.spent_usd)} / ${usd(g.cap_usd)}`);
    setText(el, `LLM today: ${caps.length ? `${caps.join(" · ")} (${fmt.pct(g.used_ratio)})` : `${fmt.num(g.spent_tokens)} tokens, ${usd(g.spent_usd)}, no fleet cap`}${g.denied ? ` · ${g.denied} refused` : ""} · ${fmt.num(g.requests)} model calls`);
    el.className = `budget-line ${g.used_ratio >= 0.9 ? "bad" : g.used_ratio >= 0.7 ? "warn" : ""}`;
  } catch (e) {
    setText(el, e.message);
  }
}
