// The hall's report page (/reports): the shared report view (report-view.js), signed in like the admin page
// (the same saved session: going from /admin to /reports needs no new login).

import { startConsolePage } from "./console-page.js";
import { startReportView } from "./report-view.js";

let view = null;

const page = startConsolePage({
  storageKey: "qms.console.admin",
  clientType: "admin",
  accepts: (identity) => (["admin", "leader"].includes(identity.role) ? null
    : "Tài khoản này không xem được báo cáo: chỉ quản trị viên và lãnh đạo. (Admins and leaders only)"),
  clientId: (identity, tab) => `reports-u${identity.user_id ?? 0}-${tab}`,
  location: () => "reports-console",
  onSignedIn() {
    view.load();
  },
  onSignedOut() {
    view.forget();
  },
  onMessage(type, payload) {
    if (type === "SNAPSHOT") view.setSiteName(payload.site_name);
  },
});
view = startReportView({ session: page.session, notify: page.notify });
page.start();
