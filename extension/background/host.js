// The one native-messaging port to the `kith` host: requests with ids, events, reconnection.

const HOST = "kith";
/** The one version of Kith's API (`hello.protocol`, API.md §4) this add-on speaks. */
export const PROTOCOL = 1;
const CALL_TIMEOUT_MS = 30_000;
/** Commands that may run for long (a fetch lasts as long as its download). */
const LONG = new Set(["fetch", "invite_accept", "share"]);

/** Owns the native port; tells listeners about its state and the node's events. */
export class Host {
  constructor() {
    this.port = null;
    this.nextId = 1;
    this.pending = new Map();
    this.state = { status: "connecting" };
    this.onState = () => {};
    this.onEvent = () => {};
    this.retryMs = 1000;
    this.retryTimer = null;
  }

  setState(s) {
    this.state = s;
    this.onState(s);
  }

  /** Connects (again) now. */
  connect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.port) return;
    this.setState({ status: "connecting" });
    let port;
    try {
      port = browser.runtime.connectNative(HOST);
    } catch (e) {
      this.lost(String(e && e.message ? e.message : e));
      return;
    }
    this.port = port;
    port.onMessage.addListener((m) => this.receive(m));
    port.onDisconnect.addListener((p) => {
      if (this.port !== port) return;
      this.port = null;
      this.lost(p.error ? p.error.message : "");
    });
    this.handshake();
  }

  /** The port is gone: fail what waits, say why, and try again with a growing delay. */
  lost(error) {
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject({ code: "no_node", message: browser.i18n.getMessage("errLost") });
    }
    this.pending.clear();
    const missing = /no such native application|not found|manifest|no such file/i.test(error);
    this.setState({ status: missing ? "missing" : "down", error });
    this.retryTimer = setTimeout(() => this.connect(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, 10_000);
  }

  /** Exchanges versions and learns who we are. */
  async handshake() {
    try {
      const hello = await this.call({ cmd: "hello", version: browser.runtime.getManifest().version });
      if (this.outdated(hello, hello.node)) return;
      if (!hello.initialized) {
        this.retryMs = 1000;
        this.setState({ status: "no_identity", hello });
        return;
      }
      await this.refresh(hello);
    } catch (e) {
      if (this.port) this.setState({ status: "down", error: e.message || e.code });
    }
  }

  /**
   * When the host or its node speaks another protocol: says so (`outdated`) and closes the
   * port, so nothing more is sent; "Try again" connects afresh. Returns true then.
   */
  outdated(hello, node) {
    const theirs = [hello && hello.protocol, node && node.protocol].find((p) => typeof p === "number" && p !== PROTOCOL);
    if (theirs === undefined) return false;
    const version = hello && hello.protocol !== PROTOCOL ? hello.host_version : node.node_version;
    const port = this.port;
    this.port = null;
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject({ code: "no_node", message: browser.i18n.getMessage("errOutdated") });
    }
    this.pending.clear();
    if (port) port.disconnect();
    this.setState({ status: "outdated", protocol: theirs, version: version || "?", speaks: PROTOCOL, hello });
    return true;
  }

  /** Tells the node the add-on's origin, reads its status and reports the connection as ready. */
  async refresh(hello = this.state.hello) {
    // The gateway serves the add-on's pages only once the node knows their origin.
    await this.call({ cmd: "addon_origin", origin: browser.runtime.getURL("").replace(/\/$/, "") });
    const me = await this.call({ cmd: "status" });
    this.retryMs = 1000;
    this.setState({ status: "ready", hello, me });
  }

  receive(m) {
    if (m && typeof m.event === "string") {
      if (m.event === "node_down") {
        this.setState({ status: "node_down", hello: this.state.hello });
        // The host starts a new node on the next request: ask soon.
        setTimeout(() => this.refresh().catch(() => {}), 1000);
      } else if (m.event === "node_up" && this.outdated(this.state.hello, m.node)) {
        return;
      } else if (m.event === "node_up" && this.state.status === "node_down") {
        this.refresh().catch(() => {});
      }
      this.onEvent(m);
      return;
    }
    const p = m ? this.pending.get(m.id) : null;
    if (!p) {
      // An error for no request at all (a refused add-on, a malformed frame): say so.
      if (m && m.ok === false && m.error && m.id === null) this.setState({ status: "down", error: m.error.message });
      return;
    }
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.ok) p.resolve(m.result);
    else p.reject(m.error || { code: "internal", message: browser.i18n.getMessage("errBadReply") });
  }

  /** Sends one command; resolves with the result, rejects with {code, message}. */
  call(cmd) {
    if (!this.port) return Promise.reject({ code: "no_node", message: browser.i18n.getMessage("errNotConnected") });
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = LONG.has(cmd.cmd)
        ? null
        : setTimeout(() => {
            this.pending.delete(id);
            reject({ code: "timeout", message: browser.i18n.getMessage("errTimeout") });
          }, CALL_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      try {
        this.port.postMessage({ ...cmd, id });
      } catch (e) {
        this.pending.delete(id);
        clearTimeout(timer);
        reject({ code: "no_node", message: String(e) });
      }
    });
  }
}
