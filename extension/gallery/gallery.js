// The gallery tab: an album's thumbnails in a grid, a full-quality viewer (keys, swipe,
// slideshow, download original), comments on the album and under the viewer on each item, and
// files dropped on an album of mine added to it.

import { Kith, errorText } from "../shared/client.js";
import { h, t, localize, locationKeptBox } from "../shared/dom.js";
import { bytes, date } from "../shared/format.js";
import { renderConnection } from "../shared/panels.js";
import { gateway, resetGateway, gatewayUrl, tile, allItems, uploadFiles, thumbnailMyVideos } from "../shared/gallery.js";
import { CommentsPanel } from "../shared/comments.js";

const kith = new Kith();
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const albumId = (params.get("album") || "").toLowerCase();

const view = { base: "", album: null, items: [], index: -1, slideshow: null, loading: false };
/** The album's comments (below the grid), and each viewed item's (under the viewer), by item ID. */
const threads = { album: null, items: new Map(), names: new Map() };
/** The comment a notification asked to show (`?comment=`), until shown. */
let wantComment = (params.get("comment") || "").toLowerCase();

localize();

kith.onState((state) => {
  const ready = renderConnection($("connection"), state, kith);
  $("ready").hidden = !ready;
  if (ready) {
    resetGateway();
    load(params.get("item"));
    if (threads.album) threads.album.load();
    for (const panel of threads.items.values()) panel.load();
  }
});

kith.onEvent((e) => {
  if (e.event === "comment" && e.album === albumId) {
    if (threads.album) threads.album.handleEvent(e);
    const panel = e.comment && threads.items.get(e.comment.item);
    if (panel) panel.handleEvent(e);
    return;
  }
  if (e.event === "comment_failed" && e.album === albumId) {
    for (const panel of [threads.album, ...threads.items.values()]) if (panel) panel.handleEvent(e);
    return;
  }
  if ((e.event === "album_thumbs" && e.album === albumId) || (e.event === "album_received" && e.album && e.album.id === albumId)) {
    load();
  } else if (e.event === "album_removed" && e.id === albumId) {
    $("error").textContent = t("albumGone");
    $("grid").replaceChildren();
  } else if (e.event === "fetch_progress" && current() && e.id === current().id) {
    const p = $("v-progress");
    p.hidden = false;
    p.max = Math.max(e.total, 1);
    p.value = e.bytes;
    $("v-status").textContent = `${bytes(e.bytes)} / ${bytes(e.total)}`;
  } else if ((e.event === "fetch_done" || e.event === "fetch_failed") && current() && e.id === current().id) {
    $("v-progress").hidden = true;
    $("v-status").textContent = e.event === "fetch_failed" ? errorText(e.error) : "";
  }
});

function current() {
  return view.items[view.index] || null;
}

async function load(openItem) {
  if (!albumId || view.loading) return;
  view.loading = true;
  try {
    view.base = await gateway(kith);
    const { album, items } = await allItems(kith, albumId);
    view.album = album;
    view.items = items;
    document.title = `${album.title} — Kith`;
    $("title").textContent = album.title;
    $("meta").textContent = [album.mine ? t("byMe") : t("fromOwner", album.owner_name || ""), t("files", album.item_count), bytes(album.bytes), date(album.created)].join(" · ");
    renderGrid();
    $("drop").hidden = !album.mine;
    albumComments();
    if (openItem) {
      const i = items.findIndex((x) => x.id === openItem);
      if (i >= 0) openViewer(i);
    } else if (wantComment) {
      threads.album.highlight(wantComment);
      wantComment = "";
    }
    if (album.mine) thumbnailMyVideos(kith, view.base, items).then((made) => made && load());
  } catch (e) {
    $("error").textContent = errorText(e);
  } finally {
    view.loading = false;
  }
}

/** The album's thread below the grid (opening the gallery marks the album read). */
function albumComments() {
  threads.names.clear();
  for (const i of view.items) threads.names.set(i.id, i.name.split("/").pop());
  if (!threads.album) {
    threads.album = new CommentsPanel(kith, {
      album: albumId,
      owner: view.album.mine,
      names: threads.names,
      onItem: (item, comment) => {
        const i = view.items.findIndex((x) => x.id === item);
        if (i < 0) return;
        wantComment = comment;
        openViewer(i);
      },
    });
    $("album-thread").replaceChildren(threads.album.el);
    threads.album.load();
  }
  threads.album.owner = view.album.mine;
  threads.album.render();
}

/** The viewed item's thread under the viewer (kept while the tab is open: drafts stay). */
function itemComments(item) {
  let panel = threads.items.get(item.id);
  if (!panel) {
    panel = new CommentsPanel(kith, { album: albumId, item: item.id, owner: view.album.mine });
    threads.items.set(item.id, panel);
    panel.load();
  }
  panel.owner = view.album.mine;
  panel.render();
  if (wantComment) {
    panel.highlight(wantComment);
    wantComment = "";
  }
  $("v-comments").replaceChildren(panel.el);
}

function renderGrid() {
  const frag = document.createDocumentFragment();
  view.items.forEach((item, i) => {
    const el = tile(view.base, item, () => openViewer(i));
    el.setAttribute("role", "listitem");
    frag.append(el);
  });
  $("grid").replaceChildren(frag);
}

// ---- viewer ----

function openViewer(i) {
  view.index = i;
  $("viewer").hidden = false;
  show();
  $("v-close").focus();
}

function closeViewer() {
  stopSlideshow();
  $("viewer").hidden = true;
  $("v-stage").replaceChildren();
  $("v-comments").replaceChildren();
  const tileEl = document.querySelector(`.tile[data-id="${CSS.escape((current() || {}).id || "")}"]`);
  view.index = -1;
  if (tileEl) tileEl.focus();
}

function show() {
  const item = current();
  if (!item) return;
  const url = gatewayUrl(view.base, "item", item.id);
  const name = item.name.split("/").pop();
  $("v-name").textContent = name;
  $("v-count").textContent = t("itemOf", view.index + 1, view.items.length);
  $("v-progress").hidden = true;
  const here = view.album.mine || Boolean(item.path);
  $("v-status").textContent = here ? "" : t("loadingFull");
  let media;
  if (item.kind === "image") {
    media = h("img", { id: "v-media", alt: name, src: url });
    media.addEventListener("load", () => ($("v-status").textContent = ""), { once: true });
    media.addEventListener("error", () => ($("v-status").textContent = t("cannotShow")), { once: true });
  } else if (item.kind === "video" || item.kind === "audio") {
    media = h(item.kind, { id: "v-media", controls: true, autoplay: true, preload: "auto", src: url });
    media.addEventListener("ended", () => view.slideshow && step(1));
  } else {
    media = h("div", { class: "card stack" },
      h("p", { text: name }),
      h("p", { class: "muted", text: bytes(item.size) }));
  }
  $("v-stage").replaceChildren(media);
  itemComments(item);
  $("v-prev").disabled = view.index === 0;
  $("v-next").disabled = view.index === view.items.length - 1;
}

function step(d) {
  const next = view.index + d;
  if (next < 0 || next >= view.items.length) {
    if (view.slideshow && d > 0) stopSlideshow();
    return;
  }
  view.index = next;
  show();
}

/** A file name safe to offer the downloads API: the last part, no separators or leading dots. */
function safeFileName(name) {
  const base = [...name.split("/").pop()]
    .map((c) => (c.charCodeAt(0) < 32 || '\\/:*?"<>|'.includes(c) ? "_" : c))
    .join("")
    .replace(/^[.\s]+/, "");
  return base.slice(0, 200) || "kith-file";
}

function download() {
  const item = current();
  if (!item) return;
  browser.downloads
    .download({ url: gatewayUrl(view.base, "item", item.id), filename: safeFileName(item.name), saveAs: true })
    .catch((e) => ($("v-status").textContent = errorText(e)));
}

function startSlideshow() {
  if (view.index < 0) openViewer(0);
  view.slideshow = setInterval(() => {
    const m = $("v-media");
    if (m && (m.tagName === "VIDEO" || m.tagName === "AUDIO") && !m.ended) return; // plays to its end
    step(1);
  }, 4000);
  for (const b of [$("slideshow"), $("v-slideshow")]) b.textContent = t("stopSlideshow");
}

function stopSlideshow() {
  clearInterval(view.slideshow);
  view.slideshow = null;
  for (const b of [$("slideshow"), $("v-slideshow")]) b.textContent = t("slideshow");
}

function toggleSlideshow() {
  if (view.slideshow) stopSlideshow();
  else if (view.items.length) startSlideshow();
}

$("v-prev").addEventListener("click", () => step(-1));
$("v-next").addEventListener("click", () => step(1));
$("v-close").addEventListener("click", closeViewer);
$("v-download").addEventListener("click", download);
$("v-slideshow").addEventListener("click", toggleSlideshow);
$("slideshow").addEventListener("click", toggleSlideshow);

document.addEventListener("keydown", (ev) => {
  if ($("viewer").hidden || ev.defaultPrevented) return;
  // Keys typed in the comment box stay there (Escape still closes the viewer).
  if (ev.target.closest && ev.target.closest("textarea, input") && ev.key !== "Escape") return;
  const k = { ArrowLeft: () => step(-1), ArrowRight: () => step(1), Escape: closeViewer }[ev.key];
  if (k) {
    ev.preventDefault();
    k();
  }
});

// Swipe left or right on the picture.
let swipeX = null;
$("v-stage").addEventListener("pointerdown", (ev) => (swipeX = ev.clientX));
$("v-stage").addEventListener("pointerup", (ev) => {
  if (swipeX === null) return;
  const dx = ev.clientX - swipeX;
  swipeX = null;
  if (Math.abs(dx) > 50) step(dx < 0 ? 1 : -1);
});

// ---- files dropped on an album of mine ----

document.addEventListener("dragover", (ev) => {
  if (!view.album || !view.album.mine) return;
  ev.preventDefault();
  $("drop").classList.add("over");
});
document.addEventListener("dragleave", () => $("drop").classList.remove("over"));
document.addEventListener("drop", async (ev) => {
  if (!view.album || !view.album.mine) return;
  ev.preventDefault();
  $("drop").classList.remove("over");
  const files = [...(ev.dataTransfer.files || [])];
  if (!files.length) return;
  const bar = $("drop-progress");
  bar.hidden = false;
  $("drop-status").textContent = t("uploading");
  try {
    const paths = await uploadFiles(kith, files, (done, total) => {
      bar.max = Math.max(total, 1);
      bar.value = done;
    });
    const add = (keep) => kith.call("share", { paths, album: albumId, keep_location: keep }).then(() => {
      $("drop-status").textContent = t("added", files.length);
      load();
    });
    await add(false).catch((e) => {
      const box = locationKeptBox(e, () => add(true).catch((e2) => ($("drop-status").textContent = errorText(e2))),
        () => kith.call("upload_discard", { paths }).catch(() => {}));
      if (!box) throw e;
      $("drop-status").textContent = "";
      $("drop-status").append(box);
    });
  } catch (e) {
    $("drop-status").textContent = errorText(e);
  } finally {
    bar.hidden = true;
  }
});
