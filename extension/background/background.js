// The add-on's background: the only owner of the native port; relays between the node and
// the add-on's own pages; the "Share with friends" menu; notifications.

import { Host } from "./host.js";
import { describe, runShare } from "./share.js";

const host = new Host();
/** Open page ports (popup, sidebar, share dialogs). */
const pages = new Set();
/** Share requests from the menu, waiting for their dialog; by id. */
const requests = new Map();
let nextRequest = 1;

function broadcast(msg) {
  for (const p of pages) {
    try {
      p.postMessage(msg);
    } catch {
      pages.delete(p);
    }
  }
}

host.onState = (state) => {
  broadcast({ type: "state", state });
  const bad = ["missing", "down", "node_down"].includes(state.status);
  browser.action.setBadgeText({ text: bad ? "!" : "" });
  browser.action.setBadgeBackgroundColor({ color: "#b3261e" });
};

host.onEvent = (event) => {
  broadcast({ type: "event", event });
  if (event.event === "album_received" && event.album && !event.album.mine) {
    notify(browser.i18n.getMessage("notifyAlbum", [event.album.owner_name || "?", event.album.title || ""]));
  }
};

function notify(message) {
  browser.notifications
    .create({ type: "basic", iconUrl: browser.runtime.getURL("icons/kith.svg"), title: "Kith", message })
    .catch(() => {});
}

/** Only the add-on's own pages may talk to the background. */
function trusted(sender) {
  return sender && sender.id === browser.runtime.id && typeof sender.url === "string" &&
    sender.url.startsWith(browser.runtime.getURL(""));
}

browser.runtime.onConnect.addListener((port) => {
  if (port.name !== "kith" || !trusted(port.sender)) {
    port.disconnect();
    return;
  }
  pages.add(port);
  port.onDisconnect.addListener(() => pages.delete(port));
  port.onMessage.addListener((m) => handlePage(port, m));
  port.postMessage({ type: "state", state: host.state });
});

function answer(port, id, promise) {
  promise.then(
    (result) => port.postMessage({ type: "reply", id, ok: true, result }),
    (e) => port.postMessage({ type: "reply", id, ok: false, error: { code: e.code || "internal", message: e.message || String(e) } }),
  );
}

function handlePage(port, m) {
  if (!m || typeof m !== "object") return;
  switch (m.type) {
    case "call":
      if (!m.cmd || typeof m.cmd.cmd !== "string") return;
      answer(port, m.id, host.call(m.cmd).then((r) => {
        if (m.cmd.cmd === "init" || m.cmd.cmd === "invite_accept") host.handshake();
        return r;
      }));
      break;
    case "retry":
      if (host.port) host.handshake();
      else host.connect();
      answer(port, m.id, Promise.resolve({}));
      break;
    case "share_request": {
      const req = requests.get(Number(m.req));
      answer(port, m.id, req ? Promise.resolve(req) : Promise.reject({ code: "not_found", message: browser.i18n.getMessage("errShareGone") }));
      break;
    }
    case "share": {
      const req = requests.get(Number(m.req));
      if (!req) {
        answer(port, m.id, Promise.reject({ code: "not_found", message: browser.i18n.getMessage("errShareGone") }));
        break;
      }
      const progress = (bytes, total) => port.postMessage({ type: "share_progress", req: m.req, bytes, total });
      const to = Array.isArray(m.to) ? m.to.filter((x) => typeof x === "string") : [];
      answer(port, m.id, runShare(host, req, to, String(m.title || ""), progress).then((r) => {
        requests.delete(Number(m.req));
        return r;
      }));
      break;
    }
  }
}

function createMenus() {
  browser.menus.removeAll().then(() => {
    browser.menus.create({
      id: "share",
      title: browser.i18n.getMessage("menuShare"),
      contexts: ["image", "video", "audio", "link", "selection", "page"],
    });
  });
}

browser.menus.onClicked.addListener(async (info, tab) => {
  if (info.menuItemId !== "share") return;
  let preview = null;
  if (!info.srcUrl && !info.linkUrl && !info.selectionText && tab) {
    // The menu click lends us the tab (activeTab): a picture of it becomes the link card's preview.
    preview = await browser.tabs.captureVisibleTab(tab.windowId, { format: "jpeg", quality: 70 }).catch(() => null);
  }
  const id = nextRequest++;
  requests.set(id, describe(info, tab, preview));
  await browser.windows.create({
    url: browser.runtime.getURL(`share/share.html?req=${id}`),
    type: "popup",
    width: 460,
    height: 600,
  });
});

browser.runtime.onInstalled.addListener(createMenus);
browser.runtime.onStartup.addListener(createMenus);
createMenus();
host.connect();
