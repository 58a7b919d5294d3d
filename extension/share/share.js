// The "Share with friends" dialog: pick friends and a title, then watch the upload and share.

import { Kith, errorText } from "../shared/client.js";
import { h, t, localize, safeLink, locationKeptBox } from "../shared/dom.js";
import { bytes } from "../shared/format.js";
import { renderConnection } from "../shared/panels.js";

const kith = new Kith();
const $ = (id) => document.getElementById(id);
const reqId = new URLSearchParams(location.search).get("req");
let loaded = false;

localize();
$("cancel").addEventListener("click", () => window.close());
document.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape") window.close();
});
$("all").addEventListener("change", () => {
  for (const box of document.querySelectorAll("#friends input")) box.checked = $("all").checked;
});

kith.onState(async (state) => {
  const ready = renderConnection($("connection"), state, kith);
  $("form").hidden = !ready;
  if (ready && !loaded) {
    loaded = true;
    await load().catch((e) => status(errorText(e), "error"));
  }
});

kith.onMessage((m) => {
  if (m.type === "share_progress" && String(m.req) === reqId) {
    $("progress").hidden = false;
    if (m.total) {
      $("progress").max = m.total;
      $("progress").value = m.bytes;
    }
    status(t("uploading", bytes(m.bytes)), "muted");
  }
});

/** Titles may not hold control characters and have at most 200 characters. */
function cleanTitle(s) {
  return Array.from(String(s || "").replace(/[\p{Cc}\s]+/gu, " ").trim()).slice(0, 200).join("");
}

async function load() {
  const [req, friends] = await Promise.all([kith.request("share_request", { req: reqId }), kith.call("friends")]);
  $("what").textContent = t(`kind_${req.kind}`);
  $("source").textContent = req.kind === "selection" ? req.text : req.url;
  if (req.kind === "link" && req.resolved) {
    // Where the link really leads, and what sharing it does, before anything is shared.
    const r = req.resolved;
    $("what").textContent = !r.ok ? t("kind_link_unknown")
      : r.page ? t("kind_link_page")
      : t("kind_link_file", r.type || t("unknownType"), r.size ? bytes(r.size) : t("unknownSize"));
    $("source").textContent = r.url;
    $("source").title = r.url === req.url ? "" : req.url;
  }
  $("title").value = cleanTitle(req.title);
  const img = req.kind === "image" ? req.url : req.preview;
  if (img && (safeLink(img) || img.startsWith("data:image/"))) {
    $("preview").src = img;
    $("preview").hidden = false;
  }
  if (!friends.length) {
    status(t("noFriendsToShare"), "error");
    $("share").disabled = true;
  }
  $("friends").replaceChildren(...friends.map((f) => h("li", {},
    h("label", { class: "row" },
      h("input", { type: "checkbox", value: f.id, onchange: syncAll }),
      h("span", { class: f.online ? "dot on" : "dot" }),
      h("span", { class: "ellipsis", text: f.name })))));
  $("title").focus();
}

function syncAll() {
  const boxes = [...document.querySelectorAll("#friends input")];
  $("all").checked = boxes.every((b) => b.checked);
}

function status(text, cls) {
  $("status").className = cls || "";
  $("status").textContent = text;
}

$("form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const boxes = [...document.querySelectorAll("#friends input")];
  const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
  if (!chosen.length) {
    status(t("pickSomeone"), "error");
    return;
  }
  const to = chosen.length === boxes.length ? [] : chosen;
  await share(to, false);
});

/** Shares; a file whose location cannot be removed is listed, to share anyway or cancel. */
async function share(to, keepLocation) {
  $("share").disabled = true;
  status(t("sharing"), "muted");
  try {
    const r = await kith.request("share", { req: reqId, to, title: cleanTitle($("title").value), keep_location: keepLocation });
    status(t("shared", r.audience.length), "ok");
    setTimeout(() => window.close(), 1500);
  } catch (e) {
    $("share").disabled = false;
    const box = locationKeptBox(e, () => share(to, true), () => kith.request("share_cancel", { req: reqId }).catch(() => {}));
    if (box) {
      status("", "");
      $("status").append(box);
    } else status(errorText(e), "error");
  }
}
