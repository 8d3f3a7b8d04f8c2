// The agent's control panel for one channel: pause/resume (streamer, moderator, admin), and
// for the streamer and the admin the per-channel overrides (temperature, top_p) and the
// operator's notes the agent reads. Live changes from the stream update the panel unless the
// user is in the middle of editing it.

import { call } from "./api.js";
import { h, setText, toast } from "./dom.js";
import * as fmt from "./format.js";

const NOTES_MAX = 2000;

/**
 * Builds the panel into `section`. `onChange(settings)` is told about every new state (for the
 * page header). Returns { load, update, destroy }.
 */
export function mountAgent(section, app, login, { onChange = () => {} } = {}) {
  const canTune = app.canManage();
  let settings = null;
  let dirty = false;

  const state = h("p", { class: "agent-state", role: "status" });
  const toggle = h("button", { type: "button", id: "agent-toggle", class: "btn-primary btn-large", disabled: true }, "…");
  const globalNote = h("p", { class: "banner banner-bad", hidden: true },
    h("strong", {}, "Suspended on every channel by the operator. "),
    "Your own pause setting is kept and applies again once the operator resumes.");
  // Disabled until the settings have loaded: typing into the form before that would be
  // wiped when the loaded values fill it in.
  const temperature = h("input", { id: "agent-temperature", type: "number", min: 0, max: 2, step: 0.05, inputMode: "decimal", placeholder: "default", disabled: true });
  const topP = h("input", { id: "agent-top-p", type: "number", min: 0, max: 1, step: 0.05, inputMode: "decimal", placeholder: "default", disabled: true });
  const notes = h("textarea", { id: "agent-notes", rows: 4, maxLength: NOTES_MAX, disabled: true, placeholder: "e.g. Tonight is a charity stream — mention the donation goal, keep it family friendly." });
  const counter = h("span", { class: "muted counter", "aria-live": "off" });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const save = h("button", { type: "submit", class: "btn-primary", disabled: true }, "Save settings");
  const revert = h("button", { type: "button", class: "btn-secondary", disabled: true }, "Discard changes");
  const meta = h("p", { class: "muted small" });

  const form = h("form", { class: "agent-form", "aria-label": "Agent settings" },
    h("div", { class: "field-row" },
      h("div", { class: "field" },
        h("label", { htmlFor: "agent-temperature" }, "Temperature"),
        temperature,
        h("span", { class: "field-help" }, "0–2. Lower is steadier, higher is more creative. Empty: Byte's default.")),
      h("div", { class: "field" },
        h("label", { htmlFor: "agent-top-p" }, "Top-p"),
        topP,
        h("span", { class: "field-help" }, "0–1. Limits word choice to the most likely. Empty: default."))),
    h("div", { class: "field" },
      h("label", { htmlFor: "agent-notes" }, "Notes for the agent"),
      notes,
      h("span", { class: "field-help" }, "What the agent should know about this stream. ", counter)),
    canTune ? null : h("p", { class: "muted small" }, "Only the streamer can change these; moderators can pause and resume."),
    error,
    canTune ? h("div", { class: "actions" }, save, revert) : null,
    meta);

  section.append(
    h("div", { class: "agent-switch" }, state, toggle),
    globalNote,
    form);

  const num = (input) => (input.value.trim() === "" ? null : Number(input.value));

  function markDirty() {
    if (!settings) return;
    const changed = num(temperature) !== settings.temperature || num(topP) !== settings.top_p || notes.value !== (settings.notes || "");
    dirty = changed;
    save.disabled = !changed || !canTune;
    revert.disabled = !changed;
    setText(counter, `${notes.value.length} / ${NOTES_MAX}`);
  }
  for (const input of [temperature, topP, notes]) input.addEventListener("input", markDirty);

  function fill() {
    temperature.value = settings.temperature ?? "";
    topP.value = settings.top_p ?? "";
    notes.value = settings.notes || "";
    dirty = false;
    markDirty();
  }

  /** Shows new settings (from a load, a save, or the stream). */
  function update(next) {
    if (!next) return;
    settings = { ...settings, ...next };
    for (const input of [temperature, topP, notes]) input.disabled = !canTune;
    const paused = Boolean(settings.paused);
    const global = Boolean(settings.suspended_globally);
    toggle.disabled = false;
    toggle.textContent = paused ? "Resume the agent" : "Pause the agent";
    toggle.className = paused ? "btn-primary btn-large" : "btn-warn btn-large";
    toggle.setAttribute("aria-pressed", String(paused));
    state.replaceChildren(
      h("span", { class: ["dot", paused || global ? "dot-bad" : "dot-ok"], "aria-hidden": "true" }),
      h("strong", {}, global ? "Agent suspended everywhere" : paused ? "Agent paused" : "Agent active"),
      h("span", { class: "muted" }, global ? " — by the operator" : paused ? " — it takes no action in this channel" : " — coaching and actions are on"));
    state.dataset.paused = String(paused);
    globalNote.hidden = !global;
    if (!dirty) fill();
    setText(meta, settings.updated_at ? `Last changed ${fmt.ago(settings.updated_at)} by ${settings.updated_by || "someone"}` : "Never changed: Byte's defaults apply.");
    onChange(settings);
  }

  async function put(body) {
    error.hidden = true;
    const next = await call("PUT /channels/{login}/agent", { params: { login }, body });
    update(next);
    return next;
  }

  toggle.addEventListener("click", async () => {
    if (!settings) return;
    toggle.disabled = true;
    try {
      const next = await put({ paused: !settings.paused });
      toast(next.paused ? `Agent paused in ${login}.` : `Agent resumed in ${login}.`);
    } catch (e) {
      toast(e.message, "error");
    } finally {
      toggle.disabled = false;
    }
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!settings || !canTune) return;
    const body = {};
    const t = num(temperature);
    const p = num(topP);
    if (t !== settings.temperature) body.temperature = t;
    if (p !== settings.top_p) body.top_p = p;
    if (notes.value !== (settings.notes || "")) body.notes = notes.value;
    const problems = [];
    if (t !== null && !(t >= 0 && t <= 2)) problems.push("Temperature must be between 0 and 2.");
    if (p !== null && !(p >= 0 && p <= 1)) problems.push("Top-p must be between 0 and 1.");
    if (notes.value.length > NOTES_MAX) problems.push(`Notes can be at most ${NOTES_MAX} characters.`);
    if (problems.length) { error.textContent = problems.join(" "); error.hidden = false; return; }
    save.disabled = true;
    try {
      dirty = false;
      await put(body);
      toast("Agent settings saved.");
    } catch (ex) {
      dirty = true;
      error.textContent = ex.message;
      error.hidden = false;
      markDirty();
    }
  });
  revert.addEventListener("click", () => { if (settings) fill(); });

  async function load() {
    try {
      update(await call("GET /channels/{login}/agent", { params: { login } }));
    } catch (e) {
      state.textContent = `Agent settings unavailable: ${e.message}`;
    }
  }

  return { load, update, destroy() {} };
}
