"""``qms-hub site check`` and ``qms-hub site migrate``: a technician's way from a site file of the first shape."""

from __future__ import annotations

import subprocess
import sys

from support import REPO_ROOT

from hub.site_config import load_site_config

OLD_SHAPE = """\
site_name = "Trung tâm Phục vụ hành chính công huyện"
announcement_template = "Mời khách hàng số {number} đến quầy {counter_name}"

[[counters]]
id = 1
name = "Văn phòng đăng ký đất đai"
start_number = 1

  [[counters.procedures]]
  id = 101
  name = "Đăng ký đất đai, tài sản gắn liền với đất"

[[counters]]
id = 2
name = "Tư pháp - Hộ tịch"
start_number = 2001

  [[counters.procedures]]
  id = 201
  name = "Đăng ký khai sinh"
"""


def qms_hub(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub.cli", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=60, check=False)


def test_migrate_writes_queues_that_read_back_as_the_same_hall(tmp_path):
    old = tmp_path / "site.toml"
    old.write_text(OLD_SHAPE, encoding="utf-8")
    new = tmp_path / "site-v2.toml"
    done = qms_hub("site", "migrate", str(old), "--out", str(new))
    assert done.returncode == 0, done.stderr
    assert "qms-hub site check" in done.stderr
    text = new.read_text(encoding="utf-8")
    assert "[[queues]]" in text and "[[counters.procedures]]" not in text
    # The hall's TVs keep saying what they said: its own template is kept.
    assert load_site_config(new) == load_site_config(old)
    check = qms_hub("site", "check", str(new))
    assert check.returncode == 0
    assert "queue 2 Tư pháp - Hộ tịch: numbers from 2001, counters 2" in check.stdout


def test_check_names_the_line_of_a_mistake(tmp_path):
    bad = tmp_path / "site.toml"
    bad.write_text(OLD_SHAPE.replace("start_number = 2001", "start_numbr = 2001"), encoding="utf-8")
    done = qms_hub("site", "check", str(bad))
    assert done.returncode == 2
    assert f"{bad}:16: counters[1].start_numbr: unknown key, did you mean 'start_number'?" in done.stderr
