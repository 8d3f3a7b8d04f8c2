// Charts on uPlot (dashboard/vendor/uplot, loaded as a classic script before the modules):
// sparklines for the fleet table and time-series charts for history and comparison. Colours
// come from CSS custom properties, so the theme lives in style.css.

const uPlot = window.uPlot;

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

/** `#rrggbb` → `rgba(r,g,b,a)`. */
function alpha(hex, a) {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) return hex;
  return `rgba(${parseInt(m[1], 16)},${parseInt(m[2], 16)},${parseInt(m[3], 16)},${a})`;
}

/** The palette for multi-series charts, from --series-1 … --series-8. */
export function palette() {
  const fallback = ["#a970ff", "#3ddc84", "#ffca28", "#4fc3f7", "#ff7aa2", "#ff9f43", "#b0bec5", "#26c6da"];
  return fallback.map((c, i) => cssVar(`--series-${i + 1}`, c));
}

/** Named colours: "accent", "ok", "warn", "bad", "info". */
export function color(name) {
  const fallback = { accent: "#a970ff", ok: "#3ddc84", warn: "#ffca28", bad: "#ff6b6b", info: "#4fc3f7" };
  return cssVar(`--${name}`, fallback[name] || "#a970ff");
}

/**
 * A tiny line chart without axes for table cells. `range` fixes the y scale ([0, 100] for
 * health); otherwise it starts at zero and fits the data.
 */
export class Sparkline {
  constructor(parent, { stroke, range = null, width = 96, height = 28, label = "" }) {
    this.el = document.createElement("div");
    this.el.className = "spark";
    this.el.setAttribute("role", "img");
    this.el.setAttribute("aria-label", label);
    parent.append(this.el);
    this.label = label;
    this.values = null;
    this.plot = new uPlot({
      width, height, pxAlign: false,
      cursor: { show: false }, select: { show: false }, legend: { show: false },
      scales: {
        x: { time: false },
        y: { range: range ? () => range : (u, min, max) => [0, Math.max(1, max * 1.15)] },
      },
      axes: [{ show: false }, { show: false }],
      series: [{}, { stroke, width: 1.5, fill: alpha(stroke, 0.18), points: { show: false }, spanGaps: true }],
    }, [[], []], this.el);
  }

  /** New values, oldest first (nulls are gaps). */
  update(values) {
    const v = Array.isArray(values) ? values : [];
    if (this.values && this.values.length === v.length && this.values.every((x, i) => x === v[i])) return;
    this.values = v.slice();
    this.plot.setData([v.map((_, i) => i), v.map((x) => (x === undefined ? null : x))]);
    const last = [...v].reverse().find((x) => x !== null && x !== undefined);
    this.el.setAttribute("aria-label", last === undefined ? `${this.label}: no data` : `${this.label}, last 30 minutes, latest ${Math.round(last * 10) / 10}`);
  }

  destroy() { this.plot.destroy(); this.el.remove(); }
}

/**
 * A time-series chart that fills its container's width. `series`: [{label, color, fmt}];
 * `sync` groups charts whose cursors move together.
 */
export class TimeChart {
  constructor(parent, { title, series, height = 170, range = null, sync = "history", fmt = (v) => String(v) }) {
    this.wrap = document.createElement("figure");
    this.wrap.className = "chart";
    const caption = document.createElement("figcaption");
    caption.textContent = title;
    this.box = document.createElement("div");
    this.box.className = "chart-box";
    this.box.setAttribute("role", "img");
    this.box.setAttribute("aria-label", `${title} chart`);
    this.empty = document.createElement("p");
    this.empty.className = "chart-empty";
    this.empty.hidden = true;
    this.wrap.append(caption, this.box, this.empty);
    parent.append(this.wrap);
    this.title = title;
    this.height = height;
    this.fmt = fmt;
    this.xRange = null;
    const muted = cssVar("--muted", "#adadb8");
    const grid = cssVar("--grid", "#2f2f35");
    const axis = { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font: "11px system-ui, sans-serif" };
    this.plot = new uPlot({
      width: Math.max(200, parent.clientWidth || 300),
      height,
      cursor: { sync: { key: sync }, points: { size: 6 } },
      legend: { live: true },
      scales: { x: { time: true, range: (u, min, max) => this.xRange || [min, max] }, y: range ? { range: () => range } : { range: (u, min, max) => [Math.min(0, min), Math.max(1, max * 1.1)] } },
      axes: [axis, { ...axis, size: 46, values: (u, ticks) => ticks.map((t) => fmt(t)) }],
      series: [{}, ...series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: 2,
        fill: series.length === 1 ? alpha(s.color, 0.12) : undefined,
        points: { show: false },
        value: (u, v) => (v === null || v === undefined ? "—" : fmt(v)),
      }))],
    }, [[], ...series.map(() => [])], this.box);
    this.resize = new ResizeObserver(() => {
      const w = this.box.clientWidth;
      if (w > 0 && Math.abs(w - this.plot.width) > 1) this.plot.setSize({ width: w, height: this.height });
    });
    this.resize.observe(this.box);
  }

  /**
   * `xs`: unix seconds; `ys`: one array per series (nulls are gaps); `xRange`: the window shown
   * ([from, to] in unix seconds), so the axis shows the chosen range even where data is missing.
   */
  update(xs, ys, emptyText = "No data in this range yet.", xRange = null) {
    this.xRange = xRange;
    this.plot.setData([xs, ...ys]);
    const has = xs.length > 0;
    this.empty.hidden = has;
    this.empty.textContent = has ? "" : emptyText;
    const last = ys.map((y) => [...y].reverse().find((v) => v !== null && v !== undefined));
    this.box.setAttribute("aria-label", has ? `${this.title}: latest ${last.map((v) => (v === undefined ? "—" : this.fmt(v))).join(", ")}` : `${this.title}: no data`);
  }

  destroy() { this.resize.disconnect(); this.plot.destroy(); this.wrap.remove(); }
}
