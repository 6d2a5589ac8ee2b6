// One officer per counter, on the officer's page: asking before taking a
// counter someone else works at (the hub's COUNTER_BUSY), and the panel a
// console shows when it was refused or its counter was taken over. Such a
// console reconnects only when its officer asks («Nhận quầy», «Nhận lại quầy»).

import { byId, setText, show } from "./dom.js";

// The hub's COUNTER_BUSY text (hub/registration.py): "Quầy 1 đang có cán bộ Nguyễn Thị Lan làm việc; ...".
const BUSY_MESSAGE = /Quầy (\S+) đang có cán bộ (.+?) làm việc/;

/** "Quầy 1 đang có cán bộ Nguyễn Thị Lan làm việc." from the hub's message (the counter's id if it says less). */
export function busyText(hubMessage, counterId) {
  const said = BUSY_MESSAGE.exec(hubMessage || "");
  return said ? `Quầy ${said[1]} đang có cán bộ ${said[2]} làm việc.`
    : `Quầy ${counterId} đang có cán bộ khác làm việc.`;
}

export class CounterClaim {
  /** session: the HubSession; onChange(): the page redraws (held or not). */
  constructor({ session, onChange }) {
    this.session = session;
    this.onChange = onChange;
    this.dialog = byId("busy-dialog");
    this.text = byId("busy-text");
    this.panel = byId("held");
    this.panelTitle = byId("held-title");
    this.panelText = byId("held-text");
    this.panelHint = byId("held-hint");
    this.panelButton = byId("held-take");
    this.held = false;
    // How the busy dialog was closed: "take", "quiet" (signed out), else (Esc, «Không nhận») declined.
    this.outcome = null;
    this.lastBusy = "";
    byId("busy-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this._closeDialog("take");
    });
    byId("busy-cancel").addEventListener("click", () => this._closeDialog("decline"));
    // The close event comes after close() returns: the outcome was noted before.
    this.dialog.addEventListener("close", () => {
      const outcome = this.outcome;
      this.outcome = null;
      if (outcome === "take") {
        this.take();
      } else if (outcome !== "quiet") {
        this.session.standDown();
        this._hold("Chưa nhận quầy", this.lastBusy,
          "Trang chưa kết nối, để không làm gián đoạn cán bộ đang làm việc. (Not connected)", "Nhận quầy");
        // The officer just chose: Enter changes their mind.
        this.panelButton.focus();
      }
    });
    this.panelButton.addEventListener("click", () => this.take());
  }

  get asking() {
    return this.dialog.open;
  }

  /** The hub refused to register: someone works at the counter. Ask whether to take it over. */
  busy(hubMessage, counterId) {
    this.lastBusy = busyText(hubMessage, counterId);
    setText(this.text, `${this.lastBusy} Nhận quầy?`);
    this.outcome = null;
    this._release();
    if (!this.dialog.open) this.dialog.showModal();
    byId("busy-confirm").focus();
  }

  /** The hub closed this console: another officer took the counter. Say so; do not reconnect by itself. */
  takenOver(counterLabel) {
    if (this.dialog.open) this._closeDialog("quiet");
    for (const open of document.querySelectorAll("dialog[open]")) open.close();
    this._hold("Quầy đã được cán bộ khác nhận",
      `Một cán bộ khác đã đăng nhập và nhận ${counterLabel}. Trang này đã ngắt kết nối và không tự kết nối lại, `
      + "để hai người không cùng gọi số ở một quầy.",
      "Nếu bạn vẫn làm việc ở quầy này, bấm «Nhận lại quầy». (The counter was taken over)", "Nhận lại quầy");
  }

  /** The officer chose to take the counter: register with take_over. */
  take() {
    this._release();
    this.session.takeOver();
  }

  /** Signed out: nothing is held any more. */
  reset() {
    // Closing it now must not stand down a session that is gone.
    if (this.dialog.open) this._closeDialog("quiet");
    this._release();
  }

  _closeDialog(outcome) {
    this.outcome = outcome;
    this.dialog.close();
  }

  _hold(title, text, hint, button) {
    setText(this.panelTitle, title);
    setText(this.panelText, text);
    setText(this.panelHint, hint);
    setText(this.panelButton, button);
    this.held = true;
    show(this.panel, true);
    // Not focused for a console taken over: a Space meant for «call next» must not take the counter back.
    if (this.panel.contains(document.activeElement) || document.activeElement?.closest?.("#officer-work")) {
      document.activeElement.blur();
    }
    this.onChange();
  }

  _release() {
    if (!this.held) return;
    this.held = false;
    show(this.panel, false);
    this.onChange();
  }
}
