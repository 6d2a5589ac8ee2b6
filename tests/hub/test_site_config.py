"""Tests for hub.site_config: the sample hall, a full round trip, and that every
kind of mistake is reported at the line and key a technician has to fix.

Error cases mark the line the error must point at with a trailing
``# <- error`` comment, so the expected line number is read from the
document itself instead of being counted by hand.
"""

import os
import textwrap
import unicodedata
import zoneinfo
from importlib import resources

import pytest

from hub.site_config import (
    AlertThresholds,
    CounterConfig,
    Procedure,
    QueueConfig,
    RateLimit,
    SiteConfig,
    SiteConfigError,
    load_site_config,
    parse_site_config,
    sample_site,
)

ERROR_MARKER = "# <- error"

ONE_COUNTER = """
[[counters]]
id = 1
name = "Văn phòng đăng ký đất đai"

  [[counters.procedures]]
  id = 101
  name = "Đăng ký đất đai, tài sản gắn liền với đất"
"""


def write_site(tmp_path, text, name="site.toml"):
    site_file = tmp_path / name
    site_file.parent.mkdir(parents=True, exist_ok=True)
    site_file.write_text(textwrap.dedent(text), encoding="utf-8")
    return site_file


def marked_line(text):
    """1-based number of the line carrying ERROR_MARKER, or None if unmarked."""
    for number, line in enumerate(text.split("\n"), start=1):
        if ERROR_MARKER in line:
            return number
    return None


def top_level(*lines):
    """A valid one-counter site with extra top-level lines inserted after site_name."""
    return 'site_name = "Trung tâm"\n' + "\n".join(lines) + "\n" + ONE_COUNTER


# --- The packaged sample site -------------------------------------------------


def test_sample_site_shows_shared_queues_backup_fields_and_ranges_that_cannot_collide():
    site = sample_site()
    assert site.counter(1).name == "Văn phòng đăng ký đất đai" and site.queue(1).start_number == 1
    shared = [q for q in site.queues if len(site.counters_serving(q.id)) >= 2]
    assert shared, "at least one queue served by two counters"
    assert any(c.backup_queue_ids for c in site.counters), "a counter that serves a second queue as backup"
    assert len(site.fields) >= 2 and all(len(f.procedure_ids) >= 2 for f in site.fields)
    starts = sorted(q.start_number for q in site.queues)
    # A busy day issues fewer than 999 tickets in one queue: ranges 1, 2001, 3001... never meet.
    assert all(b - a >= 999 for a, b in zip(starts, starts[1:], strict=False))
    assert site.timezone == "Asia/Ho_Chi_Minh" and site.priority_streak == 3


def test_sample_site_file_is_stored_nfc_with_unique_ids():
    text = resources.files("hub").joinpath("sample_site.toml").read_text(encoding="utf-8")
    assert unicodedata.is_normalized("NFC", text)
    site = sample_site()
    for items in (site.queues, site.procedures, site.counters, site.fields):
        ids = [item.id for item in items]
        assert len(ids) == len(set(ids))
    assert {p.id for p in site.procedures} == {pid for f in site.fields for pid in f.procedure_ids}


def test_render_announcement_names_the_counter_by_number():
    site = sample_site()
    assert site.render_announcement(105, site.counter(1)) == "Mời khách hàng số 105 đến quầy số 1"
    custom = SiteConfig(site_name="x", announcement_template="Số {number}: {queue_name}, quầy {counter_name}")
    assert custom.render_announcement(7, site.counter(5), site.queue(2)) == (
        "Số 7: Tư pháp - Hộ tịch, quầy Tư pháp - Hộ tịch")


def test_lookups_by_id():
    site = sample_site()
    assert site.counter(999) is None and site.queue(999) is None and site.procedure(999) is None
    assert site.procedure(101) == Procedure(101, "Đăng ký đất đai, tài sản gắn liền với đất", 1, 1)
    assert [c.id for c in site.counters_serving(2)] == [2, 5]
    assert [c.id for c in site.counters_serving(2, backup=True)] == [2, 3, 5]
    assert site.tz == zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh")


# --- Valid files ----------------------------------------------------------------


def test_full_file_round_trips_every_field(tmp_path):
    site_file = write_site(tmp_path, """\
        site_name = "Trung tâm Phục vụ hành chính công thành phố"
        timezone = "Asia/Bangkok"
        announcement_template = "Xin mời số {number} đến quầy {counter_id} - {counter_name}"
        display_duration = 15
        default_service_minutes = 7
        next_numbers_count = 5
        stats_interval = 0.5
        public_url = "https://qms.example.gov.vn/"
        allowed_origins = ["https://Portal.Example.gov.vn", "http://10.0.0.5:8080/"]
        tls_cert = "/etc/qms/hub.crt"
        tls_key = "/etc/qms/hub.key"

        [alerts]
        counter_offline_minutes = 2.5
        high_queue = 30

        [rate_limit]
        rate = 10
        burst = 25
        close_after = 50

        [[counters]]
        id = 1
        name = "Văn phòng đăng ký đất đai"
        start_number = 1

          [[counters.procedures]]
          id = 101
          name = "Đăng ký đất đai, tài sản gắn liền với đất"

        [[counters]]
        id = 7
        name = "Tư pháp - Hộ tịch"
        start_number = 2001

          [[counters.procedures]]
          id = 201
          name = "Đăng ký khai sinh"

          [[counters.procedures]]
          id = 202
          name = "Đăng ký kết hôn"
        """)

    site = load_site_config(site_file)

    assert site == SiteConfig(
        site_name="Trung tâm Phục vụ hành chính công thành phố",
        timezone="Asia/Bangkok",
        announcement_template="Xin mời số {number} đến quầy {counter_id} - {counter_name}",
        display_duration=15,
        default_service_minutes=7.0,
        next_numbers_count=5,
        stats_interval=0.5,
        public_url="https://qms.example.gov.vn",
        allowed_origins=("https://portal.example.gov.vn", "http://10.0.0.5:8080"),
        tls_cert="/etc/qms/hub.crt",
        tls_key="/etc/qms/hub.key",
        alerts=AlertThresholds(counter_offline_minutes=2.5, high_queue=30),
        rate_limit=RateLimit(rate=10.0, burst=25, close_after=50),
        # The first shape of the file: each counter is its own queue, with the counter's numbering.
        queues=(QueueConfig(1, "Văn phòng đăng ký đất đai", 1), QueueConfig(7, "Tư pháp - Hộ tịch", 2001)),
        procedures=(
            Procedure(101, "Đăng ký đất đai, tài sản gắn liền với đất", 1),
            Procedure(201, "Đăng ký khai sinh", 7),
            Procedure(202, "Đăng ký kết hôn", 7),
        ),
        counters=(
            CounterConfig(1, "Văn phòng đăng ký đất đai", queue_ids=(1,)),
            CounterConfig(7, "Tư pháp - Hộ tịch", queue_ids=(7,)),
        ),
    )
    # Integers written for float settings come back as floats.
    assert type(site.default_service_minutes) is float
    assert type(site.rate_limit.rate) is float
    assert site.render_announcement(3, site.counter(7)) == "Xin mời số 3 đến quầy 7 - Tư pháp - Hộ tịch"


def test_omitted_settings_take_their_defaults(tmp_path):
    site = load_site_config(write_site(tmp_path, top_level()))
    assert site == SiteConfig(
        site_name="Trung tâm",
        queues=(QueueConfig(1, "Văn phòng đăng ký đất đai"),),
        procedures=(Procedure(101, "Đăng ký đất đai, tài sản gắn liền với đất", 1),),
        counters=(CounterConfig(1, "Văn phòng đăng ký đất đai", queue_ids=(1,)),),
    )
    assert site.alerts == AlertThresholds()
    assert site.rate_limit == RateLimit()
    assert site.public_url is None and site.tls_cert is None and site.allowed_origins == ()


def test_relative_tls_paths_resolve_against_the_site_file_folder(tmp_path):
    site_file = write_site(
        tmp_path,
        top_level('tls_cert = "certs/hub.crt"', 'tls_key = "../keys/hub.key"'),
        name="etc/site.toml",
    )
    site = load_site_config(site_file)
    assert site.tls_cert == str(tmp_path / "etc" / "certs" / "hub.crt")
    assert site.tls_key == str(tmp_path / "keys" / "hub.key")


def test_relative_site_path_still_gives_absolute_tls_paths(tmp_path, monkeypatch):
    write_site(tmp_path, top_level('tls_cert = "hub.crt"', 'tls_key = "hub.key"'), name="conf/site.toml")
    monkeypatch.chdir(tmp_path)
    site = load_site_config(os.path.join("conf", "site.toml"))
    assert site.tls_cert == str(tmp_path / "conf" / "hub.crt")


def test_strings_are_nfc_normalised_and_stripped(tmp_path):
    decomposed_counter = unicodedata.normalize("NFD", "Văn phòng đăng ký đất đai")
    decomposed_site = unicodedata.normalize("NFD", "Trung tâm Phục vụ hành chính công")
    assert decomposed_counter != "Văn phòng đăng ký đất đai"  # the input really is decomposed
    site_file = write_site(tmp_path, f"""\
        site_name = "  {decomposed_site}  "
        [[counters]]
        id = 1
        name = "{decomposed_counter}"
          [[counters.procedures]]
          id = 101
          name = "{unicodedata.normalize("NFD", "Đăng ký khai sinh")}"
        """)
    site = load_site_config(site_file)
    assert site.site_name == "Trung tâm Phục vụ hành chính công"
    assert site.counter(1).name == "Văn phòng đăng ký đất đai"
    assert site.procedure(101).name == "Đăng ký khai sinh"
    assert unicodedata.is_normalized("NFC", site.counter(1).name)


def test_utf8_bom_is_accepted(tmp_path):
    site_file = tmp_path / "site.toml"
    site_file.write_bytes(b"\xef\xbb\xbf" + top_level().encode("utf-8"))
    assert load_site_config(site_file).site_name == "Trung tâm"


# --- Errors: each one names the line and key to fix -----------------------------

ERROR_CASES = [
    # TOML syntax: the line comes from tomllib.
    pytest.param(top_level("display_duration =   " + ERROR_MARKER), "", "TOML syntax error", id="syntax"),
    pytest.param(top_level("stats_interval = 1", "stats_interval = 2 " + ERROR_MARKER), "",
                 "TOML syntax error", id="syntax-duplicate-key"),
    # Unknown keys at every level.
    pytest.param(top_level("display_durration = 10 " + ERROR_MARKER), "display_durration",
                 "did you mean 'display_duration'", id="unknown-top-level-key"),
    pytest.param(top_level("[alert] " + ERROR_MARKER, "high_queue = 3"), "alert", "unknown key",
                 id="unknown-table"),
    pytest.param(top_level("[alerts]", "high_queu = 3 " + ERROR_MARKER), "alerts.high_queu",
                 "did you mean 'high_queue'", id="unknown-alerts-key"),
    pytest.param(top_level("[rate_limit]", "bursts = 3 " + ERROR_MARKER), "rate_limit.bursts",
                 "unknown key", id="unknown-rate-limit-key"),
    pytest.param(top_level() + "start_numbr = 5 " + ERROR_MARKER, "counters[0].procedures[0].start_numbr",
                 "unknown key", id="unknown-key-after-procedure-header"),
    pytest.param("""\
        site_name = "Trung tâm"
        [[counters]]
        id = 1
        name = "Quầy 1"
        start_numbr = 5  # <- error
          [[counters.procedures]]
          id = 101
          name = "Thủ tục"
        """, "counters[0].start_numbr", "did you mean 'start_number'", id="unknown-counter-key"),
    pytest.param("""\
        site_name = "Trung tâm"
        [[counters]]
        id = 1
        name = "Quầy 1"
          [[counters.procedures]]
          id = 101
          counter_id = 1  # <- error
          name = "Thủ tục"
        """, "counters[0].procedures[0].counter_id", "unknown key", id="unknown-procedure-key"),
    # Wrong types.
    pytest.param(top_level("display_duration = true " + ERROR_MARKER), "display_duration",
                 "must be an integer, got boolean true", id="bool-is-not-int"),
    pytest.param(top_level("display_duration = 10.5 " + ERROR_MARKER), "display_duration",
                 "must be an integer, got float", id="float-is-not-int"),
    pytest.param(top_level("[alerts]", 'high_queue = "20" ' + ERROR_MARKER), "alerts.high_queue",
                 "must be an integer, got string", id="string-is-not-int"),
    pytest.param(top_level("[rate_limit]", "rate = false " + ERROR_MARKER), "rate_limit.rate",
                 "must be a number, got boolean", id="bool-is-not-float"),
    pytest.param(top_level().replace('site_name = "Trung tâm"', "site_name = 5 " + ERROR_MARKER),
                 "site_name", "must be a string, got integer 5", id="site-name-not-string"),
    pytest.param(top_level('allowed_origins = "https://a.gov.vn" ' + ERROR_MARKER), "allowed_origins",
                 "must be an array", id="origins-not-array"),
    pytest.param(top_level("alerts = 5 " + ERROR_MARKER), "alerts", "must be a table", id="alerts-not-table"),
    # Out of range.
    pytest.param(top_level("display_duration = 0 " + ERROR_MARKER), "display_duration",
                 "between 1 and 600", id="display-duration-zero"),
    pytest.param(top_level("display_duration = 601 " + ERROR_MARKER), "display_duration",
                 "between 1 and 600", id="display-duration-too-long"),
    pytest.param(top_level("next_numbers_count = 21 " + ERROR_MARKER), "next_numbers_count",
                 "between 0 and 20", id="next-numbers-too-many"),
    pytest.param(top_level("next_numbers_count = -1 " + ERROR_MARKER), "next_numbers_count",
                 "between 0 and 20", id="next-numbers-negative"),
    pytest.param(top_level("default_service_minutes = 0 " + ERROR_MARKER), "default_service_minutes",
                 "greater than 0", id="service-minutes-zero"),
    pytest.param(top_level("stats_interval = nan " + ERROR_MARKER), "stats_interval",
                 "greater than 0", id="stats-interval-nan"),
    pytest.param(top_level("[alerts]", "counter_offline_minutes = -1 " + ERROR_MARKER),
                 "alerts.counter_offline_minutes", "greater than 0", id="offline-minutes-negative"),
    pytest.param(top_level("[alerts]", "high_queue = 0 " + ERROR_MARKER), "alerts.high_queue",
                 "at least 1", id="high-queue-zero"),
    pytest.param(top_level("[rate_limit]", "rate = inf " + ERROR_MARKER), "rate_limit.rate",
                 "greater than 0", id="rate-infinite"),
    pytest.param(top_level("[rate_limit]", "burst = 0 " + ERROR_MARKER), "rate_limit.burst",
                 "at least 1", id="burst-zero"),
    pytest.param(top_level("[rate_limit]", "close_after = 0 " + ERROR_MARKER), "rate_limit.close_after",
                 "at least 1", id="close-after-zero"),
    pytest.param(top_level("alerts.high_queue = 0 " + ERROR_MARKER), "alerts.high_queue",
                 "at least 1", id="dotted-key"),
    pytest.param("""\
        site_name = "Trung tâm"
        [[counters]]
        id = 1
        name = "Quầy 1"
        start_number = 9001  # <- error
          [[counters.procedures]]
          id = 101
          name = "Thủ tục"
        """, "counters[0].start_number", "between 1 and 9000", id="start-number-too-big"),
    pytest.param("""\
        site_name = "Trung tâm"
        [[counters]]
        id = 0  # <- error
        name = "Quầy 1"
          [[counters.procedures]]
          id = 101
          name = "Thủ tục"
        """, "counters[0].id", "at least 1", id="counter-id-zero"),
    pytest.param("""\
        site_name = "Trung tâm"
        [[counters]]
        id = 1
        name = "Quầy 1"
          [[counters.procedures]]
          id = -5  # <- error
          name = "Thủ tục"
        """, "counters[0].procedures[0].id", "at least 1", id="procedure-id-negative"),
    # Empty, missing and overlong names.
    pytest.param(top_level().replace('site_name = "Trung tâm"', 'site_name = "   " ' + ERROR_MARKER),
                 "site_name", "must not be empty", id="site-name-blank"),
    pytest.param("""\
        site_name = "Trung tâm"
        [[counters]]
        id = 1
        name = "Quầy 1"
          [[counters.procedures]]
          id = 101
          name = "Thủ tục"
        [[counters]]
        id = 2
        name = ""  # <- error
          [[counters.procedures]]
          id = 201
          name = "Thủ tục"
        """, "counters[1].name", "must not be empty", id="second-counter-name-empty"),
    pytest.param("""\
        site_name = "Trung tâm"
        [[counters]]
        id = 1
        name = "Quầy 1"
          [[counters.procedures]]
          id = 101
          name = "Thủ tục"
        [[counters]]  # <- error
        id = 2
          [[counters.procedures]]
          id = 201
          name = "Thủ tục"
        """, "counters[1].name", "required", id="second-counter-name-missing"),
    pytest.param("""\
        site_name = "Trung tâm"
        [[counters]]
        id = 1
        name = "Quầy 1"
          [[counters.procedures]]
          id = 101
          name = "Thủ tục"
          [[counters.procedures]]
          id = 102
          name = "Thủ tục 2"
        [[counters]]
        id = 2
        name = "Quầy 2"
          [[counters.procedures]]
          id = 201
          name = "Thủ tục"
          [[counters.procedures]]
          id = 202
          name = "\\t"  # <- error
        """, "counters[1].procedures[1].name", "must not be empty", id="nested-procedure-name-blank"),
    pytest.param("""\
        site_name = "Trung tâm"
        [[counters]]
        id = 1
        name = "Quầy 1"
          [[counters.procedures]]
          id = 101
          name = "Thủ tục\\nthứ hai"  # <- error
        """, "counters[0].procedures[0].name", "control characters", id="name-with-newline"),
    pytest.param(f"""\
        site_name = "Trung tâm"
        [[counters]]
        id = 1
        name = "{"Q" * 121}"  # <- error
          [[counters.procedures]]
          id = 101
          name = "Thủ tục"
        """, "counters[0].name", "at most 120", id="counter-name-too-long"),
    pytest.param(f"""\
        site_name = "Trung tâm"
        [[counters]]
        id = 1
        name = "Quầy 1"
          [[counters.procedures]]
          id = 101
          name = "{"đ" * 201}"  # <- error
        """, "counters[0].procedures[0].name", "at most 200", id="procedure-name-too-long"),
    # Duplicates, and counters without procedures.
    pytest.param("""\
        site_name = "Trung tâm"
        [[counters]]
        id = 1
        name = "Quầy 1"
          [[counters.procedures]]
          id = 101
          name = "Thủ tục"
        [[counters]]
        id = 1  # <- error
        name = "Quầy 2"
          [[counters.procedures]]
          id = 201
          name = "Thủ tục"
        """, "counters[1].id", "duplicate counter id 1, already used by counters[0] at line 3",
                 id="duplicate-counter-id"),
    pytest.param("""\
        site_name = "Trung tâm"
        [[counters]]
        id = 1
        name = "Quầy 1"
          [[counters.procedures]]
          id = 101
          name = "Thủ tục"
        [[counters]]
        id = 2
        name = "Quầy 2"
          [[counters.procedures]]
          id = 101  # <- error
          name = "Thủ tục"
        """, "counters[1].procedures[0].id",
                 "duplicate procedure id 101, already used by counters[0].procedures[0] at line 6",
                 id="duplicate-procedure-id-across-counters"),
    pytest.param("""\
        site_name = "Trung tâm"
        [[counters]]
        id = 1
        name = "Quầy 1"
          [[counters.procedures]]
          id = 101
          name = "Thủ tục"
        [[counters]]  # <- error
        id = 2
        name = "Quầy 2"
        """, "counters[1].procedures", "at least one [[counters.procedures]]", id="counter-without-procedures"),
    pytest.param('site_name = "Trung tâm"\ncounters = [] ' + ERROR_MARKER + "\n", "counters",
                 "at least one [[counters]]", id="empty-counters-array"),
    pytest.param('site_name = "Trung tâm"\ncounters = [1, 2] ' + ERROR_MARKER + "\n", "counters",
                 "array of tables", id="counters-not-tables"),
    pytest.param('site_name = "Trung tâm"\n'
                 'counters = [{ id = 1, name = "", procedures = [{ id = 1, name = "x" }] }] ' + ERROR_MARKER + "\n",
                 "counters[0].name", "must not be empty", id="inline-counter-falls-back-to-array-line"),
    # Time zone, template, URLs, TLS.
    pytest.param(top_level('timezone = "Asia/Hanoi" ' + ERROR_MARKER), "timezone",
                 "unknown time zone 'Asia/Hanoi'", id="unknown-timezone"),
    pytest.param(top_level('timezone = "Asia" ' + ERROR_MARKER), "timezone", "unknown time zone",
                 id="timezone-directory"),
    pytest.param(top_level('announcement_template = "Mời số {so} đến quầy {counter_name}" ' + ERROR_MARKER),
                 "announcement_template", "unknown placeholder {so}", id="template-unknown-placeholder"),
    pytest.param(top_level('announcement_template = "Mời số {number đến quầy" ' + ERROR_MARKER),
                 "announcement_template", "malformed braces", id="template-unclosed-brace"),
    pytest.param(top_level('announcement_template = "Mời số {number} đến quầy }" ' + ERROR_MARKER),
                 "announcement_template", "malformed braces", id="template-stray-closing-brace"),
    pytest.param(top_level('announcement_template = "Mời số {} đến quầy" ' + ERROR_MARKER),
                 "announcement_template", "unknown placeholder {}", id="template-positional"),
    pytest.param(top_level('announcement_template = "Mời số {number:q}" ' + ERROR_MARKER),
                 "announcement_template", "cannot be formatted", id="template-bad-format-spec"),
    pytest.param(top_level('announcement_template = "Mời đến quầy {counter_name}" ' + ERROR_MARKER),
                 "announcement_template", "must contain {number}", id="template-without-number"),
    pytest.param(top_level('public_url = "ftp://qms.example.gov.vn" ' + ERROR_MARKER), "public_url",
                 "http:// or https://", id="public-url-ftp"),
    pytest.param(top_level('public_url = "qms.example.gov.vn" ' + ERROR_MARKER), "public_url",
                 "http:// or https://", id="public-url-no-scheme"),
    pytest.param(top_level("allowed_origins = [", '  "https://a.gov.vn",', '  "https://b.gov.vn/kiosk",', "]")
                 .replace("allowed_origins = [", "allowed_origins = [ " + ERROR_MARKER),
                 "allowed_origins[1]", "no path", id="origin-with-path"),
    pytest.param(top_level('tls_cert = "certs/hub.crt" ' + ERROR_MARKER), "tls_cert",
                 "tls_key is not; set both or neither", id="tls-cert-without-key"),
    pytest.param(top_level('tls_key = "certs/hub.key" ' + ERROR_MARKER), "tls_key",
                 "tls_cert is not; set both or neither", id="tls-key-without-cert"),
    pytest.param(top_level('tls_cert = "" ' + ERROR_MARKER, 'tls_key = "k"'), "tls_cert",
                 "must not be empty", id="tls-cert-empty"),
]


@pytest.mark.parametrize(("document", "key_path", "reason"), ERROR_CASES)
def test_errors_point_at_line_and_key(tmp_path, document, key_path, reason):
    document = textwrap.dedent(document)
    site_file = write_site(tmp_path, document)
    expected_line = marked_line(document)
    assert expected_line is not None, "test case must mark the offending line"

    with pytest.raises(SiteConfigError) as caught:
        load_site_config(site_file)

    error = caught.value
    message = str(error)
    expected_prefix = f"{site_file}:{expected_line}: " + (f"{key_path}: " if key_path else "")
    assert message.startswith(expected_prefix), message
    assert reason in message
    assert "\n" not in message
    assert (error.path, error.line, error.key_path) == (str(site_file), expected_line, key_path)


def test_multiline_strings_and_arrays_do_not_confuse_line_numbers(tmp_path):
    document = textwrap.dedent('''\
        site_name = """Trung tâm
        name = "not a key, just text"
        [[counters]] also text"""
        allowed_origins = [
          "https://a.gov.vn",  # [not a table]
        ]
        note_for = 'x' # <- error
        ''') + ONE_COUNTER
    site_file = write_site(tmp_path, document)
    with pytest.raises(SiteConfigError) as caught:
        load_site_config(site_file)
    assert caught.value.line == marked_line(document) == 7
    assert caught.value.key_path == "note_for"


def test_second_counter_error_is_found_after_its_own_header(tmp_path):
    # Both counters have identical lines; only the header count tells them apart.
    counter = '[[counters]]\nid = {id}\nname = "{name}"\n[[counters.procedures]]\nid = {id}0\nname = "T"\n'
    document = 'site_name = "S"\n' + counter.format(id=1, name="Quầy") + counter.format(id=2, name=" ")
    with pytest.raises(SiteConfigError) as caught:
        parse_site_config(document, "hall.toml")
    assert str(caught.value) == "hall.toml:10: counters[1].name: must not be empty"


def test_quoted_keys_and_crlf_line_endings_are_located():
    document = '"site_name" = "S"\r\n[ "alerts" ]\r\n\'high_queue\' = 0\r\n' + ONE_COUNTER
    with pytest.raises(SiteConfigError) as caught:
        parse_site_config(document, "hall.toml")
    assert str(caught.value) == "hall.toml:3: alerts.high_queue: must be at least 1, got 0"


def test_missing_required_top_level_key_has_no_line(tmp_path):
    site_file = write_site(tmp_path, ONE_COUNTER)
    with pytest.raises(SiteConfigError) as caught:
        load_site_config(site_file)
    assert caught.value.line is None
    assert str(caught.value) == f"{site_file}: site_name: is required but missing"


def test_missing_counters_has_no_line():
    with pytest.raises(SiteConfigError) as caught:
        parse_site_config('site_name = "Trung tâm"\n', "hall.toml")
    assert str(caught.value) == "hall.toml: queues: at least one [[queues]] table is required"


def test_syntax_error_at_end_of_file_blames_last_line():
    with pytest.raises(SiteConfigError) as caught:
        parse_site_config('site_name = "Trung tâm"\nx = "unterminated', "hall.toml")
    assert caught.value.line == 2
    assert str(caught.value).startswith("hall.toml:2: TOML syntax error")


def test_unreadable_file_is_a_site_config_error(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(SiteConfigError) as caught:
        load_site_config(missing)
    assert str(caught.value).startswith(f"{missing}: cannot read site file")


def test_invalid_utf8_reports_its_line(tmp_path):
    site_file = tmp_path / "site.toml"
    site_file.write_bytes(b'site_name = "ok"\nname = "Qu\xe1y"\n')
    with pytest.raises(SiteConfigError) as caught:
        load_site_config(site_file)
    assert caught.value.line == 2
    assert "UTF-8" in str(caught.value)


# --- Version 2: queues shared by counters, fields, priority ------------------------------------------

HALL_V2 = """\
site_name = "Trung tâm"
priority_streak = 2

[[queues]]
id = 1
name = "Đất đai"
start_number = 1001
prefix = "A"

[[queues]]
id = 2
name = "Tư pháp - Hộ tịch"
start_number = 2001

[[fields]]
id = 10
name = "Đất đai - Xây dựng"

[[fields]]
id = 20
name = "Tư pháp"

[[procedures]]
id = 101
name = "Đăng ký đất đai"
queue = 1
field = 10

[[procedures]]
id = 201
name = "Đăng ký khai sinh"
queue = 2
field = 20

[[procedures]]
id = 202
name = "Chứng thực bản sao"
queue = 2
field = 20

[[counters]]
id = 1
name = "Đất đai"
number = 3
queues = [1]
backup_queues = [2]

[[counters]]
id = 2
name = "Tư pháp"
queues = [2]
"""


def test_a_file_of_queues_fields_procedures_and_counters(tmp_path):
    site = load_site_config(write_site(tmp_path, HALL_V2))
    assert site.queues == (QueueConfig(1, "Đất đai", 1001, "A"), QueueConfig(2, "Tư pháp - Hộ tịch", 2001))
    assert [(f.id, f.procedure_ids) for f in site.fields] == [(10, (101,)), (20, (201, 202))]
    assert site.procedure(202) == Procedure(202, "Chứng thực bản sao", 2, 20)
    assert site.counter(1) == CounterConfig(1, "Đất đai", 3, (1,), (2,))
    assert site.counter(2).number == 2, "a counter's number is its id unless set"
    assert site.priority_streak == 2


@pytest.mark.parametrize(("change", "key_path", "reason"), [
    pytest.param(("queue = 2\nfield = 20\n\n[[counters]]", "queue = 7  # <- error\nfield = 20\n\n[[counters]]"),
                 "procedures[2].queue", "no [[queues]] table has id 7", id="procedure-names-an-unknown-queue"),
    pytest.param(('[[procedures]]\nid = 202\nname = "Chứng thực bản sao"\nqueue = 2\nfield = 20',
                  '[[procedures]]  # <- error\nid = 202\nname = "Chứng thực bản sao"\nqueue = 2'),
                 "procedures[2].field", "is required", id="procedure-without-field-when-fields-exist"),
    pytest.param(('name = "Tư pháp"\nqueues = [2]\n', 'name = "Tư pháp"\nqueues = [2, 9]  # <- error\n'),
                 "counters[1].queues[1]", "no [[queues]] table has id 9", id="counter-names-an-unknown-queue"),
    pytest.param(("backup_queues = [2]", "backup_queues = [1]  # <- error"), "counters[0].backup_queues",
                 "already serves as its own", id="backup-is-own-queue"),
    pytest.param(("number = 3\n", "number = 2\n", 'id = 2\nname = "Tư pháp"', 'id = 2  # <- error\nname = "Tư pháp"'),
                 "counters[1].id", "counter number 2 is already the number of counters[0]",
                 id="two-counters-one-number"),
    pytest.param(('prefix = "A"', 'prefix = "A B"  # <- error'), "queues[0].prefix", "letters or digits",
                 id="prefix-with-a-space"),
    pytest.param(("priority_streak = 2", "priority_streak = 0  # <- error"), "priority_streak",
                 "between 1 and 100", id="priority-streak-zero"),
    pytest.param(('[[counters]]\nid = 2\nname = "Tư pháp"\nqueues = [2]\n', ""), "queues",
                 "queue 2 (Tư pháp - Hộ tịch) is no counter's own queue", id="queue-nobody-serves"),
])
def test_version_2_mistakes_point_at_line_and_key(tmp_path, change, key_path, reason):
    text = HALL_V2
    for old, new in zip(change[::2], change[1::2], strict=True):
        assert old in text
        text = text.replace(old, new, 1)
    with pytest.raises(SiteConfigError) as caught:
        load_site_config(write_site(tmp_path, text))
    error = caught.value
    assert error.key_path == key_path and reason in error.reason, str(error)
    if ERROR_MARKER in text:
        assert error.line == marked_line(text)


def test_a_file_of_the_first_shape_migrates_to_queues_and_round_trips(tmp_path):
    from hub.site_config import site_to_toml

    old = write_site(tmp_path, top_level('announcement_template = "Mời số {number} đến {counter_name}"') + """
[[counters]]
id = 4
name = "Bảo hiểm xã hội"
start_number = 4001

  [[counters.procedures]]
  id = 401
  name = "Cấp sổ bảo hiểm xã hội"
""", name="old.toml")
    site = load_site_config(old)
    assert [(q.id, q.name, q.start_number) for q in site.queues] == [
        (1, "Văn phòng đăng ký đất đai", 1), (4, "Bảo hiểm xã hội", 4001)]
    assert [(c.id, c.queue_ids) for c in site.counters] == [(1, (1,)), (4, (4,))]
    migrated = write_site(tmp_path, site_to_toml(site), name="new.toml")
    text = migrated.read_text(encoding="utf-8")
    assert "[[queues]]" in text and "counters.procedures" not in text
    assert load_site_config(migrated) == site
    assert load_site_config(write_site(tmp_path, site_to_toml(sample_site()), name="sample.toml")) == sample_site()
