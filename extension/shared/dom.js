// DOM building and localisation. Text from peers only ever goes in through textContent.

/** A localised string from _locales (the key itself when missing). */
export function t(key, ...subs) {
  return browser.i18n.getMessage(key, subs.map(String)) || key;
}

/**
 * Builds an element: h("button", {class: "x", text: "Go", onclick: fn, attrs: {...}}, child...).
 * `text` sets textContent; children are nodes or strings (added as text nodes).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") el.textContent = String(v);
    else if (k === "class") el.className = v;
    else if (k === "attrs") for (const [a, av] of Object.entries(v)) el.setAttribute(a, String(av));
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el[k] = v;
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return el;
}

/**
 * For a `location_kept` error: a box listing each file whose location Kith cannot remove, with
 * "Share with the location" (calls `onShare`) and "Cancel" (removes the box and calls
 * `onCancel`, which lets the node delete the uploaded copies). Null otherwise.
 */
export function locationKeptBox(e, onShare, onCancel = () => {}) {
  if (!e || e.code !== "location_kept" || !Array.isArray(e.location_kept)) return null;
  const box = h("div", { class: "location-kept", attrs: { role: "alert" } });
  box.append(
    h("p", { text: t("locationKept") }),
    h("ul", {}, e.location_kept.map((f) => h("li", { text: t("locationKeptItem", String(f.name || f.path || ""), String(f.reason || "")) }))),
    h("div", { class: "row" },
      h("button", { type: "button", text: t("shareWithLocation"), onclick: () => { box.remove(); onShare(); } }),
      h("button", { type: "button", text: t("cancel"), onclick: () => { box.remove(); onCancel(); } })),
  );
  return box;
}

/** Fills [data-i18n], [data-i18n-placeholder], [data-i18n-title] and [data-i18n-label] from _locales. */
export function localize(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  document.documentElement.lang = browser.i18n.getUILanguage();
}

/** Shows or hides an element. */
export function show(el, visible) {
  el.hidden = !visible;
}

/** A progress bar element for `done` of `total`. */
export function progressBar(done, total) {
  const p = h("progress", { max: Math.max(total, 1), value: Math.min(done, total) });
  p.setAttribute("aria-label", t("progress"));
  return p;
}

/** Whether a URL is one we may open for the user: http or https only. */
export function safeLink(url) {
  try {
    const u = new URL(url);
    return u.protocol === "http:" || u.protocol === "https:";
  } catch {
    return false;
  }
}

/** Draws QR rows ("0101…") on a canvas, with a quiet zone. */
export function drawQr(canvas, rows, scale = 4) {
  const n = rows.length;
  const quiet = 4;
  canvas.width = canvas.height = (n + quiet * 2) * scale;
  const g = canvas.getContext("2d");
  g.fillStyle = "#fff";
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.fillStyle = "#000";
  rows.forEach((row, y) => {
    for (let x = 0; x < row.length; x++) {
      if (row[x] === "1") g.fillRect((x + quiet) * scale, (y + quiet) * scale, scale, scale);
    }
  });
}
