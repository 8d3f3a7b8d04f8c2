// A Server-Sent Events client over fetch(), because EventSource cannot send the
// Authorization header. It parses the text/event-stream format incrementally, reconnects by
// itself with jittered exponential backoff, and treats a stream that has been silent for longer
// than the server's keepalive period as dead.

/** How long without a byte (the server sends `: keepalive` every 15 s) before reconnecting. */
const SILENCE_MS = 40000;
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 15000;
/** After the server refused the token (401/403/404), retry slowly: it may be fixed meanwhile. */
const DENIED_RETRY_MS = 60000;

/**
 * Parses SSE text. Feed chunks with `push(text)`; complete events go to `onEvent(name, data)`,
 * comments to `onComment(text)`.
 */
export class SseParser {
  constructor(onEvent, onComment = () => {}) {
    this.onEvent = onEvent;
    this.onComment = onComment;
    this.buffer = "";
    this.event = "";
    this.data = [];
  }

  push(chunk) {
    this.buffer += chunk;
    let nl;
    while ((nl = this.buffer.search(/\r\n|\r|\n/)) !== -1) {
      const line = this.buffer.slice(0, nl);
      const sep = this.buffer.startsWith("\r\n", nl) ? 2 : 1;
      // A lone \r at the very end may be the first half of \r\n: wait for more.
      if (sep === 1 && this.buffer[nl] === "\r" && nl === this.buffer.length - 1) break;
      this.buffer = this.buffer.slice(nl + sep);
      this.line(line);
    }
  }

  line(line) {
    if (line === "") {
      if (this.data.length) this.onEvent(this.event || "message", this.data.join("\n"));
      this.event = "";
      this.data = [];
      return;
    }
    if (line.startsWith(":")) { this.onComment(line.slice(1).trim()); return; }
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
    // `id` and `retry` are not used: every event carries its own state.
  }
}

/**
 * Opens `url` as an event stream with `token` and keeps it open until `close()`.
 * - `onEvent(name, parsedJsonOrText)` for each event;
 * - `onState(state, detail)` with "connecting", "open", "retrying" (detail: ms until the next
 *   attempt), "denied" (detail: HTTP status; retried slowly) and "closed".
 */
export function openStream(url, token, { onEvent, onState = () => {} }) {
  let closed = false;
  let controller = null;
  let timer = null;
  let watchdog = null;
  let failures = 0;

  const schedule = (ms) => {
    clearTimeout(timer);
    if (!closed) timer = setTimeout(connect, ms);
  };

  const backoff = () => {
    failures += 1;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (failures - 1));
    const ms = Math.round(base * (0.75 + Math.random() * 0.5));
    onState("retrying", ms);
    schedule(ms);
  };

  async function connect() {
    if (closed) return;
    controller = new AbortController();
    const mine = controller;
    onState("connecting");
    let res;
    try {
      res = await fetch(url, {
        headers: { "Authorization": `Bearer ${token}`, "Accept": "text/event-stream" },
        cache: "no-store",
        signal: mine.signal,
      });
    } catch {
      if (!closed) backoff();
      return;
    }
    if (res.status === 401 || res.status === 403 || res.status === 404) {
      onState("denied", res.status);
      schedule(DENIED_RETRY_MS);
      return;
    }
    if (!res.ok || !res.body) {
      backoff();
      return;
    }
    failures = 0;
    onState("open");
    const parser = new SseParser((name, data) => {
      let parsed = data;
      try { parsed = JSON.parse(data); } catch { /* plain text event */ }
      try { onEvent(name, parsed); } catch (e) { console.error("stream handler failed", e); }
    });
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    const pet = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => mine.abort(), SILENCE_MS);
    };
    pet();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pet();
        parser.push(value);
      }
    } catch {
      // Aborted by close() or the watchdog, or the connection dropped.
    }
    clearTimeout(watchdog);
    if (!closed) backoff();
  }

  connect();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      clearTimeout(watchdog);
      if (controller) controller.abort();
      onState("closed");
    },
  };
}
