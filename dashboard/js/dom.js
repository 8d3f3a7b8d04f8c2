// DOM helpers. The UI never parses HTML from strings: elements are created with
// createElement, text goes in with textContent (via text nodes), and attributes are set one by
// one — event-handler attributes are refused — so chat-controlled strings (names, messages,
// labels) are always inert text.

const PROPS = new Set([
  "id", "type", "value", "checked", "disabled", "hidden", "title", "name", "placeholder",
  "min", "max", "step", "rows", "maxLength", "minLength", "required", "autocomplete",
  "tabIndex", "htmlFor", "readOnly", "open", "pattern", "inputMode", "spellcheck", "selected",
]);

/**
 * Creates an element: `h("button", {class: "x", on: {click}, "aria-label": "…"}, "text", child)`.
 * Strings and numbers become text nodes; null/false/undefined children are skipped.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    else if (key === "text") el.textContent = String(value);
    else if (key === "on") for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "href") el.setAttribute("href", safeHref(value));
    else if (PROPS.has(key)) el[key] = value;
    else if (/^on/i.test(key)) throw new Error(`event attributes are not allowed: ${key}`);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.append(child);
    else el.append(document.createTextNode(String(child)));
  }
}

/** Only in-app links: fragments and same-origin paths. */
function safeHref(value) {
  const s = String(value);
  return s.startsWith("#") || (s.startsWith("/") && !s.startsWith("//")) ? s : "#";
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Sets text only when it changed (avoids layout work and screen-reader chatter). */
export function setText(el, text) {
  const s = String(text);
  if (el.textContent !== s) el.textContent = s;
}

/** A short, polite status message at the bottom of the screen. */
export function toast(message, kind = "info") {
  const region = document.getElementById("toasts");
  if (!region) return;
  const item = h("div", { class: ["toast", `toast-${kind}`], role: kind === "error" ? "alert" : "status" }, message);
  region.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

/**
 * Asks a yes/no question in a modal dialog; resolves to true when confirmed.
 * `danger` styles the confirm button as destructive.
 */
export function confirmDialog({ title, body, confirm = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": "confirm-title" });
    const done = (ok) => { dialog.close(); dialog.remove(); resolve(ok); };
    dialog.append(
      h("h2", { id: "confirm-title" }, title),
      body ? h("p", {}, body) : null,
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn-secondary", on: { click: () => done(false) } }, "Cancel"),
        h("button", { type: "button", class: danger ? "btn-danger" : "btn-primary", on: { click: () => done(true) } }, confirm)),
    );
    dialog.addEventListener("cancel", (e) => { e.preventDefault(); done(false); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Copies text to the clipboard, with a fallback for insecure origins (plain http on a LAN). */
export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (input) {
      input.focus();
      input.select();
      try { return document.execCommand("copy"); } catch { return false; }
    }
    return false;
  }
}

/** A copy-to-clipboard button for `getText()` (read-only `input` is selected as a fallback). */
export function copyButton(getText, input, label = "Copy") {
  const btn = h("button", { type: "button", class: "btn-secondary copy" }, label);
  btn.addEventListener("click", async () => {
    const ok = await copyText(getText(), input);
    btn.textContent = ok ? "Copied ✓" : "Select and copy";
    setTimeout(() => { btn.textContent = label; }, 2000);
  });
  return btn;
}
