// Access tokens of one channel: the streamer mints and revokes moderator and overlay tokens
// (the admin also streamer tokens). A new token is shown once, in a dialog with copy buttons,
// together with what to do with it: the OBS overlay URL (token in the fragment, never sent to
// the server) or a sign-in link for a moderator.

import { call } from "./api.js";
import { h, replace, toast, confirmDialog, copyButton } from "./dom.js";
import * as fmt from "./format.js";

const ROLE_HELP = {
  moderator: "Moderator — sees this channel's dashboard, can pause the agent and run sessions; cannot manage tokens or part the channel.",
  overlay: "Overlay — only the OBS overlay's live feed.",
  streamer: "Streamer — everything for this channel, including its tokens.",
};

/** Builds the token panel into `section`. Returns { load }. */
export function mountTokens(section, app, login) {
  const roles = app.isAdmin() ? ["moderator", "overlay", "streamer"] : ["moderator", "overlay"];
  const role = h("select", { id: "token-role" }, roles.map((r) => h("option", { value: r }, r.charAt(0).toUpperCase() + r.slice(1))));
  const help = h("p", { class: "field-help", id: "token-role-help" }, ROLE_HELP.moderator);
  role.addEventListener("change", () => { help.textContent = ROLE_HELP[role.value]; });
  const label = h("input", { id: "token-label", maxLength: 100, placeholder: "e.g. OBS on the stream PC, or Alex (mod)", autocomplete: "off" });
  const create = h("button", { type: "submit", class: "btn-primary" }, "Create token");
  const form = h("form", { class: "token-form", "aria-label": "Create a token" },
    h("div", { class: "field" }, h("label", { htmlFor: "token-role" }, "Role"), role),
    h("div", { class: "field grow" }, h("label", { htmlFor: "token-label" }, "Label"), label),
    create);
  const list = h("tbody");
  const showRevoked = h("input", { type: "checkbox", id: "token-show-revoked" });
  const table = h("table", { class: "data-table tokens-table" },
    h("caption", { class: "sr-only" }, `Tokens of ${login}`),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Label"), h("th", { scope: "col" }, "Role"), h("th", { scope: "col" }, "Id"),
      h("th", { scope: "col" }, "Created"), h("th", { scope: "col" }, "State"), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
    list);
  let tokens = [];

  section.append(form, help,
    h("label", { class: "check small" }, showRevoked, " Show revoked tokens"),
    h("div", { class: "table-wrap" }, table));
  showRevoked.addEventListener("change", render);

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    create.disabled = true;
    try {
      const made = await call("POST /channels/{login}/tokens", { params: { login }, body: { role: role.value, label: label.value.trim() } });
      label.value = "";
      await load();
      showOnce(made, login);
    } catch (ex) {
      toast(ex.message, "error");
    } finally {
      create.disabled = false;
    }
  });

  function render() {
    const rows = tokens.filter((t) => showRevoked.checked || !t.revoked_at);
    replace(list, rows.length ? rows.map(row) : h("tr", {}, h("td", { colSpan: 6, class: "muted" }, "No tokens yet.")));
  }

  function row(t) {
    const canRevoke = !t.revoked_at && (t.role !== "streamer" || app.isAdmin());
    const revoke = canRevoke ? h("button", { type: "button", class: "btn-ghost btn-small", "aria-label": `Revoke ${t.label || t.token_id}` }, "Revoke") : null;
    if (revoke) {
      revoke.addEventListener("click", async () => {
        const ok = await confirmDialog({ title: `Revoke “${t.label || t.token_id}”?`, body: `Anyone using this ${t.role} token loses access within seconds. This cannot be undone.`, confirm: "Revoke", danger: true });
        if (!ok) return;
        try {
          await call("DELETE /channels/{login}/tokens/{token_id}", { params: { login, token_id: t.token_id } });
          toast("Token revoked.");
          load();
        } catch (e) { toast(e.message, "error"); }
      });
    }
    return h("tr", { class: t.revoked_at ? "revoked" : null },
      h("td", { "data-label": "Label" }, t.label || h("span", { class: "muted" }, "(no label)")),
      h("td", { "data-label": "Role" }, h("span", { class: ["pill", `role-${t.role}`] }, t.role)),
      h("td", { "data-label": "Id" }, h("code", {}, t.token_id)),
      h("td", { "data-label": "Created", title: fmt.dateTime(t.created_at) }, `${fmt.ago(t.created_at)} by ${t.created_by}`),
      h("td", { "data-label": "State" }, t.revoked_at ? `revoked ${fmt.ago(t.revoked_at)}` : "active"),
      h("td", {}, revoke));
  }

  async function load() {
    try {
      const res = await call("GET /channels/{login}/tokens", { params: { login } });
      tokens = Array.isArray(res) ? res : res.items || res.tokens || [];
      tokens.sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
      render();
    } catch (e) {
      replace(list, h("tr", {}, h("td", { colSpan: 6, class: "error" }, e.message)));
    }
  }

  return { load };
}

/** The only time a token is visible: a modal with copy buttons and what to do with it. */
function showOnce(made, login) {
  const origin = location.origin;
  const secret = made.token;
  const fields = [];
  const field = (id, title, value, hint) => {
    const input = h("input", { id, readOnly: true, value, spellcheck: false, class: "mono" });
    input.addEventListener("focus", () => input.select());
    fields.push(input);
    return h("div", { class: "field" },
      h("label", { htmlFor: id }, title),
      h("div", { class: "copy-row" }, input, copyButton(() => input.value, input)),
      hint ? h("span", { class: "field-help" }, hint) : null);
  };
  const body = [];
  if (made.role === "overlay") {
    body.push(field("once-overlay-url", "OBS overlay URL", `${origin}/overlay/${encodeURIComponent(login)}#token=${secret}`,
      "OBS → Sources → + → Browser → paste as URL. Size: your canvas (e.g. 1920 × 1080). The background is transparent; hints appear top-right and fade out."));
  } else {
    body.push(field("once-link", "Sign-in link", `${origin}/#token=${secret}`,
      made.role === "moderator" ? "Send this to your moderator privately. Opening it signs them in to this channel only." : "Opening it signs in as the streamer of this channel."));
  }
  body.push(field("once-token", "Token", secret, null));
  const dialog = h("dialog", { class: "dialog token-once", "aria-labelledby": "once-title" },
    h("h2", { id: "once-title" }, `New ${made.role} token${made.label ? ` — ${made.label}` : ""}`),
    h("p", { class: "banner banner-warn" }, h("strong", {}, "Copy it now: "), "it is shown only this once. Byte keeps only a fingerprint of it; if it is lost, revoke it and create another."),
    body,
    h("div", { class: "dialog-actions" }, h("button", { type: "button", class: "btn-primary", id: "once-done" }, "Done, I saved it")));
  const close = () => {
    for (const f of fields) f.value = "";
    dialog.close();
    dialog.remove();
  };
  dialog.querySelector("#once-done").addEventListener("click", close);
  dialog.addEventListener("cancel", (e) => { e.preventDefault(); close(); });
  document.body.append(dialog);
  dialog.showModal();
}
