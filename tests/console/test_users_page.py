"""The admin page's accounts section (hub/console/users.js) in a real headless Chromium.

An admin resets a password, moves an officer to another counter, disables and enables
an account and deletes one with its username typed again; the officer whose account
is disabled sees their own page go back to the login form. A leader's page has no
accounts section. All text on screen is Vietnamese.
"""

from __future__ import annotations

from support.browser import OFFICER_PASSWORD, RECONNECT_WAIT, add_person, admin_page, officer_page

from hub import store as db
from hub.auth import verify_password


def row(username: str) -> str:
    return f'#users tr[data-username="{username}"]'


async def user_record(hall, username: str):
    return await hall.hub.store.read(lambda conn: db.find_user(conn, username))


async def test_an_admin_manages_the_accounts_of_the_hall(hall, browser):
    await add_person(hall, "canbo2", OFFICER_PASSWORD, "officer", 2, "Lê Văn Hùng")
    officer = await officer_page(browser, hall, "canbo1", 1, "Nguyễn Thị Lan")
    admin = await admin_page(browser, hall)
    await admin.wait_visible("#users-section")
    await admin.wait_text("#users", "Nguyễn Thị Lan")
    assert "Lê Văn Hùng" in await admin.text("#users") and "Trần Văn Minh" in await admin.text("#users")
    assert "Cán bộ quầy" in await admin.text(row("canbo1")) and "Hoạt động" in await admin.text(row("canbo1"))
    # No "disable" or "delete" on one's own row.
    assert await admin.js(f"return document.querySelector('{row('quantri')} .user-disable') === null")

    # A new password: two that differ are caught on the page; then it is saved.
    await admin.click(f"{row('canbo2')} .user-password")
    await admin.wait_visible("#user-dialog")
    assert "Đặt mật khẩu mới cho Lê Văn Hùng (canbo2)" in await admin.text("#user-dialog-title")
    await admin.fill("#user-password", "mật-khẩu-mới-2025")
    await admin.fill("#user-password-again", "mật-khẩu-khác-2025")
    await admin.click("#user-submit")
    await admin.wait_text("#user-dialog-error", "Hai mật khẩu không giống nhau")
    await admin.fill("#user-password-again", "mật-khẩu-mới-2025")
    await admin.click("#user-submit")
    await admin.wait_text("#notice", "Đã đặt mật khẩu mới cho canbo2")
    await admin.wait_visible("#user-dialog", visible=False)
    assert verify_password("mật-khẩu-mới-2025", (await user_record(hall, "canbo2")).password_hash)

    # Another counter for the officer.
    await admin.click(f"{row('canbo2')} .user-counter")
    await admin.wait_text("#user-dialog-title", "Đổi quầy của Lê Văn Hùng")
    await admin.js("document.getElementById('user-counter').value = '1';")
    await admin.click("#user-submit")
    await admin.wait_text("#notice", "Đã chuyển canbo2 sang quầy 1")
    assert (await user_record(hall, "canbo2")).counter_id == 1

    # Disabled: asked first; the officer's own page goes back to the login form.
    await admin.click(f"{row('canbo1')} .user-disable")
    await admin.wait_text("#user-dialog-title", "Khoá tài khoản Nguyễn Thị Lan (canbo1)?")
    await admin.click("#user-submit")
    await admin.wait_text("#notice", "Đã khoá tài khoản canbo1. Đã đăng xuất 1 phiên đang mở.")
    await admin.wait_text(row("canbo1"), "Đã khoá")
    await officer.wait_visible("#login-form", timeout=RECONNECT_WAIT)
    assert await officer.session_storage() == {}
    await officer.login("canbo1", OFFICER_PASSWORD)
    await officer.wait_text("#login-error", "Sai tên đăng nhập hoặc mật khẩu")

    await admin.click(f"{row('canbo1')} .user-enable")
    await admin.wait_text("#notice", "Đã mở khoá tài khoản canbo1")
    await admin.wait_text(row("canbo1"), "Hoạt động")
    await officer.login("canbo1", OFFICER_PASSWORD)
    await officer.wait_text("#counter-title", "Quầy 1 ·")

    # Deleted, with the username typed again.
    await admin.click(f"{row('canbo2')} .user-delete")
    await admin.wait_text("#user-dialog-title", "Xoá tài khoản Lê Văn Hùng (canbo2)?")
    await admin.fill("#user-confirm", "canbo")
    await admin.click("#user-submit")
    await admin.wait_text("#user-dialog-error", "Nhập đúng tên đăng nhập «canbo2» để xác nhận")
    assert await user_record(hall, "canbo2") is not None
    await admin.fill("#user-confirm", "canbo2")
    await admin.click("#user-submit")
    await admin.wait_text("#notice", "Đã xoá tài khoản canbo2")
    await admin.wait(f"{row('canbo2')} gone",
                     lambda: admin.driver.execute_script(f"return !document.querySelector('{row('canbo2')}')"))
    assert await user_record(hall, "canbo2") is None
    await admin.screenshot("admin-users", (1366, 768))
    assert await admin.console_problems() == []
    assert await officer.console_problems(allow=("WebSocket",)) == []


async def test_a_leader_page_has_no_accounts_section(hall, browser):
    await add_person(hall, "lanhdao", "mật-khẩu-lãnh-đạo", "leader", None, "Phạm Quốc Việt")
    page = await browser.open(hall, "/admin")
    await page.login("lanhdao", "mật-khẩu-lãnh-đạo")
    await page.wait_text("#connection-status", "Đã kết nối")
    await page.wait_text("#counters", "Quầy 1")
    assert not await page.visible("#users-section")
    assert await page.console_problems() == []
