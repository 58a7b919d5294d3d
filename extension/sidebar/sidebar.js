// The sidebar: friends, albums shared with me and by me, transfers. Live from node events.

import { Kith, errorText } from "../shared/client.js";
import { h, t, localize, progressBar, safeLink, locationKeptBox } from "../shared/dom.js";
import { bytes, speed, date, shortId, percent } from "../shared/format.js";
import { renderConnection, invitePanel } from "../shared/panels.js";
import { gateway, resetGateway, gatewayUrl, tile, uploadFiles } from "../shared/gallery.js";
import { CommentsPanel } from "../shared/comments.js";

const kith = new Kith();
const $ = (id) => document.getElementById(id);

/** What the sidebar knows, refreshed from the node. */
const model = {
  friends: [],
  albums: [],
  transfers: [],
  /** Live progress by fetch target: {bytes, total, at, speed}. */
  progress: new Map(),
  /** Fetches finished this session by target: {ok, paths, error}. */
  finished: new Map(),
  /** Album IDs whose file lists are open. */
  open: new Set(),
  /** First page of each open album's files, by album ID. */
  files: new Map(),
  /** The node's gateway base URL (thumbnails). */
  base: "",
  /** Files dropped on the sidebar, waiting to become an album. */
  dropped: [],
  /** Each album's comments (kept across renders: drafts and open threads stay), by album ID. */
  threads: new Map(),
};

localize();
setupTabs();
$("invites").append(invitePanel(kith));

kith.onState((state) => {
  const ready = renderConnection($("connection"), state, kith);
  $("ready").hidden = !ready;
  if (ready) {
    resetGateway();
    reloadAll();
  }
});

kith.onEvent((e) => {
  switch (e.event) {
    case "friend_added":
    case "friend_removed":
    case "friend_online":
    case "friend_offline":
      loadFriends();
      break;
    case "album_received":
    case "album_removed":
    case "album_thumbs":
      if (e.event === "album_removed") model.threads.delete(e.id);
      loadAlbums();
      break;
    case "comment":
    case "comment_failed":
      if (model.threads.has(e.album)) model.threads.get(e.album).handleEvent(e);
      refreshAlbumList();
      break;
    case "fetch_progress": {
      const prev = model.progress.get(e.id);
      const now = performance.now();
      let rate = prev ? prev.speed : 0;
      if (prev && now > prev.at) rate = 0.7 * rate + 0.3 * (((e.bytes - prev.bytes) * 1000) / (now - prev.at));
      model.progress.set(e.id, { bytes: e.bytes, total: e.total, at: now, speed: Math.max(rate, 0) });
      renderAlbums();
      if (model.transfers.some((x) => x.target === e.id && x.running)) renderTransfers();
      else loadTransfers(); // a fetch this page did not start, or just resumed
      break;
    }
    case "fetch_done":
      model.progress.delete(e.id);
      model.finished.set(e.id, { ok: true, paths: e.paths, bytes: e.bytes });
      loadTransfers();
      loadAlbums();
      break;
    case "fetch_failed":
      model.progress.delete(e.id);
      model.finished.set(e.id, { ok: false, error: e.error });
      loadTransfers();
      renderAlbums();
      break;
    case "node_up":
      reloadAll();
      break;
  }
});

function reloadAll() {
  for (const panel of model.threads.values()) panel.load();
  loadFriends();
  loadAlbums();
  loadTransfers();
  loadSettings();
}

// ---- tabs ----

function setupTabs() {
  const tabs = [...document.querySelectorAll("[role=tab]")];
  const select = (tab, focus) => {
    for (const x of tabs) {
      const on = x === tab;
      x.setAttribute("aria-selected", String(on));
      x.tabIndex = on ? 0 : -1;
      $(x.getAttribute("aria-controls")).hidden = !on;
    }
    if (focus) tab.focus();
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => select(tab, false));
    tab.addEventListener("keydown", (ev) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[ev.key];
      if (step) select(tabs[(i + step + tabs.length) % tabs.length], true);
      if (ev.key === "Home") select(tabs[0], true);
      if (ev.key === "End") select(tabs[tabs.length - 1], true);
    });
  });
  select(tabs[0], false);
}

// ---- friends ----

async function loadFriends() {
  const friends = await kith.call("friends").catch(() => model.friends);
  const same = JSON.stringify(friends) === JSON.stringify(model.friends) && $("friend-list").childElementCount;
  model.friends = friends;
  if (!same) renderFriends(); // (a render closes open safety numbers and confirmations)
}

// A failed dial sends no event: while a friend can't be reached, ask again now and then, so
// the last error shown stays current.
setInterval(() => {
  if (!document.hidden && !$("ready").hidden && model.friends.some((f) => !f.online)) loadFriends();
}, 10000);

function renderFriends() {
  const list = $("friend-list");
  if (!model.friends.length) {
    list.replaceChildren(h("li", { class: "muted", text: t("noFriendsYet") }));
    return;
  }
  list.replaceChildren(...model.friends.map(friendCard));
}

function friendCard(f) {
  const compared = h("input", {
    type: "checkbox",
    class: "verify",
    checked: Boolean(f.verified),
    onchange: (ev) => kith.call("friend_verify", { peer: f.id, verified: ev.target.checked }).then(() => {
      loadFriends();
      for (const panel of model.threads.values()) panel.load(); // their ✓ marks
    }).catch((e) => alertIn(safety, e)),
  });
  const safety = h("div", { class: "stack", hidden: true },
    h("p", { class: "mono safety" }, safetyRows(f.safety_number)),
    h("label", { class: "row verify-label" }, compared, h("span", { class: "grow", text: t("comparedSafety", f.name) })));
  const confirm = h("div", { class: "row", hidden: true },
    h("span", { class: "grow", text: t("removeConfirm", f.name) }),
    h("button", { class: "danger", text: t("remove"), onclick: () => kith.call("unfriend", { peer: f.id }).then(loadFriends).catch((e) => alertIn(confirm, e)) }),
    h("button", { text: t("cancel"), onclick: () => (confirm.hidden = true) }));
  return h("li", { class: "card friend", dataset: { id: f.id } },
    h("div", { class: "row" },
      h("span", { class: f.online ? "dot on" : "dot", attrs: { title: f.online ? t("online") : t("offline") } }),
      h("span", { class: "grow ellipsis friend-name", text: f.name }),
      f.verified ? h("span", { class: "c-verified", text: "✓", title: t("verifiedFriendTip"), attrs: { "aria-label": t("verifiedFriendTip") } }) : null,
      h("span", { class: "muted mono", text: shortId(f.id) })),
    h("p", { class: "muted reach", dataset: { path: f.online ? f.path || "" : "unreachable" }, text: reachText(f),
      title: !f.online && f.last_error ? t("lastErrorTip", f.last_error) : null }),
    !f.online && f.last_error ? h("p", { class: "muted reach-error", text: t("lastError", f.last_error) }) : null,
    h("div", { class: "row" },
      h("span", { class: "grow" }),
      h("button", { text: t("safetyNumber"), attrs: { "aria-expanded": "false" }, onclick: (ev) => {
        safety.hidden = !safety.hidden;
        ev.target.setAttribute("aria-expanded", String(!safety.hidden));
      } }),
      h("button", { class: "danger", text: t("remove"), onclick: () => (confirm.hidden = false) })),
    safety, confirm);
}

/** A safety number (groups of 5 digits) as rows of 4 groups, as both friends read it out. */
function safetyRows(number) {
  const groups = String(number || "").split(" ");
  const rows = [];
  for (let i = 0; i < groups.length; i += 4) rows.push(h("span", { class: "safety-row", text: groups.slice(i, i + 4).join(" ") }));
  return rows;
}

/** How a friend is connected (`path`), in words; when they are not, when they were last seen. */
function reachText(f) {
  if (!f.online) {
    return f.last_seen ? t("pathUnreachableSince", date(f.last_seen)) : t("pathUnreachable");
  }
  switch (f.path) {
    case "lan": return t("pathLan");
    case "direct": return t("pathDirect");
    case "punched": return t("pathPunched");
    case "mapped": return t("pathMapped");
    case "relayed": return t("pathRelayed");
    default: return t("online");
  }
}

function alertIn(el, e) {
  el.append(h("p", { class: "error", attrs: { role: "alert" }, text: errorText(e) }));
}

// ---- albums ----

async function loadAlbums() {
  model.files.clear();
  model.base = await gateway(kith).catch(() => "");
  model.albums = await kith.call("albums").catch(() => model.albums);
  renderAlbums();
}

/** The albums again (their unread counts), soon, once however many events ask. */
let albumListTimer = null;
function refreshAlbumList() {
  clearTimeout(albumListTimer);
  albumListTimer = setTimeout(async () => {
    model.albums = await kith.call("albums").catch(() => model.albums);
    renderAlbums();
  }, 300);
}

/** Opens the album's gallery in a tab (at one item, and one comment, when given). */
function openGallery(album, item, comment) {
  const q = new URLSearchParams({ album });
  if (item) q.set("item", item);
  if (comment) q.set("comment", comment);
  browser.tabs.create({ url: browser.runtime.getURL(`gallery/gallery.html?${q}`) });
}

/** The album's cover thumbnail and title. */
function cardHead(a) {
  const src = a.cover ? gatewayUrl(model.base, "thumb", a.cover) : "";
  return h("div", { class: "row" },
    src ? h("img", { class: "cover", src, alt: "", loading: "lazy" }) : null,
    h("div", { class: "grow album-title", text: a.title }),
    a.new ? h("span", { class: "badge album-new", text: t("newMarker") }) : null,
    a.unread > 0 ? h("span", { class: "badge unread-count", text: t("unreadCount", a.unread), title: t("unreadTip") }) : null);
}

/** The album's comments: the toggle with the count, the thread once opened. */
function commentsBox(a) {
  let panel = model.threads.get(a.id);
  if (!panel) {
    panel = new CommentsPanel(kith, {
      album: a.id,
      owner: a.mine,
      collapsible: true,
      onItem: (item, comment) => openGallery(a.id, item, comment),
      onRead: () => {
        const x = model.albums.find((y) => y.id === a.id);
        if (x && (x.unread || x.new)) {
          x.unread = 0;
          x.new = false;
          renderAlbums();
        }
        refreshAlbumList();
      },
    });
    model.threads.set(a.id, panel);
    panel.load();
  }
  panel.owner = a.mine;
  return panel.el;
}

function galleryButton(a) {
  if (!a.item_count) return null;
  return h("button", { class: "open-gallery", text: t("openGallery"), onclick: () => openGallery(a.id) });
}

function renderAlbums() {
  const inbox = model.albums.filter((a) => !a.mine);
  const mine = model.albums.filter((a) => a.mine);
  // The comment threads move into the new cards; whoever was typing in one keeps the caret.
  const active = document.activeElement;
  const caret = active && active.tagName === "TEXTAREA" ? [active.selectionStart, active.selectionEnd] : null;
  $("inbox-list").replaceChildren(...(inbox.length ? inbox.map(inboxCard) : [h("li", { class: "muted", text: t("nothingShared") })]));
  $("mine-list").replaceChildren(...(mine.length ? mine.map(mineCard) : [h("li", { class: "muted", text: t("nothingSharedByMe") })]));
  if (active && active !== document.activeElement && active.isConnected && active.closest(".comments")) {
    active.focus();
    if (caret) active.setSelectionRange(caret[0], caret[1]);
  }
}

function meta(a) {
  return [t("files", a.item_count), bytes(a.bytes), date(a.created)].join(" · ");
}

function linkButton(a) {
  if (!a.link || !safeLink(a.link)) return null;
  return h("div", { class: "row" },
    h("span", { class: "muted mono grow ellipsis", text: a.link }),
    h("button", { text: t("openPage"), onclick: () => browser.tabs.create({ url: a.link }) }));
}

function inboxCard(a) {
  const p = model.progress.get(a.id);
  const done = model.finished.get(a.id);
  const status = h("p", { class: "status", attrs: { role: "status" } });
  let busy = Boolean(p);
  if (p) status.textContent = `${bytes(p.bytes)} / ${bytes(p.total)} · ${speed(p.speed)}`;
  else if (done && done.ok) {
    status.className = "status ok";
    status.textContent = t("fetched");
  } else if (done && !done.ok) {
    status.className = "status error";
    status.textContent = errorText(done.error);
  }
  const fetchBtn = h("button", {
    class: "primary fetch",
    text: done && done.ok ? t("fetchAgain") : t("fetch"),
    disabled: busy || a.item_count === 0,
    onclick: () => {
      model.finished.delete(a.id);
      model.progress.set(a.id, { bytes: 0, total: a.bytes, at: performance.now(), speed: 0 });
      renderAlbums();
      kith.call("fetch", { target: a.id }).catch((e) => {
        model.progress.delete(a.id);
        model.finished.set(a.id, { ok: false, error: e });
        renderAlbums();
      });
    },
  });
  return h("li", { class: "card album", dataset: { id: a.id } },
    cardHead(a),
    h("div", { class: "muted", text: t("fromOwner", a.owner_name || shortId(a.owner)) }),
    h("div", { class: "muted", text: meta(a) }),
    linkButton(a),
    h("div", { class: "row wrap" }, fetchBtn, galleryButton(a), filesToggle(a)),
    p ? progressBar(p.bytes, p.total) : null,
    status,
    filesBox(a),
    commentsBox(a));
}

function mineCard(a) {
  const names = a.audience.map((id) => (model.friends.find((f) => f.id === id) || {}).name || shortId(id));
  const confirm = h("div", { class: "row", hidden: true },
    h("span", { class: "grow", text: t("unshareConfirm") }),
    h("button", { class: "danger", text: t("unshare"), onclick: () => kith.call("unshare", { album: a.id }).then(loadAlbums).catch((e) => alertIn(confirm, e)) }),
    h("button", { text: t("cancel"), onclick: () => (confirm.hidden = true) }));
  return h("li", { class: "card album", dataset: { id: a.id } },
    cardHead(a),
    h("div", { class: "muted", text: meta(a) }),
    h("div", { class: "muted ellipsis", text: t("sharedWith", names.join(", ") || t("nobody")) }),
    linkButton(a),
    h("div", { class: "row wrap" }, galleryButton(a), filesToggle(a), h("button", { class: "danger", text: t("unshare"), onclick: () => (confirm.hidden = false) })),
    confirm,
    filesBox(a),
    commentsBox(a));
}

function filesToggle(a) {
  if (!a.item_count) return null;
  const open = model.open.has(a.id);
  return h("button", {
    text: open ? t("hideFiles") : t("showFiles"),
    attrs: { "aria-expanded": String(open) },
    onclick: () => {
      if (open) model.open.delete(a.id);
      else model.open.add(a.id);
      model.files.delete(a.id);
      renderAlbums();
    },
  });
}

/** The album's files (first page), each with Open when a copy is here. */
function filesBox(a) {
  if (!model.open.has(a.id)) return null;
  const page = model.files.get(a.id);
  const ul = h("ul", { class: "list files" });
  if (!page) {
    ul.append(h("li", { class: "muted", text: t("loading") }));
    kith.call("album", { album: a.id, limit: 200 }).then(
      (p) => model.files.set(a.id, p),
      (e) => model.files.set(a.id, { error: e, items: [], item_count: 0 }),
    ).then(renderAlbums);
    return ul;
  }
  if (page.error) ul.append(h("li", { class: "error", text: errorText(page.error) }));
  const media = page.items.filter((i) => i.thumb || i.kind === "video");
  const grid = media.length
    ? h("div", { class: "grid mini" }, ...media.slice(0, 60).map((i) => tile(model.base, i, () => openGallery(a.id, i.id))))
    : null;
  for (const i of page.items) {
    ul.append(h("li", {},
      h("span", { class: "grow ellipsis file-name", text: i.name, attrs: { title: i.name } }),
      h("span", { class: "muted", text: bytes(i.size) }),
      i.path ? h("button", { text: t("open"), onclick: () => kith.call("open", { item: i.id }).catch((e) => alertIn(ul, e)) }) : null));
  }
  if (page.item_count > page.items.length) ul.append(h("li", { class: "muted", text: t("moreFiles", page.item_count - page.items.length) }));
  return h("div", { class: "album-files" }, grid, ul);
}

// ---- files dropped on the sidebar: a new album ----

document.addEventListener("dragover", (ev) => {
  if ($("ready").hidden || !ev.dataTransfer.types.includes("Files")) return;
  ev.preventDefault();
  document.body.classList.add("drag-over");
});
document.addEventListener("dragleave", () => document.body.classList.remove("drag-over"));
document.addEventListener("drop", (ev) => {
  document.body.classList.remove("drag-over");
  const files = [...(ev.dataTransfer.files || [])];
  if ($("ready").hidden || !files.length) return;
  ev.preventDefault();
  model.dropped = files;
  $("tab-mine").click();
  renderNewAlbum();
});

function renderNewAlbum() {
  const form = $("new-album");
  form.hidden = !model.dropped.length;
  if (form.hidden) return;
  const first = model.dropped[0].name;
  $("na-title").value = $("na-title").value || first.replace(/\.[^.]+$/, "");
  $("na-files").textContent = t("files", model.dropped.length) + " · " + bytes(model.dropped.reduce((n, f) => n + f.size, 0));
  $("na-friends").replaceChildren(...model.friends.map((f) =>
    h("label", { class: "row" }, h("input", { type: "checkbox", value: f.id, class: "na-friend" }), h("span", { class: "grow ellipsis", text: f.name }))));
  $("na-error").textContent = "";
}

$("na-cancel").addEventListener("click", () => {
  model.dropped = [];
  $("na-title").value = "";
  renderNewAlbum();
});

$("new-album").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const to = [...document.querySelectorAll(".na-friend:checked")].map((x) => x.value);
  if (!to.length) {
    $("na-error").textContent = t("pickSomeone");
    return;
  }
  const go = $("na-share");
  go.disabled = true;
  const bar = $("na-progress");
  bar.hidden = false;
  $("na-error").textContent = "";
  try {
    const paths = await uploadFiles(kith, model.dropped, (done, total) => {
      bar.max = Math.max(total, 1);
      bar.value = done;
    });
    const title = $("na-title").value.trim();
    const done = () => {
      model.dropped = [];
      $("na-title").value = "";
      renderNewAlbum();
      loadAlbums();
    };
    const share = (keep) => kith.call("share", { paths, to, title, keep_location: keep }).then(done);
    await share($("na-keep-location").checked).catch((e) => {
      const box = locationKeptBox(e, () => share(true).catch((e2) => ($("na-error").textContent = errorText(e2))),
        () => kith.call("upload_discard", { paths }).catch(() => {}));
      if (!box) throw e;
      $("na-error").append(box);
    });
  } catch (e) {
    $("na-error").textContent = errorText(e);
  } finally {
    go.disabled = false;
    bar.hidden = true;
  }
});

// ---- transfers ----

async function loadTransfers() {
  model.transfers = await kith.call("transfers").catch(() => model.transfers);
  renderTransfers();
}

function titleOf(target) {
  const a = model.albums.find((x) => x.id === target);
  return a ? a.title : shortId(target);
}

function renderTransfers() {
  const rows = model.transfers.map((x) => {
    const p = model.progress.get(x.target) || { bytes: x.bytes, total: x.total, speed: 0 };
    const state = x.paused ? t("paused") : x.running ? `${percent(p.bytes, p.total)}% · ${speed(p.speed)}` : t("waiting");
    const act = (cmd) => () => kith.call(cmd, { target: x.target }).then(loadTransfers).catch((e) => alertIn(li, e));
    const li = h("li", { class: "card transfer", dataset: { target: x.target } },
      h("div", { class: "row" }, h("span", { class: "grow ellipsis", text: x.title || titleOf(x.target) }), h("span", { class: "muted", text: state })),
      progressBar(p.bytes, p.total || 1),
      h("div", { class: "row" },
        h("span", { class: "muted grow", text: `${bytes(p.bytes)} / ${bytes(p.total)}` }),
        x.paused
          ? h("button", { text: t("resume"), onclick: act("transfer_resume") })
          : h("button", { text: t("pause"), onclick: act("transfer_pause") }),
        h("button", { class: "danger", text: t("cancel"), onclick: act("transfer_cancel") })));
    return li;
  });
  for (const [target, f] of model.finished) {
    if (!f.ok || model.transfers.some((x) => x.target === target)) continue;
    rows.push(h("li", { class: "card transfer done", dataset: { target } },
      h("div", { class: "row" }, h("span", { class: "grow ellipsis", text: titleOf(target) }), h("span", { class: "ok", text: t("fetched") })),
      h("div", { class: "muted mono", text: t("savedIn", (f.paths && f.paths[0]) || "") })));
  }
  $("transfer-list").replaceChildren(...(rows.length ? rows : [h("li", { class: "muted", text: t("noTransfers") })]));
}

// ---- download folder ----

async function loadSettings() {
  const s = await kith.call("settings").catch(() => null);
  if (s) $("download-dir").textContent = s.download_dir;
  const a = await kith.call("autostart").catch(() => null);
  if (a) $("autostart").checked = a.autostart !== null;
}

$("autostart").addEventListener("change", async (ev) => {
  $("autostart-error").textContent = "";
  try {
    const a = await kith.call("autostart", { enable: ev.target.checked });
    ev.target.checked = a.autostart !== null;
  } catch (e) {
    ev.target.checked = !ev.target.checked;
    $("autostart-error").textContent = errorText(e);
  }
});

$("change-dir").addEventListener("click", () => {
  $("dir-form").hidden = false;
  $("dir-input").value = $("download-dir").textContent;
  $("dir-input").focus();
});
$("dir-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("dir-error").textContent = "";
  try {
    const s = await kith.call("settings", { download_dir: $("dir-input").value.trim() });
    $("download-dir").textContent = s.download_dir;
    $("dir-form").hidden = true;
  } catch (e) {
    $("dir-error").textContent = errorText(e);
  }
});
