// Session goals and the autonomy policy of one channel: live progress bars, the goals editor
// and the mode per action kind (streamer and admin edit; moderators read), and the outcomes
// recorded for past sessions (met or missed, actual against target).

import { call } from "./api.js";
import { h, replace, setText, toast } from "./dom.js";
import * as fmt from "./format.js";

const POLL_MS = 10000;
const KINDS = [["chat_message", "Chat messages"], ["coaching_hint", "Coaching hints"], ["slow_mode", "Slow mode"]];

/** Builds goals and policy into `section`; returns { load, destroy }. */
export function mountGoals(section, app, login) {
  const canEdit = app.canManage();
  const progress = h("ul", { class: "goal-list", "aria-label": "Goal progress" });
  const past = h("tbody");
  const error = h("p", { class: "error", role: "alert", hidden: true });

  const rateOn = h("input", { type: "checkbox", id: "goal-rate-on", disabled: !canEdit });
  const ratePerMin = h("input", { type: "number", id: "goal-rate", min: 0.1, step: 0.5, inputMode: "decimal", disabled: !canEdit });
  const rateMinutes = h("input", { type: "number", id: "goal-rate-min", min: 1, max: 600, step: 1, disabled: !canEdit });
  const greetOn = h("input", { type: "checkbox", id: "goal-greet-on", disabled: !canEdit });
  const subsOn = h("input", { type: "checkbox", id: "goal-subs-on", disabled: !canEdit });
  const subsTarget = h("input", { type: "number", id: "goal-subs", min: 1, step: 1, disabled: !canEdit });
  const saveGoals = h("button", { type: "submit", class: "btn-primary", hidden: !canEdit }, "Save goals");
  const goalsForm = h("form", { class: "goals-form", "aria-label": "Session goals" },
    h("div", { class: "field-row" },
      h("label", {}, rateOn, " Chat rate: "), ratePerMin, h("span", {}, " msg/min for "), rateMinutes, h("span", {}, " min")),
    h("div", { class: "field-row" }, h("label", {}, greetOn, " Greet every first-time chatter")),
    h("div", { class: "field-row" }, h("label", {}, subsOn, " Subs this session: "), subsTarget),
    canEdit ? null : h("p", { class: "muted small" }, "Only the streamer can change goals and the policy."),
    saveGoals);

  const modeSelects = Object.fromEntries(KINDS.map(([k]) => [k, h("select", { id: `mode-${k}`, disabled: !canEdit },
    ["off", "suggest", "auto"].filter((m) => !(k === "slow_mode" && m === "auto")).map((m) => h("option", { value: m }, m)))]));
  const stepEvery = h("input", { type: "number", id: "autonomy-step", min: 10, max: 3600, disabled: !canEdit });
  const cap = h("input", { type: "number", id: "autonomy-cap", min: 0, max: 120, disabled: !canEdit });
  const enabled = h("input", { type: "checkbox", id: "autonomy-enabled", disabled: !canEdit });
  const blocked = h("p", { class: "banner banner-bad", hidden: true }, "The agent is paused or suspended: autonomy decides nothing.");
  const savePolicy = h("button", { type: "submit", class: "btn-primary", hidden: !canEdit }, "Save policy");
  const policyForm = h("form", { class: "policy-form", "aria-label": "Autonomy policy" },
    blocked,
    h("div", { class: "field-row" }, h("label", {}, enabled, " Decide by itself every "), stepEvery, h("span", {}, " s, at most "), cap, h("span", {}, " actions per hour")),
    KINDS.map(([k, label]) => h("div", { class: "field-row" }, h("label", { htmlFor: `mode-${k}` }, `${label}: `), modeSelects[k])),
    h("p", { class: "muted small" }, "off: never; suggest: waits in the queue for approval; auto: runs without approval. Slow mode is always set by hand."),
    savePolicy);

  section.append(
    h("h3", {}, "This session"), progress,
    h("h3", {}, "Goals"), goalsForm,
    h("h3", {}, "Autonomy policy"), policyForm, error,
    h("details", {}, h("summary", {}, "Past sessions"),
      h("div", { class: "table-wrap" }, h("table", { class: "data-table" },
        h("caption", { class: "sr-only" }, "Goal outcomes of past sessions"),
        h("thead", {}, h("tr", {}, ["Session", "Goal", "Target", "Actual", "Result"].map((c) => h("th", { scope: "col" }, c)))),
        past))));

  let timer = null;
  let alive = true;
  let editing = false;
  for (const el of [rateOn, ratePerMin, rateMinutes, greetOn, subsOn, subsTarget]) el.addEventListener("input", () => { editing = true; });

  function fillGoals(g) {
    if (editing) return;
    rateOn.checked = Boolean(g.chat_rate);
    ratePerMin.value = g.chat_rate ? g.chat_rate.per_min : 20;
    rateMinutes.value = g.chat_rate ? g.chat_rate.minutes : 10;
    greetOn.checked = Boolean(g.greet_first_timers);
    subsOn.checked = Boolean(g.subs);
    subsTarget.value = g.subs ? g.subs.target : 5;
  }

  function render(view) {
    fillGoals(view.goals || {});
    const items = view.progress || [];
    replace(progress, items.length ? items.map((p) => h("li", { class: ["goal", p.met ? "goal-met" : ""] },
      h("div", {}, h("strong", {}, p.name), h("span", { class: "muted small" }, ` — ${p.detail}`)),
      h("progress", { max: 1, value: p.ratio, "aria-label": p.name }),
      p.met ? h("span", { class: "pill pill-ok" }, "met") : null))
      : h("li", { class: "muted" }, view.session_id ? "No goals set." : "No session open; goals are tracked per session."));
    const rows = [];
    for (const s of view.outcomes || []) {
      for (const g of s.goals) {
        rows.push(h("tr", {},
          h("td", {}, s.session_id), h("td", {}, g.name), h("td", {}, fmt.num(g.target, 2)), h("td", {}, fmt.num(g.actual, 2)),
          h("td", {}, h("span", { class: ["pill", g.met ? "pill-ok" : "pill-bad"] }, g.met ? "met" : "missed"))));
      }
    }
    replace(past, rows.length ? rows : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No finished session with goals yet.")));
  }

  function renderPolicy(view) {
    const p = view.policy;
    enabled.checked = p.enabled;
    stepEvery.value = p.step_every_secs;
    cap.value = p.max_actions_per_hour;
    for (const [k] of KINDS) modeSelects[k].value = view.modes[k] || "suggest";
    blocked.hidden = !view.blocked;
  }

  goalsForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    const body = {};
    if (rateOn.checked) body.chat_rate = { per_min: Number(ratePerMin.value), minutes: Number(rateMinutes.value) };
    if (greetOn.checked) body.greet_first_timers = { share: 1 };
    if (subsOn.checked) body.subs = { target: Number(subsTarget.value) };
    try {
      editing = false;
      render(await call("PUT /channels/{login}/goals", { params: { login }, body }));
      toast("Goals saved.");
    } catch (ex) {
      error.textContent = ex.message;
      error.hidden = false;
    }
  });

  policyForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    const modes = Object.fromEntries(KINDS.map(([k]) => [k, modeSelects[k].value]));
    const body = { enabled: enabled.checked, step_every_secs: Number(stepEvery.value), max_actions_per_hour: Number(cap.value), modes };
    try {
      renderPolicy(await call("PUT /channels/{login}/autonomy", { params: { login }, body }));
      toast("Autonomy policy saved.");
    } catch (ex) {
      error.textContent = ex.message;
      error.hidden = false;
    }
  });

  async function load() {
    try {
      const [goals, policy] = await Promise.all([
        call("GET /channels/{login}/goals", { params: { login } }),
        call("GET /channels/{login}/autonomy", { params: { login } }),
      ]);
      if (!alive) return;
      render(goals);
      renderPolicy(policy);
    } catch (e) {
      setText(error, `Goals unavailable: ${e.message}`);
      error.hidden = false;
    }
  }

  const poll = async () => { await load(); if (alive) timer = setTimeout(poll, POLL_MS); };
  return { load: poll, destroy() { alive = false; clearTimeout(timer); } };
}
