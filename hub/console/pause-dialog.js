// The "pause a counter" dialog: a preset reason (as in the seed: Đi họp, Nghỉ
// trưa, Hỏng máy) or free text.

import { byId, setText } from "./dom.js";

export const PRESET_REASONS = ["Đi họp", "Nghỉ trưa", "Hỏng máy"];

export class PauseDialog {
  constructor() {
    this.dialog = byId("pause-dialog");
    this.title = byId("pause-title");
    this.reason = byId("pause-reason");
    this.error = byId("pause-error");
    this.presets = Array.from(this.dialog.querySelectorAll("[data-reason]"));
    this.onConfirm = null;
    for (const button of this.presets) {
      button.addEventListener("click", () => {
        this.reason.value = button.dataset.reason;
        this._markPreset();
        this.reason.focus();
      });
    }
    this.reason.addEventListener("input", () => this._markPreset());
    byId("pause-cancel").addEventListener("click", () => this.dialog.close());
    byId("pause-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const reason = this.reason.value.trim();
      if (!reason) {
        setText(this.error, "Chọn hoặc nhập lý do tạm dừng. (Give a reason)");
        this.error.hidden = false;
        return;
      }
      const confirm = this.onConfirm;
      this.dialog.close();
      confirm?.(reason);
    });
  }

  get isOpen() {
    return this.dialog.open;
  }

  /** Ask for a reason to pause `title`; `onConfirm(reason)` runs if the person confirms. */
  open(title, onConfirm) {
    setText(this.title, title);
    this.reason.value = "";
    this.error.hidden = true;
    this._markPreset();
    this.onConfirm = onConfirm;
    this.dialog.showModal();
    this.presets[0]?.focus();
  }

  _markPreset() {
    for (const button of this.presets) {
      button.setAttribute("aria-pressed", String(button.dataset.reason === this.reason.value.trim()));
    }
  }
}
