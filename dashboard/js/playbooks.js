// Ops playbooks for one channel: each with its trigger and the actions it proposes, a run
// button (what it proposes waits in the action queue), and the run history, automatic and
// manual.

import { call } from "./api.js";
import { h, replace, toast } from "./dom.js";
import * as fmt from "./format.js";

const POLL_MS = 15000;

/** Builds the playbooks into `section`; `onRun()` is told after a run. Returns { load, destroy }. */
export function mountPlaybooks(section, app, login, { onRun = () => {} } = {}) {
  const list = h("ul", { class: "playbook-list", "aria-label": "Playbooks" });
  const runs = h("tbody");
  section.append(list,
    h("details", {}, h("summary", {}, "Run history"),
      h("div", { class: "table-wrap" }, h("table", { class: "data-table" },
        h("caption", { class: "sr-only" }, "Playbook runs, newest first"),
        h("thead", {}, h("tr", {}, ["When", "Playbook", "Trigger", "Why", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
        runs))));
  let timer = null;
  let alive = true;

  async function run(name, btn) {
    btn.disabled = true;
    try {
      const out = await call("POST /channels/{login}/playbooks/{name}/run", { params: { login, name } });
      toast(`${name}: ${out.actions.length} action(s) waiting for approval.`);
      onRun();
    } catch (e) {
      toast(e.message, "error");
    } finally {
      btn.disabled = false;
    }
    loadRuns();
  }

  async function loadList() {
    try {
      const out = await call("GET /playbooks");
      replace(list, out.items.map((p) => {
        const btn = h("button", { type: "button", class: "btn-secondary btn-small", dataset: { playbook: p.name } }, "Run");
        btn.addEventListener("click", () => run(p.name, btn));
        return h("li", { class: "playbook" },
          h("div", {}, h("strong", {}, p.name.replaceAll("_", " ")), h("span", { class: "muted small" }, ` — ${p.description}`)),
          h("p", { class: "muted small" }, `Runs by itself when: ${p.trigger} (at most every ${fmt.duration(p.cooldown_secs)}).`),
          h("ul", {}, p.actions.map((a) => h("li", { class: "small" }, a.description))),
          btn);
      }));
    } catch (e) {
      replace(list, h("li", { class: "error" }, `Playbooks unavailable: ${e.message}`));
    }
  }

  async function loadRuns() {
    try {
      const out = await call("GET /channels/{login}/playbooks/runs", { params: { login }, query: { limit: 20 } });
      if (!alive) return;
      replace(runs, out.items.length ? out.items.map((r) => h("tr", {},
        h("td", {}, fmt.clock(r.at)), h("td", {}, r.playbook), h("td", {}, r.trigger),
        h("td", { class: "muted" }, r.evidence), h("td", {}, String((r.action_keys || []).length))))
        : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No runs yet.")));
    } catch { /* the list shows the error */ }
  }

  const poll = async () => { await loadRuns(); if (alive) timer = setTimeout(poll, POLL_MS); };
  return {
    async load() { await loadList(); poll(); },
    destroy() { alive = false; clearTimeout(timer); },
  };
}
