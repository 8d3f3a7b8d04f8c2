// Post-stream reports of one channel: the list, one report rendered (narrative labelled by who
// wrote it — the model or the rule-based fallback — key figures, timeline, hints and whether
// they were followed), a Markdown download, and "generate now" for those who run sessions.
// The Markdown is shown as text (never parsed into HTML): chat-derived strings stay inert.

import { call, getToken, resolve } from "./api.js";
import { h, replace, toast } from "./dom.js";
import * as fmt from "./format.js";

/** Builds the reports view into `section`. Returns { load, destroy }. */
export function mountReports(section, app, login) {
  const list = h("ol", { class: "report-list", id: "report-list" });
  const view = h("div", { class: "report-view", id: "report-view", "aria-live": "polite" });
  const generate = h("button", { type: "button", class: "btn-secondary", id: "report-generate" }, "Generate a report now");
  section.append(
    h("p", { class: "muted" }, "A report is written when a session ends: figures, what happened when, which hints were followed, and a short summary by the model when one is available."),
    h("div", { class: "actions" }, generate),
    list, view);

  async function download(report) {
    // The API needs the bearer token, so the file is fetched and handed over as a blob.
    const { url } = resolve("GET /channels/{login}/reports/{id}/markdown", { login, id: report.id });
    try {
      const res = await fetch(url, { headers: { Authorization: `Bearer ${getToken()}` }, cache: "no-store" });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const blob = await res.blob();
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = `byte-report-${login}-${report.id}.md`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    } catch (e) {
      toast(`Download failed: ${e.message}`, "error");
    }
  }

  function render(r) {
    const f = r.figures;
    const t = f.totals;
    const byModel = r.narrative_source === "model";
    const dl = h("button", { type: "button", class: "btn-secondary", id: "report-download" }, "Download Markdown");
    dl.addEventListener("click", () => download(r));
    replace(view,
      h("h3", {}, `Session of ${fmt.dateTime(f.started_at)} · ${f.duration_min} min`),
      h("div", { class: ["report-narrative", byModel ? "narrative-model" : "narrative-fallback"], id: "report-narrative" },
        h("p", { class: "muted small" }, byModel ? `Summary written by the model ${r.model}` : "No language model was available: the rule-based engine's note, not a summary"),
        h("p", {}, r.narrative)),
      h("dl", { class: "report-figures" },
        ...[["Messages", t.messages], ["Average / min", t.avg_rate_per_min], ["First-time chatters", t.new_chatters],
          ["Subs · gifts · bits · raids", `${t.subs} · ${t.gifts} · ${t.bits} · ${t.raids}`],
          ["Peak chat / min", f.peaks.chat_rate_per_min ? f.peaks.chat_rate_per_min.value : "—"],
          ["Hints followed", `${f.hints_followed} of ${f.hints_measurable} measurable`],
          ["Goals met", f.goals.length ? `${f.goals_met} of ${f.goals.length}` : "no goals"]]
          .flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))])),
      h("h4", {}, "Timeline"),
      h("ol", { class: "report-timeline" }, f.timeline.map((x) => h("li", {}, h("time", { datetime: x.at }, fmt.clock(x.at)), ` ${x.text}`))),
      h("div", { class: "actions" }, dl),
      h("details", {}, h("summary", {}, "Markdown"), h("pre", { class: "report-markdown" }, r.markdown)));
  }

  async function open(id) {
    try {
      render(await call("GET /channels/{login}/reports/{id}", { params: { login, id } }));
    } catch (e) {
      replace(view, h("p", { class: "error" }, e.message));
    }
  }

  async function load() {
    try {
      const page = await call("GET /channels/{login}/reports", { params: { login }, query: { limit: 20 } });
      if (!page.items.length) {
        replace(list, h("li", { class: "empty" }, "No reports yet: one is written when a session ends."));
        return;
      }
      replace(list, page.items.map((r) => {
        const b = h("button", { type: "button", class: "link-button", dataset: { report: String(r.id) } },
          `${fmt.dateTime(r.created_at)} · ${r.trigger === "session_end" ? "session end" : "on demand"} · ${r.narrative_source === "model" ? r.model : "no model"}`);
        b.addEventListener("click", () => open(r.id));
        return h("li", {}, b);
      }));
    } catch (e) {
      replace(list, h("li", { class: "error" }, `Reports unavailable: ${e.message}`));
    }
  }

  generate.addEventListener("click", async () => {
    generate.disabled = true;
    try {
      const r = await call("POST /channels/{login}/reports", { params: { login }, body: {} });
      toast("Report generated.");
      render(r);
      load();
    } catch (e) {
      toast(e.message, "error");
    } finally {
      generate.disabled = false;
    }
  });
  void app;

  return { load, destroy() {} };
}
