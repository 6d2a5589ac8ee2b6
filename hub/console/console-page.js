// What the officer and admin pages share: the login form, the top bar with the
// connection state and the logout button, the lost-connection banner and the
// notice line.

import { byId, setText, show } from "./dom.js";
import { HubSession, RECONNECT_DELAY_MS } from "./hub-session.js";

const STATUS_TEXT = {
  connecting: "Đang kết nối…",
  online: "Đã kết nối",
  reconnecting: "Mất kết nối",
  offline: "Chưa kết nối",
};

/**
 * Wire a console page. options: storageKey, clientType, accepts, clientId,
 * location (see HubSession), onMessage(type, payload), onSignedIn(identity),
 * onSignedOut(), onStatus(status), and for the officer's page
 * onCounterBusy(hubMessage), onTakenOver(reason). Returns { session, notify }.
 */
export function startConsolePage(options) {
  const loginView = byId("login");
  const appView = byId("app");
  const form = byId("login-form");
  const username = byId("login-username");
  const password = byId("login-password");
  const loginError = byId("login-error");
  const loginButton = byId("login-submit");
  const statusBadge = byId("connection-status");
  const banner = byId("connection-banner");
  const userName = byId("user-name");
  const logout = byId("logout");
  const notice = byId("notice");
  let noticeTimer = null;

  function notify(text, kind = "info", sticky = false) {
    clearTimeout(noticeTimer);
    setText(notice, text);
    notice.className = `notice notice-${kind}`;
    show(notice, Boolean(text));
    if (text && !sticky) noticeTimer = setTimeout(() => show(notice, false), 8000);
  }

  function showLoginMessage(text, kind = "error") {
    setText(loginError, text || "");
    loginError.className = `form-message form-${kind}`;
    show(loginError, Boolean(text));
  }

  const session = new HubSession({
    storageKey: options.storageKey,
    clientType: options.clientType,
    accepts: options.accepts,
    clientId: options.clientId,
    location: options.location,
    handlers: {
      onSignedIn(identity) {
        show(loginView, false);
        show(appView, true);
        document.body.classList.add("signed-in");
        setText(userName, identity.full_name || identity.username || "");
        password.value = "";
        options.onSignedIn?.(identity);
      },
      onSignedOut(reason) {
        show(appView, false);
        show(loginView, true);
        document.body.classList.remove("signed-in");
        notify("");
        showLoginMessage(reason, "info");
        options.onSignedOut?.();
        username.focus();
      },
      onStatus(status) {
        setText(statusBadge, STATUS_TEXT[status] || status);
        statusBadge.className = `connection connection-${status}`;
        const lost = status === "reconnecting" || (status === "connecting" && banner.dataset.lost === "1");
        banner.dataset.lost = lost ? "1" : "";
        if (status === "reconnecting") {
          setText(banner, `Mất kết nối với máy chủ. Tự động kết nối lại sau ${RECONNECT_DELAY_MS / 1000} giây… `
            + "(Connection lost, reconnecting)");
        } else if (status === "connecting" && lost) {
          setText(banner, "Đang kết nối lại với máy chủ… (Reconnecting)");
        }
        show(banner, lost);
        document.body.classList.toggle("is-offline", status !== "online");
        options.onStatus?.(status);
      },
      onMessage: options.onMessage,
      onCounterBusy: options.onCounterBusy,
      onTakenOver: options.onTakenOver,
    },
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = username.value.trim();
    if (!name || !password.value) {
      showLoginMessage("Nhập tên đăng nhập và mật khẩu. (Enter your username and password)");
      return;
    }
    showLoginMessage("");
    loginButton.disabled = true;
    setText(loginButton, "Đang đăng nhập…");
    try {
      await session.login(name, password.value);
    } catch (error) {
      password.value = "";
      showLoginMessage(error.message);
      password.focus();
    } finally {
      loginButton.disabled = false;
      setText(loginButton, "Đăng nhập");
    }
  });

  logout.addEventListener("click", () => session.logout());

  return { session, notify, start: () => session.start() };
}
