// "Share with friends": what was right-clicked becomes files in the Kith home (streamed to the
// node in bounded pieces) and an album for the chosen friends.

/** Bytes per upload piece: well under the host's 8 MiB frame limit once in base64. */
const PIECE = 512 * 1024;
const MIME_EXT = {
  "image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp",
  "image/avif": ".avif", "image/svg+xml": ".svg", "video/webm": ".webm", "video/mp4": ".mp4",
  "audio/mpeg": ".mp3", "audio/ogg": ".ogg", "application/pdf": ".pdf", "text/plain": ".txt",
};

/** What a context-menu click asks to share, kept until the dialog answers. */
export function describe(info, tab, preview) {
  const page = { url: info.pageUrl || (tab && tab.url) || "", title: (tab && tab.title) || "" };
  if (info.srcUrl && ["image", "video", "audio"].includes(info.mediaType)) {
    return { kind: info.mediaType, url: info.srcUrl, page, title: page.title };
  }
  if (info.linkUrl) {
    return { kind: "link", url: info.linkUrl, page, title: (info.linkText || "").trim() || info.linkUrl };
  }
  if (info.selectionText) {
    return { kind: "selection", text: info.selectionText, page, title: page.title };
  }
  return { kind: "page", url: page.url, page, title: page.title, preview };
}

function isWeb(url) {
  try {
    const u = new URL(url);
    return u.protocol === "http:" || u.protocol === "https:";
  } catch {
    return false;
  }
}

function base64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** A file name for a download: from Content-Disposition, else the URL, with an extension. */
function fileName(url, response, fallback) {
  let name = "";
  const cd = response.headers.get("content-disposition") || "";
  const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd);
  if (m) {
    try {
      name = decodeURIComponent(m[1]);
    } catch {
      name = m[1];
    }
  }
  if (!name) {
    try {
      name = decodeURIComponent(new URL(url).pathname.split("/").pop() || "");
    } catch {
      name = "";
    }
  }
  name = name.trim() || fallback;
  const type = (response.headers.get("content-type") || "").split(";")[0].trim().toLowerCase();
  if (!/\.[A-Za-z0-9]{1,5}$/.test(name) && MIME_EXT[type]) name += MIME_EXT[type];
  return name;
}

/** Streams bytes to the node as an upload; returns the kept file's path. */
async function upload(host, name, size, chunks, onProgress) {
  const { upload: id } = await host.call({ cmd: "upload_begin", name, size: size ?? undefined });
  let sent = 0;
  try {
    let buf = new Uint8Array(PIECE);
    let fill = 0;
    const flush = async () => {
      if (fill === 0) return;
      await host.call({ cmd: "upload_chunk", upload: id, data: base64(buf.subarray(0, fill)) });
      sent += fill;
      fill = 0;
      onProgress(sent, size);
    };
    for await (const chunk of chunks) {
      let off = 0;
      while (off < chunk.length) {
        const n = Math.min(PIECE - fill, chunk.length - off);
        buf.set(chunk.subarray(off, off + n), fill);
        fill += n;
        off += n;
        if (fill === PIECE) await flush();
      }
    }
    await flush();
    const done = await host.call({ cmd: "upload_end", upload: id });
    return done.path;
  } catch (e) {
    host.call({ cmd: "upload_abort", upload: id }).catch(() => {});
    throw e;
  }
}

async function* readAll(body) {
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    yield value;
  }
}

async function* once(bytes) {
  yield bytes;
}

/**
 * Where a right-clicked link leads, for the dialog to show before anything is shared: the
 * address after redirects, its type and size, and whether it is a web page (shared as a link)
 * or a file (downloaded with the browser's sign-ins and shared). Only the headers are read.
 */
export async function resolveLink(url) {
  if (!isWeb(url)) return { url, ok: false };
  try {
    const response = await fetch(url, { credentials: "include" });
    response.body?.cancel();
    const type = (response.headers.get("content-type") || "").toLowerCase();
    const len = Number(response.headers.get("content-length"));
    const size = Number.isFinite(len) && len > 0 && !response.headers.get("content-encoding") ? len : null;
    const page = !response.ok || type.startsWith("text/html");
    return { url: response.url || url, ok: response.ok, type: type.split(";")[0].trim(), size, page };
  } catch {
    return { url, ok: false };
  }
}

/** Fetches a URL in the browser (with the user's cookies) and uploads it. */
async function uploadUrl(host, url, fallbackName, onProgress) {
  const response = await fetch(url, { credentials: "include" });
  if (!response.ok) throw { code: "io", message: browser.i18n.getMessage("errHttp", [url, String(response.status)]) };
  const len = Number(response.headers.get("content-length"));
  const size = Number.isFinite(len) && len > 0 && !response.headers.get("content-encoding") ? len : null;
  const name = fileName(url, response, fallbackName);
  return upload(host, name, size, readAll(response.body), onProgress);
}

/**
 * Does the share a dialog confirmed; reports progress; resolves with the node's reply. The
 * files are uploaded once per request: sharing again after a refusal (`location_kept`) reuses
 * them rather than keeping a second copy.
 */
export async function runShare(host, req, to, title, onProgress, keepLocation = false) {
  req.uploaded ??= await uploadFor(host, req, onProgress);
  const { paths, link } = req.uploaded;
  return host.call({ cmd: "share", paths, to, title: title || undefined, link: link || undefined, keep_location: keepLocation });
}

/** Streams what a share request names to the node; the uploaded paths and the page's link. */
async function uploadFor(host, req, onProgress) {
  const paths = [];
  let link = null;
  const page = req.page && isWeb(req.page.url) ? req.page.url : null;
  if (req.kind === "image" || req.kind === "video" || req.kind === "audio") {
    if (!/^(https?|data|blob):/i.test(req.url)) throw { code: "bad_request", message: browser.i18n.getMessage("errCannotFetch") };
    paths.push(await uploadUrl(host, req.url, req.kind, onProgress));
    link = page;
  } else if (req.kind === "link") {
    if (!isWeb(req.url)) throw { code: "bad_request", message: browser.i18n.getMessage("errOnlyWebLinks") };
    const response = await fetch(req.url, { credentials: "include" });
    const type = (response.headers.get("content-type") || "").toLowerCase();
    if (!response.ok || type.startsWith("text/html")) {
      response.body?.cancel();
      link = req.url; // a web page: shared as a link card
    } else {
      const len = Number(response.headers.get("content-length"));
      const size = Number.isFinite(len) && len > 0 && !response.headers.get("content-encoding") ? len : null;
      paths.push(await upload(host, fileName(req.url, response, "file"), size, readAll(response.body), onProgress));
      link = page;
    }
  } else if (req.kind === "selection") {
    const bytes = new TextEncoder().encode(req.text);
    paths.push(await upload(host, "quote.txt", bytes.length, once(bytes), onProgress));
    link = page;
  } else {
    if (!page) throw { code: "bad_request", message: browser.i18n.getMessage("errOnlyWebPages") };
    link = page;
    if (req.preview) {
      const bytes = new Uint8Array(await (await fetch(req.preview)).arrayBuffer());
      paths.push(await upload(host, "preview.jpg", bytes.length, once(bytes), onProgress));
    }
  }
  return { paths, link };
}
