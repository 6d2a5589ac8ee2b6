// Times and durations the Vietnamese way, in the hall's time zone.

const DEFAULT_TZ = "Asia/Ho_Chi_Minh";

function formatter(timeZone, withSeconds) {
  try {
    return new Intl.DateTimeFormat("vi-VN", {
      timeZone, hour: "2-digit", minute: "2-digit", second: withSeconds ? "2-digit" : undefined, hour12: false,
    });
  } catch {
    return new Intl.DateTimeFormat("vi-VN", {
      timeZone: DEFAULT_TZ, hour: "2-digit", minute: "2-digit", second: withSeconds ? "2-digit" : undefined,
      hour12: false,
    });
  }
}

/** "10:35" (or "10:35:12") for an ISO timestamp; "" for none. */
export function clockTime(iso, timeZone = DEFAULT_TZ, withSeconds = false) {
  if (!iso) return "";
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return "";
  return formatter(timeZone, withSeconds).format(moment);
}

/** "12 phút", "1 giờ 5 phút", "dưới 1 phút" for whole minutes. */
export function minutesText(minutes) {
  const value = Math.max(0, Math.round(Number(minutes) || 0));
  if (value === 0) return "dưới 1 phút";
  if (value < 60) return `${value} phút`;
  const hours = Math.floor(value / 60);
  const rest = value % 60;
  return rest ? `${hours} giờ ${rest} phút` : `${hours} giờ`;
}

/** How long ago, roughly: "vừa xong", "5 phút", "2 giờ 10 phút". */
export function sinceText(iso, now = Date.now()) {
  if (!iso) return "";
  const minutes = Math.floor((now - new Date(iso).getTime()) / 60000);
  if (!(minutes >= 1)) return "vừa xong";
  return minutesText(minutes);
}

export const COUNTER_STATUS_VI = {
  active: "Đang hoạt động",
  paused: "Tạm dừng",
  offline: "Ngừng hoạt động",
};

export const TICKET_STATUS_VI = {
  waiting: "Đang chờ",
  called: "Đang phục vụ",
  done: "Đã xong",
  no_show: "Vắng mặt",
  cancelled: "Đã hủy",
  expired: "Hết hạn",
};

// PROTOCOL.md's priority reasons, as hub/ticket_listing.py names them.
export const PRIORITY_REASON_VI = {
  elderly: "Người cao tuổi",
  disability: "Người khuyết tật",
  pregnant: "Phụ nữ mang thai",
  child: "Trẻ em",
  merit: "Người có công",
  other: "Ưu tiên",
};

/** "Ưu tiên · Người cao tuổi" for a priority ticket (reason from its code or its text), "" for any other. */
export function priorityText(ticket) {
  if (!ticket?.priority) return "";
  const reason = ticket.priority_text || PRIORITY_REASON_VI[ticket.priority_reason] || "";
  return reason && reason !== "Ưu tiên" ? `Ưu tiên · ${reason}` : "Ưu tiên";
}

// TICKET_UPDATED's actions, as the consoles tell them.
export const TICKET_ACTION_VI = {
  finish: "Hoàn thành",
  no_show: "Vắng mặt",
  transfer: "Chuyển",
  return: "Gọi lại vào hàng",
};

export const CLIENT_TYPE_VI = {
  kiosk: "Ki-ốt lấy số",
  tv: "Màn hình TV",
  officer: "Cán bộ",
  admin: "Quản trị",
};

export const PRIORITY_VI = { high: "Cao", medium: "Trung bình", low: "Thấp" };

export const SEVERITY_VI = { critical: "Nghiêm trọng", warning: "Cảnh báo", info: "Thông tin" };
