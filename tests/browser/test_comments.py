"""Comments, reactions and what's new in a real (headless) Firefox: a friend's comment reaches
my sidebar and the toolbar badge, peer text from an XSS corpus stays text, and what I post
from the sidebar reaches the friend's node."""

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import WIDGET, png, wait_for

# The toolbar button's badge text ("" when none).
BADGE = f'return document.getElementById("{WIDGET}-BAP")?.getAttribute("badge") || "";'


def badge(world):
    return world.chrome(BADGE)


def thread(home, target):
    """The comments on `target` as a node's CLI lists them."""
    return home.json("comments", target)["comments"]


def share_album(owner, tmp, title, photos=0):
    """`owner` shares a folder (a text file, and `photos` PNGs) as `title`; returns the album ID."""
    src = tmp / title
    src.mkdir()
    (src / "note.txt").write_text("hello")
    for i in range(photos):
        (src / f"photo{i}.png").write_bytes(png(64, 48, seed=i + 3))
    return owner.run("share", str(src), "--title", title).stdout.strip()


def open_sidebar_tab(world, tab):
    d = world.driver
    d.get(world.page("sidebar/sidebar.html"))
    wait_for(lambda: d.find_element(By.ID, "ready").is_displayed(), what="the sidebar")
    d.find_element(By.ID, tab).click()
    return d


def js(d, script, *args):
    return d.execute_script(script, *args)


THREAD_TEXTS = """
const box = document.querySelector(arguments[0]);
return box ? [...box.querySelectorAll(".comment .c-text")].map((e) => e.textContent) : null;
"""


# Notes the add-on's desktop notifications (headless Firefox closes them at once: either event).
NOTIFICATIONS_SPY = """
window.__notified = [];
const note = (id) => window.__notified.push(id);
browser.notifications.onShown.addListener(note);
browser.notifications.onClosed.addListener(note);
"""


def test_a_friends_comment_shows_in_my_sidebar_as_new_with_the_badge_count_until_i_open_it(friends):
    album = share_album(friends.friend, friends.tmp, "Beach 2026")
    wait_for(lambda: friends.me.json("albums"), what="the album reaching me")
    friends.friend.run("comment", album, "What a day at the beach!")
    wait_for(lambda: friends.me.json("albums")[0]["unread"] == 1, what="the comment reaching my node")
    assert friends.me.json("albums")[0]["new"] is True

    d = open_sidebar_tab(friends, "tab-inbox")
    card = f'#inbox-list .album[data-id="{album}"]'
    # The album is new, with one unread comment; the badge counts both.
    assert wait_for(lambda: js(d, f'return document.querySelector(\'{card} .unread-count\')?.textContent'),
                    what="the unread count") == "1 new"
    assert js(d, f'return document.querySelector(\'{card} .album-new\')?.textContent') == "new"
    assert wait_for(lambda: badge(friends) == "2" or None, what="the badge")
    toggle = d.find_element(By.CSS_SELECTOR, f"{card} .c-toggle")
    # The count appears once the thread is loaded.
    assert wait_for(lambda: toggle.text == "Comments (1)" or None, what="the comment count")
    assert toggle.get_attribute("aria-expanded") == "false"

    toggle.click()
    texts = wait_for(lambda: js(d, THREAD_TEXTS, card), what="the thread")
    assert texts == ["What a day at the beach!"]
    row = d.find_element(By.CSS_SELECTOR, f"{card} .comment")
    assert row.find_element(By.CSS_SELECTOR, ".c-author").text == "Grandma"
    assert row.find_element(By.CSS_SELECTOR, ".c-new").text == "new"
    assert not row.find_elements(By.CSS_SELECTOR, ".c-verified")  # I never compared her safety number
    assert row.find_element(By.CSS_SELECTOR, ".c-time").text in ("now", "1 min. ago")
    # Opening the thread marked the album read: the markers and the badge go.
    wait_for(lambda: not d.find_elements(By.CSS_SELECTOR, f"{card} .unread-count, {card} .album-new"),
             what="the markers cleared")
    assert wait_for(lambda: badge(friends) == "" or None, what="the badge cleared")
    a = friends.me.json("albums")[0]
    assert (a["unread"], a["new"]) == (0, False)

    # A new one arrives while the thread is open: shown live, marked new, and notified.
    js(d, NOTIFICATIONS_SPY)
    friends.friend.run("comment", album, "And the sunset!")
    wait_for(lambda: js(d, THREAD_TEXTS, card) == ["What a day at the beach!", "And the sunset!"],
             what="the second comment, live")
    assert js(d, f'return [...document.querySelectorAll(\'{card} .comment\')].at(-1).querySelector(".c-new")?.textContent') == "new"
    wait_for(lambda: js(d, "return window.__notified"), what="a desktop notification")

    # Once I mark her safety number as compared, her comments carry the ✓.
    d.find_element(By.ID, "tab-friends").click()
    d.find_element(By.XPATH, "//li[contains(@class,'friend')]//button[text()='Safety number']").click()
    d.find_element(By.CSS_SELECTOR, ".friend input.verify").click()
    wait_for(lambda: friends.me.json("friends")[0]["verified"], what="Grandma marked verified")
    d.find_element(By.ID, "tab-inbox").click()
    wait_for(lambda: len(d.find_elements(By.CSS_SELECTOR, f"{card} .comment .c-verified")) == 2, what="✓ on her comments")


XSS_NAME = "<img src=x onerror=window.__kith_xss=1>"
XSS_COMMENTS = [
    "<img src=x onerror=window.__kith_xss=2>",
    "<script>window.__kith_xss=3</script>",
    "javascript:window.__kith_xss=4",
    '"><svg onload=window.__kith_xss=5><iframe src="javascript:window.__kith_xss=6">',
    "<b>bold</b>\n<a href=https://example.com>link</a> &amp; &lt;",
]
NO_MARKUP = """
const root = document.querySelector(arguments[0]);
return {
  made: root.querySelectorAll("img, svg, iframe, script, b, a, object, embed").length,
  x: document.querySelectorAll("img[src=x]").length,
  ran: typeof window.__kith_xss,
};
"""


def test_comments_from_an_xss_corpus_render_as_text_in_the_sidebar_and_under_the_viewer(world):
    world.me.init("Me")
    world.friend.init(XSS_NAME)
    world.me.serve()
    world.friend.serve()
    world.friend.befriend(world.me)
    album = share_album(world.friend, world.tmp, "Corpus", photos=1)
    items = world.friend.json("album", album)["items"]
    photo = next(i["id"] for i in items if i["name"].endswith(".png"))
    for text in XSS_COMMENTS:
        world.friend.run("comment", album, text)
        world.friend.run("comment", photo, text)
    wait_for(lambda: len(thread(world.me, album)) == 2 * len(XSS_COMMENTS), what="the comments reaching me")

    d = world.start_browser()
    d.get(world.page("sidebar/sidebar.html"))
    wait_for(lambda: d.find_element(By.ID, "ready").is_displayed(), what="the sidebar")
    d.find_element(By.ID, "tab-inbox").click()
    card = f'#inbox-list .album[data-id="{album}"]'
    wait_for(lambda: d.find_element(By.CSS_SELECTOR, f"{card} .c-toggle")).click()
    # The album's thread lists the comments on its items too, each exactly the text posted.
    texts = wait_for(lambda: js(d, THREAD_TEXTS, card), what="the thread")
    assert sorted(texts) == sorted(XSS_COMMENTS * 2)
    # Read in one script: the thread may be redrawn (marked read) between two WebDriver calls.
    authors = js(d, f"return [...document.querySelectorAll('{card} .c-author')].map((e) => e.textContent)")
    assert set(authors) == {XSS_NAME}
    assert js(d, f'return document.querySelector(\'{card} .c-on-item\').textContent') == "on photo0.png"
    assert js(d, NO_MARKUP, f"{card} .comments") == {"made": 0, "x": 0, "ran": "undefined"}

    d.get(world.page(f"gallery/gallery.html?album={album}&item={photo}"))
    texts = wait_for(lambda: js(d, THREAD_TEXTS, "#v-comments"), what="the comments under the viewer")
    assert texts == XSS_COMMENTS
    assert {e.text for e in d.find_elements(By.CSS_SELECTOR, "#v-comments .c-author")} == {XSS_NAME}
    assert js(d, NO_MARKUP, "#v-comments") == {"made": 0, "x": 0, "ran": "undefined"}
    assert js(d, NO_MARKUP, "#album-comments")["made"] == 0
    assert js(d, "return document.title") == "Corpus — Kith"


def reactions(d, box):
    """{emoji: (count, pressed)} of a thread's reaction buttons."""
    return js(d, """
      const out = {};
      for (const b of document.querySelectorAll(arguments[0] + " .reaction")) {
        out[b.dataset.emoji] = [Number(b.querySelector(".r-count")?.textContent || 0), b.getAttribute("aria-pressed") === "true"];
      }
      return out;
    """, box)


def test_a_comment_typed_in_the_sidebar_reaches_the_friend_on_enter_and_a_reaction_click_toggles(friends):
    album = share_album(friends.friend, friends.tmp, "Garden")
    wait_for(lambda: friends.me.json("albums"), what="the album reaching me")
    d = open_sidebar_tab(friends, "tab-inbox")
    card = f'#inbox-list .album[data-id="{album}"]'
    wait_for(lambda: d.find_element(By.CSS_SELECTOR, f"{card} .c-toggle")).click()
    box = wait_for(lambda: d.find_element(By.CSS_SELECTOR, f"{card} .c-input"), what="the comment box")
    wait_for(lambda: js(d, THREAD_TEXTS, card) == [], what="the empty thread")
    box.click()
    box.send_keys("Lovely roses")
    ActionChains(d).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()
    box.send_keys("and tulips", Keys.ENTER)

    got = wait_for(lambda: [c for c in thread(friends.friend, album) if c["text"]], what="the comment at Grandma's")
    assert [(c["text"], c["author_name"], c["item"]) for c in got] == [("Lovely roses\nand tulips", "Me", None)]
    assert wait_for(lambda: js(d, THREAD_TEXTS, card), what="my comment shown") == ["Lovely roses\nand tulips"]
    assert box.get_attribute("value") == ""
    mine = d.find_element(By.CSS_SELECTOR, f"{card} .comment")
    assert mine.find_element(By.CSS_SELECTOR, ".c-author").text == "Me"
    assert mine.find_element(By.CSS_SELECTOR, ".c-verified").get_attribute("title")  # me: verified, with a tooltip
    # Not the owner: no Hide; my own comment: Edit and Delete.
    assert not d.find_elements(By.CSS_SELECTOR, f"{card} .c-hide")

    # Edit: Escape cancels, Enter saves.
    d.find_element(By.CSS_SELECTOR, f"{card} .c-edit").click()
    assert box.get_attribute("value") == "Lovely roses\nand tulips"
    box.send_keys(Keys.ESCAPE)
    assert box.get_attribute("value") == ""
    d.find_element(By.CSS_SELECTOR, f"{card} .c-edit").click()
    box.send_keys(" too", Keys.ENTER)
    wait_for(lambda: [c["text"] for c in thread(friends.friend, album) if c["text"]] == ["Lovely roses\nand tulips too"],
             what="the edit at Grandma's")
    wait_for(lambda: js(d, f'return document.querySelector(\'{card} .c-edited\')?.textContent') == "(edited)",
             what="(edited)")

    # ❤️ once: given; twice: taken back. Both reach Grandma.
    heart = "\u2764\ufe0f"
    assert reactions(d, card)[heart] == [0, False]
    d.find_element(By.CSS_SELECTOR, f'{card} .reaction[data-emoji="{heart}"]').click()
    wait_for(lambda: reactions(d, card)[heart] == [1, True], what="the heart given")
    wait_for(lambda: [(c["reaction"], c["author_name"]) for c in thread(friends.friend, album) if c["reaction"]] == [(heart, "Me")],
             what="the heart at Grandma's")
    d.find_element(By.CSS_SELECTOR, f'{card} .reaction[data-emoji="{heart}"]').click()
    wait_for(lambda: reactions(d, card)[heart] == [0, False], what="the heart taken back")
    wait_for(lambda: not [c for c in thread(friends.friend, album) if c["reaction"]], what="the heart gone at Grandma's")


def test_the_owner_hides_a_friends_comment_under_the_viewer_opened_at_it_from_a_notification_link(friends):
    album = share_album(friends.me, friends.tmp, "Picnic", photos=2)
    items = friends.me.json("album", album)["items"]
    photo = next(i["id"] for i in items if i["name"].endswith("photo1.png"))
    wait_for(lambda: friends.friend.json("albums"), what="the album reaching Grandma")
    friends.friend.run("comment", photo, "Who took this one?")
    got = wait_for(lambda: thread(friends.me, photo), what="the comment reaching me")
    cid = got[0]["id"]

    # What a click on the comment's notification opens.
    d = friends.driver
    d.get(friends.page(f"gallery/gallery.html?album={album}&item={photo}&comment={cid}"))
    wait_for(lambda: d.find_element(By.ID, "viewer").is_displayed(), what="the viewer")
    assert d.find_element(By.ID, "v-name").text == "photo1.png"
    row = wait_for(lambda: d.find_element(By.CSS_SELECTOR, f'#v-comments .comment.highlight[data-id="{cid}"]'),
                   what="the comment shown and highlighted")
    assert row.find_element(By.CSS_SELECTOR, ".c-text").text == "Who took this one?"
    # The album below the grid lists it too, naming the photo.
    assert js(d, 'return document.querySelector("#album-comments .c-on-item")?.textContent') == "on photo1.png"

    row.find_element(By.CSS_SELECTOR, ".c-hide").click()
    wait_for(lambda: d.find_element(By.CSS_SELECTOR, "#v-comments .c-hidden").text == "hidden by the owner",
             what="hidden, as the owner sees it")
    assert d.find_element(By.CSS_SELECTOR, "#v-comments .c-text").text == "Who took this one?"  # the owner still reads it
    assert d.find_element(By.CSS_SELECTOR, "#v-comments .c-hide").text == "Show"
    # The owner's Hide reaches Grandma's node (what a member still sees of it is the node's rule).
    wait_for(lambda: [c for c in thread(friends.friend, album) if c["id"] == cid and c["hidden"]],
             what="hidden at Grandma's")
