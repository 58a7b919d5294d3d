"""The add-on in a real (headless) Firefox, talking to real `kith` nodes."""

import filecmp
import os
import re
import shutil
import subprocess
from pathlib import Path

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from conftest import WIDGET, wait_for

POPUP_JS = """
const b = document.querySelector(".webextension-popup-browser");
const doc = b && b.contentDocument;
if (!doc || doc.readyState !== "complete") return null;
return arguments[0] ? (doc.getElementById(arguments[0]) || {}).textContent || null : doc.body.innerText;
"""

SIDEBAR_DOC = """
const outer = document.getElementById("sidebar");
const inner = outer && outer.contentDocument && outer.contentDocument.getElementById("webext-panels-browser");
const doc = inner && inner.contentDocument;
if (!doc || !doc.getElementById("ready")) return null;
"""


def open_popup(world):
    world.chrome(f'document.getElementById("{WIDGET}-BAP").click()')


def popup_text(world, element_id=None):
    return world.chrome(POPUP_JS, element_id)


def sidebar(world, body):
    """Runs `body` in chrome with `doc` bound to the real sidebar's page (null until loaded)."""
    return world.chrome(SIDEBAR_DOC + body)


def test_toolbar_button_opens_the_popup_showing_my_peer_id(friends):
    peer_id = friends.me.json("status")["peer_id"]
    open_popup(friends)
    assert wait_for(lambda: popup_text(friends, "my-id"), what="peer ID in the popup") == peer_id
    assert popup_text(friends, "my-name") == "Me"
    # Grandma is online, so the popup lists her.
    wait_for(lambda: "Grandma" in (popup_text(friends, "online") or ""), what="online friend in the popup")


def test_first_run_popup_creates_an_identity_and_starts_kith_at_login(world):
    world.start_browser()
    open_popup(world)
    wait_for(lambda: world.chrome(POPUP_JS.replace("return arguments[0]", "return doc.getElementById('first-run') && arguments[0]"), "first-run"),
             what="the first-run form")
    world.chrome("""
      const doc = document.querySelector(".webextension-popup-browser").contentDocument;
      doc.getElementById("init-name").value = "Rose";
      doc.querySelector("#first-run button[type=submit]").click();
    """)
    shown = wait_for(lambda: popup_text(world, "my-id"), what="the new peer ID in the popup")
    assert world.me.json("status")["peer_id"] == shown
    assert popup_text(world, "my-name") == "Rose"
    # "Start Kith when I log in" was offered, ticked, and wrote the login entry for this home
    # (no systemd user session here, so an XDG autostart entry).
    entry = (world.home / ".config" / "autostart" / "kith.desktop").read_text()
    assert f"start --home {world.me.path}" in entry, entry


def test_context_menu_shares_an_image_and_the_friend_receives_it(friends, web):
    d = friends.driver
    d.get(f"{web['url']}/page.html")
    img = d.find_element(By.ID, "photo")
    main = d.current_window_handle
    ActionChains(d).context_click(img).perform()
    friends.chrome("""
      const menu = document.getElementById("contentAreaContextMenu");
      const item = menu.querySelector('menuitem[id$="-menuitem-_share"]');
      menu.activateItem(item);
    """)
    dialog = wait_for(lambda: [h for h in d.window_handles if h != main], what="the share dialog")[0]
    d.switch_to.window(dialog)
    wait_for(lambda: d.find_element(By.ID, "form").is_displayed(), what="the share form")
    wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#friends input"), what="the friend list")
    # Nobody is picked for the user: an album's audience is chosen, not assumed.
    assert not [b for b in d.find_elements(By.CSS_SELECTOR, "#friends input") if b.is_selected()]
    d.find_element(By.CSS_SELECTOR, "#friends input").click()
    title = d.find_element(By.ID, "title")
    assert title.get_attribute("value") == "Beach day"
    d.find_element(By.ID, "share").click()
    wait_for(lambda: "Shared with 1" in d.find_element(By.ID, "status").text, what="the share to finish")
    d.switch_to.window(main)

    albums = wait_for(lambda: [a for a in friends.friend.json("albums") if not a["mine"]], what="Grandma receiving the album")
    assert albums[0]["title"] == "Beach day"
    assert albums[0]["owner_name"] == "Me"
    assert albums[0]["link"] == f"{web['url']}/page.html"
    out = friends.tmp / "grandma-got"
    friends.friend.run("fetch", albums[0]["id"], "--out", str(out))
    assert (out / "photo.png").read_bytes() == (web["root"] / "photo.png").read_bytes()


def test_sidebar_lists_a_friend_and_their_album_and_fetch_completes(friends):
    src = friends.tmp / "src"
    src.mkdir()
    data = os.urandom(3 * 1024 * 1024 + 17)
    (src / "video.bin").write_bytes(data)
    friends.friend.run("share", str(src / "video.bin"), "--title", "Summer")
    wait_for(lambda: friends.me.json("albums"), what="the album reaching me")

    friends.chrome(f'SidebarController.show("{WIDGET}-sidebar-action")')
    wait_for(lambda: sidebar(friends, 'return doc.querySelector(".friend-name")?.textContent;') == "Grandma",
             what="Grandma in the sidebar")
    sidebar(friends, 'doc.getElementById("tab-inbox").click(); return 1;')
    assert wait_for(lambda: sidebar(friends, 'return doc.querySelector("#inbox-list .album-title")?.textContent;'),
                    what="the album in the sidebar") == "Summer"
    sidebar(friends, 'doc.querySelector("#inbox-list .fetch").click(); return 1;')
    wait_for(lambda: sidebar(friends, 'return doc.querySelector("#inbox-list .status.ok")?.textContent;'),
             timeout=60, what="the fetch shown as done")
    got = friends.home / "Downloads" / "Kith" / "video.bin"
    assert got.read_bytes() == data


XSS_NAME = "<img src=x onerror=alert(1)>"
XSS_TITLES = ["<script>alert(1)</script>", "javascript:alert(1)"]
XSS_FILES = ["<svg onload=alert(1)>.txt", "<img src=x onerror=alert(2)>.jpg"]


def test_peer_text_from_an_xss_corpus_renders_as_text(world):
    world.me.init("Me")
    world.friend.init(XSS_NAME)
    world.me.serve()
    world.friend.serve()
    world.friend.befriend(world.me)
    src = world.tmp / "src"
    src.mkdir()
    for name in XSS_FILES:
        (src / name).write_text("hello")
    world.friend.run("share", *[str(src / n) for n in XSS_FILES], "--title", XSS_TITLES[0], "--keep-location")
    link_album = world.friend.run("share", str(src / XSS_FILES[0]), "--title", XSS_TITLES[1])
    assert link_album.returncode == 0
    wait_for(lambda: len(world.me.json("albums")) == 2, what="both albums reaching me")

    d = world.start_browser()
    d.get(world.page("sidebar/sidebar.html"))
    names = wait_for(lambda: [e.text for e in d.find_elements(By.CSS_SELECTOR, ".friend-name")], what="the friend list")
    assert names == [XSS_NAME]
    d.find_element(By.ID, "tab-inbox").click()
    titles = wait_for(lambda: [e.text for e in d.find_elements(By.CSS_SELECTOR, "#inbox-list .album-title")], what="albums")
    assert sorted(titles) == sorted(XSS_TITLES)
    for card in d.find_elements(By.CSS_SELECTOR, "#inbox-list .album"):
        assert XSS_NAME in card.text  # "From <img …>"
    for _ in range(2):  # each click re-renders the list: find the next button afresh
        wait_for(lambda: d.find_elements(By.XPATH, "//button[text()='Show files']"), what="a Show files button")[0].click()
    files = wait_for(lambda: sorted(e.text for e in d.find_elements(By.CSS_SELECTOR, ".file-name")) or None,
                     what="file lists")
    assert files == sorted(XSS_FILES + XSS_FILES[:1])
    # Nothing from the corpus became an element, and no script ran.
    assert d.execute_script("return document.querySelectorAll('img, svg, iframe, script:not([src])').length") == 0
    assert d.execute_script("return document.title") == ""
    assert d.execute_script("return typeof window.__kith_xss") == "undefined"
    alerts = d.execute_script("return 1")  # an open alert would make any command fail
    assert alerts == 1


def host_pids(world):
    r = subprocess.run(["pgrep", "-f", f"{world.home}/.mozilla/native-messaging-hosts/kith.json"],
                       capture_output=True, text=True)
    return [int(p) for p in r.stdout.split()]


def test_sidebar_shows_a_lost_host_and_reconnects_when_it_is_back(friends):
    d = friends.driver
    d.get(friends.page("sidebar/sidebar.html"))
    wait_for(lambda: d.find_element(By.CSS_SELECTOR, ".friend-name").text == "Grandma", what="the sidebar ready")
    manifest = friends.home / ".mozilla" / "native-messaging-hosts" / "kith.json"
    aside = manifest.with_suffix(".aside")
    manifest.rename(aside)
    pids = wait_for(lambda: host_pids(friends), what="the native host process")
    for pid in pids:
        os.kill(pid, 9)
    friends.me.stop()
    banner = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#host-missing, #host-down"), what="the lost-host banner")
    assert banner[0].is_displayed()
    assert not d.find_element(By.ID, "ready").is_displayed()

    aside.rename(manifest)
    wait_for(lambda: d.find_element(By.ID, "ready").is_displayed(), timeout=30, what="the sidebar reconnecting")
    wait_for(lambda: d.find_element(By.CSS_SELECTOR, ".friend-name").text == "Grandma", what="friends listed again")
    assert not d.find_elements(By.CSS_SELECTOR, "#host-missing, #host-down")
    # The host started a node again for this home.
    assert friends.me.run("status", check=False).returncode == 0


def test_sidebar_shows_how_each_friend_is_connected_and_why_one_cannot_be_reached(world):
    # Both nodes on 127.0.0.1 only (as every test node): loopback is not "your network", so the
    # path is `direct`.
    # (On 0.0.0.0 they would reach each other at this computer's LAN address: `lan`.)
    world.me.init("Me")
    world.friend.init("Grandma")
    world.me.serve("--listen", "127.0.0.1:0")
    world.friend.serve("--listen", "127.0.0.1:0")
    world.friend.befriend(world.me)
    wait_for(lambda: world.me.json("friends")[0]["online"], what="friends online")
    d = world.start_browser()
    d.get(world.page("sidebar/sidebar.html"))

    def reach():
        return d.find_element(By.CSS_SELECTOR, ".friend .reach").text

    wait_for(lambda: reach() == "Connected directly", what="Grandma connected directly")
    assert world.me.json("friends")[0]["path"] == "direct"
    assert not d.find_elements(By.CSS_SELECTOR, ".friend .reach-error")

    grandma_at = world.friend.json("status")["listen_addr"]
    world.friend.stop()
    wait_for(lambda: reach().startswith("Can’t be reached"), what="Grandma shown as unreachable")
    # No event comes when a dial fails: the sidebar asks again (every 10 s) while a friend is
    # unreachable, and then shows the node's last error, as small text and as a tooltip.
    error = wait_for(lambda: d.find_element(By.CSS_SELECTOR, ".friend .reach-error").text, timeout=40,
                     what="the last error under Grandma")
    last_error = world.me.json("friends")[0]["last_error"]
    assert last_error and error == f"Last try: {last_error}"
    assert last_error in d.find_element(By.CSS_SELECTOR, ".friend .reach").get_attribute("title")

    world.friend.serve("--listen", grandma_at)
    wait_for(lambda: reach() == "Connected directly", timeout=30, what="Grandma connected again")
    assert not d.find_elements(By.CSS_SELECTOR, ".friend .reach-error")


def test_context_menu_shares_the_page_as_a_link_card_with_a_preview(friends, web):
    d = friends.driver
    d.get(f"{web['url']}/page.html")
    main = d.current_window_handle
    ActionChains(d).context_click(d.find_element(By.TAG_NAME, "h1")).perform()
    friends.chrome("""
      const menu = document.getElementById("contentAreaContextMenu");
      menu.activateItem(menu.querySelector('menuitem[id$="-menuitem-_share"]'));
    """)
    d.switch_to.window(wait_for(lambda: [h for h in d.window_handles if h != main], what="the share dialog")[0])
    wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#friends input"), what="the friend list")
    assert "link card" in d.find_element(By.ID, "what").text
    d.find_element(By.CSS_SELECTOR, "#friends input").click()
    d.find_element(By.ID, "title").clear()
    d.find_element(By.ID, "title").send_keys("Look at this")
    d.find_element(By.ID, "share").click()
    wait_for(lambda: "Shared with 1" in d.find_element(By.ID, "status").text, what="the share to finish")
    d.switch_to.window(main)

    album = wait_for(lambda: [a for a in friends.friend.json("albums") if not a["mine"]], what="the link card")[0]
    assert album["title"] == "Look at this"
    assert album["link"] == f"{web['url']}/page.html"
    items = friends.friend.json("album", album["id"])["items"]
    assert [i["name"] for i in items] == ["preview.jpg"]
    out = friends.tmp / "card"
    friends.friend.run("fetch", album["id"], "--out", str(out))
    assert (out / "preview.jpg").read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG picture of the page


def test_the_share_dialog_shows_where_a_right_clicked_link_really_leads_before_sharing(friends, web):
    d = friends.driver
    before = len(friends.me.json("albums"))
    d.get(f"{web['url']}/page.html")
    main = d.current_window_handle
    ActionChains(d).context_click(d.find_element(By.ID, "short-link")).perform()
    friends.chrome("""
      const menu = document.getElementById("contentAreaContextMenu");
      menu.activateItem(menu.querySelector('menuitem[id$="-menuitem-_share"]'));
    """)
    d.switch_to.window(wait_for(lambda: [h for h in d.window_handles if h != main], what="the share dialog")[0])
    wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#friends input"), what="the friend list")
    # The dialog names the address after the redirect, the file's type and size.
    source = d.find_element(By.ID, "source")
    assert source.text == f"{web['url']}/photo.png"
    assert source.get_attribute("title") == f"{web['url']}/go"
    what = d.find_element(By.ID, "what").text
    assert "image/png" in what and "file" in what, what
    assert "image/png, " in what and "unknown" not in what, what  # a type and a size
    d.find_element(By.ID, "cancel").click()
    d.switch_to.window(main)
    assert len(friends.me.json("albums")) == before, "nothing is shared before the user confirms"


def test_popup_invite_gives_a_link_and_qr_code_that_a_new_friend_accepts(friends):
    open_popup(friends)
    wait_for(lambda: popup_text(friends, "my-id"), what="the popup")
    friends.chrome("""
      document.querySelector(".webextension-popup-browser").contentDocument.getElementById("invite").click();
    """)
    link = wait_for(lambda: friends.chrome("""
      const doc = document.querySelector(".webextension-popup-browser").contentDocument;
      return doc.getElementById("invite-link").value;
    """), what="the invite link")
    qr = friends.chrome("""
      const c = document.querySelector(".webextension-popup-browser").contentDocument.querySelector("canvas.qr");
      const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let dark = 0;
      for (let i = 0; i < px.length; i += 4) if (px[i] < 128) dark++;
      return [c.width, dark];
    """)
    assert qr[0] > 100 and qr[1] > 1000, qr  # a drawn code, not an empty canvas

    from conftest import KithHome
    cousin = KithHome(friends.tmp / "cousin", friends.me.env)
    cousin.init("Cousin")
    cousin.serve()
    try:
        cousin.run("accept", link)
        d = friends.driver
        d.get(friends.page("sidebar/sidebar.html"))
        wait_for(lambda: sorted(e.text for e in d.find_elements(By.CSS_SELECTOR, ".friend-name")) == ["Cousin", "Grandma"],
                 what="the new friend in the sidebar")
    finally:
        cousin.stop()


def test_sidebar_pauses_resumes_and_opens_a_fetched_file(world):
    opened = world.tmp / "opened.txt"
    opener = world.tmp / "opener.sh"
    opener.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{opened}"\n')
    opener.chmod(0o755)
    world.me.env["KITH_OPENER"] = str(opener)
    world.me.init("Me")
    world.friend.init("Grandma")
    world.me.serve()
    world.friend.serve()
    world.friend.befriend(world.me)
    world.me.run("settings", "--download-rate", "1M")
    src = world.tmp / "src"
    src.mkdir()
    data = os.urandom(6 * 1024 * 1024)
    (src / "movie.webm").write_bytes(data)
    world.friend.run("share", str(src / "movie.webm"), "--title", "Movie night", "--keep-location")
    wait_for(lambda: world.me.json("albums"), what="the album reaching me")

    d = world.start_browser()
    d.get(world.page("sidebar/sidebar.html"))
    wait_for(lambda: d.find_element(By.ID, "ready").is_displayed(), what="the sidebar")
    d.find_element(By.ID, "tab-inbox").click()
    wait_for(lambda: d.find_element(By.CSS_SELECTOR, "#inbox-list .fetch"), what="the album").click()
    d.find_element(By.ID, "tab-transfers").click()
    wait_for(lambda: d.find_elements(By.XPATH, "//li[contains(@class,'transfer')]//button[text()='Pause']"),
             what="a running transfer")[0].click()
    wait_for(lambda: world.me.json("transfers")[0]["paused"], what="the transfer paused")
    wait_for(lambda: d.find_elements(By.XPATH, "//li[contains(@class,'transfer')]//button[text()='Resume']"),
             what="the Resume button")
    world.me.run("settings", "--download-rate", "0")
    d.find_element(By.XPATH, "//li[contains(@class,'transfer')]//button[text()='Resume']").click()
    wait_for(lambda: d.find_elements(By.CSS_SELECTOR, ".transfer.done"), timeout=60, what="the transfer done")
    got = world.home / "Downloads" / "Kith" / "movie.webm"
    assert got.read_bytes() == data

    d.find_element(By.ID, "tab-inbox").click()
    wait_for(lambda: d.find_element(By.XPATH, "//button[text()='Show files']"), what="Show files").click()
    wait_for(lambda: d.find_element(By.XPATH, "//ul[contains(@class,'files')]//button[text()='Open']"), what="Open").click()
    assert wait_for(lambda: opened.exists() and opened.read_text(), what="the opener to run") == str(got)


def test_a_photo_whose_location_kith_cannot_remove_is_listed_before_sharing_and_shared_only_when_asked(friends, web):
    """The share dialog lists a file the node refuses with `location_kept`; Cancel shares
    nothing and deletes the uploaded copy, "Share with the location" shares it as it is."""
    # A JPEG followed by bytes Kith does not know (as some phones append): it cannot prove
    # them free of a location, so it refuses to claim the photo is.
    jpg = friends.tmp / "trailer.jpg"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "color=c=orange:s=64x48",
                    "-frames:v", "1", str(jpg)], check=True)
    data = jpg.read_bytes() + b"SEFT" + bytes(range(256)) * 4
    (web["root"] / "trailer.jpg").write_bytes(data)
    (web["root"] / "trailer.html").write_text(
        '<!doctype html><title>Odd photo</title><img id="photo" src="trailer.jpg" width="64" height="48">')
    d = friends.driver
    d.get(f"{web['url']}/trailer.html")
    main = d.current_window_handle

    def open_dialog():
        ActionChains(d).context_click(d.find_element(By.ID, "photo")).perform()
        friends.chrome("""
          const menu = document.getElementById("contentAreaContextMenu");
          menu.activateItem(menu.querySelector('menuitem[id$="-menuitem-_share"]'));
        """)
        dialog = wait_for(lambda: [h for h in d.window_handles if h != main], what="the share dialog")[0]
        d.switch_to.window(dialog)
        wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#friends input"), what="the friend list")
        d.find_element(By.CSS_SELECTOR, "#friends input").click()
        d.find_element(By.ID, "share").click()
        box = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#status .location-kept"),
                       what="the list of files that keep their location")[0]
        # The upload keeps the page's file name (" (1)" when an earlier upload has it).
        named = re.search(r"(trailer(?: \(\d+\))?\.jpg) — ", box.text)
        assert named, box.text
        return box, named.group(1)

    box, _ = open_dialog()
    uploads = friends.me.path / "uploads"
    assert list(uploads.glob("trailer*.jpg")), "the dialog uploaded the photo"
    box.find_elements(By.TAG_NAME, "button")[1].click()  # Cancel
    wait_for(lambda: not d.find_elements(By.CSS_SELECTOR, "#status .location-kept"), what="the list to close")
    wait_for(lambda: not list(uploads.glob("trailer*.jpg")), what="the cancelled upload to be deleted")
    assert [a for a in friends.me.json("albums") if a["mine"]] == []
    d.close()
    d.switch_to.window(main)

    box, name = open_dialog()
    box.find_elements(By.TAG_NAME, "button")[0].click()  # Share with the location
    wait_for(lambda: "Shared with 1" in d.find_element(By.ID, "status").text, what="the share to finish")
    d.switch_to.window(main)
    albums = wait_for(lambda: [a for a in friends.friend.json("albums") if not a["mine"]], what="the friend receiving it")
    out = friends.tmp / "friend-got"
    friends.friend.run("fetch", albums[0]["id"], "--out", str(out))
    got = [p for p in out.rglob("*.jpg")]
    assert len(got) == 1 and got[0].read_bytes() == data, "shared byte for byte, location and all"
    assert got[0].name == name == "trailer.jpg", "the file uploaded for the refused share was shared, not a second copy"
