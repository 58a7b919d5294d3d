"""Fixtures for the add-on tests: real `kith` nodes, a web page to share from, and a headless
firefox-esr with the add-on installed as a temporary add-on, driven through geckodriver."""

import base64
import functools
import http.server
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
import zlib
import struct
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.firefox.options import Options
from selenium.webdriver.firefox.service import Service

ROOT = Path(__file__).resolve().parents[2]
KITH = Path(os.environ.get("KITH_BIN", ROOT / "target" / "debug" / "kith"))
EXTENSION = ROOT / "extension"
ADDON_ID = "kith@kith"
WIDGET = "kith_kith"


def wait_for(check, timeout=20.0, what="condition", interval=0.2):
    """Polls `check()` until it returns something truthy; fails the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except Exception as e:  # the page may be reloading: try again
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class KithHome:
    """One Kith home and the `kith` CLI pointed at it."""

    def __init__(self, path: Path, env: dict):
        self.path = path
        self.env = {**env, "KITH_HOME": str(path)}
        self.serving = None

    def run(self, *args, check=True, timeout=60):
        r = subprocess.run([str(KITH), *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"kith {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r

    def json(self, *args, timeout=60):
        return json.loads(self.run(*args, "--json", timeout=timeout).stdout)

    def init(self, name):
        self.run("init", "--name", name)

    def serve(self, *args):
        """Starts `kith serve` (with extra arguments, such as `--listen 127.0.0.1:0`)."""
        log = open(self.path.parent / f"{self.path.name}-serve.log", "ab")
        self.serving = subprocess.Popen([str(KITH), "serve", *args], env=self.env, stdout=log, stderr=log,
                                        start_new_session=True)

        def up():
            if self.serving.poll() is not None:  # refused, e.g. by KITH_LOCAL_ONLY (exit 4)
                raise AssertionError(f"kith serve exited with {self.serving.returncode}: see {log.name}")
            return self.run("status", check=False).returncode == 0
        wait_for(up, what=f"node {self.path.name}")

    def stop(self):
        self.run("stop", check=False, timeout=20)
        if self.serving:
            try:
                self.serving.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.serving.kill()

    def befriend(self, other: "KithHome"):
        link = self.json("invite")["link"]
        other.run("accept", link)


def png(width=48, height=32, seed=7) -> bytes:
    """A small PNG with a pattern that depends on `seed`."""
    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in ((x * seed + y * 3) % 256, (y * seed) % 256, (x + y) % 256))
        for y in range(height))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With CI=true a test that would skip fails instead."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") == "true" and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"CI=true, and this test would skip: {report.longrepr}"


@pytest.fixture(scope="session")
def kith_bin():
    if not KITH.exists():
        pytest.fail(f"{KITH} is missing: run `cargo build` first (tests/run.sh does)")
    return KITH


@pytest.fixture(scope="session")
def web():
    """A loopback web server with a page holding an image and a link."""
    root = Path(tempfile.mkdtemp(prefix="kith-web-"))
    (root / "photo.png").write_bytes(png())
    (root / "page.html").write_text(
        "<!doctype html><title>Beach day</title><h1>Beach day</h1>"
        '<img id="photo" src="photo.png" width="96" height="64" alt="photo">'
        '<p><a id="file-link" href="photo.png">the photo</a></p>'
        '<p><a id="short-link" href="go">a short link</a></p>')

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/go":  # a short link that redirects to the photo
                self.send_response(302)
                self.send_header("Location", "/photo.png")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    handler = functools.partial(Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"url": f"http://127.0.0.1:{server.server_address[1]}", "root": root}
    server.shutdown()
    shutil.rmtree(root, ignore_errors=True)


class World:
    """Me (the browser's node), a friend node, and Firefox with the add-on."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.home = tmp / "home"  # Firefox's (and the native host's) HOME
        self.home.mkdir()
        base = {k: v for k, v in os.environ.items() if not k.startswith("KITH_")}
        base["HOME"] = str(self.home)
        # Nothing leaves this machine: every node (also those the native host starts) listens
        # on 127.0.0.1, which keeps mDNS, port mapping and the DHT off, and the guard makes
        # `kith serve` refuse anything else (exit 4).
        base["KITH_LOCAL_ONLY"] = "1"
        base["KITH_LISTEN"] = "127.0.0.1"
        self.me = KithHome(tmp / "me", base)
        self.friend = KithHome(tmp / "friend", base)
        self.driver = None
        self.uuid = str(uuid.uuid4())

    def start_browser(self, program=None):
        """Starts Firefox with the add-on; the host manifest names `program` (default: KITH)."""
        if program:
            subprocess.run([str(program), "install"], env=self.me.env, check=True, capture_output=True)
        else:
            self.me.run("install")
        opts = Options()
        opts.add_argument("-headless")
        opts.binary_location = shutil.which("firefox-esr") or shutil.which("firefox")
        opts.set_preference("extensions.webextensions.uuids", json.dumps({ADDON_ID: self.uuid}))
        # Extension pages in the parent process, so chrome code can read the popup and sidebar.
        opts.set_preference("extensions.webextensions.remote", False)
        opts.set_preference("browser.shell.checkDefaultBrowser", False)
        log = open(self.tmp / "geckodriver.log", "w")
        service = Service(shutil.which("geckodriver"), service_args=["--allow-system-access"],
                          env=self.me.env, log_output=log)
        self.driver = webdriver.Firefox(options=opts, service=service)
        self.driver.install_addon(str(EXTENSION), temporary=True)
        return self.driver

    def page(self, path):
        """The URL of one of the add-on's pages."""
        return f"moz-extension://{self.uuid}/{path}"

    def chrome(self, script, *args):
        """Runs JavaScript in the browser's chrome (its own window, toolbar and menus)."""
        self.driver.set_context("chrome")
        try:
            return self.driver.execute_script(script, *args)
        finally:
            self.driver.set_context("content")

    def close(self):
        if self.driver:
            try:
                self.driver.quit()
            except Exception:
                pass
        for h in (self.me, self.friend):
            if (h.path / "identity.key").exists() or h.serving:
                h.stop()
        # A node the native host started in its own session, if it outlived `stop`.
        subprocess.run(["pkill", "-f", str(self.tmp)], check=False)


@pytest.fixture
def world(kith_bin):
    tmp = Path(tempfile.mkdtemp(prefix="kith-e2e-"))
    w = World(tmp)
    try:
        yield w
    finally:
        w.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def friends(world):
    """Me and Grandma, befriended, both nodes running, and Firefox with the add-on."""
    world.me.init("Me")
    world.friend.init("Grandma")
    world.me.serve()
    world.friend.serve()
    world.friend.befriend(world.me)
    wait_for(lambda: world.me.json("friends")[0]["online"], what="friends online")
    world.start_browser()
    return world
