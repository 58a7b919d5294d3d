"""Reliability item 25: messages inside the add-on are accepted only from its own pages.

Another add-on installed beside Kith tries to talk to Kith's background the two ways the
WebExtension API offers (a port, and a one-off message) and asks the node for a change of
settings; the node must never see it. The same attempt from one of Kith's own pages gets through,
so the refusal is the sender check, not a broken probe. (Web pages cannot reach an add-on's
messaging in Firefox at all, and Kith has no content scripts and no web-accessible pages.)"""

import json

from conftest import ADDON_ID, wait_for

FOREIGN_ID = "foreign@kith.test"

# What both the foreign page and Kith's own page run: connect a port named "kith" to Kith's
# background and ask for `settings {help_friends: true}`, and send the same as a one-off message.
# `target` is Kith's ID for another add-on, null for Kith itself. Resolves to what happened.
PROBE_JS = r"""
async function probe(target) {
  const call = { type: "call", id: 1, cmd: { cmd: "settings", help_friends: true } };
  const connect = await new Promise((resolve) => {
    const got = [];
    let port;
    try {
      port = target ? browser.runtime.connect(target, { name: "kith" }) : browser.runtime.connect({ name: "kith" });
    } catch (e) {
      resolve({ thrown: String(e), got });
      return;
    }
    port.onMessage.addListener((m) => got.push(m));
    port.onDisconnect.addListener((p) => resolve({ disconnected: true, error: p.error ? p.error.message : null, got }));
    port.postMessage(call);
    setTimeout(() => resolve({ disconnected: false, got }), 3000);
  });
  let send;
  try {
    const answer = target ? await browser.runtime.sendMessage(target, call) : await browser.runtime.sendMessage(call);
    send = { answer: answer === undefined ? "(none)" : answer };
  } catch (e) {
    send = { error: String(e) };
  }
  return { connect, send };
}
"""

MANIFEST = {
    "manifest_version": 3,
    "name": "Not Kith",
    "version": "1.0",
    "browser_specific_settings": {"gecko": {"id": FOREIGN_ID}},
}

PAGE = """<!doctype html><meta charset="utf-8"><title>probe</title>
<pre id="out"></pre><script src="probe.js"></script>"""


def foreign_addon(tmp):
    d = tmp / "foreign-addon"
    d.mkdir()
    (d / "manifest.json").write_text(json.dumps(MANIFEST))
    (d / "probe.html").write_text(PAGE)
    (d / "probe.js").write_text(
        PROBE_JS + f'probe("{ADDON_ID}").then((r) => {{ document.getElementById("out").textContent = JSON.stringify(r); }});\n')
    return d


def help_friends(world):
    return world.me.json("settings")["help_friends"]


def test_another_add_on_cannot_reach_kiths_background_while_kiths_own_page_can(friends):
    world = friends
    assert help_friends(world) is False
    driver = world.driver
    driver.install_addon(str(foreign_addon(world.tmp)), temporary=True)
    host = wait_for(lambda: world.chrome(
        f'const p = WebExtensionPolicy.getByID("{FOREIGN_ID}"); return p && p.mozExtensionHostname;'),
        what="the foreign add-on")

    # Kith's sidebar page is up (its background and the node are talking) before the probe.
    driver.get(world.page("sidebar/sidebar.html"))
    wait_for(lambda: driver.execute_script('return !!document.getElementById("ready")'), what="Kith's page")

    driver.get(f"moz-extension://{host}/probe.html")
    out = wait_for(lambda: driver.execute_script('return document.getElementById("out").textContent'),
                   timeout=30, what="the foreign probe")
    foreign = json.loads(out)
    # Nothing came back on the port (not even the host state Kith sends its own pages) and no
    # one-off message was answered.
    assert foreign["connect"]["got"] == [], foreign
    assert foreign["connect"]["disconnected"] is True, foreign
    assert "error" in foreign["send"], foreign
    # And the node never saw the request.
    assert help_friends(world) is False

    # The same probe from Kith's own page gets the state and a reply, and changes the setting.
    driver.get(world.page("sidebar/sidebar.html"))
    wait_for(lambda: driver.execute_script('return !!document.getElementById("ready")'), what="Kith's page")
    own = driver.execute_async_script(
        PROBE_JS + "const done = arguments[arguments.length - 1]; probe(null).then(done, (e) => done(String(e)));")
    types = [m.get("type") for m in own["connect"]["got"]]
    assert "state" in types and "reply" in types, own
    reply = next(m for m in own["connect"]["got"] if m.get("type") == "reply")
    assert reply["ok"] is True, own
    wait_for(lambda: help_friends(world) is True, what="the setting from Kith's own page")
