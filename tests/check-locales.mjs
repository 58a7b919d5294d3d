// Checks that every string key the add-on uses exists in _locales/en/messages.json, and that
// every key there is used. Run by `npm run lint`.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const root = new URL("../extension/", import.meta.url).pathname;
const messages = JSON.parse(readFileSync(join(root, "_locales/en/messages.json"), "utf8"));
const used = new Set();
const patterns = [/\bt\("([A-Za-z_]+)"/g, /getMessage\("([A-Za-z_]+)"/g, /data-i18n(?:-[a-z]+)?="([A-Za-z_]+)"/g, /__MSG_([A-Za-z_]+)__/g];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== "_locales") walk(p);
    } else if (/\.(js|html|json)$/.test(name)) {
      const text = readFileSync(p, "utf8");
      for (const re of patterns) for (const m of text.matchAll(re)) used.add(m[1]);
    }
  }
}
walk(root);
// Keys built at run time: `kind_${kind}` in share/share.js and shared/gallery.js.
for (const kind of ["image", "video", "audio", "file", "link", "selection", "page"]) used.add(`kind_${kind}`);
const missing = [...used].filter((k) => !(k in messages));
const unused = Object.keys(messages).filter((k) => !used.has(k));
if (missing.length || unused.length) {
  if (missing.length) console.error(`missing from messages.json: ${missing.join(", ")}`);
  if (unused.length) console.error(`unused in messages.json: ${unused.join(", ")}`);
  process.exit(1);
}
console.log(`locales: ${used.size} keys, all present and used`);
