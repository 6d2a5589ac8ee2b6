// A report's view, shared by a hall's report page (/reports) and the province's page (qms-central serve):
// a range of service days and a grouping; the table the server computes from its history (/api/reports,
// docs/reports.md defines every column), its CSV and Excel files, and three charts drawn by Chart.js
// (vendor/chart.umd.min.js, loaded before this module as window.Chart): tickets per hour of the day, the
// distribution of waits, and the citizens' ratings per officer.
//
// The page that uses it signs in its own way and hands over a session ({ token, expire() }) and notify();
// the token goes in an Authorization header, never in the address.

import { byId, h, replaceChildren, setText, show } from "./dom.js";

const GROUP_HEADER = {
  queue: "Hàng chờ", field: "Lĩnh vực", counter: "Quầy", officer: "Cán bộ", day: "Ngày", hour: "Giờ lấy số",
  site: "Trung tâm",
};
const SCORE_TEXT = { 4: "Rất hài lòng", 3: "Hài lòng", 2: "Chưa hài lòng", 1: "Không hài lòng" };
const SCORE_COLOUR = { 4: "#0b7a35", 3: "#65a30d", 2: "#d97706", 1: "#b3261e" };
const BRAND = "#0b4ea2";
const GREEN = "#0b7a35";
const AMBER = "#c76a00";
const FONT = 'system-ui, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", Arial, sans-serif';

const whole = new Intl.NumberFormat("vi-VN");
const oneDecimal = new Intl.NumberFormat("vi-VN", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const twoDecimals = new Intl.NumberFormat("vi-VN", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

const el = {
  siteName: byId("site-name"),
  form: byId("report-form"),
  periodButtons: [...document.querySelectorAll("[data-period]")],
  customRange: byId("custom-range"),
  from: byId("report-from"),
  to: byId("report-to"),
  by: byId("report-by"),
  show: byId("report-show"),
  csv: byId("report-csv"),
  xlsx: byId("report-xlsx"),
  error: byId("report-error"),
  range: byId("report-range"),
  table: byId("report-table"),
  head: byId("report-head"),
  rows: byId("report-rows"),
  total: byId("report-total"),
  definitions: byId("definitions"),
  ratingsEmpty: byId("ratings-empty"),
  stats: {
    issued: byId("total-issued"), served: byId("total-served"), noShow: byId("total-no-show"),
    wait: byId("total-wait"), service: byId("total-service"), rating: byId("total-rating"),
  },
};

const state = { period: "this_month", loading: null, shown: null };
const charts = {};
// Set by startReportView: how the page signs in and tells, and what it adds to every query (a site).
let session = { token: null, expire() {} };
let notify = () => {};
let extraQuery = () => ({});

// --- numbers as people read them --------------------------------------------------------------------------

function count(value) {
  return value === null || value === undefined ? "—" : whole.format(value);
}

function minutes(value) {
  return value === null || value === undefined ? "—" : oneDecimal.format(value);
}

function rating(value) {
  return value === null || value === undefined ? "—" : twoDecimals.format(value);
}

function dayText(iso) {
  const [year, month, day] = iso.split("-");
  return `${day}/${month}/${year}`;
}

function columns(by) {
  return [
    { header: GROUP_HEADER[by], cell: (row) => row.label, kind: "label" },
    { header: by === "counter" || by === "officer" ? "Vé tiếp nhận" : "Số vé lấy", cell: (row) => count(row.issued) },
    { header: "Đã phục vụ", cell: (row) => count(row.served) },
    { header: "Vắng mặt", cell: (row) => count(row.no_show) },
    { header: "Chuyển đi", cell: (row) => count(row.transferred) },
    { header: "Chờ TB (phút)", cell: (row) => minutes(row.wait_mean_min) },
    { header: "Chờ P90 (phút)", cell: (row) => minutes(row.wait_p90_min) },
    { header: "Phục vụ TB (phút)", cell: (row) => minutes(row.service_mean_min) },
    { header: "Phục vụ P90 (phút)", cell: (row) => minutes(row.service_p90_min) },
    { header: "Lượt đánh giá", cell: (row) => count(row.ratings) },
    { header: "Điểm TB (1–4)", cell: (row) => rating(row.rating_mean) },
    ...[4, 3, 2, 1].map((score) => ({
      header: `${SCORE_TEXT[score]} (${score})`, cell: (row) => count(row.rating_counts[String(score)]),
    })),
  ];
}

// --- the hub's HTTP API -------------------------------------------------------------------------------------

async function apiGet(path) {
  const token = session.token;
  if (!token) return null;
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` }, cache: "no-store" });
  if (response.status === 401) {
    session.expire();
    return null;
  }
  if (!response.ok) {
    let message = `Máy chủ trả lời lỗi ${response.status} (HTTP ${response.status})`;
    try {
      message = (await response.json()).message || message;
    } catch {
      // not JSON: keep the status
    }
    throw new Error(message);
  }
  return response;
}

function query(by) {
  const params = new URLSearchParams({ by, ...extraQuery() });
  if (state.period === "custom") {
    if (el.from.value) params.set("from", el.from.value);
    if (el.to.value) params.set("to", el.to.value);
  } else {
    params.set("period", state.period);
  }
  return params.toString();
}

async function fetchReport(by) {
  const response = await apiGet(`/api/reports?${query(by)}`);
  return response ? response.json() : null;
}

function showError(text) {
  setText(el.error, text || "");
  show(el.error, Boolean(text));
}

async function load() {
  const by = el.by.value;
  const asked = query(by);
  state.loading = asked;
  el.table.dataset.ready = "";
  showError("");
  try {
    // The table's grouping, and the two the charts need (asked once when they are the same).
    const wanted = [...new Set([by, "hour", "officer"])];
    const answers = await Promise.all(wanted.map((grouping) => fetchReport(grouping)));
    if (state.loading !== asked || answers.some((answer) => answer === null)) return;
    const byGrouping = Object.fromEntries(wanted.map((grouping, i) => [grouping, answers[i]]));
    render(byGrouping[by], byGrouping.hour, byGrouping.officer);
  } catch (error) {
    if (state.loading === asked) showError(error.message || "Không tải được báo cáo. (Could not load the report)");
  }
}

// --- drawing ----------------------------------------------------------------------------------------------------

function render(report, hours, officers) {
  state.shown = report;
  setText(el.range, `Báo cáo theo ${GROUP_HEADER[report.by].toLowerCase()} từ ${dayText(report.from)} đến `
    + `${dayText(report.to)}`);
  if (state.period !== "custom") {
    el.from.value = report.from;
    el.to.value = report.to;
  }
  const total = report.total;
  setText(el.stats.issued, count(total.issued));
  setText(el.stats.served, count(total.served));
  setText(el.stats.noShow, count(total.no_show));
  showMinutes(el.stats.wait, total.wait_mean_min);
  showMinutes(el.stats.service, total.service_mean_min);
  setText(el.stats.rating, rating(total.rating_mean));
  renderTable(report);
  renderDefinitions(report.definitions || {});
  drawCharts(report, hours, officers);
  el.table.dataset.ready = `${report.by}|${report.from}|${report.to}`;
}

function showMinutes(node, value) {
  replaceChildren(node, value === null || value === undefined ? ["—"]
    : [minutes(value), h("span", { class: "stat-unit" }, " phút")]);
}

function renderTable(report) {
  const cols = columns(report.by);
  replaceChildren(el.head, cols.map((col) => h("th", { scope: "col", class: col.kind === "label" ? "" : "num" },
    col.header)));
  const line = (row, extra = "") => h("tr", { class: extra || (row.key === null ? "row-none" : ""),
    dataset: { key: row.key === null ? "" : String(row.key) } },
  cols.map((col) => (col.kind === "label" ? h("th", { scope: "row" }, col.cell(row))
    : h("td", { class: "num" }, col.cell(row)))));
  replaceChildren(el.rows, report.rows.length ? report.rows.map((row) => line(row))
    : [h("tr", {}, h("td", { colspan: String(cols.length), class: "muted" }, "Không có số liệu."))]);
  replaceChildren(el.total, [line(report.total, "row-total")]);
}

function renderDefinitions(definitions) {
  if (el.definitions.childElementCount) return;
  const names = {
    issued: "Số vé", served: "Đã phục vụ", no_show: "Vắng mặt", transferred: "Chuyển đi", wait: "Thời gian chờ",
    service: "Thời gian phục vụ", p90: "P90", ratings: "Lượt đánh giá", rating_mean: "Điểm hài lòng",
    time: "Theo ngày, theo giờ",
  };
  replaceChildren(el.definitions, Object.entries(definitions).flatMap(([key, text]) => [
    h("dt", {}, names[key] || key), h("dd", {}, text)]));
}

function drawCharts(report, hours, officers) {
  const Chart = window.Chart;
  if (!Chart) {
    notify("Không tải được thư viện biểu đồ: bảng số liệu vẫn đúng. (Charts could not load)", "warning", true);
    return;
  }
  Chart.defaults.font.family = FONT;
  Chart.defaults.color = "#0f172a";
  const common = {
    responsive: true, maintainAspectRatio: false, animation: false,
    plugins: { legend: { position: "bottom" } },
  };
  const countAxis = (title) => ({ beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: title } });

  redraw("hours", {
    type: "bar",
    data: {
      labels: hours.rows.map((row) => `${String(row.key).padStart(2, "0")}h`),
      datasets: [
        { label: "Số vé lấy", data: hours.rows.map((row) => row.issued), backgroundColor: BRAND },
        { label: "Đã phục vụ", data: hours.rows.map((row) => row.served), backgroundColor: GREEN },
      ],
    },
    options: { ...common, scales: { y: countAxis("Số vé"), x: { title: { display: true, text: "Giờ lấy số" } } } },
  });

  const waits = report.wait_distribution || [];
  redraw("waits", {
    type: "bar",
    data: {
      labels: waits.map((bar) => bar.label),
      datasets: [{ label: "Số vé", data: waits.map((bar) => bar.count), backgroundColor: AMBER }],
    },
    options: {
      ...common, plugins: { legend: { display: false } },
      scales: { y: countAxis("Số vé"), x: { title: { display: true, text: "Thời gian chờ đến lần gọi đầu" } } },
    },
  });

  const rated = officers.rows.filter((row) => row.ratings > 0);
  show(el.ratingsEmpty, rated.length === 0);
  redraw("ratings", {
    type: "bar",
    data: {
      labels: rated.map((row) => row.label),
      datasets: [4, 3, 2, 1].map((score) => ({
        label: `${SCORE_TEXT[score]} (${score})`,
        data: rated.map((row) => row.rating_counts[String(score)]),
        backgroundColor: SCORE_COLOUR[score],
      })),
    },
    options: {
      ...common, indexAxis: "y",
      scales: { x: { ...countAxis("Lượt đánh giá"), stacked: true }, y: { stacked: true } },
    },
  });
}

function redraw(name, config) {
  charts[name]?.destroy();
  charts[name] = new window.Chart(byId(`chart-${name}`), config);
}

// --- downloads ----------------------------------------------------------------------------------------------------

async function download(format) {
  showError("");
  try {
    const response = await apiGet(`/api/reports.${format}?${query(el.by.value)}`);
    if (!response) return;
    const blob = await response.blob();
    const named = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
    const url = URL.createObjectURL(blob);
    const link = h("a", { href: url, download: named ? named[1] : `bao-cao.${format}`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (error) {
    showError(error.message || "Không tải được tệp. (Download failed)");
  }
}

// --- the form --------------------------------------------------------------------------------------------------------

function choosePeriod(period) {
  state.period = period;
  for (const button of el.periodButtons) {
    button.setAttribute("aria-pressed", String(button.dataset.period === period));
  }
  show(el.customRange, period === "custom");
  if (period === "custom") {
    el.from.focus();
    return;
  }
  load();
}

for (const button of el.periodButtons) {
  button.addEventListener("click", () => choosePeriod(button.dataset.period));
}
el.by.addEventListener("change", () => load());
el.form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (state.period === "custom" && (!el.from.value || !el.to.value)) {
    showError("Chọn cả ngày bắt đầu và ngày kết thúc. (Choose both dates)");
    return;
  }
  // YYYY-MM-DD compares as text; the hub checks again (and the length of the range).
  if (state.period === "custom" && el.from.value > el.to.value) {
    showError(`Ngày bắt đầu ${dayText(el.from.value)} sau ngày kết thúc ${dayText(el.to.value)}. `
      + "(The first day is after the last)");
    return;
  }
  load();
});
el.csv.addEventListener("click", () => download("csv"));
el.xlsx.addEventListener("click", () => download("xlsx"));

/** Wire the view to the page's sign-in; ``load()`` (re)draws the report, e.g. once signed in. */
export function startReportView(options) {
  session = options.session;
  notify = options.notify || notify;
  extraQuery = options.extraQuery || extraQuery;
  return {
    load,
    setSiteName: (name) => setText(el.siteName, name),
    forget: () => { state.shown = null; },
  };
}
