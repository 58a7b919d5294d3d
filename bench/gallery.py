#!/usr/bin/env python3
"""Times the add-on's gallery in a real headless Firefox, with two real nodes (me and Grandma):

1. a friend's album of N photos (JPEG 1600x1200, made with ffmpeg): from `driver.get` of the
   gallery tab to every thumbnail in the viewport loaded (`complete && naturalWidth > 0`), the
   first open (browser cache cold, thumbnails already on my node) and a second open (cached);
2. a 1 GiB WebM not yet downloaded: from `driver.get` of the viewer on it (played muted) to its
   first frame presented (`requestVideoFrameCallback`, where there is one) and to
   `readyState >= 2 && currentTime > 0`, while the fetch is still running (no rate limit); then,
   for comparison, the same once the file is complete on my node;
3. the peak RSS (VmHWM) of both nodes after each part, and my node's RSS while it serves the video.

Usage: python3 bench/gallery.py [--photos N] [--no-video]
Needs ./tests/browser/setup.sh (firefox, geckodriver, selenium), ffmpeg, and a built kith:
KITH_BIN if set, else target/release/kith (built here with `cargo build --release` if missing).
"""

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if "KITH_BIN" not in os.environ:
    # conftest reads KITH_BIN when imported: the release build unless told otherwise.
    os.environ["KITH_BIN"] = str(ROOT / "target" / "release" / "kith")
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from conftest import KITH, World, wait_for  # noqa: E402

WINDOW = (1366, 768)
GIB = 1 << 30

# Polls (every animation frame and every 10 ms) until every grid thumbnail in the viewport is
# loaded; answers with performance.now() then (ms since the navigation started).
VISIBLE_THUMBS = """
const [want, done] = [arguments[0], arguments[arguments.length - 1]];
let first = true, timer;
function check() {
  const imgs = [...document.querySelectorAll("#grid .tile img")];
  if (imgs.length < want) return false;
  const vh = innerHeight, vw = innerWidth;
  const seen = imgs.filter((i) => { const r = i.getBoundingClientRect();
    return r.bottom > 0 && r.right > 0 && r.top < vh && r.left < vw; });
  if (!seen.length || !seen.every((i) => i.complete && i.naturalWidth > 0)) return false;
  return { ms: performance.now(), visible: seen.length, tiles: imgs.length, already: first,
           thumbWidth: seen[0].naturalWidth };
}
function poll() {
  const r = check();
  first = false;
  if (r) { clearInterval(timer); done(r); return true; }
  return false;
}
function frame() { if (!poll()) requestAnimationFrame(frame); }
if (!poll()) { timer = setInterval(poll, 10); requestAnimationFrame(frame); }
"""

# Waits for the viewer's <video>, plays it muted, and answers at its first frame.
FIRST_FRAME = """
const done = arguments[arguments.length - 1];
const out = { player: null, play: null, frame: null, rvfc: null, hasRvfc: null };
let started = false, timer;
function finish() { clearInterval(timer); done(out); }
function poll() {
  const v = document.getElementById("v-media");
  if (!v || v.tagName !== "VIDEO") return;
  if (!started) {
    started = true;
    out.player = performance.now();
    v.muted = true;
    out.hasRvfc = typeof v.requestVideoFrameCallback === "function";
    if (out.hasRvfc) v.requestVideoFrameCallback(() => { out.rvfc = performance.now(); });
    v.play().then(() => { out.play = performance.now(); }).catch((e) => { out.error = String(e); });
  }
  if (out.frame === null && v.readyState >= 2 && v.currentTime > 0) {
    out.frame = performance.now();
    out.readyState = v.readyState; out.currentTime = v.currentTime;
  }
  if (out.frame !== null && (out.rvfc !== null || !out.hasRvfc)) finish();
}
timer = setInterval(poll, 10);
poll();
"""


def nav_offset_ms(d, epoch):
    """Milliseconds from `epoch` (time.time() just before driver.get) to the page's navigation start."""
    return d.execute_script("return performance.timeOrigin;") - epoch * 1000


def rss_kib(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def run(cmd, timeout):
    subprocess.run(cmd, check=True, timeout=timeout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_photos(folder, count):
    """`count` different JPEGs of 1600x1200 (a moving test picture with fresh noise in each)."""
    folder.mkdir()
    run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=1600x1200:rate=25",
         "-vf", "noise=alls=12:allf=t", "-frames:v", str(count), "-q:v", "3",
         str(folder / "IMG_%04d.jpg")], timeout=600)
    files = sorted(folder.iterdir())
    assert len(files) == count, f"ffmpeg made {len(files)} photos, not {count}"
    return sum(f.stat().st_size for f in files)


def make_video(folder, work):
    """A WebM of at least 1 GiB: 10 s of noisy 720p at 40 Mbit/s, looped without re-encoding."""
    folder.mkdir()
    clip = work / "clip.webm"
    run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=duration=10:size=1280x720:rate=25",
         "-vf", "noise=alls=30:allf=t", "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8",
         "-b:v", "40M", "-minrate", "40M", "-maxrate", "40M", "-an", str(clip)], timeout=300)
    big = folder / "big.webm"
    loops = math.ceil(GIB / clip.stat().st_size) - 1
    while True:
        run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-stream_loop", str(loops), "-i", str(clip),
             "-c", "copy", str(big)], timeout=300)
        if big.stat().st_size >= GIB:
            break
        loops += 1
    clip.unlink()
    return big, loops + 1


class RssSampler(threading.Thread):
    """Samples VmRSS of a process every 20 ms; `peak` is the largest seen."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.samples, self.stop = pid, 0, 0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                self.peak = max(self.peak, rss_kib(self.pid, "VmRSS"))
                self.samples += 1
            except OSError:
                return
            time.sleep(0.02)


def album_items(home, album):
    items, offset = [], 0
    while True:
        r = home.json("album", album, "--offset", str(offset), "--limit", "1000")
        items += r["items"]
        offset += len(r["items"])
        if not r["items"] or offset >= r["item_count"]:
            return items


def gateway_get(base, kind, hid):
    """GETs `thumb/HASH` or `item/ID` from a gateway; returns the status."""
    port = base.split("/")[2].split(":")[1]
    req = urllib.request.Request(f"{base}{kind}/{hid}", headers={"Host": f"127.0.0.1:{port}"})
    try:
        with urllib.request.urlopen(req, timeout=40) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def photos_part(w, count, out):
    d = w.driver
    src = w.tmp / "Grandma's photos"
    t = time.monotonic()
    size = make_photos(src, count)
    print(f"photos: {count} JPEGs of 1600x1200, {size / 1e6:.1f} MB, made in {time.monotonic() - t:.1f} s")
    t = time.monotonic()
    w.friend.run("share", str(src), "--title", "Photos", timeout=600)
    print(f"Grandma's kith share: {time.monotonic() - t:.1f} s")
    album = wait_for(lambda: [a["id"] for a in w.me.json("albums") if a["title"] == "Photos"],
                     timeout=120, what="the album reaching me")[0]
    items = wait_for(lambda: (lambda it: len(it) == count and all(i.get("thumb") for i in it) and it)(
        album_items(w.me, album)), timeout=300, interval=0.5, what="all thumbnails listed on my node")
    time.sleep(1.0)
    base = w.me.json("status")["gateway"]
    t = time.monotonic()
    bad = [i["name"] for i in items if gateway_get(base, "thumb", i["thumb"]) != 200]
    assert not bad, f"thumbnails the gateway does not serve: {bad[:5]}"
    print(f"on my node after {time.monotonic() - t:.2f} s of checks: the album, {count} items, all "
          f"{count} thumbnails served by my gateway (200)")
    url = w.page(f"gallery/gallery.html?album={album}")
    for run_name in ("first open", "second open (cached)"):
        d.get("about:blank")
        t0, e0 = time.monotonic(), time.time()
        d.get(url)
        loaded = time.monotonic() - t0
        r = d.execute_async_script(VISIBLE_THUMBS, count)
        wall = time.monotonic() - t0
        nav = d.execute_script("const n = performance.getEntriesByType('navigation')[0];"
                               "return n ? n.loadEventEnd : null;")
        off = nav_offset_ms(d, e0)
        out[f"thumbs {run_name}"] = (off + r["ms"]) / 1000
        out["visible thumbs"] = r["visible"]
        print(f"gallery {run_name}: all {r['visible']} visible thumbnails (of {r['tiles']} tiles, "
              f"{r['thumbWidth']} px wide) loaded {off + r['ms']:.0f} ms after driver.get "
              f"(navigation started at +{off:.0f} ms, page load event at +{off + (nav or 0):.0f} ms, "
              f"driver.get returned at +{loaded * 1000:.0f} ms; the script returned at +{wall * 1000:.0f} ms)"
              + (" [already true at the first check: an upper bound]" if r["already"] else ""))


def video_part(w, out):
    d = w.driver
    src = w.tmp / "Grandma's film"
    t = time.monotonic()
    big, copies = make_video(src, w.tmp)
    size = big.stat().st_size
    print(f"video: {big.name}, {size} bytes ({size / GIB:.2f} GiB, {copies} x a 10 s clip at 40 Mbit/s), "
          f"made in {time.monotonic() - t:.1f} s")
    w.me.run("settings", "--download-rate", "0")
    t = time.monotonic()
    w.friend.run("share", str(src), "--title", "Film", timeout=600)
    print(f"Grandma's kith share: {time.monotonic() - t:.1f} s")
    album = wait_for(lambda: [a["id"] for a in w.me.json("albums") if a["title"] == "Film"],
                     timeout=120, what="the video album reaching me")[0]
    item = album_items(w.me, album)[0]
    assert not item.get("path"), "the video is already on my node"
    assert w.me.json("transfers") == [], "a transfer is already under way"
    got = w.home / "Downloads" / "Kith" / src.name / big.name  # the fetch keeps the folder's name
    my_pid = w.me.json("status")["pid"]
    sampler = RssSampler(my_pid)
    sampler.start()
    try:
        d.get("about:blank")
        t0, e0 = time.monotonic(), time.time()
        d.get(w.page(f"gallery/gallery.html?album={album}&item={item['id']}"))
        r = d.execute_async_script(FIRST_FRAME)
        wall = time.monotonic() - t0
        transfers = w.me.json("transfers")
        after = time.monotonic() - t0
        here_then = got.exists()
        mine = [x for x in transfers if x["target"] == item["id"]]
        assert r["frame"] is not None, f"no frame: {r}"
        off = nav_offset_ms(d, e0)
        at = {k: (off + r[k] if r[k] is not None else None) for k in ("player", "play", "rvfc", "frame")}
        # The first frame: when it was presented (requestVideoFrameCallback), else when the
        # element had it and its clock moved (readyState >= 2 and currentTime > 0).
        first = at["rvfc"] if at["rvfc"] is not None else at["frame"]
        out["first frame"] = first / 1000
        out["first frame how"] = "requestVideoFrameCallback" if at["rvfc"] is not None else "readyState/currentTime"
        out["playing"] = at["frame"] / 1000
        print(f"video first frame {first:.0f} ms after driver.get ({out['first frame how']}); "
              f"readyState >= 2 with currentTime > 0 at {at['frame']:.0f} ms (readyState {r['readyState']}, "
              f"currentTime {r['currentTime']:.6f} s); the <video> in the page at {at['player']:.0f} ms, "
              f"play() resolved at {at['play'] or 0:.0f} ms (navigation started at +{off:.0f} ms; "
              f"the script returned at +{wall * 1000:.0f} ms)")
        if mine:
            x = mine[0]
            out["transfer running at first frame"] = bool(x["running"]) and not here_then
            print(f"kith transfers {after:.2f} s after driver.get: the item listed, running={x['running']}, "
                  f"{x['bytes'] / 1e6:.0f} of {x['total'] / 1e6:.0f} MB here"
                  + (" (but the file is already complete!)" if here_then else ""))
        else:
            out["transfer running at first frame"] = False
            print(f"kith transfers {after:.2f} s after driver.get: the item is NOT listed "
                  f"(the file complete: {here_then})")
        # My node goes on serving the playing video while the rest arrives.
        wait_for(lambda: not [x for x in w.me.json("transfers") if x["target"] == item["id"]],
                 timeout=900, interval=0.1, what="the fetch of the video to end")
        assert got.exists() and got.stat().st_size == size, f"{got} is missing or incomplete"
        fetched = time.monotonic() - t0
        playing = d.execute_script('return document.getElementById("v-media").currentTime')
        print(f"whole video on my node {fetched:.1f} s after driver.get ({size / 1e6 / fetched:.0f} MB/s); "
              f"the player at {playing:.1f} s of the film then")
    finally:
        sampler.stop.set()
        sampler.join()
    out["my RSS while serving the video"] = sampler.peak
    print(f"my node's RSS while serving the video: up to {mib(sampler.peak)} ({sampler.samples} samples every 20 ms)")
    # For comparison: the same video again, now complete on my node (no network in the way).
    d.get("about:blank")
    e0 = time.time()
    d.get(w.page(f"gallery/gallery.html?album={album}&item={item['id']}"))
    r = d.execute_async_script(FIRST_FRAME)
    off = nav_offset_ms(d, e0)
    again = off + (r["rvfc"] if r["rvfc"] is not None else r["frame"])
    out["first frame, complete"] = again / 1000
    print(f"video again, complete on my node: first frame {again:.0f} ms after driver.get "
          f"(readyState >= 2 with currentTime > 0 at {off + r['frame']:.0f} ms, the <video> in the page "
          f"at {off + r['player']:.0f} ms)")
    d.get("about:blank")


def rss_line(w, label, out):
    me = rss_kib(w.me.json("status")["pid"], "VmHWM")
    gm = rss_kib(w.friend.json("status")["pid"], "VmHWM")
    out[f"peak RSS after {label}"] = (me, gm)
    print(f"peak RSS (VmHWM) after {label}: my node {mib(me)}, Grandma's node {mib(gm)}")


def summary(args, out):
    """The figures measured (also after a failure, as far as they got)."""
    def target(secs):
        return "ok" if secs < 1 else "MISSED"
    print()
    print(f"Summary (target < 1 s), {args.photos} photos, window {WINDOW[0]}x{WINDOW[1]}:")
    for k in ("thumbs first open", "thumbs second open (cached)"):
        if k in out:
            print(f"  {k:<40} {out[k] * 1000:7.0f} ms  {target(out[k])}  ({out['visible thumbs']} visible)")
    if "first frame" in out:
        print(f"  {'1 GiB WebM, first video frame':<40} {out['first frame'] * 1000:7.0f} ms  {target(out['first frame'])}"
              f"  (transfer still running then: {'yes' if out.get('transfer running at first frame') else 'NO'};"
              f" {out['first frame how']})")
        print(f"  {'  readyState>=2 and currentTime>0':<40} {out['playing'] * 1000:7.0f} ms  {target(out['playing'])}")
    if "first frame, complete" in out:
        print(f"  {'  same video once complete on my node':<40} {out['first frame, complete'] * 1000:7.0f} ms")
    if "my RSS while serving the video" in out:
        print(f"  {'my node RSS while serving the video':<40} {mib(out['my RSS while serving the video']):>10}")
    for k, v in out.items():
        if k.startswith("peak RSS"):
            me, gm = v
            print(f"  {k:<40} me {mib(me)}, Grandma {mib(gm)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=200, help="photos in the album (default 200)")
    ap.add_argument("--no-video", action="store_true", help="skip the 1 GiB video")
    args = ap.parse_args()
    if not KITH.exists():
        if "KITH_BIN" in os.environ and Path(os.environ["KITH_BIN"]) != ROOT / "target" / "release" / "kith":
            sys.exit(f"{KITH} is missing")
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"Kith gallery benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, kith {commit}, {KITH}")
    print(f"CPU: {cpu}, {os.cpu_count()} cores; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"Firefox headless, window {WINDOW[0]}x{WINDOW[1]}")
    tmp = Path(tempfile.mkdtemp(prefix="kith-bench-gallery-"))
    w = World(tmp)
    out = {}
    try:
        w.me.init("Me")
        w.friend.init("Grandma")
        w.me.serve()
        w.friend.serve()
        w.friend.befriend(w.me)
        wait_for(lambda: w.me.json("friends")[0]["online"], what="Grandma online")
        d = w.start_browser()
        d.set_window_size(*WINDOW)
        d.set_script_timeout(120)
        rss_line(w, "start", out)
        photos_part(w, args.photos, out)
        rss_line(w, "the photos", out)
        if not args.no_video:
            video_part(w, out)
            rss_line(w, "the video", out)
    finally:
        w.close()
        shutil.rmtree(tmp, ignore_errors=True)
        summary(args, out)


if __name__ == "__main__":
    main()
