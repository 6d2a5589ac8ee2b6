// The officer's own line, over HTTP from /api/counter-tickets: who waits for the
// counter (priority citizens marked, with their reason), the ticket it serves,
// and today's no-shows at this counter, each with a button to put it back in
// the line. The WebSocket says when something moved; this asks for the list.

import { h, setText, show } from "./dom.js";
import { clockTime, priorityText, sinceText } from "./format.js";

// Waiting tickets listed on the page (the count says how many more).
const SHOWN_WAITING = 8;

/** "chờ 12 phút" since the ticket was taken (at `now`, the hub's time); "vừa lấy số" within the minute. */
function waitedText(createdAt, now) {
  const since = sinceText(createdAt, now);
  return since === "vừa xong" ? "vừa lấy số" : `chờ ${since}`;
}

export class CounterLine {
  /**
   * session: the HubSession (its token authorises the listing).
   * notify(text, kind): the page's notice line.
   * onReturn(ticket): the officer pressed «Gọi lại vào hàng» for a no-show.
   */
  constructor({ session, notify, onReturn, elements }) {
    this.session = session;
    this.notify = notify;
    this.onReturn = onReturn;
    this.el = elements; // waitingList, moreWaiting, priorityCount, noShowList, noShowCount
    this.timezone = "Asia/Ho_Chi_Minh";
    this.reset();
  }

  reset() {
    this.listing = null; // the last answer of /api/counter-tickets
    this.hubClockAhead = 0; // ms the hub's clock is ahead of this computer's
    this.noShows = new Map(); // ticket_id -> row, the latest first
    this.loading = false;
    this.again = false;
    this.failed = false;
  }

  /** The current ticket as the listing tells it (with the priority reason and queue), if it is `ticketId`. */
  current(ticketId) {
    const current = this.listing?.current;
    return current && current.ticket_id === ticketId ? current : null;
  }

  /** Ask for the list again; one request at a time, and one more if something moved meanwhile. */
  refresh() {
    if (this.loading) {
      this.again = true;
      return;
    }
    this._load();
  }

  async _load() {
    const token = this.session.token;
    if (!token) return;
    this.loading = true;
    this.again = false;
    try {
      const response = await fetch("/api/counter-tickets", {
        headers: { Authorization: `Bearer ${token}` }, cache: "no-store",
      });
      if (response.status === 401) {
        this.session.expire();
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const listing = await response.json();
      this.listing = listing;
      this.timezone = listing.timezone || this.timezone;
      const hubNow = Date.parse(listing.server_time);
      if (!Number.isNaN(hubNow)) this.hubClockAhead = hubNow - Date.now();
      this.noShows = new Map(listing.no_shows.map((t) => [t.ticket_id, t]));
      this.failed = false;
      this.onChange?.();
    } catch {
      if (!this.failed) this.notify("Không tải được danh sách chờ của quầy. (Could not load the line)", "error");
      this.failed = true;
    } finally {
      this.loading = false;
      if (this.again) this._load();
    }
  }

  /** A TICKET_UPDATED no_show from this counter: listed at once, before the next listing comes. */
  noteNoShow(update) {
    const row = {
      ticket_id: update.ticket_id, ticket_number: update.ticket_number, ticket_label: update.ticket_label,
      queue_id: update.queue_id, queue_name: update.queue_name, priority: update.priority,
      status: "no_show", closed_at: update.timestamp,
    };
    this.noShows = new Map([[row.ticket_id, row], ...[...this.noShows].filter(([id]) => id !== row.ticket_id)]);
  }

  /** A TICKET_UPDATED return: that ticket waits again. */
  noteReturned(update) {
    this.noShows.delete(update.ticket_id);
  }

  /**
   * Draw the line. counter: the counter's state from SNAPSHOT / QUEUE_UPDATE (its waiting_count and
   * next_numbers are shown until the first listing arrives); queueName(id); ownQueues: how many queues it serves.
   * usable: whether the buttons may be pressed now.
   */
  render(counter, { queueName, usable }) {
    const ownQueues = counter?.queue_ids?.length || 1;
    const waiting = counter?.waiting_count ?? 0;
    const lines = counter?.queues || [];
    const priorityWaiting = lines.filter((q) => (counter?.queue_ids || []).includes(q.queue_id))
      .reduce((sum, q) => sum + (q.priority_waiting_count || 0), 0);
    setText(this.el.priorityCount, priorityWaiting ? `trong đó ${priorityWaiting} ưu tiên` : "");
    show(this.el.priorityCount, priorityWaiting > 0);

    let rows;
    let listed;
    let total;
    if (this.listing) {
      const all = this.listing.waiting;
      rows = all.slice(0, SHOWN_WAITING).map((t) => this._waitingRow(t, ownQueues, queueName));
      listed = rows.length;
      total = this.listing.waiting_total;
    } else {
      const next = counter?.next_numbers || [];
      rows = next.map((n) => h("li", { class: "waiting-row" }, h("span", { class: "waiting-number", text: n })));
      listed = rows.length;
      total = waiting;
    }
    this.el.waitingList.replaceChildren(...(rows.length ? rows
      : [h("li", { class: "waiting-row waiting-empty", text: "Chưa có ai chờ" })]));
    const more = total - listed;
    setText(this.el.moreWaiting, more > 0 ? `và ${more} người khác` : "");

    const absent = [...this.noShows.values()];
    setText(this.el.noShowCount, absent.length);
    this.el.noShowList.replaceChildren(...(absent.length ? absent.map((t) => this._noShowRow(t, usable))
      : [h("li", { class: "no-show-empty muted", text: "Chưa có ai vắng mặt." })]));
  }

  _waitingRow(ticket, ownQueues, queueName) {
    const tags = [];
    const priority = priorityText(ticket);
    if (priority) tags.push(h("span", { class: "tag tag-priority", text: priority }));
    if (ticket.backup) tags.push(h("span", { class: "tag tag-backup", text: `Dự phòng: ${ticket.queue_name}` }));
    else if (ownQueues > 1) tags.push(h("span", { class: "tag", text: ticket.queue_name || queueName(ticket.queue_id) }));
    if (ticket.transferred) tags.push(h("span", { class: "tag tag-transfer", text: "Được chuyển đến" }));
    return h("li", { class: `waiting-row${ticket.priority ? " is-priority" : ""}`,
      dataset: { ticketNumber: ticket.ticket_number } },
    h("span", { class: "waiting-number", text: ticket.ticket_label || ticket.ticket_number }),
    h("span", { class: "waiting-tags" }, ...tags),
    h("span", { class: "waiting-since muted", text: waitedText(ticket.created_at, Date.now() + this.hubClockAhead) }));
  }

  _noShowRow(ticket, usable) {
    const when = clockTime(ticket.closed_at, this.timezone);
    return h("li", { class: "no-show-row", dataset: { ticketNumber: ticket.ticket_number } },
      h("span", { class: "no-show-number", text: ticket.ticket_label || ticket.ticket_number }),
      h("span", { class: "no-show-meta" },
        priorityText(ticket) ? h("span", { class: "tag tag-priority", text: priorityText(ticket) }) : null,
        h("span", { class: "muted", text: [ticket.queue_name, when ? `vắng lúc ${when}` : ""].filter(Boolean).join(" · ") })),
      h("button", { type: "button", class: "btn btn-small btn-secondary no-show-return", disabled: !usable,
        onclick: () => this.onReturn(ticket) }, "Gọi lại vào hàng"));
  }
}
