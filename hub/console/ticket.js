// The citizen's ticket status page: /t/<code>. Public and read-only; it polls
// /api/t/<code> every few seconds (no token, nothing about other tickets) and
// shows where the ticket stands: waiting (priority, transferred), called,
// absent when called (no-show), done.

import { byId, h, setText, show } from "./dom.js";
import { clockTime, minutesText, priorityText } from "./format.js";

const POLL_MS = 4000;
// After a failed poll, wait a little longer: a weak phone link should not be hammered.
const RETRY_MS = 6000;
// A no-show is not final: the counter may put the ticket back in the line.
const FINAL_STATES = new Set(["done", "expired", "cancelled"]);

const el = {
  siteName: byId("site-name"),
  card: byId("ticket"),
  gone: byId("ticket-gone"),
  number: byId("ticket-number"),
  tags: byId("ticket-tags"),
  transfer: byId("ticket-transfer"),
  counter: byId("ticket-counter"),
  procedure: byId("ticket-procedure"),
  status: byId("ticket-status"),
  statusTitle: byId("ticket-status-title"),
  statusText: byId("ticket-status-text"),
  statusEn: byId("ticket-status-en"),
  figures: byId("ticket-figures"),
  ahead: byId("ticket-ahead"),
  wait: byId("ticket-wait"),
  paused: byId("ticket-paused"),
  issued: byId("ticket-issued"),
  updated: byId("ticket-updated"),
};

const code = decodeURIComponent(window.location.pathname.replace(/^\/t\//, ""));
let timer = null;
let last = null;

/** "quầy 2, 5" from the hub's "Quầy 2, 5" (the counters serving the ticket's queue). */
function counterWords(counters) {
  return (counters || "").replace(/^Quầy/, "quầy");
}

function render(ticket) {
  last = ticket;
  show(el.gone, false);
  show(el.card, true);
  setText(el.siteName, ticket.site_name);
  setText(el.number, ticket.ticket_label || ticket.ticket_number);
  const counterNumber = ticket.counter_number ?? ticket.counter_id;
  // Called, absent or served: the counter that called it; waiting: every counter serving its queue.
  const atCounter = ticket.counter_id !== null && ticket.counter_id !== undefined && ticket.status !== "waiting";
  setText(el.counter, atCounter ? `Quầy ${counterNumber} · ${ticket.counter_name}`
    : [ticket.counters, ticket.queue_name].filter(Boolean).join(" · "));
  setText(el.procedure, ticket.procedure_name);
  const priority = priorityText(ticket);
  el.tags.replaceChildren(...(priority ? [h("span", { class: "tag tag-priority", text: priority })] : []));
  const tz = ticket.timezone;
  const waiting = ticket.status === "waiting";
  const moved = waiting && ticket.transferred;
  setText(el.transfer, moved ? `Đã chuyển sang ${counterWords(ticket.counters) || "quầy khác"}`
    + `${ticket.queue_name ? ` (${ticket.queue_name})` : ""}. Số của bạn giữ nguyên.` : "");
  show(el.transfer, moved);
  let title;
  let text;
  let english;
  switch (ticket.status) {
    case "waiting":
      title = "Đang chờ";
      if (ticket.people_ahead === 0) {
        text = "Bạn là người tiếp theo. Xin chú ý màn hình và loa gọi số.";
        english = "You are next.";
      } else {
        text = `Còn ${ticket.people_ahead} người trước bạn.`;
        english = `${ticket.people_ahead} ahead of you.`;
      }
      break;
    case "called":
      title = `Mời bạn đến quầy ${counterNumber}`;
      text = `Đang được phục vụ — mời đến quầy ${ticket.counter_name}.`;
      english = `Please go to counter ${counterNumber}.`;
      break;
    case "done":
      title = "Đã xong";
      text = "Bạn đã được phục vụ. Cảm ơn quý khách!";
      english = "Served. Thank you!";
      break;
    case "no_show":
      title = ticket.status_text || "Vắng mặt";
      text = `Quý khách đã vắng mặt khi được gọi: xin liên hệ quầy ${counterNumber} để được gọi lại.`;
      english = `You were called but were not there: please see counter ${counterNumber}.`;
      break;
    case "cancelled":
      title = "Vé đã bị hủy";
      text = "Xin liên hệ bàn hướng dẫn nếu quý khách cần được phục vụ.";
      english = "This ticket was cancelled.";
      break;
    default:
      title = "Vé đã hết hạn";
      text = "Vé chỉ có giá trị trong ngày được cấp.";
      english = "This ticket has expired.";
  }
  setText(el.statusTitle, title);
  setText(el.statusText, text);
  setText(el.statusEn, english);
  el.status.className = `ticket-status status-${ticket.status}`;
  document.body.dataset.status = ticket.status;
  show(el.figures, waiting);
  setText(el.ahead, ticket.people_ahead);
  setText(el.wait, minutesText(ticket.estimated_wait_time));
  show(el.paused, waiting && ticket.counter_status !== "active");
  setText(el.issued, `Lấy số lúc ${clockTime(ticket.created_at, tz)}`
    + (ticket.called_at ? ` · Gọi lúc ${clockTime(ticket.called_at, tz)}` : ""));
  setText(el.updated, `Cập nhật lúc ${clockTime(ticket.server_time, tz, true)}`);
  document.title = `Số ${ticket.ticket_number} — ${title}`;
}

function renderGone() {
  last = null;
  show(el.card, false);
  show(el.gone, true);
  setText(el.updated, "");
  document.title = "Không tìm thấy vé";
}

async function poll() {
  clearTimeout(timer);
  timer = null;
  let next = POLL_MS;
  try {
    const response = await fetch(`/api/t/${encodeURIComponent(code)}`, { cache: "no-store" });
    if (response.status === 404) {
      renderGone();
      return; // the ticket is gone (the day turned): nothing more to follow
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
    if (FINAL_STATES.has(last.status)) return;
  } catch {
    setText(el.updated, "Mất kết nối, đang thử lại… (Connection problem, retrying)");
    next = RETRY_MS;
  }
  if (!document.hidden) timer = setTimeout(poll, next);
}

// A phone in a pocket need not poll; back on screen, it is brought up to date at once.
document.addEventListener("visibilitychange", () => {
  if (document.hidden) {
    clearTimeout(timer);
    timer = null;
  } else if (!timer && !(last && FINAL_STATES.has(last.status))) {
    poll();
  }
});

poll();
