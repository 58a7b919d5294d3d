"""Versions in a real Firefox: the add-on facing a node that speaks another protocol shows
"update Kith" (popup and sidebar) and sends nothing more; the host restarts a node still
running a replaced copy of its program."""

import os
import shutil
import subprocess

from conftest import KITH, WIDGET, wait_for
from test_addon import open_popup, popup_text, sidebar

PROTOCOL = 1  # extension/background/host.js PROTOCOL


def test_a_node_speaking_another_protocol_shows_update_kith_in_the_popup_and_sidebar(world):
    world.me.init("Me")
    world.me.env["KITH_FAULT_PROTOCOL"] = "2"  # only for this node, not for the host
    world.me.serve()
    del world.me.env["KITH_FAULT_PROTOCOL"]
    assert world.me.json("status")["pid"]
    world.start_browser()

    open_popup(world)
    text = wait_for(lambda: popup_text(world, "update-kith"), what="the update state in the popup")
    assert "protocol 2" in text and f"this add-on speaks protocol {PROTOCOL}" in text, text
    assert "sudo apt install ./kith_VERSION_amd64.deb" in text and "cargo install --path crates/kith" in text, text
    assert popup_text(world, "my-id") is None  # the ready view is not filled

    world.chrome(f'SidebarController.show("{WIDGET}-sidebar-action")')
    text = wait_for(lambda: sidebar(world, 'return doc.getElementById("update-kith")?.textContent;'),
                    what="the update state in the sidebar")
    assert "protocol 2" in text, text
    assert sidebar(world, 'return doc.getElementById("ready").hidden;') is True
    # Nothing more was sent: the add-on closed its port, so no host runs for it.
    wait_for(lambda: not host_pids(world), what="the native host to exit")


def host_pids(world):
    """Native hosts this test's Firefox started (their command line names its host manifest)."""
    manifest = str(world.home / ".mozilla" / "native-messaging-hosts" / "kith.json").encode()
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if manifest in args:
            pids.append(int(pid))
    return pids


def install_copy(bin_dir):
    """A copy of kith at bin_dir/kith, written anew and renamed over (a new inode and mtime)."""
    path = bin_dir / "kith"
    shutil.copy2(KITH, bin_dir / "kith.new")
    os.replace(bin_dir / "kith.new", path)
    return path


def test_the_host_restarts_a_node_still_running_a_replaced_copy_of_its_program(world):
    bin_dir = world.tmp / "bin"
    bin_dir.mkdir()
    program = install_copy(bin_dir)
    world.me.init("Me")
    r = subprocess.run([str(program), "start"], env=world.me.env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    before = world.me.json("status")
    assert before["binary"]["path"] == str(program.resolve())

    install_copy(bin_dir)  # the upgrade, while the node runs
    st = os.stat(program)
    world.start_browser(program)
    open_popup(world)
    wait_for(lambda: popup_text(world, "my-id"), timeout=40, what="the popup ready")
    after = world.me.json("status")
    assert after["pid"] != before["pid"], "the node was not restarted"
    assert after["binary"]["stamp"] == f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"
    assert not os.path.exists(f"/proc/{before['pid']}"), "the old node still runs"
