// The add-on's background: the only owner of the native port; relays between the node and
// the add-on's own pages; the "Share with friends" menu; the badge (what's new); notifications.

import { Host } from "./host.js";
import { describe, resolveLink, runShare } from "./share.js";

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

/** The badge: "!" when the connection is bad, else what's new (unread comments + new albums). */
const badge = { bad: false, unread: 0 };

function drawBadge() {
  const text = badge.bad ? "!" : badge.unread > 99 ? "99+" : badge.unread > 0 ? String(badge.unread) : "";
  browser.action.setBadgeText({ text });
  browser.action.setBadgeBackgroundColor({ color: badge.bad ? "#b3261e" : "#2a7a5a" });
}

/** What's new by the node's count: `status.unread`, or else counted from `albums`. */
async function countUnread(status) {
  if (status && Number.isFinite(status.unread)) return status.unread;
  const albums = await host.call({ cmd: "albums" });
  return albums.reduce((n, a) => n + (Number(a.unread) || 0) + (a.new ? 1 : 0), 0);
}

let unreadTimer = null;
/** Asks the node for the count again, soon (events come in bursts). */
function refreshUnread() {
  clearTimeout(unreadTimer);
  unreadTimer = setTimeout(async () => {
    if (host.state.status !== "ready") return;
    try {
      badge.unread = await countUnread(await host.call({ cmd: "status" }));
      drawBadge();
    } catch {
      // The next event or state change asks again.
    }
  }, 200);
}

host.onState = (state) => {
  broadcast({ type: "state", state });
  badge.bad = ["missing", "down", "node_down", "outdated"].includes(state.status);
  if (state.status === "ready") {
    countUnread(state.me).then((n) => {
      badge.unread = n;
      drawBadge();
    }, () => {});
  }
  drawBadge();
};

host.onEvent = (event) => {
  broadcast({ type: "event", event });
  if (["comment", "album_received", "album_removed", "node_up"].includes(event.event)) refreshUnread();
  if (event.event === "album_received" && event.album && !event.album.mine) {
    notify(browser.i18n.getMessage("notifyAlbum", [event.album.owner_name || "?", event.album.title || ""]), { album: event.album.id });
  }
  if (event.event === "comment" && event.new && event.comment && !event.comment.mine) notifyComment(event);
};

/** Where each notification leads when clicked, by notification ID (the latest 50). */
const notified = new Map();
let nextNotification = 1;

function notify(message, to) {
  const id = `kith-${nextNotification++}`;
  if (to && to.album) {
    notified.set(id, to);
    if (notified.size > 50) notified.delete(notified.keys().next().value);
  }
  browser.notifications
    .create(id, { type: "basic", iconUrl: browser.runtime.getURL("icons/kith.svg"), title: "Kith", message })
    .catch(() => {});
}

/** "Grandma commented on “Beach 2026”", unless the setting (on by default) is off. */
async function notifyComment(event) {
  const { notifyComments } = await browser.storage.local.get({ notifyComments: true }).catch(() => ({ notifyComments: true }));
  if (!notifyComments) return;
  const c = event.comment;
  const who = c.author_name || "?";
  const title = event.title || "";
  const message = c.reaction
    ? browser.i18n.getMessage("notifyReaction", [who, c.reaction, title])
    : browser.i18n.getMessage("notifyComment", [who, title]) + (c.text ? `\n${c.text.slice(0, 200)}` : "");
  notify(message, { album: event.album, item: c.item || null, comment: c.id });
}

/** A click on a notification opens the gallery at the album (and the item, and the comment). */
browser.notifications.onClicked.addListener((id) => {
  const to = notified.get(id);
  if (!to) return;
  notified.delete(id);
  browser.notifications.clear(id).catch(() => {});
  const q = new URLSearchParams({ album: to.album });
  if (to.item) q.set("item", to.item);
  if (to.comment) q.set("comment", to.comment);
  browser.tabs.create({ url: browser.runtime.getURL(`gallery/gallery.html?${q}`) });
});

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
    (e) => {
      const error = { code: e.code || "internal", message: e.message || String(e) };
      if (Array.isArray(e.location_kept)) error.location_kept = e.location_kept;
      port.postMessage({ type: "reply", id, ok: false, error });
    },
  );
}

function handlePage(port, m) {
  if (!m || typeof m !== "object") return;
  switch (m.type) {
    case "call":
      if (!m.cmd || typeof m.cmd.cmd !== "string") return;
      answer(port, m.id, host.call(m.cmd).then((r) => {
        if (m.cmd.cmd === "init" || m.cmd.cmd === "invite_accept") host.handshake();
        if (m.cmd.cmd === "album_read") refreshUnread();
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
      if (!req) {
        answer(port, m.id, Promise.reject({ code: "not_found", message: browser.i18n.getMessage("errShareGone") }));
        break;
      }
      // A link is resolved before the dialog shows it: the user sees where it really leads.
      if (req.kind === "link") req.resolving ??= resolveLink(req.url).then((r) => (req.resolved = r));
      answer(port, m.id, Promise.resolve(req.resolving).then(() => {
        const shown = { ...req };
        delete shown.resolving; // a promise: not for posting
        delete shown.uploaded;
        return shown;
      }));
      break;
    }
    case "share_cancel": {
      // The dialog's user chose not to share: the node deletes what was uploaded for it.
      const req = requests.get(Number(m.req));
      const paths = req?.uploaded?.paths || [];
      if (req) delete req.uploaded;
      answer(port, m.id, paths.length ? host.call({ cmd: "upload_discard", paths }) : Promise.resolve({ removed: 0 }));
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
      answer(port, m.id, runShare(host, req, to, String(m.title || ""), progress, m.keep_location === true).then((r) => {
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
