"""Galleries in a real (headless) Firefox: a friend's album shows its thumbnails, an item opens
at full quality, and a video plays from the gateway while it is still being fetched."""

import shutil
import subprocess

import pytest
from selenium.webdriver.common.by import By

from conftest import png, wait_for

THUMBS_LOADED = """
const imgs = [...document.querySelectorAll(arguments[0])];
return imgs.length && imgs.every((i) => i.complete && i.naturalWidth > 0) ? imgs.length : 0;
"""


def share_photos(world, count=3):
    """Grandma shares `count` pictures (PNG, 640×480) as "Holiday"; returns the album ID."""
    src = world.tmp / "Holiday"
    src.mkdir()
    for i in range(count):
        (src / f"photo{i}.png").write_bytes(png(640, 480, seed=i + 3))
    world.friend.run("share", str(src), "--title", "Holiday")
    albums = wait_for(lambda: world.me.json("albums"), what="the album reaching me")
    return albums[0]["id"]


def test_a_friends_album_shows_its_thumbnails_in_the_sidebar_and_the_gallery_tab(friends):
    album = share_photos(friends)
    d = friends.driver
    d.get(friends.page("sidebar/sidebar.html"))
    wait_for(lambda: d.find_element(By.ID, "ready").is_displayed(), what="the sidebar")
    d.find_element(By.ID, "tab-inbox").click()
    # The album's cover, then its grid of thumbnails.
    assert wait_for(lambda: d.execute_script(THUMBS_LOADED, "#inbox-list img.cover"), what="the cover") == 1
    wait_for(lambda: d.find_element(By.XPATH, "//button[text()='Show files']"), what="Show files").click()
    assert wait_for(lambda: d.execute_script(THUMBS_LOADED, ".grid.mini .tile img"), what="thumbnails") == 3
    # Nothing full-size moved to show them.
    assert friends.me.json("transfers") == []

    d.get(friends.page(f"gallery/gallery.html?album={album}"))
    assert wait_for(lambda: d.execute_script(THUMBS_LOADED, "#grid .tile img"), what="the gallery grid") == 3
    assert d.find_element(By.ID, "title").text == "Holiday"
    # The thumbnails come from the loopback gateway, small.
    src = d.find_element(By.CSS_SELECTOR, "#grid .tile img").get_attribute("src")
    assert src.startswith("http://127.0.0.1:") and "/thumb/" in src
    assert d.execute_script('return document.querySelector("#grid .tile img").naturalWidth') == 320


def test_opening_an_item_shows_the_full_image_and_arrow_keys_move_on(friends):
    album = share_photos(friends)
    d = friends.driver
    d.get(friends.page(f"gallery/gallery.html?album={album}"))
    wait_for(lambda: d.execute_script(THUMBS_LOADED, "#grid .tile img"), what="the gallery grid")
    d.find_elements(By.CSS_SELECTOR, "#grid .tile")[0].click()
    full = 'const m = document.getElementById("v-media"); return m && m.complete ? m.naturalWidth : 0;'
    assert wait_for(lambda: d.execute_script(full), timeout=30, what="the full image") == 640
    assert d.find_element(By.ID, "v-count").text == "1 of 3"
    # Fetched on demand, verified, into the download folder.
    got = friends.home / "Downloads" / "Kith" / "Holiday" / "photo0.png"
    wait_for(lambda: got.exists(), what="the original in the download folder")
    assert got.read_bytes() == png(640, 480, seed=3)
    d.find_element(By.TAG_NAME, "body").send_keys("\ue014")  # ArrowRight
    assert wait_for(lambda: d.find_element(By.ID, "v-count").text == "2 of 3", what="the next item")
    assert wait_for(lambda: d.execute_script(full), timeout=30, what="the next full image") == 640
    d.find_element(By.TAG_NAME, "body").send_keys("\ue00c")  # Escape
    assert wait_for(lambda: not d.find_element(By.ID, "viewer").is_displayed(), what="the viewer closed")


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="ffmpeg makes the WebM fixture (tests/browser/setup.sh installs it)")
def test_a_video_plays_from_the_gateway_before_its_download_completes(friends):
    src = friends.tmp / "Films"
    src.mkdir()
    video = src / "clip.webm"
    # 40 s of noisy test picture at about 2 Mbit/s (noise keeps the encoder from shrinking it).
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=duration=40:size=640x360:rate=25",
                    "-vf", "noise=alls=30:allf=t", "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8",
                    "-b:v", "2M", "-minrate", "2M", "-maxrate", "2M", "-an", str(video)], check=True, timeout=120)
    size = video.stat().st_size
    # Faster than the film plays, so it plays smoothly, but the whole fetch takes about 25 s.
    friends.me.run("settings", "--download-rate", str(int(size / 40 * 1.6)))
    friends.friend.run("share", str(src), "--title", "Films")
    album = wait_for(lambda: friends.me.json("albums"), what="the album reaching me")[0]["id"]
    item = friends.me.json("album", album)["items"][0]["id"]

    d = friends.driver
    d.get(friends.page(f"gallery/gallery.html?album={album}&item={item}"))
    assert wait_for(lambda: d.execute_script('return document.getElementById("v-media")?.tagName'), what="the player") == "VIDEO"
    d.execute_script('const v = document.getElementById("v-media"); v.muted = true; v.play().catch(() => {});')
    wait_for(lambda: d.execute_script('return document.getElementById("v-media").currentTime') > 1.0,
             timeout=40, what="the video playing")
    # Still downloading while it plays.
    running = [t for t in friends.me.json("transfers") if t["target"] == item]
    assert running, "the fetch had already finished: nothing proves streaming"
    got = friends.home / "Downloads" / "Kith" / "Films" / "clip.webm"
    assert not got.exists()
    friends.me.run("settings", "--download-rate", "0")
    wait_for(lambda: got.exists(), timeout=60, what="the download to complete")
    assert got.read_bytes() == video.read_bytes()


DROP = """
const [b64, name, target] = arguments;
const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
const dt = new DataTransfer();
dt.items.add(new File([bytes], name, { type: "image/png" }));
const el = target ? document.querySelector(target) : document.body;
el.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true, cancelable: true }));
el.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
return true;
"""


def test_files_dropped_on_the_sidebar_become_an_album_and_more_dropped_on_its_gallery_join_it(friends):
    import base64
    first, second = png(300, 200, seed=5), png(200, 300, seed=6)
    d = friends.driver
    d.get(friends.page("sidebar/sidebar.html"))
    wait_for(lambda: d.find_element(By.ID, "ready").is_displayed(), what="the sidebar")
    wait_for(lambda: friends.me.json("friends")[0]["online"], what="Grandma online")
    d.execute_script(DROP, base64.b64encode(first).decode(), "garden.png", None)
    form = wait_for(lambda: d.find_element(By.ID, "new-album") if d.find_element(By.ID, "new-album").is_displayed() else None,
                    what="the new-album form")
    wait_for(lambda: form.find_elements(By.CSS_SELECTOR, ".na-friend"), what="the friends to pick")
    assert not [b for b in form.find_elements(By.CSS_SELECTOR, ".na-friend") if b.is_selected()], "nobody picked yet"
    form.find_element(By.CSS_SELECTOR, ".na-friend").click()
    title = d.find_element(By.ID, "na-title")
    title.clear()
    title.send_keys("Garden")
    d.find_element(By.ID, "na-share").click()
    album = wait_for(lambda: [a for a in friends.friend.json("albums") if a["title"] == "Garden"],
                     what="the album reaching Grandma")[0]
    assert album["item_count"] == 1
    assert wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#mine-list .album"), what="the album in Shared by me")

    d.get(friends.page(f"gallery/gallery.html?album={album['id']}"))
    wait_for(lambda: d.find_element(By.ID, "drop").is_displayed(), what="the drop zone of my album")
    d.execute_script(DROP, base64.b64encode(second).decode(), "pond.png", None)
    wait_for(lambda: friends.friend.json("album", album["id"])["item_count"] == 2, what="the added file reaching Grandma")
    items = friends.friend.json("album", album["id"])["items"]
    assert sorted(i["name"] for i in items) == ["garden.png", "pond.png"]
    assert all(i["thumb"] for i in items)
    wait_for(lambda: d.execute_script(THUMBS_LOADED, "#grid .tile img") == 2, what="both thumbnails in my gallery")
