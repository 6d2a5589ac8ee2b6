// The province's report page (qms-central serve): the hall's report view with a site filter. Signs in with
// a token from `qms-central token`, kept for this tab only (sessionStorage), sent in an Authorization header.

import { byId, h, replaceChildren, setText, show } from "/console/dom.js";
import { startReportView } from "/console/report-view.js";

const STORAGE_KEY = "qms.province.token";
const el = {
  login: byId("login"),
  form: byId("login-form"),
  token: byId("login-token"),
  error: byId("login-error"),
  app: byId("app"),
  site: byId("report-site"),
  user: byId("user-name"),
  status: byId("connection-status"),
  logout: byId("logout"),
  notice: byId("notice"),
};

const session = {
  get token() {
    return sessionStorage.getItem(STORAGE_KEY);
  },
  expire() {
    sessionStorage.removeItem(STORAGE_KEY);
    signedOut("Phiên đăng nhập đã hết hạn hoặc mã không đúng: xin đăng nhập lại. (Sign in again)");
  },
};

function notify(text, kind = "info") {
  setText(el.notice, text);
  el.notice.dataset.kind = kind;
  show(el.notice, Boolean(text));
}

const view = startReportView({
  session,
  notify,
  extraQuery: () => (el.site.value ? { site: el.site.value } : {}),
});

// A token is three base64url parts (a JWT); anything else is a paste gone wrong, and could not even be sent
// in a header (fetch refuses characters outside Latin-1).
const TOKEN_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

async function signedIn() {
  let response;
  try {
    response = await fetch("/api/sites", { headers: { Authorization: `Bearer ${session.token}` },
      cache: "no-store" });
  } catch {
    signedOut("Không kết nối được máy chủ báo cáo tỉnh: xin thử lại sau. (The server cannot be reached)");
    return;
  }
  if (response.status === 401) {
    session.expire();
    return;
  }
  if (!response.ok) {
    signedOut(`Máy chủ báo cáo tỉnh đang gặp lỗi (${response.status}): xin thử lại sau.`);
    return;
  }
  const answer = await response.json();
  replaceChildren(el.site, [h("option", { value: "" }, "Mọi trung tâm"),
    ...answer.sites.map((site) => h("option", { value: site.site_id }, site.site_name))]);
  setText(el.user, answer.user || "");
  setText(el.status, "Đã kết nối");
  el.status.className = "connection connection-online";
  show(el.login, false);
  show(el.app, true);
  document.body.classList.add("signed-in");
  view.load();
}

function signedOut(message = "") {
  document.body.classList.remove("signed-in");
  show(el.app, false);
  show(el.login, true);
  setText(el.error, message);
  show(el.error, Boolean(message));
  setText(el.status, "Chưa kết nối");
  el.status.className = "connection connection-offline";
  view.forget();
}

el.form.addEventListener("submit", (event) => {
  event.preventDefault();
  const token = el.token.value.trim().replace(/^Bearer\s+/i, "");
  if (!token) {
    setText(el.error, "Dán mã truy cập. (Paste the token)");
    show(el.error, true);
    return;
  }
  if (!TOKEN_SHAPE.test(token)) {
    setText(el.error, "Mã truy cập không đúng dạng: xin dán lại đủ cả mã, rồi đăng nhập lại. (Not a token)");
    show(el.error, true);
    return;
  }
  sessionStorage.setItem(STORAGE_KEY, token);
  el.token.value = "";
  signedIn();
});
el.logout.addEventListener("click", () => {
  sessionStorage.removeItem(STORAGE_KEY);
  signedOut();
});
el.site.addEventListener("change", () => view.load());

if (session.token) signedIn();
else signedOut();
