// Semantic memory of one channel: browse entries (filter by kind, pages), search by meaning
// with the tuning controls (k, min similarity, exact, ef_search) and the answer's
// diagnostics, and add, edit or delete entries. Streamers and moderators may do all of it.
//
// Number inputs take any value the API accepts (`step: "any"`): a stepped input would make
// the browser refuse to submit a stored weight like 1.66 (what enrichment writes) or a
// threshold like 0.92, with no request sent at all.

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
  /** The entry being edited, or null when the editor adds. */
  let editing = null;
  /** Numbers each list request, so an older answer never overwrites a newer one. */
  let loadSeq = 0;
  /** The last search's query, re-run after a write so its results never show stale text. */
  let lastSearch = null;
  let searchSeq = 0;

  // ---------------------------------------------------------------- search
  const q = h("input", { type: "search", id: "memory-q", placeholder: "Search by meaning, e.g. “what is the cat called?”", "aria-label": "Search memories" });
  const k = h("input", { type: "number", id: "memory-k", min: 1, max: 100, value: 10, "aria-label": "k" });
  const minSim = h("input", { type: "number", id: "memory-min", min: -1, max: 1, step: "any", value: 0.2, "aria-label": "Minimum similarity" });
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
  const weight = h("input", { type: "number", id: "memory-weight", min: 0, max: 1000, step: "any", value: 1, "aria-label": "Weight" });
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
    const seq = ++loadSeq;
    try {
      const page = await call("GET /channels/{login}/memory", { params: { login }, query: { limit: PAGE, offset, kind: filter.value } });
      if (!alive || seq !== loadSeq) return;
      if (!page.items.length && offset > 0 && page.total > 0) {
        // The page emptied under us (its last entry deleted): show the last page that exists.
        offset = Math.floor((page.total - 1) / PAGE) * PAGE;
        return load();
      }
      clearError();
      const empty = filter.value ? `No ${filter.value} memories.` : "Nothing remembered yet.";
      replace(rows, page.items.length ? page.items.map(row) : h("tr", {}, h("td", { colSpan: 7, class: "muted" }, empty)));
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
    editing = m;
    kind.value = m.kind;
    text.value = m.text;
    weight.value = m.weight;
    setText(save, "Save changes");
    cancel.hidden = false;
    text.focus();
  }

  function stopEdit() {
    editing = null;
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
      if (editing && editing.id === m.id) stopEdit();
      load();
      refreshSearch();
    } catch (e) { showError(e); }
  }

  editor.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    // An empty weight means the default (1), not 0.
    const body = { kind: kind.value, text: text.value, weight: weight.value === "" ? undefined : Number(weight.value) };
    if (editing) {
      body.id = editing.id;
      // Keep where the memory came from: the API would otherwise record the edit as the
      // operator's, losing that a reweighted highlight came from enrichment.
      body.source = editing.source;
    }
    save.disabled = true;
    try {
      const res = await call("PUT /channels/{login}/memory", { params: { login }, body });
      clearError();
      toast(res.outcome === "updated" ? "Memory saved" : res.outcome === "merged" ? `Merged into memory ${res.entry.id}` : "Memory added");
      stopEdit();
      offset = 0;
      load();
      refreshSearch();
    } catch (e) { showError(e); } finally { save.disabled = false; }
  });
  cancel.addEventListener("click", stopEdit);

  searchForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (!q.value.trim()) return;
    search({ q: q.value, k: k.value, min_similarity: minSim.value, exact: exact.checked ? "true" : "false", ef_search: exact.checked ? undefined : ef.value });
  });

  /** Runs the last search again (after an add, edit or delete), with the same tuning. */
  function refreshSearch() {
    if (lastSearch) search(lastSearch);
  }

  async function search(query) {
    lastSearch = query;
    const seq = ++searchSeq;
    searchBtn.disabled = true;
    try {
      const res = await call("GET /channels/{login}/memory/search", { params: { login }, query });
      if (!alive || seq !== searchSeq) return;
      clearError();
      const d = res.diagnostics;
      // Say whether an exact scan was asked for or was the planner's pick (few entries).
      const how = d.engine === "exact" ? (d.exact_requested ? " (forced)" : " (planner's choice)") : "";
      setText(diag, `${d.engine.toUpperCase()}${how} · ${d.returned} of k=${d.k} at ≥ ${d.min_similarity} · ${d.candidates} candidates` +
        (d.ef_search ? ` · ef_search ${d.ef_search}` : "") +
        ` · ${d.latency_ms.toFixed(1)} ms (embed ${d.embed_ms.toFixed(1)} ms with ${d.embed_engine} ${d.embed_model}, database ${d.db_ms.toFixed(1)} ms)`);
      replace(hits, res.hits.length ? res.hits.map((m) => h("li", { dataset: { id: m.id } },
        h("span", { class: "memory-sim", title: "cosine similarity" }, m.similarity.toFixed(3)), " ",
        h("span", { class: `pill memory-kind memory-${m.kind}` }, m.kind), " ", m.text))
        : h("li", { class: "muted" }, "No memory is similar enough."));
    } catch (e) { if (alive && seq === searchSeq) showError(e); } finally { if (seq === searchSeq) searchBtn.disabled = false; }
  }

  exact.addEventListener("change", () => { ef.disabled = exact.checked; });
  filter.addEventListener("change", () => { offset = 0; load(); });
  prev.addEventListener("click", () => { offset = Math.max(0, offset - PAGE); load(); });
  next.addEventListener("click", () => { offset += PAGE; load(); });

  return { load, destroy() { alive = false; } };
}
