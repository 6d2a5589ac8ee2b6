// The admin page's accounts: who logs in at the console (USER_LIST, answered by USERS), and for each
// person a new password, disable or enable, an officer's counter, or delete with the username typed
// again (USER_UPDATE, answered by USER_UPDATED, which every admin console hears). Admins only: on a
// leader's page the section stays hidden (the hub would refuse them anyway).

import { byId, h, setText, show } from "./dom.js";

export const ROLE_VI = { admin: "Quản trị viên", leader: "Lãnh đạo", officer: "Cán bộ quầy" };
export const MIN_PASSWORD_CHARS = 8;

const DONE_VI = {
  disable: (u) => `Đã khoá tài khoản ${u}.`,
  enable: (u) => `Đã mở khoá tài khoản ${u}.`,
  set_password: (u) => `Đã đặt mật khẩu mới cho ${u}.`,
  set_counter: (u, user) => `Đã chuyển ${u} sang quầy ${user?.counter_id ?? "—"}.`,
  delete: (u) => `Đã xoá tài khoản ${u}.`,
};

let requestSerial = 0;

function requestId() {
  requestSerial += 1;
  return `users-${Date.now()}-${requestSerial}`;
}

function personName(user) {
  return user.full_name ? `${user.full_name} (${user.username})` : user.username;
}

export class UsersPanel {
  /**
   * session: the page's HubSession; notify(text, kind): the notice line;
   * counters(): [{ counter_id, counter_name }] of the hall (from SNAPSHOT).
   */
  constructor({ session, notify, counters }) {
    Object.assign(this, { session, notify, counters });
    this.users = [];
    this.isAdmin = false;
    this.pending = null; // { id, action, user } of the dialog's request
    this.sent = new Set(); // request ids of this page's changes: their USER_UPDATED is announced here
    this.el = {
      section: byId("users-section"),
      list: byId("users"),
      count: byId("user-count"),
      error: byId("users-error"),
      refresh: byId("users-refresh"),
      dialog: byId("user-dialog"),
      form: byId("user-form"),
      title: byId("user-dialog-title"),
      text: byId("user-dialog-text"),
      passwordFields: byId("user-password-fields"),
      password: byId("user-password"),
      passwordAgain: byId("user-password-again"),
      counterFields: byId("user-counter-fields"),
      counter: byId("user-counter"),
      deleteFields: byId("user-delete-fields"),
      confirm: byId("user-confirm"),
      dialogError: byId("user-dialog-error"),
      submit: byId("user-submit"),
    };
    this.el.refresh.addEventListener("click", () => this.request());
    byId("user-cancel").addEventListener("click", () => this.closeDialog());
    this.el.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submitDialog();
    });
  }

  onSignedIn(identity) {
    this.isAdmin = identity.role === "admin";
    show(this.el.section, this.isAdmin);
  }

  onSignedOut() {
    this.users = [];
    this.closeDialog();
    this.render();
  }

  /** A message from the hub; true if it was this panel's. */
  handle(type, payload) {
    switch (type) {
      case "SNAPSHOT":
        if (this.isAdmin) this.request();
        return false; // the rest of the page needs it too
      case "USERS":
        this.users = payload.users || [];
        this.problem("");
        this.render();
        return true;
      case "USER_UPDATED":
        this.updated(payload);
        return true;
      case "ERROR":
        if (payload.message_type !== "USER_LIST" && payload.message_type !== "USER_UPDATE") return false;
        if (this.el.dialog.open) this.dialogProblem(payload.message || "Không thực hiện được.");
        else this.problem(payload.message || "Không thực hiện được.");
        return true;
      default:
        return false;
    }
  }

  request() {
    if (!this.isAdmin) return;
    if (!this.session.send("USER_LIST", { request_id: requestId() })) {
      this.problem("Chưa kết nối được với máy chủ. (Not connected)");
    }
  }

  updated(payload) {
    const index = this.users.findIndex((u) => u.user_id === payload.user_id);
    if (payload.user) {
      if (index >= 0) this.users[index] = payload.user;
      else this.users.push(payload.user);
    } else if (index >= 0) {
      this.users.splice(index, 1);
    }
    this.render();
    if (this.pending && this.pending.id === payload.request_id) {
      this.pending = null;
      this.closeDialog();
    }
    if (this.sent.delete(payload.request_id)) {
      const done = DONE_VI[payload.action]?.(payload.username, payload.user) || "Đã lưu.";
      const ended = payload.sessions_ended > 0 ? ` Đã đăng xuất ${payload.sessions_ended} phiên đang mở.` : "";
      this.notify(done + ended, "success");
    }
  }

  // --- the list ---------------------------------------------------------------------------------

  render() {
    setText(this.el.count, this.users.length);
    const me = this.session.identity?.user_id;
    const rows = [...this.users].sort((a, b) => a.username.localeCompare(b.username, "vi"));
    this.el.list.replaceChildren(...(rows.length ? rows.map((user) => this.row(user, user.user_id === me))
      : [h("tr", {}, h("td", { colspan: 6, class: "muted", text: "Chưa có tài khoản nào." }))]));
  }

  row(user, isMe) {
    const online = this.session.status === "online";
    const button = (text, cls, onclick, extra = {}) => h("button", {
      type: "button", class: `btn btn-small ${cls}`, disabled: !online, onclick, ...extra }, text);
    return h("tr", { class: user.disabled ? "user-disabled" : "", dataset: { userId: user.user_id, username: user.username } },
      h("td", { class: "mono", text: user.username }),
      h("td", { class: "col-wide", text: user.full_name || "—" }),
      h("td", { text: ROLE_VI[user.role] || user.role }),
      h("td", { class: "num", text: user.counter_id ?? "—" }),
      h("td", {}, h("span", { class: `state-pill ${user.disabled ? "state-offline" : "state-active"}`,
        text: user.disabled ? "Đã khoá" : "Hoạt động" })),
      h("td", { class: "user-actions" },
        button("Đặt mật khẩu", "btn-secondary user-password", () => this.openDialog("set_password", user)),
        user.role === "officer"
          ? button("Đổi quầy", "btn-secondary user-counter", () => this.openDialog("set_counter", user)) : null,
        isMe ? null : user.disabled
          ? button("Mở khoá", "btn-success user-enable", () => this.send("enable", user, {}))
          : button("Khoá", "btn-warning user-disable", () => this.openDialog("disable", user)),
        isMe ? null : button("Xoá", "btn-danger user-delete", () => this.openDialog("delete", user))));
  }

  problem(text) {
    setText(this.el.error, text);
    show(this.el.error, Boolean(text));
  }

  // --- the dialog: password, counter, disable and delete ask first ---------------------------------

  openDialog(action, user) {
    const el = this.el;
    this.action = action;
    this.user = user;
    this.pending = null;
    const who = personName(user);
    const titles = {
      set_password: [`Đặt mật khẩu mới cho ${who}`, "Người này sẽ phải đăng nhập lại bằng mật khẩu mới.", "Lưu mật khẩu"],
      set_counter: [`Đổi quầy của ${who}`, "Người này sẽ phải đăng nhập lại để làm việc ở quầy mới.", "Đổi quầy"],
      disable: [`Khoá tài khoản ${who}?`, "Người này không đăng nhập được nữa; các phiên đang mở sẽ kết thúc ngay.", "Khoá tài khoản"],
      delete: [`Xoá tài khoản ${who}?`, "Không thể hoàn tác. Nhật ký vẫn giữ tên đăng nhập này.", "Xoá vĩnh viễn"],
    };
    const [title, text, submit] = titles[action];
    setText(el.title, title);
    setText(el.text, text);
    setText(el.submit, submit);
    el.submit.className = `btn ${action === "delete" ? "btn-danger" : action === "disable" ? "btn-warning" : "btn-primary"}`;
    show(el.passwordFields, action === "set_password");
    show(el.counterFields, action === "set_counter");
    show(el.deleteFields, action === "delete");
    el.password.value = el.passwordAgain.value = el.confirm.value = "";
    if (action === "set_counter") {
      el.counter.replaceChildren(...this.counters().map((c) => h("option", {
        value: c.counter_id, selected: c.counter_id === user.counter_id }, `Quầy ${c.counter_id} · ${c.counter_name}`)));
    }
    this.dialogProblem("");
    el.dialog.showModal();
    ({ set_password: el.password, set_counter: el.counter, delete: el.confirm }[action] || el.submit).focus();
  }

  closeDialog() {
    this.el.password.value = this.el.passwordAgain.value = "";
    if (this.el.dialog.open) this.el.dialog.close();
  }

  dialogProblem(text) {
    setText(this.el.dialogError, text);
    show(this.el.dialogError, Boolean(text));
  }

  submitDialog() {
    const { el, action, user } = this;
    const fields = {};
    if (action === "set_password") {
      if (el.password.value.length < MIN_PASSWORD_CHARS) {
        return this.dialogProblem(`Mật khẩu cần ít nhất ${MIN_PASSWORD_CHARS} ký tự.`);
      }
      if (el.password.value !== el.passwordAgain.value) return this.dialogProblem("Hai mật khẩu không giống nhau.");
      fields.password = el.password.value;
    } else if (action === "set_counter") {
      fields.counter_id = Number(el.counter.value);
    } else if (action === "delete") {
      if (el.confirm.value.trim() !== user.username) {
        return this.dialogProblem(`Nhập đúng tên đăng nhập «${user.username}» để xác nhận.`);
      }
      fields.confirm_username = el.confirm.value.trim();
    }
    this.dialogProblem("");
    this.pending = this.send(action, user, fields);
    return undefined;
  }

  send(action, user, fields) {
    const id = requestId();
    if (!this.session.send("USER_UPDATE", { user_id: user.user_id, action, ...fields, request_id: id })) {
      const text = "Chưa kết nối được với máy chủ. (Not connected)";
      if (this.el.dialog.open) this.dialogProblem(text);
      else this.notify(text, "error");
      return null;
    }
    this.sent.add(id);
    return { id, action, user };
  }
}
