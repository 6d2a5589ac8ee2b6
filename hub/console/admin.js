// The admin page: every counter live (its ticket and officer), pause and
// resume, the queues and ticket events (queues-panel.js), announcements to the
// TVs, connected devices, alerts, the day's figures and tickets (CSV export),
// and for admins the accounts that log in (users.js).

import { byId, h, setText, show } from "./dom.js";
import {
  CLIENT_TYPE_VI, COUNTER_STATUS_VI, PRIORITY_VI, SEVERITY_VI, TICKET_STATUS_VI, clockTime, minutesText, priorityText,
  sinceText,
} from "./format.js";
import { startConsolePage } from "./console-page.js";
import { PauseDialog } from "./pause-dialog.js";
import { QueuesPanel } from "./queues-panel.js";
import { UsersPanel } from "./users.js";

const ALERTS_SHOWN = 50;
// Ticket list reloads after changes, at most this often.
const TICKETS_RELOAD_MS = 1500;

const el = {
  siteName: byId("site-name"),
  counters: byId("counters"),
  statTotal: byId("stat-total"),
  statServed: byId("stat-served"),
  statWaiting: byId("stat-waiting"),
  statActive: byId("stat-active"),
  statWait: byId("stat-wait"),
  statBusiest: byId("stat-busiest"),
  centralStatus: byId("central-status"),
  announceForm: byId("announce-form"),
  announceMessage: byId("announce-message"),
  announcePriority: byId("announce-priority"),
  announceDuration: byId("announce-duration"),
  announceAll: byId("announce-all"),
  announceSome: byId("announce-some"),
  announceTvs: byId("announce-tvs"),
  announceError: byId("announce-error"),
  announcements: byId("announcements"),
  alerts: byId("alerts"),
  devices: byId("devices"),
  deviceCount: byId("device-count"),
  tickets: byId("tickets"),
  ticketCount: byId("ticket-count"),
  ticketsRefresh: byId("tickets-refresh"),
  ticketsCsv: byId("tickets-csv"),
};

const state = {
  timezone: "Asia/Ho_Chi_Minh",
  counters: new Map(), // counter_id -> CounterState
  clients: new Map(), // client_id -> { client_id, client_type, location, connected_since }
  alerts: [],
  announcements: new Map(), // announcement_id (or a local key) -> payload
  stats: null,
  tickets: [],
  serviceDay: null,
  chosenTvs: new Set(),
};

const pauseDialog = new PauseDialog();
let ticketsTimer = null;
let ticketsLoading = false;

const page = startConsolePage({
  storageKey: "qms.console.admin",
  clientType: "admin",
  accepts: (identity) => (["admin", "leader"].includes(identity.role) ? null
    : "Tài khoản này không có quyền quản trị: cán bộ quầy dùng trang /officer. (Admins and leaders only)"),
  clientId: (identity, tab) => `admin-u${identity.user_id ?? 0}-${tab}`,
  location: () => "admin-console",
  onSignedIn(identity) {
    users.onSignedIn(identity);
  },
  onSignedOut() {
    state.counters.clear();
    state.clients.clear();
    state.tickets = [];
    queues.reset();
    users.onSignedOut();
  },
  onStatus() {
    renderCounters();
  },
  onMessage,
});
const { session, notify } = page;
const users = new UsersPanel({
  session, notify, counters: () => [...state.counters.values()].sort((a, b) => a.counter_id - b.counter_id),
});

const queues = new QueuesPanel({
  elements: { queues: byId("queues"), events: byId("ticket-events"), eventCount: byId("ticket-event-count") },
  counterNumber,
  timezone: () => state.timezone,
});

function counterNumber(counterId) {
  return state.counters.get(counterId)?.counter_number ?? counterId;
}

function onMessage(type, payload) {
  if (users.handle(type, payload)) return;
  queues.handle(type, payload);
  switch (type) {
    case "SNAPSHOT":
      state.timezone = payload.timezone || state.timezone;
      setText(el.siteName, payload.site_name);
      state.counters = new Map((payload.counters || []).map((c) => [c.counter_id, { ...c }]));
      state.clients = new Map((payload.clients || []).map((c) => [c.client_id, c]));
      state.alerts = (payload.alerts || []).slice(0, ALERTS_SHOWN);
      state.announcements = new Map((payload.announcements || []).map((a, i) => [a.announcement_id ?? `s${i}`, a]));
      if (payload.stats) state.stats = payload.stats;
      renderAll();
      loadTickets();
      return;
    case "QUEUE_UPDATE": {
      const counter = state.counters.get(payload.counter_id);
      if (!counter) return;
      const { current_number, waiting_count, next_numbers, average_wait_time } = payload;
      Object.assign(counter, { current_number, waiting_count, next_numbers, average_wait_time });
      if ("current_ticket" in payload) counter.current_ticket = payload.current_ticket;
      if (payload.status) counter.status = payload.status;
      renderCounters();
      scheduleTickets();
      return;
    }
    case "COUNTER_STATUS_UPDATE": {
      const counter = state.counters.get(payload.counter_id);
      if (!counter) return;
      Object.assign(counter, { status: payload.status, reason: payload.reason, changed_by: payload.changed_by,
        status_changed_at: payload.timestamp });
      renderCounters();
      return;
    }
    case "CALL_TICKET": {
      // Who called is who works there now (CLIENT_CONNECTED names no one).
      const counter = state.counters.get(payload.counter_id);
      const who = payload.called_by?.full_name || payload.called_by?.username;
      if (counter && who && who !== counter.officer_name) {
        counter.officer_name = who;
        renderCounters();
      }
      scheduleTickets();
      return;
    }
    case "TICKET_CREATED":
    case "TICKET_UPDATED":
      scheduleTickets();
      return;
    case "CLIENT_CONNECTED":
      state.clients.set(payload.client_id, {
        client_id: payload.client_id, client_type: payload.client_type, location: payload.location || "",
        connected_since: payload.timestamp,
      });
      noteOfficerEvent(state.clients.get(payload.client_id));
      renderDevices();
      renderCounters();
      return;
    case "CLIENT_DISCONNECTED": {
      const gone = state.clients.get(payload.client_id);
      state.clients.delete(payload.client_id);
      if (gone) noteOfficerEvent(gone);
      renderDevices();
      renderCounters();
      return;
    }
    case "SYSTEM_ALERT":
      state.alerts.unshift(payload);
      state.alerts.length = Math.min(state.alerts.length, ALERTS_SHOWN);
      renderAlerts();
      return;
    case "STATS_UPDATE":
      state.stats = payload;
      renderStats();
      return;
    case "ANNOUNCEMENT": {
      const key = payload.announcement_id ?? `l${Date.now()}`;
      const isNew = !state.announcements.has(key);
      state.announcements.set(key, payload);
      renderAnnouncements();
      if (isNew && payload.sent_by && payload.sent_by === session.identity?.username) {
        notify("Đã gửi thông báo lên màn hình TV. (Announcement sent)", "success");
      }
      return;
    }
    case "ERROR":
      notify(payload.message || "Yêu cầu không thực hiện được.", "error");
      return;
    default:
  }
}

// --- rendering ---------------------------------------------------------------------

function renderAll() {
  renderStats();
  renderCounters();
  queues.render();
  renderAnnouncements();
  renderAlerts();
  renderDevices();
  renderTickets();
}

function renderStats() {
  const s = state.stats;
  setText(el.statTotal, s ? s.total_tickets_today : 0);
  setText(el.statServed, s ? s.served_today : 0);
  setText(el.statWaiting, s ? s.waiting_total : 0);
  setText(el.statActive, s ? `${s.active_counters}/${state.counters.size}` : "—");
  setText(el.statWait, s ? minutesText(s.average_wait_time) : "—");
  const busiest = s?.busiest_counter;
  setText(el.statBusiest, busiest && busiest.queue_length > 0
    ? `Quầy ${busiest.id} · ${busiest.name} (${busiest.queue_length} người)` : "Không có hàng chờ");
  renderShipping(s);
}

// The hall's history on its way to the province's server (shown only where the site ships it).
function renderShipping(s) {
  const pending = s?.central_pending_events;
  show(el.centralStatus, pending !== null && pending !== undefined);
  if (pending === null || pending === undefined) return;
  const lagMinutes = Math.round((s.central_lag_seconds || 0) / 60);
  const late = Boolean(s.central_problem) || lagMinutes >= 5;
  let text = pending === 0 ? "Gửi dữ liệu về máy chủ tỉnh: đã gửi hết."
    : `Gửi dữ liệu về máy chủ tỉnh: ${pending.toLocaleString("vi-VN")} sự kiện chờ gửi` +
      (lagMinutes >= 1 ? `, cũ nhất ${lagMinutes} phút.` : ".");
  if (s.central_problem) text += ` Lỗi: ${s.central_problem}`;
  setText(el.centralStatus, text);
  el.centralStatus.dataset.kind = late ? "late" : "ok";
}

function counterCard(counter) {
  const active = counter.status === "active";
  const online = session.status === "online";
  const reason = !active && counter.reason ? counter.reason : "";
  const next = counter.next_numbers || [];
  const present = officerPresent(counter);
  const ticket = counter.current_ticket;
  const backups = counter.backup_queue_ids || [];
  return h("article", { class: `card counter-card status-${counter.status}`, dataset: { counterId: counter.counter_id } },
    h("header", { class: "counter-card-head" },
      h("span", { class: "counter-id", text: `Quầy ${counterNumber(counter.counter_id)}` }),
      h("span", { class: `state-pill state-${counter.status}`, text: COUNTER_STATUS_VI[counter.status] || counter.status })),
    h("p", { class: "counter-name", text: counter.counter_name }),
    reason ? h("p", { class: "counter-reason", text: `Lý do: ${reason}` }) : null,
    h("div", { class: "counter-figures" },
      h("div", { class: "figure" },
        h("span", { class: "figure-label", text: "Đang phục vụ" }),
        h("span", { class: "figure-value figure-current", text: ticket?.ticket_label || (counter.current_number ?? "—") }),
        ticket?.priority ? h("span", { class: "tag tag-priority counter-priority", text: "Ưu tiên" }) : null),
      h("div", { class: "figure" },
        h("span", { class: "figure-label", text: "Đang chờ" }),
        h("span", { class: "figure-value", text: counter.waiting_count ?? 0 }))),
    h("p", { class: "counter-line" },
      h("span", { class: "muted", text: "Chờ ước tính: " }), minutesText(counter.average_wait_time)),
    h("p", { class: "counter-line" },
      h("span", { class: "muted", text: "Tiếp theo: " }), next.length ? next.join(", ") : "—"),
    h("p", { class: "counter-line counter-queues" },
      h("span", { class: "muted", text: "Hàng: " }), (counter.queue_ids || []).map((q) => queues.name(q)).join(", ") || "—",
      backups.length ? h("span", { class: "muted", text: " · dự phòng: " }) : null,
      backups.map((q) => queues.name(q)).join(", ")),
    h("div", { class: "counter-foot" },
      h("span", { class: `officer-presence ${present ? "present" : "absent"}`,
        text: present ? officerText(counter) : "Chưa có cán bộ" }),
      active
        ? h("button", { type: "button", class: "btn btn-warning btn-small counter-pause", disabled: !online,
          onclick: () => pauseDialog.open(`Tạm dừng quầy ${counter.counter_id} — ${counter.counter_name}`,
            (why) => setCounterStatus(counter.counter_id, "paused", why)) }, "Tạm dừng")
        : h("button", { type: "button", class: "btn btn-success btn-small counter-resume", disabled: !online,
          onclick: () => setCounterStatus(counter.counter_id, "active", "") }, "Tiếp tục")));
}

// SNAPSHOT says whether an officer is connected at each counter; later, officer
// consoles come and go as CLIENT_CONNECTED/DISCONNECTED, registered at location
// "counter-<id>" (see officer.js).
function officerLocationCounter(client) {
  const match = client.client_type === "officer" && /^counter-(\d+)$/.exec(client.location || "");
  return match ? Number(match[1]) : null;
}

function officerPresent(counter) {
  const here = [...state.clients.values()].some((c) => officerLocationCounter(c) === counter.counter_id);
  return here || (Boolean(counter.officer_connected) && !counter.presenceFromEvents);
}

// Who works there: the full name when the hub gives it (SNAPSHOT's officer_name if the site shows names, or
// the latest CALL_TICKET's called_by), else the username of the officer console there (SNAPSHOT's clients).
function officerText(counter) {
  const here = [...state.clients.values()].find((c) => officerLocationCounter(c) === counter.counter_id);
  const who = counter.officer_name || here?.username;
  return who ? `Có cán bộ: ${who}` : "Có cán bộ";
}

function noteOfficerEvent(client) {
  const counter = state.counters.get(officerLocationCounter(client));
  if (!counter) return;
  counter.presenceFromEvents = true;
  // Another console came or went (CLIENT_CONNECTED names no person): whose it is shows from the next SNAPSHOT.
  counter.officer_name = null;
}

function renderCounters() {
  const counters = [...state.counters.values()].sort((a, b) => a.counter_id - b.counter_id);
  el.counters.replaceChildren(...counters.map(counterCard));
}

function renderAnnouncements() {
  const now = new Date().toISOString();
  for (const [key, a] of state.announcements) {
    if (a.expires_at && a.expires_at <= now) state.announcements.delete(key);
  }
  const items = [...state.announcements.values()].reverse();
  el.announcements.replaceChildren(...(items.length ? items.map((a) => h("li", { class: `feed-item priority-${a.priority}` },
    h("p", { class: "feed-text announcement-text", text: a.message }),
    h("p", { class: "feed-meta" },
      `Ưu tiên ${PRIORITY_VI[a.priority] || a.priority} · ${a.target_displays?.length ? `TV: ${a.target_displays.join(", ")}` : "Tất cả TV"}`
      + (a.expires_at ? ` · đến ${clockTime(a.expires_at, state.timezone)}` : "")
      + (a.sent_by ? ` · ${a.sent_by}` : "")))) : [h("li", { class: "feed-empty", text: "Không có thông báo nào đang hiển thị." })]));
}

function renderAlerts() {
  el.alerts.replaceChildren(...(state.alerts.length ? state.alerts.map((a) => h("li", { class: `feed-item severity-${a.severity}` },
    h("p", { class: "feed-text" },
      h("span", { class: `severity-tag severity-tag-${a.severity}`, text: SEVERITY_VI[a.severity] || a.severity }),
      " ", a.message),
    h("p", { class: "feed-meta", text: clockTime(a.timestamp, state.timezone, true) }))) : [h("li", { class: "feed-empty", text: "Chưa có cảnh báo nào." })]));
}

function renderDevices() {
  const order = { kiosk: 0, tv: 1, officer: 2, admin: 3 };
  const clients = [...state.clients.values()].sort((a, b) => (order[a.client_type] ?? 9) - (order[b.client_type] ?? 9)
    || a.client_id.localeCompare(b.client_id));
  setText(el.deviceCount, clients.length);
  el.devices.replaceChildren(...(clients.length ? clients.map((c) => h("tr", { dataset: { clientId: c.client_id } },
    h("td", { class: "mono", text: c.client_id }),
    h("td", {}, h("span", { class: `type-tag type-${c.client_type}`, text: CLIENT_TYPE_VI[c.client_type] || c.client_type })),
    h("td", { class: "col-wide", text: c.location || "—" }),
    h("td", { text: c.connected_since ? `${clockTime(c.connected_since, state.timezone)} (${sinceText(c.connected_since)})` : "—" })))
    : [h("tr", {}, h("td", { colspan: 4, class: "muted", text: "Không có thiết bị nào." }))]));
  renderTvChoices();
}

function renderTvChoices() {
  const tvs = [...state.clients.values()].filter((c) => c.client_type === "tv")
    .sort((a, b) => a.client_id.localeCompare(b.client_id));
  el.announceTvs.replaceChildren(...(tvs.length ? tvs.map((tv) => h("label", { class: "inline tv-choice" },
    h("input", { type: "checkbox", value: tv.client_id, checked: state.chosenTvs.has(tv.client_id),
      onchange: (event) => {
        if (event.target.checked) state.chosenTvs.add(tv.client_id);
        else state.chosenTvs.delete(tv.client_id);
        el.announceSome.checked = true;
      } }),
    ` ${tv.client_id}${tv.location ? ` (${tv.location})` : ""}`)) : [h("span", { class: "muted", text: "Chưa có TV nào kết nối." })]));
}

function renderTickets() {
  setText(el.ticketCount, state.tickets.length);
  const rows = [...state.tickets].reverse();
  el.tickets.replaceChildren(...(rows.length ? rows.map((t) => h("tr", { class: `ticket-${t.status}` },
    h("td", { class: "num" }, t.ticket_label || String(t.ticket_number),
      t.priority ? h("span", { class: "tag tag-priority ticket-priority", text: priorityText(t) }) : null),
    h("td", {}, t.queue_name || "—",
      t.transfers ? h("span", { class: "tag tag-transfer", text: `chuyển ${t.transfers} lần` }) : null),
    h("td", {}, t.counter_id === null || t.counter_id === undefined ? "—" : String(counterNumber(t.counter_id)),
      t.counter_name ? h("span", { class: "col-wide-inline", text: ` · ${t.counter_name}` }) : null),
    h("td", { class: "col-wide", text: t.procedure_name }),
    h("td", { class: "num", text: clockTime(t.created_at, state.timezone) }),
    h("td", { class: "num", text: clockTime(t.called_at, state.timezone) || "—" }),
    h("td", {}, h("span", { class: `state-pill ticket-state-${t.status}`, text: TICKET_STATUS_VI[t.status] || t.status }))))
    : [h("tr", {}, h("td", { colspan: 7, class: "muted", text: "Hôm nay chưa có vé nào." }))]));
}

// --- actions ------------------------------------------------------------------------

function setCounterStatus(counterId, status, reason) {
  if (!session.send("COUNTER_STATUS_CHANGE", { counter_id: counterId, status, reason })) {
    notify("Chưa kết nối được với máy chủ. (Not connected)", "error");
  }
}

function announceProblem(text) {
  setText(el.announceError, text);
  show(el.announceError, Boolean(text));
}

el.announceForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const message = el.announceMessage.value.trim();
  const duration = Number.parseInt(el.announceDuration.value, 10);
  if (!message) return announceProblem("Nhập nội dung thông báo. (Enter a message)");
  if (!(duration >= 1 && duration <= 86400)) return announceProblem("Thời gian hiển thị từ 1 đến 86400 giây.");
  let targets = [];
  if (el.announceSome.checked) {
    const connected = new Set([...state.clients.values()].filter((c) => c.client_type === "tv").map((c) => c.client_id));
    targets = [...state.chosenTvs].filter((id) => connected.has(id));
    if (!targets.length) return announceProblem("Chọn ít nhất một TV, hoặc chọn «Tất cả TV».");
  }
  announceProblem("");
  const sent = session.send("ANNOUNCEMENT", {
    message, priority: el.announcePriority.value, duration, target_displays: targets,
  });
  if (!sent) return announceProblem("Chưa kết nối được với máy chủ. (Not connected)");
  el.announceMessage.value = "";
  return undefined;
});

// --- today's tickets over HTTP (Authorization: Bearer, never the token in the URL) ----

async function apiGet(path) {
  const token = session.token;
  if (!token) return null;
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` }, cache: "no-store" });
  if (response.status === 401) {
    session.expire();
    return null;
  }
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response;
}

async function loadTickets() {
  if (ticketsLoading) {
    scheduleTickets();
    return;
  }
  ticketsLoading = true;
  try {
    const response = await apiGet("/api/tickets");
    if (!response) return;
    const body = await response.json();
    state.tickets = body.tickets || [];
    state.serviceDay = body.service_day;
    renderTickets();
  } catch {
    notify("Không tải được danh sách vé. (Could not load tickets)", "error");
  } finally {
    ticketsLoading = false;
  }
}

function scheduleTickets() {
  if (ticketsTimer) return;
  ticketsTimer = setTimeout(() => {
    ticketsTimer = null;
    loadTickets();
  }, TICKETS_RELOAD_MS);
}

el.ticketsRefresh.addEventListener("click", () => loadTickets());

el.ticketsCsv.addEventListener("click", async () => {
  try {
    const response = await apiGet("/api/tickets.csv");
    if (!response) return;
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const link = h("a", { href: url, download: `ve-${state.serviceDay || "hom-nay"}.csv`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch {
    notify("Không xuất được tệp CSV. (CSV export failed)", "error");
  }
});

// Expired announcements and "connected for" durations age on screen.
setInterval(() => {
  renderAnnouncements();
  renderDevices();
}, 30000);

page.start();
