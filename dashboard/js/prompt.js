// The prompt & persona studio for one channel: the operator's system prompt and the persona
// (name, tone, style, constraints, banned patterns), saved as versions with a history and a
// rollback, and a preview of the exact messages a reply would send (the secret canary shown as
// a placeholder). Streamer and admin edit; moderators read, preview and see the history.
// The models catalog (configured routes and what the endpoint offers) sits underneath.

import { call } from "./api.js";
import { h, replace, setText, toast } from "./dom.js";
import * as fmt from "./format.js";

const SYSTEM_MAX = 4000;
const ITEM_MAX = 200;
const LIST_MAX = 25;

/** One item per line, blank lines dropped. */
const lines = (text) => text.split("\n").map((l) => l.trim()).filter(Boolean);

/**
 * Builds the studio into `section`. Returns { load, destroy }.
 */
export function mountPrompt(section, app, login) {
  const canEdit = app.canManage();
  let active = null;
  let dirty = false;

  const field = (id, label, input, help) => h("div", { class: "field" },
    h("label", { htmlFor: id }, label), input, help ? h("span", { class: "field-help" }, help) : null);
  const system = h("textarea", { id: "prompt-system", rows: 5, maxLength: SYSTEM_MAX, disabled: !canEdit, placeholder: "Your own instructions, e.g. The streamer is Kai; mention the Discord only when asked." });
  const name = h("input", { id: "prompt-name", type: "text", maxLength: 40, disabled: !canEdit });
  const tone = h("input", { id: "prompt-tone", type: "text", maxLength: ITEM_MAX, disabled: !canEdit });
  const style = h("input", { id: "prompt-style", type: "text", maxLength: ITEM_MAX, disabled: !canEdit });
  const constraints = h("textarea", { id: "prompt-constraints", rows: 3, disabled: !canEdit });
  const banned = h("textarea", { id: "prompt-banned", rows: 2, disabled: !canEdit });
  const comment = h("input", { id: "prompt-comment", type: "text", maxLength: 500, disabled: !canEdit, placeholder: "What changed (optional)" });
  const error = h("p", { class: "error", role: "alert", hidden: true, id: "prompt-error" });
  const save = h("button", { type: "submit", class: "btn-primary", id: "prompt-save", disabled: true }, "Save as new version");
  const meta = h("p", { class: "muted small", id: "prompt-meta" });

  const form = h("form", { class: "prompt-form", "aria-label": "Prompt profile" },
    field("prompt-system", "System prompt", system, "Trusted instructions from you. Byte's safety rules always come after them."),
    h("div", { class: "field-row" },
      field("prompt-name", "Bot name", name),
      field("prompt-tone", "Tone", tone),
      field("prompt-style", "Style", style)),
    h("div", { class: "field-row" },
      field("prompt-constraints", "Constraints", constraints, `One per line, at most ${LIST_MAX}.`),
      field("prompt-banned", "Never say", banned, "Words, phrases or topics, one per line.")),
    canEdit ? field("prompt-comment", "Comment", comment) : h("p", { class: "muted small" }, "Only the streamer can change the prompt; you can preview it and see its history."),
    error,
    canEdit ? h("div", { class: "actions" }, save) : null,
    meta);

  // Preview
  const sample = h("input", { id: "prompt-sample", type: "text", maxLength: 500, value: "@byte what game is this?" });
  const previewBtn = h("button", { type: "button", class: "btn-secondary", id: "prompt-preview-btn" }, "Preview the prompt");
  const previewOut = h("div", { class: "prompt-preview", id: "prompt-preview", "aria-live": "polite" });

  // History
  const historyList = h("ol", { class: "prompt-history", id: "prompt-history" });
  const more = h("button", { type: "button", class: "btn-secondary", hidden: true }, "Older versions");
  let nextBefore = null;

  // Models catalog
  const models = h("div", { class: "models-catalog", id: "models-catalog" });

  section.append(form,
    h("h3", {}, "Preview"),
    h("div", { class: "field-row" }, field("prompt-sample", "Sample viewer message", sample), h("div", { class: "field" }, previewBtn)),
    previewOut,
    h("h3", {}, "History"), historyList, more,
    h("h3", {}, "Models"), models);

  function draft() {
    return {
      system_prompt: system.value,
      persona: { name: name.value, tone: tone.value, style: style.value, constraints: lines(constraints.value), banned_patterns: lines(banned.value) },
    };
  }

  function problems(d) {
    const out = [];
    if (d.system_prompt.length > SYSTEM_MAX) out.push(`The system prompt can be at most ${SYSTEM_MAX} characters.`);
    if (!d.persona.name.trim()) out.push("The bot needs a name.");
    for (const [label, list] of [["constraints", d.persona.constraints], ["banned patterns", d.persona.banned_patterns]]) {
      if (list.length > LIST_MAX) out.push(`At most ${LIST_MAX} ${label}.`);
      if (list.some((x) => x.length > ITEM_MAX)) out.push(`Each of the ${label} can be at most ${ITEM_MAX} characters.`);
    }
    return out;
  }

  function fill() {
    const p = active.profile.persona;
    system.value = active.profile.system_prompt || "";
    name.value = p.name || "";
    tone.value = p.tone || "";
    style.value = p.style || "";
    constraints.value = (p.constraints || []).join("\n");
    banned.value = (p.banned_patterns || []).join("\n");
    comment.value = "";
    dirty = false;
    save.disabled = true;
  }

  function showActive(v) {
    active = v;
    if (!dirty) fill();
    setText(meta, v.version ? `Version ${v.version}, saved ${fmt.ago(v.created_at)} by ${v.author}${v.restored_from ? ` (restores version ${v.restored_from})` : ""}` : "Never saved: Byte's default persona applies.");
  }

  for (const input of [system, name, tone, style, constraints, banned]) {
    input.addEventListener("input", () => { dirty = true; save.disabled = !canEdit; });
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!canEdit) return;
    const d = draft();
    const bad = problems(d);
    if (bad.length) { error.textContent = bad.join(" "); error.hidden = false; return; }
    error.hidden = true;
    save.disabled = true;
    try {
      const v = await call("PUT /channels/{login}/prompt-profile", { params: { login }, body: { ...d, comment: comment.value.trim() || null } });
      dirty = false;
      showActive(v);
      toast(`Prompt saved as version ${v.version}.`);
      loadHistory(true);
    } catch (ex) {
      error.textContent = ex.message;
      error.hidden = false;
      save.disabled = false;
    }
  });

  previewBtn.addEventListener("click", async () => {
    const body = { message: sample.value };
    // Unsaved edits are previewed as a draft.
    if (dirty) body.profile = draft();
    try {
      const p = await call("POST /channels/{login}/prompt-profile/preview", { params: { login }, body });
      replace(previewOut,
        h("p", { class: "muted small" }, `Model for chat replies: ${p.model || "none (rule-based fallback)"} · the secret marker is shown as ${p.canary_placeholder}`),
        ...p.messages.map((m) => h("figure", { class: "prompt-message", dataset: { role: m.role } },
          h("figcaption", {}, m.role === "system" ? "System message" : "User message (data blocks)"),
          h("pre", {}, m.content))));
    } catch (ex) {
      replace(previewOut, h("p", { class: "error", role: "alert" }, ex.message));
    }
  });

  function historyItem(v) {
    const p = v.profile.persona;
    const rollback = canEdit && active && v.version !== active.version
      ? h("button", { type: "button", class: "btn-secondary btn-small", dataset: { version: String(v.version) } }, `Roll back to v${v.version}`)
      : null;
    if (rollback) {
      rollback.addEventListener("click", async () => {
        rollback.disabled = true;
        try {
          const next = await call("POST /channels/{login}/prompt-profile/rollback", { params: { login }, body: { version: v.version } });
          dirty = false;
          showActive(next);
          toast(`Version ${v.version} is active again (saved as version ${next.version}).`);
          loadHistory(true);
        } catch (ex) {
          toast(ex.message, "error");
          rollback.disabled = false;
        }
      });
    }
    return h("li", { class: "prompt-version", dataset: { version: String(v.version) } },
      h("div", {}, h("strong", {}, `v${v.version}`), ` · ${fmt.ago(v.created_at)} · ${v.author}`,
        v.comment ? h("span", { class: "muted" }, ` — ${v.comment}`) : null,
        active && v.version === active.version ? h("span", { class: "pill" }, "active") : null),
      h("details", {}, h("summary", {}, `${p.name} · ${p.tone}`),
        h("pre", {}, [
          `system_prompt: ${v.profile.system_prompt || "(none)"}`,
          `style: ${p.style}`,
          ...(p.constraints || []).map((c) => `constraint: ${c}`),
          ...(p.banned_patterns || []).map((b) => `never: ${b}`),
        ].join("\n"))),
      rollback);
  }

  async function loadHistory(reset) {
    try {
      const page = await call("GET /channels/{login}/prompt-profile/versions", { params: { login }, query: { limit: 20, before: reset ? null : nextBefore } });
      if (reset) historyList.replaceChildren();
      if (reset && page.items.length === 0) historyList.append(h("li", { class: "empty" }, "No versions yet."));
      for (const v of page.items) historyList.append(historyItem(v));
      nextBefore = page.next_before;
      more.hidden = !nextBefore;
    } catch (ex) {
      replace(historyList, h("li", { class: "error" }, ex.message));
    }
  }
  more.addEventListener("click", () => loadHistory(false));

  async function loadModels() {
    try {
      const c = await call("GET /models/catalog");
      const routes = h("table", { class: "data-table" },
        h("caption", { class: "sr-only" }, "Model per activity"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Activity"), h("th", { scope: "col" }, "Model"))),
        h("tbody", {}, c.activities.map((r) => {
          const own = c.channel_overrides.find((o) => o.activity === r.activity && o.channel === login);
          return h("tr", {}, h("td", {}, r.activity.replaceAll("_", " ")), h("td", {}, own ? `${own.model} (this channel)` : r.model || "none — rule-based"));
        })));
      const ep = c.endpoint;
      const endpoint = ep.answered
        ? h("p", { class: "muted small" }, `The endpoint offers ${ep.models.length} model(s): ${ep.models.slice(0, 20).join(", ")}${ep.models.length > 20 ? "…" : ""}`)
        : h("p", { class: "muted small" }, `The endpoint's model list is unavailable: ${ep.error}`);
      replace(models, routes, endpoint);
    } catch (ex) {
      replace(models, h("p", { class: "muted" }, `Models unavailable: ${ex.message}`));
    }
  }

  async function load() {
    try {
      showActive(await call("GET /channels/{login}/prompt-profile", { params: { login } }));
    } catch (ex) {
      setText(meta, `Prompt profile unavailable: ${ex.message}`);
    }
    loadHistory(true);
    loadModels();
  }

  return { load, destroy() {} };
}
