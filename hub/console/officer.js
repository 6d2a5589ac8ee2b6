// The officer's page: one counter, the number being served, who waits, and the
// buttons (and keys) an officer presses all day.

import { byId, h, setText, show } from "./dom.js";
import { COUNTER_STATUS_VI, minutesText } from "./format.js";
import { startConsolePage } from "./console-page.js";
import { PauseDialog } from "./pause-dialog.js";

// An answer (CALL_TICKET or ERROR) normally comes within milliseconds; this
// only frees the buttons if it never does.
const CALL_ANSWER_TIMEOUT_MS = 5000;

const el = {
  counterTitle: byId("counter-title"),
  siteName: byId("site-name"),
  currentNumber: byId("current-number"),
  currentHint: byId("current-hint"),
  counterState: byId("counter-state"),
  pausedBanner: byId("paused-banner"),
  pausedReason: byId("paused-reason"),
  callNext: byId("call-next"),
  recall: byId("recall"),
  pause: byId("pause"),
  resume: byId("resume"),
  waitingCount: byId("waiting-count"),
  nextNumbers: byId("next-numbers"),
  moreWaiting: byId("more-waiting"),
  averageWait: byId("average-wait"),
};

const state = {
  identity: null,
  online: false,
  counter: null, // { counter_id, counter_name, status, reason, current_number, waiting_count, next_numbers, average_wait_time }
  pendingCall: null, // { recall, timer }
};

const pauseDialog = new PauseDialog();

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
    endPendingCall();
  },
  onStatus(status) {
    state.online = status === "online";
    if (!state.online) endPendingCall();
    render();
  },
  onMessage,
});
const { session, notify } = page;

function myCounter(payload) {
  return state.identity && payload.counter_id === state.identity.counter_id;
}

function onMessage(type, payload) {
  switch (type) {
    case "SNAPSHOT": {
      setText(el.siteName, payload.site_name);
      const counter = (payload.counters || []).find((c) => myCounter(c));
      if (!counter) {
        notify(`Quầy ${state.identity?.counter_id} không có trong cấu hình của hệ thống. (Unknown counter)`, "error", true);
        state.counter = null;
      } else {
        state.counter = { ...counter };
        setText(el.counterTitle, `Quầy ${counter.counter_id} · ${counter.counter_name}`);
      }
      break;
    }
    case "QUEUE_UPDATE":
      if (myCounter(payload) && state.counter) {
        const { current_number, waiting_count, next_numbers, average_wait_time } = payload;
        Object.assign(state.counter, { current_number, waiting_count, next_numbers, average_wait_time });
        if (payload.status) state.counter.status = payload.status;
      }
      break;
    case "COUNTER_STATUS_UPDATE":
      if (myCounter(payload) && state.counter) {
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
      if (myCounter(payload) && state.counter) {
        state.counter.current_number = payload.ticket_number;
        endPendingCall();
        notify(payload.recall ? `Đã gọi lại số ${payload.ticket_number}.` : `Đã gọi số ${payload.ticket_number}.`,
          "success");
      }
      break;
    case "ERROR":
      endPendingCall();
      showError(payload);
      break;
    default:
      return;
  }
  render();
}

function showError(payload) {
  switch (payload.error_code) {
    case "QUEUE_EMPTY":
      notify("Không còn ai đang chờ. (The queue is empty)", "warning");
      return;
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
  const current = counter?.current_number ?? null;

  setText(el.currentNumber, current ?? "—");
  setText(el.currentHint, current === null ? "Chưa gọi số nào" : "Số đang được phục vụ tại quầy");
  setText(el.counterState, COUNTER_STATUS_VI[status] || status);
  el.counterState.className = `state-pill state-${status}`;
  show(el.pausedBanner, Boolean(counter) && !active);
  setText(el.pausedReason, counter?.reason ? `— ${counter.reason}` : "");
  document.body.classList.toggle("is-paused", Boolean(counter) && !active);

  const usable = state.online && Boolean(counter);
  el.callNext.disabled = !usable || !active || Boolean(state.pendingCall);
  el.recall.disabled = !usable || !active || current === null || Boolean(state.pendingCall);
  el.pause.disabled = !usable;
  el.resume.disabled = !usable;
  show(el.pause, active);
  show(el.resume, !active);

  const waiting = counter?.waiting_count ?? 0;
  setText(el.waitingCount, waiting);
  const next = counter?.next_numbers || [];
  el.nextNumbers.replaceChildren(
    ...(next.length ? next.map((n) => h("li", { class: "chip", text: n })) : [h("li", { class: "chip chip-empty", text: "Chưa có ai chờ" })]),
  );
  const more = waiting - next.length;
  setText(el.moreWaiting, more > 0 ? `và ${more} người khác` : "");
  setText(el.averageWait, counter ? minutesText(counter.average_wait_time) : "—");
  document.title = current !== null ? `Số ${current} — Quầy ${counter.counter_id}` : "Quầy cán bộ — Hệ thống xếp hàng";
}

// --- actions ----------------------------------------------------------------------

function beginPendingCall(recall) {
  endPendingCall();
  state.pendingCall = { recall, timer: setTimeout(() => { endPendingCall(); render(); }, CALL_ANSWER_TIMEOUT_MS) };
}

function endPendingCall() {
  if (state.pendingCall) clearTimeout(state.pendingCall.timer);
  state.pendingCall = null;
}

function sendOrWarn(type, payload) {
  if (!session.send(type, payload)) {
    notify("Chưa kết nối được với máy chủ, thao tác chưa được gửi. (Not connected)", "error");
    return false;
  }
  return true;
}

function callNext() {
  // One press, one call: a second press before the hub answers would skip a citizen.
  if (el.callNext.disabled || !state.counter) return;
  if (sendOrWarn("CALL_TICKET", { counter_id: state.counter.counter_id })) beginPendingCall(false);
  render();
}

function recall() {
  if (el.recall.disabled || !state.counter || state.counter.current_number === null) return;
  if (sendOrWarn("CALL_TICKET", { counter_id: state.counter.counter_id, ticket_number: state.counter.current_number })) {
    beginPendingCall(true);
  }
  render();
}

function setStatus(status, reason = "") {
  if (!state.counter) return;
  sendOrWarn("COUNTER_STATUS_CHANGE", { counter_id: state.counter.counter_id, status, reason });
}

el.callNext.addEventListener("click", callNext);
el.recall.addEventListener("click", recall);
el.pause.addEventListener("click", () => {
  if (!state.counter) return;
  pauseDialog.open(`Tạm dừng quầy ${state.counter.counter_id}`, (reason) => setStatus("paused", reason));
});
el.resume.addEventListener("click", () => setStatus("active"));

function typingInto(target) {
  return target instanceof HTMLElement
    && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

function isShortcut(event) {
  if (!state.identity || pauseDialog.isOpen || typingInto(event.target)) return null;
  if (event.ctrlKey || event.metaKey || event.altKey) return null;
  if (event.code === "Space" || event.key === " ") return "call";
  if (event.key === "r" || event.key === "R") return "recall";
  return null;
}

document.addEventListener("keydown", (event) => {
  const shortcut = isShortcut(event);
  if (!shortcut) return;
  // Space must not also press whichever button has the focus, nor scroll.
  event.preventDefault();
  if (event.repeat) return;
  if (shortcut === "call") callNext();
  else recall();
});
document.addEventListener("keyup", (event) => {
  if (isShortcut(event) === "call") event.preventDefault();
});

page.start();
render();
