// Channels side by side over time: the same four history charts as the focused view, with one
// line per channel (2–8 channels picked in the fleet table), on a shared time axis.

import { call } from "./api.js";
import { h, setText } from "./dom.js";
import { TimeChart, palette } from "./charts.js";
import * as fmt from "./format.js";

const RANGES = [
  { key: "1h", label: "1 hour", secs: 3600, step: 60 },
  { key: "6h", label: "6 hours", secs: 6 * 3600, step: 300 },
  { key: "24h", label: "24 hours", secs: 86400, step: 900 },
  { key: "7d", label: "7 days", secs: 7 * 86400, step: 3600 },
];

const METRICS = [
  { key: "rate", title: "Chat rate (messages / min)", get: (p) => p.chat_rate_per_min, fmt: fmt.rate },
  { key: "chatters", title: "Chatters", get: (p) => p.chatters, fmt: (v) => fmt.num(v) },
  { key: "sentiment", title: "Mood (−1 … +1)", get: (p) => p.sentiment, fmt: fmt.sentiment, range: [-1, 1] },
  { key: "health", title: "Health (0–100)", get: (p) => p.health, fmt: (v) => fmt.num(v), range: [0, 100] },
];

export function mount(root, app, logins) {
  const channels = [...new Set(logins)].slice(0, 8);
  let alive = true;
  let timer = null;
  const colors = palette();
  const rangeSel = h("select", { id: "compare-range", "aria-label": "Range" }, RANGES.map((r) => h("option", { value: r.key }, r.label)));
  const note = h("p", { class: "muted small" });
  const box = h("div", { class: "charts" });
  const section = h("section", { class: "compare", "aria-labelledby": "compare-title" },
    h("div", { class: "view-head" },
      h("div", { class: "title-row" }, h("a", { href: "#/", class: "back" }, "← Fleet"), h("h1", { id: "compare-title" }, "Compare channels")),
      h("div", { class: "head-actions" }, h("label", { htmlFor: "compare-range" }, "Range "), rangeSel)),
    h("ul", { class: "legend-list" }, channels.map((c, i) => h("li", {},
      h("span", { class: `swatch swatch-${i + 1}`, "aria-hidden": "true" }),
      h("a", { href: `#/channel/${encodeURIComponent(c)}` }, c)))),
    box, note);
  root.append(section);

  const charts = METRICS.map((m) => new TimeChart(box, {
    title: m.title, sync: "compare", range: m.range || null, fmt: m.fmt,
    series: channels.map((c, i) => ({ label: c, color: colors[i % colors.length] })),
  }));

  async function load() {
    clearTimeout(timer);
    const r = RANGES.find((x) => x.key === rangeSel.value) || RANGES[0];
    const to = new Date();
    const from = new Date(to.getTime() - r.secs * 1000);
    const results = await Promise.all(channels.map((login) =>
      call("GET /channels/{login}/history", { params: { login }, query: { from: from.toISOString(), to: to.toISOString(), step: r.step } })
        .catch((e) => ({ error: e.message, points: [] }))));
    if (!alive) return;
    // One shared x axis: every bin start any channel has, plus nulls for the others.
    const xsSet = new Set();
    const maps = results.map((res) => {
      const m = new Map();
      for (const p of res.points || []) { const t = Math.floor(Date.parse(p.at) / 1000); m.set(t, p); xsSet.add(t); }
      return m;
    });
    const xs = [...xsSet].sort((a, b) => a - b);
    const win = [Math.floor(from.getTime() / 1000), Math.floor(to.getTime() / 1000)];
    charts.forEach((chart, i) => {
      const metric = METRICS[i];
      chart.update(xs, maps.map((m) => xs.map((t) => (m.has(t) ? metric.get(m.get(t)) ?? null : null))), "No rollups in this range yet.", win);
    });
    section.dataset.loaded = String(xs.length);
    const failed = results.map((res, i) => (res.error ? `${channels[i]}: ${res.error}` : null)).filter(Boolean);
    setText(note, failed.length ? `Some channels could not be read — ${failed.join("; ")}` : `${r.step / 60}-minute bins from the per-minute rollups; refreshed every minute.`);
    timer = setTimeout(load, 60000);
  }
  rangeSel.addEventListener("change", load);
  load();

  return {
    unmount() {
      alive = false;
      clearTimeout(timer);
      for (const c of charts) c.destroy();
    },
  };
}
