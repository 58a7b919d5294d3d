// Pieces both the popup and the sidebar show: the connection banner, first run, invites.

import { h, t, drawQr } from "./dom.js";
import { errorText } from "./client.js";

/**
 * Shows the connection's state in `box`: nothing when ready, a banner when not, and the
 * create-your-identity form on first run. Returns true when the node is ready.
 */
export function renderConnection(box, state, kith) {
  box.replaceChildren();
  switch (state.status) {
    case "ready":
      return true;
    case "connecting":
      box.append(h("p", { class: "banner info", text: t("stateConnecting"), attrs: { role: "status" } }));
      return false;
    case "missing":
      box.append(h("div", { class: "banner stack", attrs: { role: "alert" }, id: "host-missing" },
        h("p", { text: t("stateMissing") }),
        h("p", { class: "mono", text: "kith install" }),
        h("p", { class: "muted", text: t("stateMissingHint") }),
        retryButton(kith)));
      return false;
    case "node_down":
    case "down":
      box.append(h("div", { class: "banner stack", attrs: { role: "alert" }, id: "host-down" },
        h("p", { text: state.status === "node_down" ? t("stateNodeDown") : t("stateDown") }),
        state.error ? h("p", { class: "muted", text: state.error }) : null,
        retryButton(kith)));
      return false;
    case "outdated":
      box.append(h("div", { class: "banner stack", attrs: { role: "alert" }, id: "update-kith" },
        h("p", { text: t("stateOutdated", state.protocol, state.version, state.speaks) }),
        h("p", { class: "mono", text: "sudo apt install ./kith_VERSION_amd64.deb" }),
        h("p", { class: "muted", text: t("stateOutdatedOr") }),
        h("p", { class: "mono", text: "cargo install --path crates/kith" }),
        h("p", { class: "muted", text: t("stateOutdatedThen") }),
        retryButton(kith)));
      return false;
    case "no_identity":
      box.append(firstRun(kith));
      return false;
    default:
      return false;
  }
}

function retryButton(kith) {
  return h("button", { text: t("retry"), onclick: () => kith.request("retry") });
}

function firstRun(kith) {
  const name = h("input", { id: "init-name", maxLength: 64, required: true, autocomplete: "nickname" });
  name.placeholder = t("yourNamePlaceholder");
  const err = h("p", { class: "error", attrs: { role: "alert" } });
  const go = h("button", { class: "primary", type: "submit", text: t("createIdentity") });
  const login = h("input", { type: "checkbox", id: "init-autostart", checked: true });
  const form = h("form", { class: "card stack", id: "first-run" },
    h("h2", { text: t("welcome") }),
    h("p", { text: t("welcomeText") }),
    h("label", { text: t("yourName"), attrs: { for: "init-name" } }),
    name,
    h("div", { class: "row" }, login, h("label", { text: t("startAtLogin"), attrs: { for: "init-autostart" } })),
    h("p", { class: "muted", text: t("startAtLoginHint") }),
    go, err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    go.disabled = true;
    err.textContent = "";
    try {
      // The login entry first: init attaches the node, after which this form is gone. If it
      // cannot be made, the identity is still created; the sidebar's switch then shows it off.
      if (login.checked) await kith.call("autostart", { enable: true }).catch((e) => console.warn("autostart:", e.message));
      await kith.call("init", { name: name.value.trim() });
    } catch (e) {
      err.textContent = errorText(e);
      go.disabled = false;
    }
  });
  return form;
}

/** "Invite a friend" (link and QR code) and "Accept an invite" (paste). */
export function invitePanel(kith) {
  const link = h("textarea", { id: "invite-link", readOnly: true, rows: 4 });
  const canvas = h("canvas", { class: "qr", attrs: { role: "img", "aria-label": t("qrLabel") } });
  const copied = h("span", { class: "ok", attrs: { role: "status" } });
  const copy = h("button", {
    text: t("copy"),
    onclick: async () => {
      await navigator.clipboard.writeText(link.value);
      copied.textContent = t("copied");
    },
  });
  const made = h("div", { class: "stack", hidden: true }, h("p", { class: "muted", text: t("inviteHint") }), link, h("div", { class: "row" }, copy, copied), canvas);
  const inviteErr = h("p", { class: "error", attrs: { role: "alert" } });
  const invite = h("button", {
    id: "invite",
    class: "primary",
    text: t("inviteFriend"),
    onclick: async () => {
      inviteErr.textContent = "";
      try {
        const r = await kith.call("invite_create");
        link.value = r.link;
        copied.textContent = "";
        drawQr(canvas, r.qr || []);
        made.hidden = false;
        link.select();
      } catch (e) {
        inviteErr.textContent = errorText(e);
      }
    },
  });

  const paste = h("textarea", { id: "accept-link", rows: 3 });
  paste.placeholder = t("acceptPlaceholder");
  const acceptMsg = h("p", { attrs: { role: "status" } });
  const acceptBtn = h("button", { id: "accept", text: t("acceptInvite") });
  acceptBtn.addEventListener("click", async () => {
    const value = paste.value.trim();
    if (!value) return;
    acceptBtn.disabled = true;
    acceptMsg.className = "muted";
    acceptMsg.textContent = t("accepting");
    try {
      const r = await kith.call("invite_accept", { link: value });
      acceptMsg.className = "ok";
      acceptMsg.textContent = t("nowFriends", (r.friend && r.friend.name) || "");
      paste.value = "";
    } catch (e) {
      acceptMsg.className = "error";
      acceptMsg.textContent = errorText(e);
    } finally {
      acceptBtn.disabled = false;
    }
  });
  return h("div", { class: "stack" },
    invite, inviteErr, made,
    h("label", { text: t("acceptLabel"), attrs: { for: "accept-link" } }), paste, acceptBtn, acceptMsg);
}
