// The officer's page: one counter, the ticket being served, who waits, today's
// no-shows, and the buttons (and keys) an officer presses all day: call next,
// recall, finish, no-show, transfer, call a number, pause.

import { byId, h, setText, show } from "./dom.js";
import { COUNTER_STATUS_VI, minutesText, priorityText } from "./format.js";
import { startConsolePage } from "./console-page.js";
import { PauseDialog } from "./pause-dialog.js";
import { CallNumberDialog, TransferDialog } from "./ticket-actions.js";
import { CounterClaim } from "./counter-claim.js";
import { CounterLine } from "./counter-line.js";

// An answer (CALL_TICKET, TICKET_UPDATED or ERROR) normally comes within
// milliseconds; this only frees the buttons if it never does.
const ANSWER_TIMEOUT_MS = 5000;

const el = {
  counterTitle: byId("counter-title"),
  siteName: byId("site-name"),
  work: byId("officer-work"),
  currentNumber: byId("current-number"),
  currentTags: byId("current-tags"),
  currentHint: byId("current-hint"),
  counterState: byId("counter-state"),
  pausedBanner: byId("paused-banner"),
  pausedReason: byId("paused-reason"),
  callNext: byId("call-next"),
  recall: byId("recall"),
  finish: byId("finish"),
  noShow: byId("no-show"),
  transfer: byId("transfer"),
  callNumber: byId("call-number"),
  pause: byId("pause"),
  resume: byId("resume"),
  waitingCount: byId("waiting-count"),
  averageWait: byId("average-wait"),
};

const state = {
  identity: null,
  online: false,
  // The counter as SNAPSHOT and QUEUE_UPDATE tell it: counter_id, counter_number, counter_name, status, reason,
  // current_number, current_ticket, waiting_count, next_numbers, average_wait_time, queue_ids (its own),
  // backup_queue_ids, queues (a QueueLine per queue it serves).
  counter: null,
  queues: new Map(), // queue_id -> QueueInfo (name, counter_ids, prefix)
  counters: new Map(), // counter_id -> { counter_id, counter_number, counter_name }
  pending: null, // { kind: "call" | "action", timer }: one request at a time
  closedByCall: null, // the TICKET_UPDATED finish a call just sent (nobody left: said with QUEUE_EMPTY)
};

const pauseDialog = new PauseDialog();
const transferDialog = new TransferDialog();
const callNumberDialog = new CallNumberDialog();

const page = startConsolePage({
  storageKey: "qms.console.officer",
  clientType: "officer",
  accepts: (identity) => {
    if (identity.role !== "officer") {
      return "Tài khoản này không phải tài khoản cán bộ quầy: hãy dùng trang Quản trị (/admin). "
        + "(This account is not an officer account)";
    }
    if (!identity.counter_id) return "Tài khoản cán bộ chưa được gán quầy. (No counter assigned)";
    return null;
  },
  clientId: (identity, tab) => `officer-c${identity.counter_id}-${tab}`,
  location: (identity) => `counter-${identity.counter_id}`,
  onSignedIn(identity) {
    state.identity = identity;
    setText(el.counterTitle, `Quầy ${identity.counter_id}`);
    render();
  },
  onSignedOut() {
    state.identity = null;
    state.counter = null;
    endPending();
    claim.reset();
    line.reset();
  },
  onStatus(status) {
    state.online = status === "online";
    if (!state.online) endPending();
    render();
  },
  onCounterBusy(message) {
    claim.busy(message, state.identity?.counter_id);
  },
  onTakenOver() {
    endPending();
    claim.takenOver(`quầy ${shownNumber()}`);
  },
  onMessage,
});
const { session, notify } = page;
const claim = new CounterClaim({ session, onChange: render });
const line = new CounterLine({
  session,
  notify,
  onReturn: returnToLine,
  elements: {
    waitingList: byId("waiting-list"),
    moreWaiting: byId("more-waiting"),
    priorityCount: byId("priority-count"),
    noShowList: byId("no-show-list"),
    noShowCount: byId("no-show-count"),
  },
});
line.onChange = render;

function mine(counterId) {
  return state.identity !== null && counterId === state.identity.counter_id;
}

function shownNumber() {
  return state.counter?.counter_number ?? state.identity?.counter_id ?? "";
}

function queueName(queueId) {
  return state.queues.get(queueId)?.queue_name || "";
}

function onMessage(type, payload) {
  switch (type) {
    case "SNAPSHOT": {
      setText(el.siteName, payload.site_name);
      state.queues = new Map((payload.queues || []).map((q) => [q.queue_id, q]));
      state.counters = new Map((payload.counters || []).map((c) => [c.counter_id, {
        counter_id: c.counter_id, counter_number: c.counter_number ?? c.counter_id, counter_name: c.counter_name,
      }]));
      const counter = (payload.counters || []).find((c) => mine(c.counter_id));
      if (!counter) {
        notify(`Quầy ${state.identity?.counter_id} không có trong cấu hình của hệ thống. (Unknown counter)`, "error", true);
        state.counter = null;
      } else {
        state.counter = { queues: [], ...counter };
        setText(el.counterTitle, `Quầy ${shownNumber()} · ${counter.counter_name}`);
        line.refresh();
      }
      break;
    }
    case "QUEUE_UPDATE":
      if (mine(payload.counter_id) && state.counter) {
        const { current_number, waiting_count, next_numbers, average_wait_time } = payload;
        Object.assign(state.counter, { current_number, waiting_count, next_numbers, average_wait_time });
        // (QUEUE_UPDATE's queue_ids lists the backup queues too: the counter's own stay as SNAPSHOT said.)
        if (payload.queues) state.counter.queues = payload.queues;
        if ("current_ticket" in payload) state.counter.current_ticket = payload.current_ticket;
        if (payload.status) state.counter.status = payload.status;
        line.refresh();
      }
      break;
    case "COUNTER_STATUS_UPDATE":
      if (mine(payload.counter_id) && state.counter) {
        const before = state.counter.status;
        Object.assign(state.counter, { status: payload.status, reason: payload.reason });
        if (before !== payload.status) {
          const by = payload.changed_by && payload.changed_by !== state.identity?.username
            ? ` (bởi ${payload.changed_by})` : "";
          notify(payload.status === "active"
            ? `Quầy đã hoạt động trở lại${by}.`
            : `Quầy đã tạm dừng${by}${payload.reason ? `: ${payload.reason}` : ""}.`,
          payload.status === "active" ? "success" : "warning");
        }
      }
      break;
    case "CALL_TICKET":
      if (mine(payload.counter_id) && state.counter) {
        state.counter.current_number = payload.ticket_number;
        state.counter.current_ticket = {
          ticket_id: payload.ticket_id, ticket_number: payload.ticket_number, queue_id: payload.queue_id,
          priority: payload.priority, ticket_label: payload.ticket_label, called_at: payload.timestamp,
        };
        endPending("call");
        const label = payload.ticket_label || payload.ticket_number;
        notify(payload.recall ? `Đã gọi lại số ${label}.` : `Đã gọi số ${label}.`, "success");
      }
      break;
    case "TICKET_UPDATED":
      if (mine(payload.counter_id) || mine(payload.from_counter_id)) ticketUpdated(payload);
      break;
    case "ERROR":
      showError(payload);
      endPending();
      break;
    default:
      return;
  }
  render();
}

function ticketUpdated(update) {
  const label = update.ticket_label || update.ticket_number;
  const current = state.counter?.current_ticket;
  if (current && current.ticket_id === update.ticket_id && update.action !== "return") {
    state.counter.current_ticket = null;
    state.counter.current_number = null;
  }
  if (update.action === "no_show") line.noteNoShow(update);
  if (update.action === "return") line.noteReturned(update);
  line.refresh();
  if (state.pending?.kind === "call") {
    // A call closes the ticket it replaces; the call's own answer follows.
    state.closedByCall = update;
    return;
  }
  endPending("action");
  switch (update.action) {
    case "finish":
      notify(`Đã hoàn thành số ${label}.`, "success");
      break;
    case "no_show":
      notify(`Số ${label} vắng mặt: đã ghi vào «Vắng mặt hôm nay». Khách đến muộn thì bấm «Gọi lại vào hàng».`,
        "warning");
      break;
    case "transfer": {
      const to = state.counters.get(update.to_counter_id);
      const where = to ? `quầy ${to.counter_number} · ${to.counter_name}` : `hàng ${update.queue_name || queueName(update.queue_id)}`;
      notify(`Đã chuyển số ${label} sang ${where}.`, "success");
      break;
    }
    case "return":
      notify(`Số ${label} đã vào lại hàng chờ và sẽ được gọi trước.`, "success");
      break;
    default:
  }
}

function showError(payload) {
  switch (payload.error_code) {
    case "QUEUE_EMPTY": {
      const closed = state.closedByCall;
      const done = closed ? `Đã hoàn thành số ${closed.ticket_label || closed.ticket_number}. ` : "";
      notify(`${done}Không còn ai đang chờ. (The queue is empty)`, "warning");
      return;
    }
    case "COUNTER_PAUSED":
      notify("Quầy đang tạm dừng: bấm «Tiếp tục phục vụ» trước khi gọi số. (Counter is paused)", "warning");
      return;
    case "RATE_LIMITED":
      notify("Thao tác quá nhanh, xin chờ một chút. (Too fast)", "warning");
      return;
    default:
      notify(payload.message || "Yêu cầu không thực hiện được.", "error");
  }
}

function render() {
  const counter = state.counter;
  const status = counter?.status || "active";
  const active = status === "active";
  const ticket = counter?.current_ticket || null;
  const current = ticket ? ticket.ticket_label || ticket.ticket_number : counter?.current_number ?? null;

  show(el.work, !claim.held);
  setText(el.currentNumber, current ?? "—");
  const detail = ticket ? line.current(ticket.ticket_id) : null;
  const tags = [];
  if (ticket?.priority) {
    tags.push(h("span", { class: "tag tag-priority", text: priorityText(detail || ticket) }));
  }
  if (ticket && (counter.queue_ids?.length > 1 || !counter.queue_ids?.includes(ticket.queue_id))) {
    tags.push(h("span", { class: "tag", text: queueName(ticket.queue_id) }));
  }
  if (detail?.transferred) tags.push(h("span", { class: "tag tag-transfer", text: "Được chuyển đến" }));
  el.currentTags.replaceChildren(...tags);
  setText(el.currentHint, current === null ? "Chưa gọi số nào" : "Số đang được phục vụ tại quầy");
  setText(el.counterState, COUNTER_STATUS_VI[status] || status);
  el.counterState.className = `state-pill state-${status}`;
  show(el.pausedBanner, Boolean(counter) && !active && !claim.held);
  setText(el.pausedReason, counter?.reason ? `— ${counter.reason}` : "");
  document.body.classList.toggle("is-paused", Boolean(counter) && !active);

  const usable = state.online && Boolean(counter) && !claim.held;
  const waiting = Boolean(state.pending);
  el.callNext.disabled = !usable || !active || waiting;
  el.recall.disabled = !usable || !active || current === null || waiting;
  // A paused counter can still close the ticket it has.
  el.finish.disabled = !usable || current === null || waiting;
  el.noShow.disabled = !usable || current === null || waiting;
  el.transfer.disabled = !usable || current === null || waiting;
  el.callNumber.disabled = !usable || !active || waiting;
  el.pause.disabled = !usable;
  el.resume.disabled = !usable;
  show(el.pause, active);
  show(el.resume, !active);

  setText(el.waitingCount, counter?.waiting_count ?? 0);
  line.render(counter, { queueName, usable: usable && !waiting });
  setText(el.averageWait, counter ? minutesText(counter.average_wait_time) : "—");
  document.title = current !== null ? `Số ${current} — Quầy ${shownNumber()}` : "Quầy cán bộ — Hệ thống xếp hàng";
}

// --- actions ----------------------------------------------------------------------

function beginPending(kind) {
  endPending();
  state.closedByCall = null;
  state.pending = { kind, timer: setTimeout(() => { endPending(); render(); }, ANSWER_TIMEOUT_MS) };
}

/** The answer came (of this kind, or of any when no kind is given): the buttons are free again. */
function endPending(kind = null) {
  if (!state.pending || (kind && state.pending.kind !== kind)) return;
  clearTimeout(state.pending.timer);
  state.pending = null;
}

function sendOrWarn(type, payload) {
  if (!session.send(type, payload)) {
    notify("Chưa kết nối được với máy chủ, thao tác chưa được gửi. (Not connected)", "error");
    return false;
  }
  return true;
}

function call(extra = {}) {
  if (sendOrWarn("CALL_TICKET", { counter_id: state.counter.counter_id, ...extra })) beginPending("call");
  render();
}

function act(action, extra = {}) {
  if (sendOrWarn("TICKET_ACTION", { counter_id: state.counter.counter_id, action, ...extra })) beginPending("action");
  render();
}

function currentTicket() {
  return state.counter?.current_ticket || null;
}

function callNext() {
  // One press, one call: a second press before the hub answers would skip a citizen.
  if (el.callNext.disabled || !state.counter) return;
  call();
}

function recall() {
  const ticket = currentTicket();
  if (el.recall.disabled || !ticket) return;
  call({ ticket_number: ticket.ticket_number, queue_id: ticket.queue_id });
}

// Finish, no-show and transfer name the ticket on the screen: if it changed meanwhile
// (an admin acted on the counter), the hub refuses rather than closing another.
function finish() {
  const ticket = currentTicket();
  if (el.finish.disabled || !ticket) return;
  act("finish", { ticket_number: ticket.ticket_number });
}

// No confirmation: one key, and «Gọi lại vào hàng» in the no-show list undoes it.
function noShow() {
  const ticket = currentTicket();
  if (el.noShow.disabled || !ticket) return;
  act("no_show", { ticket_number: ticket.ticket_number });
}

function counterNumbers(counterIds) {
  const numbers = (counterIds || []).map((id) => state.counters.get(id)?.counter_number ?? id);
  return numbers.length ? `Quầy ${numbers.join(", ")}` : "";
}

function transfer() {
  const ticket = currentTicket();
  if (el.transfer.disabled || !ticket) return;
  const queues = [...state.queues.values()].map((q) => ({
    queue_id: q.queue_id, queue_name: q.queue_name, counters: counterNumbers(q.counter_ids),
  }));
  const counters = [...state.counters.values()].filter((c) => !mine(c.counter_id));
  transferDialog.open({ label: ticket.ticket_label || ticket.ticket_number, fromQueueId: ticket.queue_id, queues, counters },
    (target) => {
      const still = currentTicket();
      if (!still || still.ticket_id !== ticket.ticket_id) {
        notify("Số đang phục vụ đã thay đổi, chưa chuyển. (The ticket changed)", "warning");
        return;
      }
      act("transfer", { ticket_number: ticket.ticket_number, ...target });
    });
}

function callNumber() {
  if (el.callNumber.disabled || !state.counter) return;
  const counter = state.counter;
  const ids = [...(counter.queue_ids || []), ...(counter.backup_queue_ids || [])];
  const queues = ids.map((id) => ({
    queue_id: id, queue_name: queueName(id), prefix: state.queues.get(id)?.prefix || "",
    backup: !(counter.queue_ids || []).includes(id),
  }));
  callNumberDialog.open(queues, (target) => {
    if (el.callNumber.disabled) return;
    call(target);
  });
}

function returnToLine(ticket) {
  if (!state.counter || !state.online || state.pending || claim.held) return;
  act("return", { ticket_number: ticket.ticket_number, queue_id: ticket.queue_id });
}

function setStatus(status, reason = "") {
  if (!state.counter) return;
  sendOrWarn("COUNTER_STATUS_CHANGE", { counter_id: state.counter.counter_id, status, reason });
}

el.callNext.addEventListener("click", callNext);
el.recall.addEventListener("click", recall);
el.finish.addEventListener("click", finish);
el.noShow.addEventListener("click", noShow);
el.transfer.addEventListener("click", transfer);
el.callNumber.addEventListener("click", callNumber);
el.pause.addEventListener("click", () => {
  if (!state.counter) return;
  pauseDialog.open(`Tạm dừng quầy ${shownNumber()}`, (reason) => setStatus("paused", reason));
});
el.resume.addEventListener("click", () => setStatus("active"));

// --- keys -------------------------------------------------------------------------

const SHORTCUTS = { r: recall, f: finish, n: noShow, t: transfer, g: callNumber };

function typingInto(target) {
  return target instanceof HTMLElement
    && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

function shortcutFor(event) {
  if (!state.identity || claim.held || document.querySelector("dialog[open]") || typingInto(event.target)) return null;
  if (event.ctrlKey || event.metaKey || event.altKey) return null;
  if (event.code === "Space" || event.key === " ") return callNext;
  return SHORTCUTS[event.key.toLowerCase()] || null;
}

// A console away from its counter swallows Space: pressed out of habit, it must not press «Nhận lại quầy».
function swallowedSpace(event) {
  return claim.held && (event.code === "Space" || event.key === " ");
}

document.addEventListener("keydown", (event) => {
  if (swallowedSpace(event)) {
    event.preventDefault();
    return;
  }
  const shortcut = shortcutFor(event);
  if (!shortcut) return;
  // Space must not also press whichever button has the focus, nor scroll; T and G must not type into the
  // dialog they open.
  event.preventDefault();
  if (event.repeat) return;
  shortcut();
});
document.addEventListener("keyup", (event) => {
  if (swallowedSpace(event) || shortcutFor(event) === callNext) event.preventDefault();
});

page.start();
render();
