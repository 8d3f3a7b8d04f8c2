// Fleet overview: every channel side by side — health with its 30-minute trend, churn risk,
// chat rate with a sparkline, sentiment, status (quarantined, paused) — sortable (server-side),
// filterable by name (server-side) and by state (this page), paged, refreshed every 3 s.
// Rows are kept by channel and updated in place, so sparklines do not flicker and focus stays
// put. Select channels to compare them over time. The operator joins, parts, retries and
// pauses channels from here.

import { call } from "./api.js";
import { h, replace, setText, toast, confirmDialog } from "./dom.js";
import { Sparkline, color } from "./charts.js";
import * as fmt from "./format.js";
import { fleetBudget } from "./copilot.js";

const PAGE = 50;
const REFRESH_MS = 3000;
const PREFS = "bytebot.fleet";

const COLUMNS = [
  { key: "login", label: "Channel", order: "asc" },
  { key: "status", label: "Status", order: "asc" },
  { key: "health", label: "Health", order: "desc" },
  { key: "churn", label: "Churn risk", order: "desc" },
  { key: "chat_rate", label: "Chat / min", order: "desc" },
  { key: "sentiment", label: "Sentiment", order: "desc" },
];

const FILTERS = {
  all: ["All channels", () => true],
  attention: ["Needs attention", (c) => c.status !== "running" || c.agent_paused || c.churn_level === "high" || (c.health !== null && c.health < 35)],
  running: ["Running", (c) => c.status === "running"],
  quarantined: ["Quarantined", (c) => c.status === "quarantined"],
  paused: ["Agent paused", (c) => c.agent_paused],
};

export function mount(root, app) {
  if (!app.isAdmin()) return { unmount() {} };
  const saved = JSON.parse(localStorage.getItem(PREFS) || "{}");
  const state = { sort: saved.sort || "health", order: saved.order || "asc", q: "", offset: 0, filter: "all", selected: new Set(), items: [], total: 0 };
  const rows = new Map();
  let timer = null;
  let inflight = null;
  let alive = true;
  let lastOk = 0;

  // -- toolbar
  const joinInput = h("input", { id: "join-login", placeholder: "channel_login", pattern: "[A-Za-z0-9_]{3,25}", required: true, autocomplete: "off", spellcheck: false });
  const joinForm = h("form", { class: "inline-form", "aria-label": "Join a channel" },
    h("label", { htmlFor: "join-login" }, "Join channel"), joinInput,
    h("button", { type: "submit", class: "btn-primary" }, "Join"));
  joinForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const login = joinInput.value.trim().toLowerCase();
    if (!login) return;
    try {
      const res = await call("POST /channels", { body: { login } });
      toast(res && res.outcome === "already_joined" ? `${login} was already joined.` : `Joined ${login}. Chat shows up within seconds.`);
      joinInput.value = "";
      refresh();
    } catch (err) {
      toast(err.message, "error");
    }
  });

  const search = h("input", { type: "search", id: "fleet-search", placeholder: "Find a channel", "aria-label": "Find a channel by name", autocomplete: "off" });
  let debounce = null;
  search.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => { state.q = search.value.trim(); state.offset = 0; refresh(); }, 250);
  });
  const filter = h("select", { id: "fleet-filter", "aria-label": "Show" },
    Object.entries(FILTERS).map(([k, [label]]) => h("option", { value: k }, label)));
  filter.addEventListener("change", () => { state.filter = filter.value; render(); });
  const compareBtn = h("button", { type: "button", class: "btn-secondary", disabled: true }, "Compare selected");
  compareBtn.addEventListener("click", () => app.navigate(`#/compare/${[...state.selected].map(encodeURIComponent).join(",")}`));

  // -- summary tiles
  const tiles = {
    channels: tile("Channels"), attention: tile("Need attention"), quarantined: tile("Quarantined"),
    paused: tile("Agent paused"), chat: tile("Chat / min (this page)"),
  };

  // -- table
  const headRow = h("tr", {}, h("th", { scope: "col", class: "col-select" }, h("span", { class: "sr-only" }, "Compare")));
  const sortButtons = new Map();
  for (const col of COLUMNS) {
    const btn = h("button", { type: "button", class: "sort" }, col.label, h("span", { class: "sort-mark", "aria-hidden": "true" }));
    btn.addEventListener("click", () => {
      if (state.sort === col.key) state.order = state.order === "asc" ? "desc" : "asc";
      else { state.sort = col.key; state.order = col.order; }
      localStorage.setItem(PREFS, JSON.stringify({ sort: state.sort, order: state.order }));
      state.offset = 0;
      refresh();
    });
    const th = h("th", { scope: "col", class: `col-${col.key}` }, btn);
    sortButtons.set(col.key, th);
    headRow.append(th);
  }
  headRow.append(h("th", { scope: "col", class: "col-num" }, "Messages"), h("th", { scope: "col", class: "col-actions" }, h("span", { class: "sr-only" }, "Actions")));
  const tbody = h("tbody");
  const emptyRow = h("p", { class: "empty", hidden: true });
  const table = h("table", { class: "fleet-table", id: "fleet" },
    h("caption", { class: "sr-only" }, "Channels, with live health, churn risk, chat rate and sentiment"),
    h("thead", {}, headRow), tbody);

  const pageInfo = h("span", { class: "muted" });
  const prev = h("button", { type: "button", class: "btn-secondary" }, "Previous");
  const next = h("button", { type: "button", class: "btn-secondary" }, "Next");
  prev.addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); refresh(); });
  next.addEventListener("click", () => { state.offset += PAGE; refresh(); });
  const updated = h("span", { class: "muted updated", "aria-live": "off" });
  const budgetLine = h("p", { id: "fleet-budget", class: "budget-line" }, "LLM today: …");

  root.append(h("section", { class: "fleet", "aria-labelledby": "fleet-title" },
    h("div", { class: "view-head" },
      h("h1", { id: "fleet-title" }, "Fleet"),
      h("p", { class: "muted" }, "Every channel at a glance. Click a channel for its live view; select two or more to compare them.")),
    h("div", { class: "tiles" }, Object.values(tiles).map((t) => t.el)),
    budgetLine,
    h("div", { class: "toolbar" }, joinForm, search, filter, compareBtn),
    h("div", { class: "table-wrap" }, table),
    emptyRow,
    h("div", { class: "pager" }, prev, pageInfo, next, updated)));

  function tile(label) {
    const value = h("span", { class: "tile-value" }, "—");
    return { el: h("div", { class: "tile" }, h("span", { class: "tile-label" }, label), value), value };
  }

  // -- rows
  function makeRow(login) {
    const check = h("input", { type: "checkbox", "aria-label": `Select ${login} to compare` });
    check.addEventListener("change", () => {
      if (check.checked) state.selected.add(login); else state.selected.delete(login);
      updateCompare();
    });
    const link = h("a", { href: `#/channel/${encodeURIComponent(login)}`, class: "channel-link" }, login);
    const sub = h("span", { class: "sub" });
    const statusCell = h("td", { class: "col-status", "data-label": "Status" });
    const healthNum = h("span", { class: "big-num" });
    const healthWord = h("span", { class: "sub" });
    const healthCell = h("td", { class: "col-health", "data-label": "Health" }, h("div", { class: "metric" }, h("div", {}, healthNum, healthWord)));
    const churnCell = h("td", { class: "col-churn", "data-label": "Churn risk" });
    const chatNum = h("span", { class: "big-num" });
    const chatCell = h("td", { class: "col-chat_rate", "data-label": "Chat / min" }, h("div", { class: "metric" }, chatNum));
    const sentNum = h("span", { class: "big-num" });
    const sentWord = h("span", { class: "sub" });
    const sentCell = h("td", { class: "col-sentiment", "data-label": "Sentiment" }, sentNum, sentWord);
    const msgCell = h("td", { class: "col-num", "data-label": "Messages" });
    const actions = h("td", { class: "col-actions" });
    const tr = h("tr", { dataset: { login } },
      h("td", { class: "col-select" }, check),
      h("th", { scope: "row", class: "col-login" }, link, sub),
      statusCell, healthCell, churnCell, chatCell, sentCell, msgCell, actions);
    const row = {
      tr, check, sub, statusCell, healthNum, healthWord, churnCell, chatNum, sentNum, sentWord, msgCell, actions,
      healthSpark: new Sparkline(healthCell.firstChild, { stroke: color("accent"), range: [0, 100], label: `${login} health trend` }),
      chatSpark: new Sparkline(chatCell.firstChild, { stroke: color("info"), label: `${login} chat rate` }),
      key: "",
    };
    return row;
  }

  function updateRow(row, c) {
    row.check.checked = state.selected.has(c.login);
    setText(row.sub, c.restarts > 0 ? `${c.restarts} restart${c.restarts === 1 ? "" : "s"}` : "");
    // Status: the actor's state, and the agent's.
    const key = `${c.status}|${c.agent_paused}|${app.suspended}|${c.quarantine_reason || ""}`;
    if (row.key !== key) {
      row.key = key;
      replace(row.statusCell,
        h("span", { class: ["pill", `status-${c.status}`] }, fmt.statusLabel(c.status)),
        c.agent_paused ? h("span", { class: "pill pill-paused" }, "Agent paused") : null,
        app.suspended && !c.agent_paused ? h("span", { class: "pill pill-bad", title: "Suspended on every channel by the operator" }, "Suspended") : null,
        c.quarantine_reason ? h("span", { class: "sub reason" }, c.quarantine_reason) : null);
      replace(row.actions, ...actionsFor(c));
    }
    setText(row.healthNum, c.health === null || c.health === undefined ? "—" : Math.round(c.health));
    row.healthNum.className = `big-num ${fmt.healthTone(c.health)}`;
    setText(row.healthWord, fmt.healthLabel(c.health));
    row.healthSpark.update(c.health_trend || []);
    const level = c.churn_level || null;
    const churnKey = `${level}|${c.churn_risk}`;
    if (row.churnCell.dataset.key !== churnKey) {
      row.churnCell.dataset.key = churnKey;
      replace(row.churnCell,
        h("span", { class: ["pill", `pill-${fmt.churnTone(level)}`] }, level ? level : "—"),
        h("span", { class: "sub" }, fmt.pct(c.churn_risk)));
    }
    setText(row.chatNum, fmt.rate(c.chat_rate_per_min));
    row.chatSpark.update(c.chat_sparkline || []);
    setText(row.sentNum, fmt.sentiment(c.sentiment));
    row.sentNum.className = `big-num ${fmt.sentimentTone(c.sentiment)}`;
    setText(row.sentWord, fmt.sentimentWord(c.sentiment));
    setText(row.msgCell, fmt.num(c.messages_seen));
  }

  function actionsFor(c) {
    const out = [];
    const pause = h("button", { type: "button", class: "btn-secondary btn-small", "aria-label": `${c.agent_paused ? "Resume" : "Pause"} the agent in ${c.login}` }, c.agent_paused ? "Resume" : "Pause");
    pause.addEventListener("click", async () => {
      pause.disabled = true;
      try {
        await call("PUT /channels/{login}/agent", { params: { login: c.login }, body: { paused: !c.agent_paused } });
        toast(`Agent ${c.agent_paused ? "resumed" : "paused"} in ${c.login}.`);
        refresh();
      } catch (e) { toast(e.message, "error"); pause.disabled = false; }
    });
    out.push(pause);
    if (c.status === "quarantined") {
      const retry = h("button", { type: "button", class: "btn-primary btn-small", "aria-label": `Retry ${c.login}` }, "Retry");
      retry.addEventListener("click", async () => {
        retry.disabled = true;
        try { await call("POST /channels/{login}/retry", { params: { login: c.login } }); toast(`Retrying ${c.login}.`); refresh(); }
        catch (e) { toast(e.message, "error"); retry.disabled = false; }
      });
      out.push(retry);
    }
    const part = h("button", { type: "button", class: "btn-ghost btn-small", "aria-label": `Part ${c.login}` }, "Part");
    part.addEventListener("click", async () => {
      const ok = await confirmDialog({ title: `Leave ${c.login}?`, body: "Byte stops reading this channel's chat. Its history is kept; join it again any time.", confirm: "Part channel", danger: true });
      if (!ok) return;
      try { await call("DELETE /channels/{login}", { params: { login: c.login } }); toast(`Parted ${c.login}.`); state.selected.delete(c.login); refresh(); }
      catch (e) { toast(e.message, "error"); }
    });
    out.push(part);
    return out;
  }

  function updateCompare() {
    const n = state.selected.size;
    compareBtn.disabled = n < 2 || n > 8;
    compareBtn.textContent = n ? `Compare selected (${n})` : "Compare selected";
  }

  function render() {
    const visible = state.items.filter(FILTERS[state.filter][1]);
    const seen = new Set();
    for (const c of visible) {
      let row = rows.get(c.login);
      if (!row) { row = makeRow(c.login); rows.set(c.login, row); }
      updateRow(row, c);
      tbody.append(row.tr); // moves existing rows into the server's order
      seen.add(c.login);
    }
    for (const [login, row] of rows) {
      if (!seen.has(login)) { row.healthSpark.destroy(); row.chatSpark.destroy(); row.tr.remove(); rows.delete(login); }
    }
    emptyRow.hidden = visible.length > 0;
    emptyRow.textContent = state.total === 0 && !state.q ? "No channels yet. Join one above to start." : "No channel matches.";
    for (const [key, th] of sortButtons) {
      if (key === state.sort) th.setAttribute("aria-sort", state.order === "asc" ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    }
    const items = state.items;
    setText(tiles.channels.value, fmt.num(state.total));
    setText(tiles.attention.value, fmt.num(items.filter(FILTERS.attention[1]).length));
    setText(tiles.quarantined.value, fmt.num(items.filter(FILTERS.quarantined[1]).length));
    setText(tiles.paused.value, fmt.num(items.filter(FILTERS.paused[1]).length));
    setText(tiles.chat.value, fmt.rate(items.reduce((s, c) => s + (c.chat_rate_per_min || 0), 0)));
    const from = state.total === 0 ? 0 : state.offset + 1;
    setText(pageInfo, `${from}–${Math.min(state.offset + PAGE, state.total)} of ${state.total}`);
    prev.disabled = state.offset === 0;
    next.disabled = state.offset + PAGE >= state.total;
    updateCompare();
  }

  async function refresh() {
    clearTimeout(timer);
    if (!alive) return;
    fleetBudget(budgetLine);
    if (inflight) inflight.abort();
    const ctrl = new AbortController();
    inflight = ctrl;
    try {
      const res = await call("GET /fleet", { query: { limit: PAGE, offset: state.offset, sort: state.sort, order: state.order, q: state.q }, signal: ctrl.signal });
      if (!alive || ctrl.signal.aborted) return;
      state.items = res.items || [];
      state.total = res.total || 0;
      if (state.offset > 0 && state.offset >= state.total) { state.offset = Math.max(0, state.total - PAGE); }
      lastOk = Date.now();
      render();
    } catch (e) {
      if (e.name === "AbortError") return;
      setText(updated, `Not updating: ${e.message}`);
    } finally {
      if (inflight === ctrl) inflight = null;
      if (alive) timer = setTimeout(refresh, document.hidden ? REFRESH_MS * 5 : REFRESH_MS);
    }
  }

  const ticker = setInterval(() => { if (lastOk) setText(updated, `Live · updated ${fmt.ago(lastOk)}`); }, 1000);
  const onVisible = () => { if (!document.hidden) refresh(); };
  document.addEventListener("visibilitychange", onVisible);
  refresh();

  return {
    refresh,
    unmount() {
      alive = false;
      clearTimeout(timer);
      clearTimeout(debounce);
      clearInterval(ticker);
      if (inflight) inflight.abort();
      document.removeEventListener("visibilitychange", onVisible);
      for (const row of rows.values()) { row.healthSpark.destroy(); row.chatSpark.destroy(); }
      rows.clear();
    },
  };
}
