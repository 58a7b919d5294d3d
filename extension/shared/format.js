// Number, size and time formatting for the UI.

const UNITS = ["B", "KB", "MB", "GB", "TB"];

/** "1.5 MB" for bytes. */
export function bytes(n) {
  let v = Number(n) || 0;
  let i = 0;
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${UNITS[i]}`;
}

/** "12 MB/s" for bytes per second. */
export function speed(bps) {
  return `${bytes(bps)}/s`;
}

/** A locale date and time for Unix seconds. */
export function date(secs) {
  return new Date(secs * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** "3 min ago" for Unix seconds. */
export function ago(secs) {
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  const d = secs - Date.now() / 1000;
  const steps = [[60, "second"], [60, "minute"], [24, "hour"], [7, "day"], [4.35, "week"], [12, "month"], [Infinity, "year"]];
  let v = d;
  for (const [size, unit] of steps) {
    if (Math.abs(v) < size) return rtf.format(Math.round(v), unit);
    v /= size;
  }
  return "";
}

/** The first characters of a peer ID, grouped for reading. */
export function shortId(id) {
  return String(id || "").slice(0, 12);
}

/** Percent of done in total, whole number. */
export function percent(done, total) {
  return total > 0 ? Math.floor((100 * done) / total) : 0;
}

/** "2 min. ago" for Unix milliseconds; a time ahead of this clock (the author's) counts as now. */
export function agoMs(ms) {
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto", style: "short" });
  let v = Math.min(0, (Number(ms) - Date.now()) / 1000);
  if (!Number.isFinite(v) || v > -45) return rtf.format(0, "second");
  const steps = [[60, "second"], [60, "minute"], [24, "hour"], [7, "day"], [4.35, "week"], [12, "month"], [Infinity, "year"]];
  for (const [size, unit] of steps) {
    if (Math.abs(v) < size) return rtf.format(Math.round(v), unit);
    v /= size;
  }
  return "";
}

/** A locale date and time for Unix milliseconds ("" when not a time). */
export function dateMs(ms) {
  return Number.isFinite(Number(ms)) ? date(Number(ms) / 1000) : "";
}
