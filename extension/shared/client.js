// The pages' side of the connection to the background script, which owns the native port.

/** Connection to the background: calls to the node, its events, and the host's state. */
export class Kith {
  constructor() {
    this.nextId = 1;
    this.pending = new Map();
    this.eventListeners = new Set();
    this.stateListeners = new Set();
    this.messageListeners = new Set();
    this.state = { status: "connecting" };
    this.port = browser.runtime.connect({ name: "kith" });
    this.port.onMessage.addListener((m) => this.receive(m));
    this.port.onDisconnect.addListener(() => {
      for (const { reject } of this.pending.values()) reject({ code: "no_node", message: "disconnected" });
      this.pending.clear();
    });
  }

  receive(m) {
    if (m.type === "reply") {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(m.error);
    } else if (m.type === "state") {
      this.state = m.state;
      for (const f of this.stateListeners) f(m.state);
    } else if (m.type === "event") {
      for (const f of this.eventListeners) f(m.event);
    } else {
      for (const f of this.messageListeners) f(m);
    }
  }

  /** Sends a command to the node; resolves with its result, rejects with {code, message}. */
  call(cmd, args = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.port.postMessage({ type: "call", id, cmd: { ...args, cmd } });
    });
  }

  /** Sends a request of another kind (share, share_request, retry), answered like a call. */
  request(type, body = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.port.postMessage({ ...body, type, id });
    });
  }

  /** Calls `f(event)` for each node event. */
  onEvent(f) {
    this.eventListeners.add(f);
  }

  /** Calls `f(state)` now and whenever the connection's state changes. */
  onState(f) {
    this.stateListeners.add(f);
    f(this.state);
  }

  /** Calls `f(message)` for other messages (share progress). */
  onMessage(f) {
    this.messageListeners.add(f);
  }
}

/** A user-facing sentence for an error reply. */
export function errorText(e) {
  if (!e) return "";
  return e.message || e.code || String(e);
}
