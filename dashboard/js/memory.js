// Semantic memory of one channel: browse entries (filter by kind, pages), search by meaning
// with the tuning controls (k, min similarity, exact, ef_search) and the answer's
// diagnostics, and add, edit or delete entries. Streamers and moderators may do all of it.

import { call } from "./api.js";
import { h, replace, setText, toast, confirmDialog } from "./dom.js";
import * as fmt from "./format.js";

const KINDS = ["fact", "viewer", "highlight", "rule", "note"];
const PAGE = 20;

/** Builds the memory panel into `section`; returns { load, destroy }. */
export function mountMemory(section, app, login) {
  void app;
  let alive = true;
  let offset = 0;
  let editingId = null;

  // ---------------------------------------------------------------- search
  const q = h("input", { type: "search", id: "memory-q", placeholder: "Search by meaning, e.g. “what is the cat called?”", "aria-label": "Search memories" });
  const k = h("input", { type: "number", id: "memory-k", min: 1, max: 100, value: 10, "aria-label": "k" });
  const minSim = h("input", { type: "number", id: "memory-min", min: -1, max: 1, step: 0.05, value: 0.2, "aria-label": "Minimum similarity" });
  const exact = h("input", { type: "checkbox", id: "memory-exact" });
  const ef = h("input", { type: "number", id: "memory-ef", min: 1, max: 1000, value: 100, "aria-label": "ef_search" });
  const searchBtn = h("button", { type: "submit", class: "btn-primary" }, "Search");
  const diag = h("p", { class: "muted small memory-diag", id: "memory-diag", role: "status" });
  const hits = h("ol", { class: "memory-hits", id: "memory-hits", "aria-label": "Search results" });
  const searchForm = h("form", { class: "memory-search", "aria-label": "Search memory" },
    h("div", { class: "field-row" }, q, searchBtn),
    h("div", { class: "field-row small" },
      h("label", { htmlFor: "memory-k" }, "k "), k,
      h("label", { htmlFor: "memory-min" }, " min similarity "), minSim,
      h("label", {}, exact, " exact (sequential scan)"),
      h("label", { htmlFor: "memory-ef" }, " ef_search "), ef));

  // ---------------------------------------------------------------- editor
  const kind = h("select", { id: "memory-kind", "aria-label": "Kind" }, KINDS.map((x) => h("option", { value: x }, x)));
  const text = h("textarea", { id: "memory-text", rows: 2, maxLength: 2000, placeholder: "Something worth remembering about this channel", "aria-label": "Memory text" });
  const weight = h("input", { type: "number", id: "memory-weight", min: 0, max: 1000, step: 0.5, value: 1, "aria-label": "Weight" });
  const save = h("button", { type: "submit", class: "btn-primary", id: "memory-save" }, "Add memory");
  const cancel = h("button", { type: "button", class: "btn-ghost", hidden: true }, "Cancel edit");
  const editor = h("form", { class: "memory-editor", "aria-label": "Add or edit a memory" },
    h("div", { class: "field-row" }, kind, h("label", { htmlFor: "memory-weight" }, " weight "), weight),
    text, h("div", { class: "field-row" }, save, cancel));

  // ---------------------------------------------------------------- list
  const filter = h("select", { id: "memory-filter", "aria-label": "Filter by kind" },
    h("option", { value: "" }, "all kinds"), KINDS.map((x) => h("option", { value: x }, x)));
  const rows = h("tbody", { id: "memory-rows" });
  const pager = h("span", { class: "muted small", id: "memory-pager" });
  const prev = h("button", { type: "button", class: "btn-ghost" }, "← Newer");
  const next = h("button", { type: "button", class: "btn-ghost" }, "Older →");
  const error = h("p", { class: "error", role: "alert", hidden: true });

  section.append(
    searchForm, diag, hits,
    h("h3", {}, "Add or edit"), editor, error,
    h("h3", {}, "Entries"),
    h("div", { class: "field-row" }, filter, prev, next, pager),
    h("div", { class: "table-wrap" }, h("table", { class: "data-table memory-table" },
      h("caption", { class: "sr-only" }, "Memories, most recently changed first"),
      h("thead", {}, h("tr", {}, ["Kind", "Text", "Source", "Weight", "Hits", "Updated", ""].map((c) => h("th", { scope: "col" }, c)))),
      rows)));

  const showError = (e) => { error.hidden = false; setText(error, e.message || String(e)); };
  const clearError = () => { error.hidden = true; };

  async function load() {
    try {
      const page = await call("GET /channels/{login}/memory", { params: { login }, query: { limit: PAGE, offset, kind: filter.value } });
      if (!alive) return;
      clearError();
      replace(rows, page.items.length ? page.items.map(row) : h("tr", {}, h("td", { colSpan: 7, class: "muted" }, "Nothing remembered yet.")));
      setText(pager, page.total ? `${offset + 1}–${offset + page.items.length} of ${page.total}` : "");
      prev.disabled = offset === 0;
      next.disabled = offset + page.items.length >= page.total;
    } catch (e) { if (alive) showError(e); }
  }

  function row(m) {
    const edit = h("button", { type: "button", class: "btn-ghost", "aria-label": `Edit memory ${m.id}` }, "Edit");
    const del = h("button", { type: "button", class: "btn-ghost", "aria-label": `Delete memory ${m.id}` }, "Delete");
    edit.addEventListener("click", () => startEdit(m));
    del.addEventListener("click", () => remove(m));
    return h("tr", { dataset: { id: m.id } },
      h("td", {}, h("span", { class: `pill memory-kind memory-${m.kind}` }, m.kind)),
      h("td", { class: "memory-text" }, m.text),
      h("td", {}, m.source), h("td", {}, String(m.weight)), h("td", {}, String(m.hits)),
      h("td", { title: m.updated_at }, fmt.ago(m.updated_at)),
      h("td", {}, edit, del));
  }

  function startEdit(m) {
    editingId = m.id;
    kind.value = m.kind;
    text.value = m.text;
    weight.value = m.weight;
    setText(save, "Save changes");
    cancel.hidden = false;
    text.focus();
  }

  function stopEdit() {
    editingId = null;
    text.value = "";
    weight.value = 1;
    setText(save, "Add memory");
    cancel.hidden = true;
  }

  async function remove(m) {
    const ok = await confirmDialog({ title: "Delete this memory?", body: m.text, confirm: "Delete", danger: true });
    if (!ok) return;
    try {
      await call("DELETE /channels/{login}/memory/{id}", { params: { login, id: m.id } });
      toast("Memory deleted");
      if (editingId === m.id) stopEdit();
      load();
    } catch (e) { showError(e); }
  }

  editor.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { kind: kind.value, text: text.value, weight: Number(weight.value) };
    if (editingId !== null) body.id = editingId;
    save.disabled = true;
    try {
      const res = await call("PUT /channels/{login}/memory", { params: { login }, body });
      clearError();
      toast(res.outcome === "updated" ? "Memory saved" : res.outcome === "merged" ? `Merged into memory ${res.entry.id}` : "Memory added");
      stopEdit();
      offset = 0;
      load();
    } catch (e) { showError(e); } finally { save.disabled = false; }
  });
  cancel.addEventListener("click", stopEdit);

  searchForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!q.value.trim()) return;
    searchBtn.disabled = true;
    try {
      const res = await call("GET /channels/{login}/memory/search", { params: { login }, query: {
        q: q.value, k: k.value, min_similarity: minSim.value, exact: exact.checked ? "true" : "false", ef_search: exact.checked ? undefined : ef.value } });
      clearError();
      const d = res.diagnostics;
      setText(diag, `${d.engine.toUpperCase()} · ${d.returned} of k=${d.k} at ≥ ${d.min_similarity} · ${d.candidates} candidates` +
        (d.ef_search ? ` · ef_search ${d.ef_search}` : "") +
        ` · ${d.latency_ms.toFixed(1)} ms (embed ${d.embed_ms.toFixed(1)} ms with ${d.embed_engine} ${d.embed_model}, database ${d.db_ms.toFixed(1)} ms)`);
      replace(hits, res.hits.length ? res.hits.map((m) => h("li", {},
        h("span", { class: "memory-sim", title: "cosine similarity" }, m.similarity.toFixed(3)), " ",
        h("span", { class: `pill memory-kind memory-${m.kind}` }, m.kind), " ", m.text))
        : h("li", { class: "muted" }, "No memory is similar enough."));
    } catch (e) { showError(e); } finally { searchBtn.disabled = false; }
  });

  exact.addEventListener("change", () => { ef.disabled = exact.checked; });
  filter.addEventListener("change", () => { offset = 0; load(); });
  prev.addEventListener("click", () => { offset = Math.max(0, offset - PAGE); load(); });
  next.addEventListener("click", () => { offset += PAGE; load(); });

  return { load, destroy() { alive = false; } };
}
