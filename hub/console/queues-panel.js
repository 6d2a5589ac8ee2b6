// The admin page's queues and ticket events: each queue with who waits
// (priority citizens counted apart) and the counters that serve it, its own
// and its backups; and the day's TICKET_UPDATED events (finished, no-show,
// transferred, returned) as they happen.

import { h, setText } from "./dom.js";
import { TICKET_ACTION_VI, clockTime } from "./format.js";

const EVENTS_SHOWN = 40;

export class QueuesPanel {
  /**
   * elements: { queues (tbody), events (ul), eventCount }.
   * counterNumber(id): the number a counter shows ("Quầy 3"); timezone(): the hall's.
   */
  constructor({ elements, counterNumber, timezone }) {
    this.el = elements;
    this.counterNumber = counterNumber;
    this.timezone = timezone;
    this.reset();
  }

  reset() {
    this.queues = new Map(); // queue_id -> QueueInfo, kept current by QUEUE_UPDATE's lines
    this.events = [];
  }

  name(queueId) {
    return this.queues.get(queueId)?.queue_name || `Hàng ${queueId}`;
  }

  /** Take the messages it cares about (it never swallows one: the page may want them too). */
  handle(type, payload) {
    switch (type) {
      case "SNAPSHOT":
        this.queues = new Map((payload.queues || []).map((q) => [q.queue_id, { ...q }]));
        this.render();
        return;
      case "QUEUE_UPDATE":
        for (const line of payload.queues || []) {
          const queue = this.queues.get(line.queue_id);
          if (!queue) continue;
          const { waiting_count, priority_waiting_count, next_numbers, average_wait_time } = line;
          Object.assign(queue, { waiting_count, priority_waiting_count, next_numbers, average_wait_time });
        }
        this.renderQueues();
        return;
      case "TICKET_UPDATED":
        this.events.unshift(payload);
        this.events.length = Math.min(this.events.length, EVENTS_SHOWN);
        this.renderEvents();
        return;
      default:
    }
  }

  render() {
    this.renderQueues();
    this.renderEvents();
  }

  _counters(ids) {
    return ids?.length ? `Quầy ${ids.map((id) => this.counterNumber(id)).join(", ")}` : "—";
  }

  renderQueues() {
    const queues = [...this.queues.values()];
    this.el.queues.replaceChildren(...(queues.length ? queues.map((q) => h("tr", { dataset: { queueId: q.queue_id } },
      h("td", { class: "queue-name" }, q.queue_name, q.prefix ? h("span", { class: "muted", text: ` (${q.prefix})` }) : null),
      h("td", { class: "num queue-waiting", text: q.waiting_count }),
      h("td", { class: `num queue-priority${q.priority_waiting_count ? " has-priority" : ""}`,
        text: q.priority_waiting_count }),
      h("td", { class: "col-wide num", text: (q.next_numbers || []).join(", ") || "—" }),
      h("td", { class: "queue-counters", text: this._counters(q.counter_ids) }),
      h("td", { class: "queue-backups", text: this._counters(q.backup_counter_ids) })))
      : [h("tr", {}, h("td", { colspan: 6, class: "muted", text: "Chưa có hàng chờ nào." }))]));
  }

  _eventText(e) {
    const label = `Số ${e.ticket_label || e.ticket_number}`;
    switch (e.action) {
      case "transfer": {
        const to = e.to_counter_id ? `quầy ${this.counterNumber(e.to_counter_id)}` : `hàng ${e.queue_name || this.name(e.queue_id)}`;
        const from = e.from_counter_id ? ` từ quầy ${this.counterNumber(e.from_counter_id)}` : "";
        return `${label} chuyển${from} sang ${to}`;
      }
      case "return":
        return `${label} vào lại hàng ${e.queue_name || this.name(e.queue_id)}`;
      default:
        return `${label} · ${e.queue_name || this.name(e.queue_id)}`;
    }
  }

  renderEvents() {
    setText(this.el.eventCount, this.events.length);
    this.el.events.replaceChildren(...(this.events.length ? this.events.map((e) => h("li", {
      class: `feed-item ticket-event event-${e.action}`, dataset: { ticketId: e.ticket_id } },
    h("p", { class: "feed-text" },
      h("span", { class: `tag event-tag-${e.action}`, text: TICKET_ACTION_VI[e.action] || e.action }), " ",
      this._eventText(e),
      e.priority ? h("span", { class: "tag tag-priority", text: "Ưu tiên" }) : null),
    h("p", { class: "feed-meta" }, [
      clockTime(e.timestamp, this.timezone(), true),
      e.action !== "transfer" && e.counter_id ? `Quầy ${this.counterNumber(e.counter_id)}` : "",
      e.by,
      e.note ? `Ghi chú: ${e.note}` : "",
    ].filter(Boolean).join(" · "))))
      : [h("li", { class: "feed-empty", text: "Chưa có vé nào được xử lý từ khi mở trang." })]));
  }
}
