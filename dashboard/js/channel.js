// The focused channel: what a streamer keeps open during a stream.
//
// Live: the stream (SSE over fetch) pushes the context every ~2 s, each new coaching hint and
// agent changes; the full context (health factors with their explanations, churn, timeline,
// clips, open questions) is re-read every 5 s; history charts from the per-minute rollups every
// minute. Everything keeps working on polling alone if the stream is unavailable.
//
// Sections: coaching feed (with a big-text HUD mode), why the health score is what it is,
// history charts, events timeline, clip candidates, open questions and chatters at risk,
// agent control, sessions, tokens (streamer/admin) and channel management.

import { call, getToken, resolve } from "./api.js";
import { h, replace, setText, toast, confirmDialog } from "./dom.js";
import { openStream } from "./sse.js";
import { TimeChart, color } from "./charts.js";
import { mountAgent } from "./agent.js";
import { mountTokens } from "./tokens.js";
import { mountActions } from "./actions.js";
import { mountGoals } from "./goals.js";
import { mountPlaybooks } from "./playbooks.js";
import { mountPrompt } from "./prompt.js";
import { mountReports } from "./reports.js";
import { mountCopilot } from "./copilot.js";
import { mountMemory } from "./memory.js";
import * as fmt from "./format.js";

const CONTEXT_MS = 5000;
const SLOW_MS = 60000;
const MAX_HINTS = 60;
const RANGES = [
  { key: "1h", label: "1 hour", secs: 3600, step: 60 },
  { key: "6h", label: "6 hours", secs: 6 * 3600, step: 300 },
  { key: "24h", label: "24 hours", secs: 86400, step: 900 },
  { key: "7d", label: "7 days", secs: 7 * 86400, step: 3600 },
];
const TIMELINE_FILTERS = [
  ["all", "All"], ["subs", "Subs & gifts"], ["bits", "Bits"], ["raids", "Raids"], ["moderation", "Moderation"], ["coach", "Hints & clips"],
];

export function mount(root, app, login) {
  let alive = true;
  const timers = new Set();
  const later = (fn, ms) => { const t = setTimeout(() => { timers.delete(t); fn(); }, ms); timers.add(t); return t; };
  const every = (fn, ms) => { const t = setInterval(fn, ms); timers.add(t); return t; };
  const live = { status: null, agentPaused: null, suspended: false, lastStreamAt: 0, streamState: "connecting" };

  // ------------------------------------------------------------ header
  const title = h("h1", { id: "channel-title" }, login);
  const statusPill = h("span", { class: "pill", id: "channel-status" }, "…");
  const agentPill = h("span", { class: "pill", id: "agent-pill", hidden: true });
  const conn = h("span", { class: "conn", id: "live-state", role: "status" }, "Connecting…");
  const sessionBtn = h("button", { type: "button", class: "btn-secondary", id: "session-toggle" }, "Start session");
  const hudBtn = h("button", { type: "button", class: "btn-secondary", "aria-pressed": "false" }, "HUD mode");
  const banners = h("div", { class: "channel-banners" });

  const nav = h("nav", { class: "section-nav", "aria-label": "Sections" });
  const header = h("div", { class: "view-head channel-head" },
    h("div", { class: "title-row" },
      app.isAdmin() ? h("a", { href: "#/", class: "back", "aria-label": "Back to the fleet" }, "← Fleet") : null,
      title, statusPill, agentPill, conn),
    h("div", { class: "head-actions" }, sessionBtn, hudBtn));

  // ------------------------------------------------------------ KPI tiles
  const kpi = {};
  const tile = (key, label) => {
    const value = h("span", { class: "tile-value", id: `kpi-${key}` }, "—");
    const sub = h("span", { class: "tile-sub" });
    kpi[key] = { value, sub };
    return h("div", { class: "tile" }, h("span", { class: "tile-label" }, label), value, sub);
  };
  const tiles = h("div", { class: "tiles tiles-kpi" },
    tile("health", "Health"), tile("churn", "Churn risk"), tile("rate", "Chat / min"),
    tile("chatters", "Chatters (5 min)"), tile("sentiment", "Mood"), tile("questions", "Open questions"));

  // ------------------------------------------------------------ sections
  const sections = [];
  const section = (id, heading, ...extra) => {
    const body = h("div", { class: "panel-body" });
    const el = h("section", { class: "panel", id: `panel-${id}`, "aria-labelledby": `h-${id}` },
      h("div", { class: "panel-head" }, h("h2", { id: `h-${id}` }, heading), ...extra), body);
    sections.push([id, heading, el]);
    return { el, body };
  };

  // Coaching feed
  const feed = h("ol", { class: "hint-feed", id: "hint-feed", "aria-live": "polite", "aria-relevant": "additions" });
  const feedEmpty = h("p", { class: "empty" }, "No coaching hints yet. They appear here the moment Byte spots something (a raid, questions piling up, chat slowing…).");
  const coach = section("coaching", "Coaching", h("span", { class: "muted small" }, "live"));
  coach.body.append(feedEmpty, feed);
  const hints = new Map();

  // Health factors
  const health = section("health", "Why this health score");
  const healthSummary = h("p", { class: "lead" });
  const factors = h("ul", { class: "factors" });
  const churnLine = h("p", { class: "muted" });
  health.body.append(healthSummary, factors, churnLine);

  // History charts
  const rangeSel = h("select", { id: "history-range", "aria-label": "History range" }, RANGES.map((r) => h("option", { value: r.key }, r.label)));
  const history = section("history", "History", rangeSel);
  const chartsBox = h("div", { class: "charts" });
  const historyNote = h("p", { class: "muted small" }, "From per-minute rollups; the current minute appears when it closes.");
  history.body.append(chartsBox, historyNote);
  let charts = null;

  // Events timeline
  const timelineFilter = h("div", { class: "chips", role: "group", "aria-label": "Show events" });
  let timelineKind = "all";
  const timelineList = h("ol", { class: "timeline", id: "timeline" });
  const timeline = section("events", "Events");
  timeline.body.append(timelineFilter, timelineList);
  for (const [key, label] of TIMELINE_FILTERS) {
    const chip = h("button", { type: "button", class: "chip", "aria-pressed": String(key === "all") }, label);
    chip.addEventListener("click", () => {
      timelineKind = key;
      for (const c of timelineFilter.children) c.setAttribute("aria-pressed", String(c === chip));
      renderTimeline();
    });
    timelineFilter.append(chip);
  }
  let moments = [];

  // Clips
  const clipsList = h("ol", { class: "clips", id: "clips" });
  const clips = section("clips", "Clip candidates");
  clips.body.append(clipsList);
  const clipMap = new Map();

  // Chat: open questions, chatters at risk, top terms
  const questionsList = h("ol", { class: "questions" });
  const atRiskList = h("ol", { class: "at-risk" });
  const terms = h("div", { class: "chips terms" });
  const chat = section("chat", "In chat now");
  chat.body.append(
    h("h3", {}, "Waiting for an answer"), questionsList,
    h("h3", {}, "Chatters who may leave"), atRiskList,
    h("h3", {}, "Talked about"), terms);

  // Agent
  const agentSec = section("agent", "Agent");
  const agent = mountAgent(agentSec.body, app, login, { onChange: (s) => { live.agentPaused = s.paused; live.suspended = s.suspended_globally; renderPills(); } });

  // Autonomy: action queue, goals and policy, playbooks
  const actionsSec = section("actions", "Action queue");
  const actions = mountActions(actionsSec.body, app, login);
  const goalsSec = section("goals", "Goals & autonomy");
  const goals = mountGoals(goalsSec.body, app, login);
  const playbooksSec = section("playbooks", "Playbooks");
  const playbooks = mountPlaybooks(playbooksSec.body, app, login, { onRun: () => actions.load() });

  // Prompt & persona studio, and post-stream reports
  const promptSec = section("prompt", "Prompt & persona");
  const prompt = mountPrompt(promptSec.body, app, login);
  const reportsSec = section("reports", "Post-stream reports");
  const reports = mountReports(reportsSec.body, app, login);
  const copilotSec = section("copilot", "Co-pilot in chat");
  const copilot = mountCopilot(copilotSec.body, app, login);
  const memorySec = section("memory", "Memory");
  const memory = mountMemory(memorySec.body, app, login);

  // Sessions
  const sessionsBody = h("tbody");
  const sessionsSec = section("sessions", "Sessions");
  sessionsSec.body.append(h("div", { class: "table-wrap" }, h("table", { class: "data-table sessions-table" },
    h("caption", { class: "sr-only" }, "Stream sessions, newest first"),
    h("thead", {}, h("tr", {}, ["Started", "Length", "Messages", "Peak / min", "Avg / min", "New chatters", "Mood", "Subs · gifts · bits · raids", "Hints", "Clips"].map((c) => h("th", { scope: "col" }, c)))),
    sessionsBody)));
  let openSession = null;
  let lastSessions = null;

  // Tokens and management (streamer, admin)
  let tokens = null;
  let manageBody = null;
  if (app.canManage()) {
    const tokSec = section("tokens", "Access tokens");
    tokSec.body.append(h("p", { class: "muted" }, "Give a moderator their own login, or connect the OBS overlay. Each token reaches this channel only and can be revoked at any time."));
    tokens = mountTokens(tokSec.body, app, login);
    const manage = section("manage", "Channel");
    manageBody = manage.body;
  }

  for (const [id, heading, el] of sections) {
    const b = h("button", { type: "button", class: "chip" }, heading.replace("Why this health score", "Health"));
    b.addEventListener("click", () => { el.scrollIntoView({ behavior: "smooth", block: "start" }); el.focus({ preventScroll: true }); });
    el.tabIndex = -1;
    nav.append(b);
    void id;
  }

  const byId = Object.fromEntries(sections.map(([id, , el]) => [id, el]));
  root.append(h("div", { class: "channel", id: "channel-view", dataset: { login } },
    header, banners, tiles, nav,
    h("div", { class: "grid grid-2 grid-top" }, byId.coaching, byId.health),
    byId.history,
    h("div", { class: "grid grid-2" }, byId.events, h("div", { class: "stack" }, byId.clips, byId.chat)),
    h("div", { class: "grid grid-2" }, byId.agent, byId.tokens || null),
    h("div", { class: "grid grid-2" }, byId.actions, h("div", { class: "stack" }, byId.goals, byId.playbooks)),
    byId.sessions,
    h("div", { class: "grid grid-2" }, byId.prompt, byId.reports),
    byId.copilot,
    byId.memory,
    byId.manage || null));

  // ------------------------------------------------------------ rendering

  function renderPills() {
    const s = live.status || "unknown";
    statusPill.className = `pill status-${s}`;
    setText(statusPill, fmt.statusLabel(s));
    const paused = live.agentPaused === true;
    agentPill.hidden = !(paused || live.suspended);
    agentPill.className = "pill pill-paused";
    setText(agentPill, live.suspended ? "Agent suspended" : "Agent paused");
  }

  function renderConn(state, detail) {
    live.streamState = state;
    const text = {
      open: "● Live", connecting: "Connecting…", closed: "",
      retrying: `Reconnecting${detail ? ` in ${Math.ceil(detail / 1000)} s` : "…"}`,
      denied: "Live stream unavailable — refreshing every 5 s",
    }[state] ?? state;
    setText(conn, text);
    conn.className = `conn conn-${state}`;
  }

  function setKpi(key, value, sub, tone) {
    setText(kpi[key].value, value);
    kpi[key].value.className = `tile-value ${tone || ""}`;
    setText(kpi[key].sub, sub || "");
  }

  /** The fast fields, from a stream `context` event or from the full context. */
  function applyVitals(v) {
    if (v.status) live.status = v.status;
    if (typeof v.agent_paused === "boolean") live.agentPaused = v.agent_paused;
    renderPills();
    const hs = v.health ? v.health.score : null;
    setKpi("health", hs === null || hs === undefined ? "—" : Math.round(hs), v.health ? (v.health.label || fmt.healthLabel(hs)) : "warming up", fmt.healthTone(hs));
    const ch = v.churn;
    setKpi("churn", ch ? fmt.pct(ch.risk) : "—", ch ? ch.level : "", fmt.churnTone(ch ? ch.level : null));
    setKpi("rate", fmt.rate(v.chat_rate_per_min), "last minute");
    setKpi("sentiment", fmt.sentiment(v.sentiment), fmt.sentimentWord(v.sentiment), fmt.sentimentTone(v.sentiment));
  }

  function hintElement(hint) {
    const kind = fmt.hintKind(hint.kind);
    const time = h("time", { dateTime: hint.created_at, title: fmt.dateTime(hint.created_at) }, fmt.ago(hint.created_at));
    const evidence = hint.evidence && typeof hint.evidence === "object" ? Object.entries(hint.evidence) : [];
    const li = h("li", { class: ["hint", `prio-${hint.priority || "normal"}`], dataset: { id: hint.id, kind: hint.kind } },
      h("div", { class: "hint-head" },
        h("span", { class: "hint-icon", "aria-hidden": "true" }, kind.icon),
        h("span", { class: "hint-kind" }, kind.label),
        h("span", { class: ["pill", `prio-pill-${hint.priority || "normal"}`] }, hint.priority || "normal"),
        time),
      h("h3", { class: "hint-title" }, hint.title || kind.label),
      h("p", { class: "hint-message" }, hint.message || hint.body || hint.detail || ""),
      hint.suggested_action ? h("p", { class: "hint-action" }, h("span", { "aria-hidden": "true" }, "→ "), hint.suggested_action) : null,
      evidence.length ? h("details", { class: "hint-evidence" },
        h("summary", {}, "Why"),
        h("dl", {}, evidence.map(([k, val]) => [h("dt", {}, k.replaceAll("_", " ")), h("dd", {}, typeof val === "number" ? fmt.num(val, 1) : String(val))]))) : null);
    li._time = time;
    li._hint = hint;
    return li;
  }

  /** Adds hints (newest first in the list); `fresh` marks ones that just arrived live. */
  function addHints(list, fresh) {
    let added = 0;
    for (const hint of list) {
      if (!hint || !hint.id || hints.has(hint.id)) continue;
      const el = hintElement(hint);
      if (fresh) el.classList.add("fresh");
      hints.set(hint.id, el);
      added += 1;
    }
    if (!added) return;
    const ordered = [...hints.values()].sort((a, b) => String(b._hint.created_at).localeCompare(String(a._hint.created_at)));
    for (const el of ordered.slice(MAX_HINTS)) { hints.delete(el._hint.id); el.remove(); }
    for (const el of ordered.slice(0, MAX_HINTS)) feed.append(el);
    feedEmpty.hidden = hints.size > 0;
    refreshHintTimes();
  }

  function refreshHintTimes() {
    const now = Date.now();
    for (const el of hints.values()) {
      setText(el._time, fmt.ago(el._hint.created_at, now));
      const expired = el._hint.expires_at && Date.parse(el._hint.expires_at) < now;
      el.classList.toggle("expired", Boolean(expired));
    }
  }

  function renderFactors(hs, churn) {
    if (!hs) {
      setText(healthSummary, "Warming up: the score appears after the first few seconds of chat.");
      factors.replaceChildren();
    } else {
      setText(healthSummary, hs.explanation || "");
      const list = [...(hs.factors || [])].sort((a, b) => a.score - b.score);
      replace(factors, list.map((f) => h("li", { class: "factor" },
        h("div", { class: "factor-head" },
          h("span", { class: "factor-name" }, f.name),
          h("span", { class: ["factor-score", fmt.healthTone(f.score)] }, Math.round(f.score)),
          h("span", { class: "muted small" }, `weight ${Math.round((f.weight || 0) * 100)}%`)),
        h("meter", { min: 0, max: 100, low: 35, high: 55, optimum: 100, value: f.score, "aria-label": `${f.name} ${Math.round(f.score)} of 100` }),
        h("p", { class: "factor-why" }, f.explanation || ""))));
    }
    setText(churnLine, churn ? churn.explanation || "" : "");
  }

  function renderTimeline() {
    const shown = moments.filter((m) => timelineKind === "all" || fmt.momentKind(m.kind).group === timelineKind).slice(0, 80);
    replace(timelineList, shown.length ? shown.map((m) => {
      const k = fmt.momentKind(m.kind);
      return h("li", { class: ["moment", `moment-${k.group}`] },
        h("time", { dateTime: m.at, title: fmt.dateTime(m.at) }, fmt.clock(m.at)),
        h("span", { class: "moment-icon", "aria-hidden": "true" }, k.icon),
        h("span", { class: "moment-kind" }, k.label),
        h("span", { class: "moment-text" }, m.text || ""));
    }) : h("li", { class: "empty" }, "Nothing yet in this window."));
  }

  function addClips(list) {
    for (const c of list || []) if (c && c.id) clipMap.set(c.id, c);
    const all = [...clipMap.values()].sort((a, b) => String(b.at).localeCompare(String(a.at))).slice(0, 20);
    replace(clipsList, all.length ? all.map((c) => h("li", { class: "clip" },
      h("div", { class: "clip-head" },
        h("time", { dateTime: c.at, title: fmt.dateTime(c.at) }, fmt.clock(c.at)),
        h("meter", { min: 0, max: 1, value: c.peak_strength ?? c.strength ?? 0, "aria-label": `strength ${Math.round((c.peak_strength ?? c.strength ?? 0) * 100)}%` }),
        h("span", { class: "muted small" }, `clip from ${fmt.clock(c.suggested_start)}`)),
      h("p", {}, c.reason || ""))) : h("li", { class: "empty" }, "No clip-worthy moment yet."));
  }

  function renderChat(signals, churn) {
    const qs = (signals && signals.open_questions) || [];
    setKpi("questions", String(qs.length), qs.length ? `oldest ${fmt.ago(qs[0].asked_at)}` : "none waiting", qs.length >= 6 ? "tone-bad" : qs.length >= 3 ? "tone-mid" : "");
    replace(questionsList, qs.length ? qs.map((q) => h("li", {},
      h("strong", {}, q.login), " ", h("span", {}, q.text), " ", h("span", { class: "muted small" }, fmt.ago(q.asked_at)))) : h("li", { class: "empty" }, "No question waiting."));
    const risky = (churn && churn.top_at_risk) || [];
    replace(atRiskList, risky.length ? risky.slice(0, 8).map((c) => h("li", {},
      h("strong", {}, c.login), c.is_regular ? h("span", { class: "pill pill-small" }, "regular") : null, " ",
      h("span", { class: fmt.churnTone(c.risk >= 0.6 ? "high" : c.risk >= 0.35 ? "medium" : "low") }, fmt.pct(c.risk)), " ",
      h("span", { class: "muted small" }, (c.reasons || []).map(describeReason).join("; ")))) : h("li", { class: "empty" }, "Nobody looks like leaving."));
  }

  function renderTerms(list) {
    replace(terms, (list || []).slice(0, 16).map((t) => h("span", { class: "chip chip-static" }, t.term, h("span", { class: "muted" }, ` ${t.count}`))));
  }

  function applyContext(snap) {
    const lv = snap.live || {};
    const sig = lv.signals || null;
    // While the stream delivers the vitals every 2 s, it is the one source of those numbers.
    const streamFresh = live.streamState === "open" && Date.now() - live.lastStreamAt < 6000;
    if (!streamFresh) applyVitals({
      health: lv.health ? { score: lv.health.score, label: null } : null,
      churn: lv.churn ? { risk: lv.churn.risk, level: lv.churn.level } : null,
      chat_rate_per_min: sig ? sig.w1.messages_per_min : null,
      sentiment: sig ? (sig.w5.messages ? sig.w5.sentiment_mean : null) : null,
    });
    if (sig) setKpi("chatters", fmt.num(sig.w5.unique_chatters), `${fmt.num(sig.w5.new_chatters)} new, ${fmt.num(sig.w5.returning_chatters)} returning`);
    renderFactors(lv.health, lv.churn);
    moments = lv.timeline || [];
    renderTimeline();
    addClips(lv.clips);
    addHints(lv.hints || [], false);
    renderChat(sig, lv.churn);
    renderTerms(lv.top_terms);
    if (lv.session !== undefined) setOpenSession(lv.session);
  }

  function setOpenSession(s) {
    const before = openSession ? openSession.id : null;
    openSession = s && !s.ended_at ? s : null;
    if ((openSession ? openSession.id : null) !== before && lastSessions) renderSessions(lastSessions);
    setText(sessionBtn, openSession ? "Stop session" : "Start session");
    sessionBtn.setAttribute("aria-pressed", String(Boolean(openSession)));
    sessionBtn.title = openSession ? `Session running since ${fmt.clock(openSession.started_at)}` : "Start tracking a stream session now";
  }

  function renderStatus(st) {
    live.status = st.status;
    renderPills();
    const items = [];
    if (st.status === "quarantined") {
      const retry = app.canManage() ? h("button", { type: "button", class: "btn-primary btn-small" }, "Retry now") : null;
      if (retry) retry.addEventListener("click", doRetry);
      items.push(h("div", { class: "banner banner-bad", role: "alert" },
        h("strong", {}, "This channel stopped after repeated failures. "),
        st.quarantine_reason ? `Reason: ${st.quarantine_reason}. ` : "",
        app.canManage() ? "Retry when the cause is fixed. " : "The streamer or the operator can retry it. ", retry));
    } else if (st.status === "restarting") {
      items.push(h("div", { class: "banner banner-warn", role: "status" }, "Restarting after a failure — no chat is lost; live numbers return in a moment."));
    }
    if (live.suspended) items.push(h("div", { class: "banner banner-bad", role: "status" }, h("strong", {}, "Agent suspended on every channel by the operator.")));
    const key = items.map((i) => i.textContent).join("|");
    if (banners.dataset.key !== key) { banners.dataset.key = key; replace(banners, items); }
    if (manageBody) renderManage(st);
  }

  function renderManage(st) {
    const key = `${st.status}|${st.restarts}|${st.last_failure || ""}`;
    if (manageBody.dataset.key === key) return;
    manageBody.dataset.key = key;
    const retry = h("button", { type: "button", class: "btn-primary", disabled: st.status !== "quarantined" }, "Retry channel");
    retry.addEventListener("click", doRetry);
    const part = h("button", { type: "button", class: "btn-danger" }, "Part channel");
    part.addEventListener("click", async () => {
      const ok = await confirmDialog({ title: `Leave ${login}?`, body: "Byte stops reading this channel's chat and the dashboard for it closes. History is kept; the operator can join it again.", confirm: "Part channel", danger: true });
      if (!ok) return;
      try {
        await call("DELETE /channels/{login}", { params: { login } });
        toast(`Parted ${login}.`);
        if (app.isAdmin()) app.navigate("#/");
      } catch (e) { toast(e.message, "error"); }
    });
    replace(manageBody,
      h("dl", { class: "facts" },
        h("dt", {}, "Status"), h("dd", {}, fmt.statusLabel(st.status)),
        h("dt", {}, "Restarts"), h("dd", {}, String(st.restarts ?? 0)),
        h("dt", {}, "Messages seen"), h("dd", {}, fmt.num(st.messages_seen)),
        h("dt", {}, "Events seen"), h("dd", {}, fmt.num(st.events_seen)),
        st.last_failure ? [h("dt", {}, "Last failure"), h("dd", {}, st.last_failure)] : null,
        st.joined_at ? [h("dt", {}, "Joined"), h("dd", {}, fmt.dateTime(st.joined_at))] : null),
      h("div", { class: "actions" }, retry, part),
      h("p", { class: "muted small" }, "Retry restarts a quarantined channel. Part stops reading it."));
  }

  async function doRetry() {
    try {
      const st = await call("POST /channels/{login}/retry", { params: { login } });
      toast(`Retrying ${login}.`);
      renderStatus(st);
    } catch (e) { toast(e.message, "error"); }
  }

  function renderSessions(items) {
    lastSessions = items;
    replace(sessionsBody, items.length ? items.map((s) => {
      const k = s.kpis || {};
      const end = s.ended_at ? Date.parse(s.ended_at) : Date.now();
      const sid = s.session_id || s.id;
      const running = !s.ended_at && openSession && sid === openSession.id;
      return h("tr", { class: running ? "current" : null },
        h("td", { "data-label": "Started" }, fmt.dateTime(s.started_at), running ? h("span", { class: "pill pill-ok pill-small" }, "live") : null),
        h("td", { "data-label": "Length" }, !s.ended_at && !running ? "unfinished" : fmt.duration((end - Date.parse(s.started_at)) / 1000)),
        h("td", { "data-label": "Messages" }, fmt.num(k.messages)),
        h("td", { "data-label": "Peak / min" }, fmt.rate(k.peak_rate_per_min)),
        h("td", { "data-label": "Avg / min" }, fmt.rate(k.avg_rate_per_min)),
        h("td", { "data-label": "New chatters" }, fmt.num(k.new_chatters)),
        h("td", { "data-label": "Mood" }, fmt.sentiment(k.sentiment_mean)),
        h("td", { "data-label": "Subs · gifts · bits · raids" }, `${fmt.num(k.subs)} · ${fmt.num(k.gifts)} · ${fmt.num(k.bits)} · ${fmt.num(k.raids)}`),
        h("td", { "data-label": "Hints" }, fmt.num(k.hints)),
        h("td", { "data-label": "Clips" }, fmt.num(k.clips)));
    }) : h("tr", {}, h("td", { colSpan: 10, class: "muted" }, "No sessions yet. A session starts with the stream, or with “Start session”.")));
  }

  // ------------------------------------------------------------ charts

  function buildCharts() {
    chartsBox.replaceChildren();
    const sync = `history-${login}`;
    charts = {
      rate: new TimeChart(chartsBox, { title: "Chat rate (messages / min)", series: [{ label: "msg/min", color: color("info") }], sync, fmt: (v) => fmt.rate(v) }),
      chatters: new TimeChart(chartsBox, { title: "Chatters", series: [{ label: "chatters", color: color("accent") }, { label: "new", color: color("ok") }], sync, fmt: (v) => fmt.num(v) }),
      sentiment: new TimeChart(chartsBox, { title: "Mood (−1 … +1)", series: [{ label: "sentiment", color: color("warn") }], sync, range: [-1, 1], fmt: (v) => fmt.sentiment(v) }),
      health: new TimeChart(chartsBox, { title: "Health (0–100)", series: [{ label: "health", color: color("ok") }, { label: "churn risk %", color: color("bad") }], sync, range: [0, 100], fmt: (v) => fmt.num(v) }),
    };
  }

  async function loadHistory() {
    const r = RANGES.find((x) => x.key === rangeSel.value) || RANGES[0];
    const to = new Date();
    const from = new Date(to.getTime() - r.secs * 1000);
    try {
      const res = await call("GET /channels/{login}/history", { params: { login }, query: { from: from.toISOString(), to: to.toISOString(), step: r.step } });
      if (!alive) return;
      const pts = withGaps(res.points || [], res.step || r.step);
      const xs = pts.map((p) => p.t);
      const col = (f) => pts.map((p) => (p.gap ? null : f(p.p)));
      const empty = "No rollups yet: the first point appears after a full minute of chat.";
      const win = [Math.floor(from.getTime() / 1000), Math.floor(to.getTime() / 1000)];
      charts.rate.update(xs, [col((p) => p.chat_rate_per_min)], empty, win);
      charts.chatters.update(xs, [col((p) => p.chatters), col((p) => p.new_chatters)], empty, win);
      charts.sentiment.update(xs, [col((p) => p.sentiment)], empty, win);
      charts.health.update(xs, [col((p) => p.health), col((p) => (p.churn_risk === null || p.churn_risk === undefined ? null : p.churn_risk * 100))], empty, win);
      history.el.dataset.loaded = String(xs.length);
      setText(historyNote, `From per-minute rollups, ${r.step / 60}-minute bins; the current minute appears when it closes.`);
    } catch (e) {
      setText(historyNote, `History unavailable: ${e.message}`);
    }
  }

  /** uPlot joins neighbours; insert a null where bins are missing so gaps show as gaps. */
  function withGaps(points, step) {
    const out = [];
    let prev = null;
    for (const p of points) {
      const t = Math.floor(Date.parse(p.at) / 1000);
      if (prev !== null && t - prev > step * 1.5) out.push({ t: prev + step, gap: true });
      out.push({ t, p });
      prev = t;
    }
    return out;
  }

  rangeSel.addEventListener("change", loadHistory);

  // ------------------------------------------------------------ loading

  async function loadContext() {
    try {
      const [st, snap] = await Promise.all([
        call("GET /channels/{login}", { params: { login } }),
        call("GET /channels/{login}/context", { params: { login } }).catch((e) => { if (e.status === 503) return null; throw e; }),
      ]);
      if (!alive) return;
      renderStatus(st);
      if (snap) applyContext(snap);
    } catch (e) {
      if (e.status === 404) {
        replace(banners, h("div", { class: "banner banner-bad", role: "alert" }, `${login} is not joined. `, app.isAdmin() ? h("a", { href: "#/" }, "Back to the fleet") : "Ask the operator to join it again."));
      }
    }
  }

  async function loadSlow() {
    const [hs, cs, ss] = await Promise.all([
      call("GET /channels/{login}/hints", { params: { login }, query: { limit: 30 } }).catch(() => null),
      call("GET /channels/{login}/clips", { params: { login }, query: { limit: 20 } }).catch(() => null),
      call("GET /channels/{login}/sessions", { params: { login }, query: { limit: 20 } }).catch(() => null),
    ]);
    if (!alive) return;
    if (hs) addHints(hs.items || [], false);
    if (cs) addClips(cs.items || []);
    if (ss) renderSessions(ss.items || []);
  }

  function loop(fn, ms) {
    const run = async () => {
      if (!alive) return;
      try { await fn(); } finally { if (alive) later(run, document.hidden ? ms * 3 : ms); }
    };
    run();
  }

  sessionBtn.addEventListener("click", async () => {
    const action = openSession ? "stop" : "start";
    sessionBtn.disabled = true;
    try {
      const s = await call("POST /channels/{login}/session", { params: { login }, body: { action } });
      setOpenSession(action === "stop" ? null : s);
      toast(action === "stop" ? "Session stopped." : "Session started.");
      loadSlow();
    } catch (e) { toast(e.message, "error"); }
    finally { sessionBtn.disabled = false; }
  });

  // HUD mode: the coaching feed alone, in big type (a phone or a second screen next to OBS).
  const onKey = (e) => { if (e.key === "Escape" && document.body.classList.contains("hud")) toggleHud(); };
  function toggleHud() {
    const on = document.body.classList.toggle("hud");
    hudBtn.setAttribute("aria-pressed", String(on));
    setText(hudBtn, on ? "Exit HUD" : "HUD mode");
    if (on) byId.coaching.scrollIntoView({ block: "start" });
  }
  hudBtn.addEventListener("click", toggleHud);
  document.addEventListener("keydown", onKey);

  // Live stream.
  const { url: streamUrl } = resolve("GET /channels/{login}/stream", { login });
  const stream = openStream(streamUrl, getToken(), {
    onEvent(name, data) {
      if (!alive || !data || typeof data !== "object") return;
      if (name === "context") { applyVitals(data); live.lastStreamAt = Date.now(); }
      else if (name === "hint") addHints([data.hint && data.hint.id ? data.hint : data], true);
      else if (name === "agent") agent.update(data);
      else if (name === "reply") copilot.addLive(data);
    },
    onState: renderConn,
  });

  buildCharts();
  renderPills();
  loop(loadContext, CONTEXT_MS);
  loop(loadSlow, SLOW_MS);
  loop(loadHistory, SLOW_MS);
  agent.load();
  actions.load();
  goals.load();
  playbooks.load();
  prompt.load();
  reports.load();
  copilot.load();
  memory.load();
  if (tokens) tokens.load();
  every(refreshHintTimes, 5000);

  return {
    refresh() { agent.load(); loadContext(); },
    unmount() {
      alive = false;
      for (const t of timers) { clearTimeout(t); clearInterval(t); }
      stream.close();
      actions.destroy();
      copilot.destroy();
      memory.destroy();
      goals.destroy();
      playbooks.destroy();
      document.removeEventListener("keydown", onKey);
      document.body.classList.remove("hud");
      if (charts) for (const c of Object.values(charts)) c.destroy();
    },
  };
}

function describeReason(r) {
  const s = (x) => fmt.duration(x);
  switch (r && r.kind) {
    case "went_quiet": return `silent ${s(r.silent_secs)} (usually every ${s(r.typical_gap_secs)})`;
    case "parted": return `left ${s(r.secs_ago)} ago`;
    case "sentiment_dip": return `went quiet after negative messages (${fmt.sentiment(r.mood)})`;
    case "unanswered_question": return `question unanswered for ${s(r.waited_secs)}`;
    default: return r && r.kind ? String(r.kind).replaceAll("_", " ") : "";
  }
}
