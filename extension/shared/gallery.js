// Gallery pieces the sidebar and the gallery tab share: thumbnail tiles from the node's
// loopback gateway, uploads of dropped files, and video thumbnails made in the browser.

import { h, t } from "./dom.js";

let gatewayBase = null;

/** The gateway's base URL ("http://127.0.0.1:PORT/TOKEN/"), asked of the node once. */
export async function gateway(kith) {
  if (!gatewayBase) {
    const s = await kith.call("status");
    gatewayBase = typeof s.gateway === "string" && s.gateway.startsWith("http://127.0.0.1:") ? s.gateway : "";
  }
  return gatewayBase;
}

/** Forgets the gateway's address (it changes when the node restarts). */
export function resetGateway() {
  gatewayBase = null;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** The gateway URL of a thumbnail or item (IDs are checked to be hashes). */
export function gatewayUrl(base, kind, id) {
  return base && HEX64.test(id) ? `${base}${kind}/${id}` : "";
}

/** A tile for one item: its thumbnail, or a placeholder naming its kind. */
export function tile(base, item, onOpen) {
  const kind = ["image", "video", "audio"].includes(item.kind) ? item.kind : "file";
  const src = item.thumb ? gatewayUrl(base, "thumb", item.thumb) : "";
  const label = item.name.split("/").pop();
  const inner = src
    ? h("img", { src, alt: label, loading: "lazy", decoding: "async", draggable: false })
    : h("span", { class: "placeholder", text: t(`kind_${kind}`) });
  if (src) inner.addEventListener("error", () => inner.replaceWith(h("span", { class: "placeholder", text: t(`kind_${kind}`) })), { once: true });
  return h("button", {
    class: `tile ${kind}`,
    title: label,
    dataset: { id: item.id },
    attrs: { "aria-label": label },
    onclick: onOpen,
  }, inner, kind === "video" ? h("span", { class: "play", attrs: { "aria-hidden": "true" }, text: "▶" }) : null);
}

/** Every item of an album, page by page (500 a page). */
export async function allItems(kith, album) {
  let items = [];
  let page;
  do {
    page = await kith.call("album", { album, offset: items.length, limit: 500 });
    items = items.concat(page.items);
  } while (page.items.length && items.length < page.item_count);
  return { album: page, items };
}

/** Base64 of bytes, in slices (no giant argument lists). */
function base64(buf) {
  const bytes = new Uint8Array(buf);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Piece size of uploads: replies stay small, requests well under the host's limit. */
const PIECE = 512 * 1024;

/**
 * Streams dropped files to the node (kept in its uploads folder) and returns their paths.
 * `progress(done, total)` is called as bytes go.
 */
export async function uploadFiles(kith, files, progress) {
  const total = files.reduce((n, f) => n + f.size, 0);
  let done = 0;
  const paths = [];
  for (const file of files) {
    const { upload } = await kith.call("upload_begin", { name: file.name || "file", size: file.size });
    try {
      for (let at = 0; at < file.size; at += PIECE) {
        const piece = await file.slice(at, at + PIECE).arrayBuffer();
        await kith.call("upload_chunk", { upload, data: base64(piece) });
        done += piece.byteLength;
        progress(done, total);
      }
      const r = await kith.call("upload_end", { upload });
      paths.push(r.path);
    } catch (e) {
      kith.call("upload_abort", { upload }).catch(() => {});
      throw e;
    }
  }
  return paths;
}

/**
 * Makes a thumbnail of a video from the gateway: a frame a third of the way in (at most 2 s),
 * at most 320 px, as base64 JPEG, with the video's length in ms.
 */
export function videoThumb(url) {
  return new Promise((resolve, reject) => {
    const v = document.createElement("video");
    v.muted = true;
    v.preload = "auto";
    v.crossOrigin = "anonymous";
    const fail = () => {
      v.removeAttribute("src");
      reject(new Error("video"));
    };
    const timer = setTimeout(fail, 20000);
    v.addEventListener("error", fail, { once: true });
    v.addEventListener("loadedmetadata", () => {
      v.currentTime = Math.min(2, (v.duration || 0) / 3);
    }, { once: true });
    v.addEventListener("seeked", () => {
      clearTimeout(timer);
      const scale = Math.min(1, 320 / Math.max(v.videoWidth, v.videoHeight, 1));
      const c = document.createElement("canvas");
      c.width = Math.max(1, Math.round(v.videoWidth * scale));
      c.height = Math.max(1, Math.round(v.videoHeight * scale));
      c.getContext("2d").drawImage(v, 0, 0, c.width, c.height);
      const data = c.toDataURL("image/jpeg", 0.8).split(",")[1];
      const duration = Number.isFinite(v.duration) ? Math.round(v.duration * 1000) : null;
      v.removeAttribute("src");
      v.load();
      resolve({ data, duration_ms: duration });
    }, { once: true });
    v.src = url;
  });
}

/** Gives thumbnails to my videos that have none (one at a time); returns how many got one. */
export async function thumbnailMyVideos(kith, base, items) {
  let made = 0;
  for (const i of items) {
    if (i.kind !== "video" || i.thumb || tried.has(i.id)) continue;
    tried.add(i.id);
    try {
      const th = await videoThumb(gatewayUrl(base, "item", i.id));
      await kith.call("thumb_set", { item: i.id, data: th.data, duration_ms: th.duration_ms });
      made++;
    } catch {
      // A video the browser cannot decode keeps its placeholder.
    }
  }
  return made;
}

/** Videos already tried this session. */
const tried = new Set();
