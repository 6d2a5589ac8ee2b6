// One signed-in console's link to the hub: LOGIN or AUTH over the WebSocket at
// /ws (same origin), REGISTER_CLIENT, then every message to the page.
//
// The token lives in sessionStorage (gone when the tab closes; logout drops
// it). When the connection drops the console reconnects after 5 s, as the
// seed asks, authenticates again with the token and registers again: the
// hub's SNAPSHOT and QUEUE_UPDATEs then bring the page up to date.
//
// One officer per counter: when the hub answers REGISTER_CLIENT with
// COUNTER_BUSY the page asks the officer, and registers again with
// take_over only if they say so. A console whose counter was taken over is
// closed by the hub with TAKEN_OVER_CODE: it stays closed (reconnecting by
// itself would take the counter back, and the two would fight over it).

export const RECONNECT_DELAY_MS = 5000;
// hub/registration.py TAKEN_OVER_CODE: the counter was taken over by another officer's console.
export const TAKEN_OVER_CODE = 4001;
// The hub pings at the WebSocket level, but a browser cannot see those: an
// application PING tells a dead link from a quiet one.
const HEARTBEAT_EVERY_MS = 15000;
const HEARTBEAT_GIVE_UP_MS = 35000;

const NO_HUB = "Không kết nối được với máy chủ. Kiểm tra mạng rồi thử lại. (Cannot reach the hub)";
export const SESSION_EXPIRED = "Phiên đăng nhập đã hết hạn, xin đăng nhập lại. (Session expired)";

function hubUrl() {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${window.location.host}/ws`;
}

function randomTabId() {
  const bytes = new Uint8Array(4);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class HubSession {
  /**
   * storageKey: where this page keeps its token in sessionStorage.
   * clientType: REGISTER_CLIENT's client_type ("officer" or "admin").
   * accepts(identity): null if this page is for that person, else why not (shown at login).
   * clientId(identity, tabId) / location(identity): what to register as.
   * handlers: onSignedIn(identity), onSignedOut(reason), onStatus(status), onMessage(type, payload),
   *   and for officers onCounterBusy(hubMessage) (someone else works at the counter: ask, then takeOver()
   *   or standDown()) and onTakenOver(reason) (closed for good until takeOver()).
   */
  constructor({ storageKey, clientType, accepts, clientId, location, handlers }) {
    Object.assign(this, { storageKey, clientType, accepts, clientIdFor: clientId, locationFor: location });
    this.handlers = handlers;
    this.ws = null;
    this.identity = null;
    this.status = "offline";
    this.signedIn = false;
    this.reconnectTimer = null;
    this.heartbeatTimer = null;
    this.lastHeard = 0;
    this.pendingLogin = null;
    // Registered (CONNECTION_ACK), the hall's state (SNAPSHOT) not yet in: not shown online until it is.
    this.awaitingState = false;
    // The next REGISTER_CLIENT carries take_over: true (the officer chose to take the counter).
    this.takingOver = false;
    // Refused (COUNTER_BUSY) or taken over: not registered, and not reconnecting by itself.
    this.heldOff = false;
    this.authenticated = false;
  }

  get saved() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(this.storageKey) || "null");
      return saved && typeof saved.token === "string" ? saved : null;
    } catch {
      return null;
    }
  }

  _save(token, identity) {
    const tab = this.saved?.tab || randomTabId();
    sessionStorage.setItem(this.storageKey, JSON.stringify({ token, identity, tab }));
  }

  /** Resume a saved session, or ask for a login. */
  start() {
    const saved = this.saved;
    if (!saved) {
      this.handlers.onSignedOut(null);
      return;
    }
    if (saved.identity?.expires_at && new Date(saved.identity.expires_at) <= new Date()) {
      this._forget();
      this.handlers.onSignedOut(SESSION_EXPIRED);
      return;
    }
    this.identity = saved.identity;
    this.signedIn = true;
    this.handlers.onSignedIn(this.identity);
    this._connect({ token: saved.token });
  }

  /** Log in with a username and password; resolves once signed in, rejects with a message for the person. */
  login(username, password) {
    this._stop();
    return new Promise((resolve, reject) => {
      this.pendingLogin = { resolve, reject };
      this._connect({ username, password });
    });
  }

  logout() {
    this._forget();
    this._stop();
    this.handlers.onSignedOut(null);
  }

  /** Take the counter from the officer working there: register again (reconnecting if need be) with take_over. */
  takeOver() {
    const saved = this.saved;
    if (!saved || !this.signedIn) return;
    this.takingOver = true;
    this.heldOff = false;
    if (this.ws && this.ws.readyState === WebSocket.OPEN && this.authenticated) {
      this._register();
    } else {
      this._stop();
      this._connect({ token: saved.token });
    }
  }

  /** Leave the counter to the officer there: close the connection, stay signed in, do not reconnect. */
  standDown() {
    this.heldOff = true;
    this.takingOver = false;
    this._stop();
  }

  /** The token, for the hub's HTTP API (Authorization: Bearer). */
  get token() {
    return this.saved?.token || null;
  }

  /** Send a message if registered; false if the hub cannot be reached right now. */
  send(type, payload = {}) {
    // Registered is enough: the page's own SNAPSHOT handler asks for more (USER_LIST) before it is online.
    if (!this.ws || (this.status !== "online" && !this.awaitingState)) return false;
    this.ws.send(JSON.stringify({ type, payload }));
    return true;
  }

  /** Signed out because the hub no longer accepts the token (seen by the page, e.g. an HTTP 401). */
  expire() {
    this._forget();
    this._stop();
    this.handlers.onSignedOut(SESSION_EXPIRED);
  }

  // --- internals -------------------------------------------------------------

  _forget() {
    sessionStorage.removeItem(this.storageKey);
    this.identity = null;
    this.signedIn = false;
    this.heldOff = false;
    this.takingOver = false;
  }

  _setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.handlers.onStatus(status);
  }

  _connect(credentials) {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.authenticated = false;
    this.awaitingState = false;
    this._setStatus("connecting");
    let ws;
    try {
      ws = new WebSocket(hubUrl());
    } catch {
      this._lost(null);
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.lastHeard = Date.now();
      if (credentials.token) {
        this._raw({ type: "AUTH", payload: { token: credentials.token } });
      } else {
        this._raw({ type: "LOGIN", payload: { username: credentials.username, password: credentials.password } });
      }
    };
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      this.lastHeard = Date.now();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message && typeof message.type === "string") this._receive(message.type, message.payload || {});
    };
    ws.onclose = (event) => this._lost(ws, event);
    ws.onerror = () => {}; // onclose follows and handles it
  }

  _raw(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  _register() {
    const saved = this.saved;
    this._raw({
      type: "REGISTER_CLIENT",
      payload: {
        client_type: this.clientType,
        client_id: this.clientIdFor(this.identity, saved?.tab || randomTabId()),
        location: this.locationFor(this.identity),
        ...(this.takingOver ? { take_over: true } : {}),
      },
    });
  }

  _receive(type, payload) {
    switch (type) {
      case "LOGIN_OK": {
        const identity = {
          role: payload.role, user_id: payload.user_id, username: payload.username,
          full_name: payload.full_name, counter_id: payload.counter_id, expires_at: payload.expires_at,
        };
        const problem = this.accepts(identity);
        if (problem) {
          this._finishLogin(new Error(problem));
          this._stop();
          return;
        }
        this._save(payload.token, identity);
        this.identity = identity;
        this.signedIn = true;
        this.authenticated = true;
        this._finishLogin(null);
        this.handlers.onSignedIn(identity);
        this._register();
        return;
      }
      case "AUTH_OK": {
        const saved = this.saved;
        const identity = {
          role: payload.role, user_id: payload.user_id, username: payload.username,
          full_name: payload.full_name, counter_id: payload.counter_id, expires_at: payload.expires_at,
        };
        if (saved) this._save(saved.token, identity);
        this.identity = identity;
        this.authenticated = true;
        this._register();
        return;
      }
      case "CONNECTION_ACK":
        // Taken once: a later reconnect (a network drop) registers plainly, and is refused if someone
        // else has the counter by then, rather than taking it back unasked.
        this.takingOver = false;
        this.heldOff = false;
        // Online once the hall's state is in (the SNAPSHOT that follows, PROTOCOL.md): a page is never
        // shown connected, its buttons live, with no state yet or the last connection's.
        this.awaitingState = true;
        this._startHeartbeat();
        return;
      case "SNAPSHOT":
        this.handlers.onMessage(type, payload);
        if (this.awaitingState) {
          this.awaitingState = false;
          this._setStatus("online");
        }
        return;
      case "PONG":
        return;
      case "ERROR":
        if (payload.error_code === "AUTH_FAILED") {
          if (payload.message_type === "LOGIN") {
            this._finishLogin(new Error(payload.message || "Đăng nhập không thành công"));
            this._stop();
            return;
          }
          // The token was refused (expired, or the hub's secret changed): log in again.
          this.expire();
          return;
        }
        if (payload.error_code === "COUNTER_BUSY" && payload.message_type === "REGISTER_CLIENT"
            && this.handlers.onCounterBusy) {
          // Still connected and authenticated, not registered: takeOver() registers at once.
          this.takingOver = false;
          this.handlers.onCounterBusy(payload.message || "");
          return;
        }
        break;
      default:
        break;
    }
    this.handlers.onMessage(type, payload);
  }

  _finishLogin(error) {
    const pending = this.pendingLogin;
    this.pendingLogin = null;
    if (!pending) return;
    if (error) pending.reject(error);
    else pending.resolve(this.identity);
  }

  _startHeartbeat() {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > HEARTBEAT_GIVE_UP_MS) {
        const dead = this.ws;
        this._lost(dead);
        try { dead?.close(); } catch { /* already gone */ }
        return;
      }
      this._raw({ type: "PING", payload: { timestamp: new Date().toISOString() } });
    }, HEARTBEAT_EVERY_MS);
  }

  _lost(ws, event = null) {
    if (ws !== null && ws !== this.ws) return; // an old socket closing late
    if (this.ws) {
      this.ws.onopen = this.ws.onmessage = this.ws.onclose = null;
    }
    this.ws = null;
    this.authenticated = false;
    this.awaitingState = false;
    clearInterval(this.heartbeatTimer);
    if (this.pendingLogin) {
      this._finishLogin(new Error(NO_HUB));
      this._setStatus("offline");
      return;
    }
    if (!this.signedIn || this.heldOff) {
      this._setStatus("offline");
      return;
    }
    if (event && event.code === TAKEN_OVER_CODE) {
      this.heldOff = true;
      this._setStatus("offline");
      this.handlers.onTakenOver?.(event.reason || "");
      return;
    }
    this._setStatus("reconnecting");
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      const saved = this.saved;
      if (saved && this.signedIn) this._connect({ token: saved.token });
    }, RECONNECT_DELAY_MS);
  }

  _stop() {
    clearTimeout(this.reconnectTimer);
    clearInterval(this.heartbeatTimer);
    this.reconnectTimer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      try { ws.close(1000, "logout"); } catch { /* already closed */ }
    }
    this._setStatus("offline");
  }
}
