// The gallery tab: an album's thumbnails in a grid, a full-quality viewer (keys, swipe,
// slideshow, download original), and files dropped on an album of mine added to it.

import { Kith, errorText } from "../shared/client.js";
import { h, t, localize } from "../shared/dom.js";
import { bytes, date } from "../shared/format.js";
import { renderConnection } from "../shared/panels.js";
import { gateway, resetGateway, gatewayUrl, tile, allItems, uploadFiles, thumbnailMyVideos } from "../shared/gallery.js";

const kith = new Kith();
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const albumId = (params.get("album") || "").toLowerCase();

const view = { base: "", album: null, items: [], index: -1, slideshow: null, loading: false };

localize();

kith.onState((state) => {
  const ready = renderConnection($("connection"), state, kith);
  $("ready").hidden = !ready;
  if (ready) {
    resetGateway();
    load(params.get("item"));
  }
});

kith.onEvent((e) => {
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
    if (openItem) {
      const i = items.findIndex((x) => x.id === openItem);
      if (i >= 0) openViewer(i);
    }
    if (album.mine) thumbnailMyVideos(kith, view.base, items).then((made) => made && load());
  } catch (e) {
    $("error").textContent = errorText(e);
  } finally {
    view.loading = false;
  }
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
  if ($("viewer").hidden) return;
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
    await kith.call("share", { paths, album: albumId });
    $("drop-status").textContent = t("added", files.length);
    load();
  } catch (e) {
    $("drop-status").textContent = errorText(e);
  } finally {
    bar.hidden = true;
  }
});
