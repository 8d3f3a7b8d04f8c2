// Number, time and label formatting shared by the dashboard and the overlay.

const nf0 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const nf1 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

/** A count or rate, compact past 10k. */
export function num(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(n)) return "—";
  if (Math.abs(n) >= 10000) return new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 }).format(n);
  return (digits ? nf1 : nf0).format(n);
}

/** Messages per minute. */
export function rate(n) {
  if (n === null || n === undefined) return "—";
  return n < 10 ? nf1.format(n) : nf0.format(n);
}

/** 0..1 as a percentage. */
export function pct(x) {
  return x === null || x === undefined ? "—" : `${Math.round(x * 100)}%`;
}

/** Sentiment −1..+1 with its sign. */
export function sentiment(x) {
  if (x === null || x === undefined) return "—";
  const v = Math.round(x * 100) / 100;
  return `${v > 0 ? "+" : v < 0 ? "−" : "±"}${Math.abs(v).toFixed(2)}`;
}

/** Words for a sentiment value. */
export function sentimentWord(x) {
  if (x === null || x === undefined) return "no data";
  if (x >= 0.35) return "very positive";
  if (x >= 0.1) return "positive";
  if (x > -0.1) return "neutral";
  if (x > -0.35) return "negative";
  return "very negative";
}

/** Tone class for a sentiment value. */
export function sentimentTone(x) {
  if (x === null || x === undefined) return "tone-none";
  return x >= 0.1 ? "tone-ok" : x > -0.1 ? "tone-mid" : "tone-bad";
}

/** Words for a 0..100 health score (the same bands as the stream's `label`). */
export function healthLabel(score) {
  if (score === null || score === undefined) return "warming up";
  if (score >= 75) return "thriving";
  if (score >= 55) return "healthy";
  if (score >= 35) return "slowing";
  return "struggling";
}

/** Tone class for a health score. */
export function healthTone(score) {
  if (score === null || score === undefined) return "tone-none";
  return score >= 55 ? "tone-ok" : score >= 35 ? "tone-mid" : "tone-bad";
}

/** Tone class for a churn level. */
export function churnTone(level) {
  return level === "high" ? "tone-bad" : level === "medium" ? "tone-mid" : level === "low" ? "tone-ok" : "tone-none";
}

/** "12 s ago", "3 min ago", "2 h ago", or a date for older times. */
export function ago(iso, now = Date.now()) {
  if (!iso) return "—";
  const t = typeof iso === "number" ? iso : Date.parse(iso);
  if (Number.isNaN(t)) return "—";
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(t).toLocaleDateString();
}

/** Local wall-clock time, hh:mm:ss. */
export function clock(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "—" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** Local date and time. */
export function dateTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "—" : d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

/** A duration in seconds as "1 h 05 min" / "4 min" / "12 s". */
export function duration(secs) {
  if (secs === null || secs === undefined || secs < 0) return "—";
  const s = Math.round(secs);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

const HINT_KINDS = {
  raid_arriving: ["Raid", "🚀"],
  toxicity_spike: ["Toxicity", "🛡️"],
  hype_moment: ["Hype", "🔥"],
  questions_piling_up: ["Questions", "❓"],
  sentiment_dropping: ["Mood", "📉"],
  chat_slowing: ["Chat slowing", "🐢"],
  regulars_slipping: ["Regulars", "👋"],
  greet_first_timers: ["New chatters", "✨"],
};

/** A hint kind's short label and icon. */
export function hintKind(kind) {
  const [label, icon] = HINT_KINDS[kind] || [String(kind || "hint").replaceAll("_", " "), "💡"];
  return { label, icon };
}

const MOMENTS = {
  raid: ["Raid", "🚀", "raids"],
  sub: ["Sub", "⭐", "subs"],
  resub: ["Resub", "⭐", "subs"],
  gift: ["Gift", "🎁", "subs"],
  sub_gift: ["Gift", "🎁", "subs"],
  sub_mystery_gift: ["Gift bomb", "🎁", "subs"],
  gift_paid_upgrade: ["Upgrade", "⭐", "subs"],
  bits: ["Bits", "💎", "bits"],
  moderation: ["Moderation", "🛡️", "moderation"],
  timeout: ["Timeout", "🛡️", "moderation"],
  ban: ["Ban", "🛡️", "moderation"],
  clear: ["Clear", "🛡️", "moderation"],
  delete: ["Deleted", "🛡️", "moderation"],
  hint: ["Hint", "💡", "coach"],
  clip: ["Clip", "🎬", "coach"],
};

/** A timeline moment kind's label, icon and filter group (subs, bits, raids, moderation, coach, other). */
export function momentKind(kind) {
  const k = String(kind || "");
  const m = MOMENTS[k] || (/mod|ban|timeout|clear|delete/.test(k) ? ["Moderation", "🛡️", "moderation"] : null);
  return m ? { label: m[0], icon: m[1], group: m[2] } : { label: k.replaceAll("_", " ") || "event", icon: "•", group: "other" };
}

/** Capitalised status words. */
export function statusLabel(status) {
  const s = String(status || "unknown");
  return s.charAt(0).toUpperCase() + s.slice(1);
}
