// The officer's two dialogs for a ticket: transfer the one being served to
// another queue or counter (with an optional note), and call one number by
// hand. Both work from the keyboard: arrows choose, Enter confirms, Esc
// cancels (the <dialog>'s own behaviour).

import { byId, h, setText, show } from "./dom.js";

// What the number box accepts: the number, optionally after its queue's prefix ("A12", "2005").
const NUMBER_TYPED = /^([A-Z]*)\s*(\d{1,9})$/;

function showError(node, text) {
  setText(node, text || "");
  show(node, Boolean(text));
}

export class TransferDialog {
  constructor() {
    this.dialog = byId("transfer-dialog");
    this.form = byId("transfer-form");
    this.title = byId("transfer-title");
    this.queueSet = byId("transfer-queues");
    this.counterSet = byId("transfer-counters");
    this.queueOptions = byId("transfer-queue-options");
    this.counterOptions = byId("transfer-counter-options");
    this.note = byId("transfer-note");
    this.error = byId("transfer-error");
    this.confirm = byId("transfer-confirm");
    this.onConfirm = null;
    this.choices = new Map(); // radio value -> { to_queue_id } or { to_counter_id }, and how it reads
    byId("transfer-cancel").addEventListener("click", () => this.dialog.close());
    this.form.addEventListener("change", () => this._describe());
    // Enter on a choice sends, as it does in the note box: the officer need not reach for the mouse.
    this.form.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && event.target instanceof HTMLInputElement && event.target.type === "radio") {
        event.preventDefault();
        this.form.requestSubmit();
      }
    });
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      const chosen = this.form.querySelector("input[name='transfer-target']:checked");
      const target = chosen ? this.choices.get(chosen.value) : null;
      if (!target) {
        showError(this.error, "Chọn hàng chờ hoặc quầy để chuyển đến. (Choose where to)");
        return;
      }
      const confirm = this.onConfirm;
      this.dialog.close();
      confirm?.({ ...target.message, note: this.note.value.trim() }, target.reads);
    });
  }

  get isOpen() {
    return this.dialog.open;
  }

  /**
   * Ask where ticket `label` (of queue `fromQueueId`) goes. queues: [{queue_id, queue_name, counters}] with
   * `counters` reading "Quầy 2, 5"; counters: [{counter_id, counter_number, counter_name}] but this one.
   * onConfirm({to_queue_id | to_counter_id, note}, reads) runs if the officer confirms.
   */
  open({ label, fromQueueId, queues, counters }, onConfirm) {
    this.onConfirm = onConfirm;
    this.choices.clear();
    setText(this.title, `Chuyển số ${label}`);
    const queueRadios = queues.filter((q) => q.queue_id !== fromQueueId).map((q) => this._option(
      `queue:${q.queue_id}`, { to_queue_id: q.queue_id }, `hàng ${q.queue_name}`,
      h("span", { class: "choice-main", text: q.queue_name }),
      q.counters ? h("span", { class: "choice-sub", text: q.counters }) : null));
    const counterRadios = counters.map((c) => this._option(
      `counter:${c.counter_id}`, { to_counter_id: c.counter_id }, `quầy ${c.counter_number}`,
      h("span", { class: "choice-main", text: `Quầy ${c.counter_number}` }),
      h("span", { class: "choice-sub", text: c.counter_name })));
    this.queueOptions.replaceChildren(...queueRadios);
    this.counterOptions.replaceChildren(...counterRadios);
    show(this.queueSet, queueRadios.length > 0);
    show(this.counterSet, counterRadios.length > 0);
    this.note.value = "";
    showError(this.error, "");
    const first = this.form.querySelector("input[name='transfer-target']");
    if (first) first.checked = true;
    this._describe();
    this.dialog.showModal();
    first?.focus();
  }

  _option(value, message, reads, ...text) {
    const id = `transfer-${value.replace(":", "-")}`;
    this.choices.set(value, { message, reads });
    return h("label", { class: "choice", for: id },
      h("input", { type: "radio", name: "transfer-target", id, value }),
      h("span", { class: "choice-text" }, ...text));
  }

  _describe() {
    const chosen = this.form.querySelector("input[name='transfer-target']:checked");
    const target = chosen ? this.choices.get(chosen.value) : null;
    setText(this.confirm, target ? `Chuyển sang ${target.reads}` : "Chuyển");
  }
}

export class CallNumberDialog {
  constructor() {
    this.dialog = byId("call-number-dialog");
    this.form = byId("call-number-form");
    this.input = byId("call-number-input");
    this.queueField = byId("call-number-queue-field");
    this.queue = byId("call-number-queue");
    this.error = byId("call-number-error");
    this.queues = [];
    this.onConfirm = null;
    byId("call-number-cancel").addEventListener("click", () => this.dialog.close());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      const typed = NUMBER_TYPED.exec(this.input.value.trim().toUpperCase());
      if (!typed) {
        showError(this.error, "Nhập số thứ tự cần gọi, ví dụ 12. (Enter a ticket number)");
        this.input.focus();
        return;
      }
      const [, prefix, digits] = typed;
      let queueId = this.queue.value ? Number(this.queue.value) : null;
      if (prefix) {
        const line = this.queues.find((q) => q.prefix && q.prefix.toUpperCase() === prefix);
        if (!line) {
          showError(this.error, `Quầy này không phục vụ hàng chờ có ký hiệu ${prefix}.`);
          this.input.focus();
          return;
        }
        queueId = line.queue_id;
      }
      const confirm = this.onConfirm;
      this.dialog.close();
      confirm?.({ ticket_number: Number(digits), ...(queueId ? { queue_id: queueId } : {}) });
    });
  }

  get isOpen() {
    return this.dialog.open;
  }

  /** Ask for a number; queues: the counter's [{queue_id, queue_name, prefix, backup}] (a choice when several). */
  open(queues, onConfirm) {
    this.onConfirm = onConfirm;
    this.queues = queues;
    this.input.value = "";
    showError(this.error, "");
    this.queue.replaceChildren(
      h("option", { value: "", text: "Tìm theo số (mọi hàng của quầy)" }),
      ...queues.map((q) => h("option", { value: q.queue_id, text: q.backup ? `${q.queue_name} (dự phòng)` : q.queue_name })));
    show(this.queueField, queues.length > 1);
    this.dialog.showModal();
    this.input.focus();
  }
}
