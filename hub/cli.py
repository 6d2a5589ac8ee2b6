"""``qms-hub``: serve the hall, hand out device tokens, manage the people who log in, back up and restore."""

from __future__ import annotations

import argparse
import asyncio
import errno
import getpass
import os
import signal
import ssl
import sys
from datetime import UTC, datetime
from pathlib import Path

from hub import store as db
from hub import token_cli
from hub.backup import BackupError
from hub.database_check import DatabaseRefused
from hub.site_config import SiteConfig, SiteConfigError, load_site_config, sample_site

DEFAULT_DATA_DIR = "./var"
PERSON_ROLES = ("admin", "leader", "officer")
# Seconds a thread holds the GIL while another waits for it (sys.setswitchinterval; the default is 0.005).
SWITCH_INTERVAL = 0.0005


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qms-hub", description="The queue hall's central service.")
    parser.add_argument("--data-dir", default=os.environ.get("QMS_DATA_DIR", DEFAULT_DATA_DIR),
                        help="where qms.db and the token secret live (default ./var)")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the hub")
    serve.add_argument("--config", help="site file (TOML); the built-in sample site if absent")
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    serve.add_argument("--port", type=int, default=3001, help="port for WebSocket and HTTP (default 3001)")
    serve.add_argument("--tls-cert", help="PEM certificate: serve wss:// and https://")
    serve.add_argument("--tls-key", help="PEM private key for --tls-cert")
    serve.add_argument("--log-json", action="store_true", help="log JSON lines instead of key=value lines")

    token_cli.add_parser(commands)

    user = commands.add_parser("user", help="manage people who log in at the console")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    add = user_commands.add_parser("add", help="add a person; the password is read from stdin")
    add.add_argument("name", help="username")
    add.add_argument("--role", required=True, choices=PERSON_ROLES)
    add.add_argument("--counter-id", type=_positive_int, help="the officer's counter")
    add.add_argument("--full-name", help="full name, e.g. Nguyễn Văn A")
    user_commands.add_parser("list", help="list the people who log in")
    for name, text in (("disable", "stop a person from logging in (their open sessions end)"),
                       ("enable", "let a disabled person log in again"),
                       ("passwd", "set a person's password; read from stdin (their open sessions end)")):
        user_commands.add_parser(name, help=text).add_argument("name", help="username")
    delete = user_commands.add_parser("delete", help="delete a person's account (their open sessions end)")
    delete.add_argument("name", help="username")
    delete.add_argument("--yes", action="store_true", help="do not ask for the username again")

    backup = commands.add_parser("backup", help="copy qms.db while the hub runs (SQLite's online backup)")
    backup.add_argument("--to", help="folder to write the backup to, e.g. a USB stick (default: the site's "
                                     "backup folder, from --config)")
    backup.add_argument("--config", help="site file: its [backup] directory and keep")
    backup.add_argument("--list", action="store_true", help="list the backups in the folder instead")

    restore = commands.add_parser("restore", help="put a backup in place of qms.db (the hub must be stopped)")
    restore.add_argument("file", help="the backup, e.g. /var/lib/qms-backups/qms-20250301-023000.db")
    restore.add_argument("--config", help="the site file serve uses: a backup of another site is refused")
    restore.add_argument("--any-site", action="store_true",
                         help="restore even a backup of another hall (moving a hall onto a new hub)")
    site = commands.add_parser("site", help="check or migrate a site file")
    site_commands = site.add_subparsers(dest="site_command", required=True)
    check = site_commands.add_parser("check", help="read a site file and say what is wrong, or summarise it")
    check.add_argument("file")
    migrate = site_commands.add_parser(
        "migrate", help="rewrite a site file of the first shape (counters with procedures) as queues")
    migrate.add_argument("file")
    migrate.add_argument("--out", help="where to write it (default: print it)")

    from hub.reports import GROUPINGS

    report = commands.add_parser(
        "report", help="write the centre's report from qms.db (read-only: the hub may be running)",
        description="Counts per queue, field, counter, officer, day or hour of the day: tickets, served, no-shows, "
                    "transfers, waits, service times and ratings (docs/reports.md defines each).")
    report.add_argument("--from", dest="first", metavar="YYYY-MM-DD", help="first service day (default: the 1st "
                                                                           "of --to's month)")
    report.add_argument("--to", dest="last", metavar="YYYY-MM-DD", help="last service day (default: today)")
    report.add_argument("--month", metavar="YYYY-MM", help="a whole month instead of --from/--to; 'last' is the "
                                                           "month before this one")
    report.add_argument("--by", default="all", choices=(*GROUPINGS, "all"),
                        help="grouping (default all: a sheet each, Excel only)")
    report.add_argument("--format", default="xlsx", choices=("xlsx", "csv", "json"), help="default xlsx")
    report.add_argument("--out", required=True,
                        help="the file to write, or a folder to write it in under its own name "
                             "(bao-cao-...-2026-11-01-den-2026-11-30.xlsx); - for standard output (csv, json)")
    report.add_argument("--config", help="site file: the names of queues, counters and fields (the built-in "
                                         "sample site if absent, as for serve)")

    return parser


def load_site(path: str | None) -> SiteConfig:
    return load_site_config(path) if path else sample_site()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "token":
            return _token(args)
        if args.command == "user":
            return _user(args)
        if args.command == "backup":
            return _backup(args)
        if args.command == "restore":
            return _restore(args)
        if args.command == "site":
            return _site(args)
        if args.command == "report":
            return _report(args)
    except SiteConfigError as exc:
        print(f"qms-hub: site file refused: {exc}", file=sys.stderr)
        return 2
    except DatabaseRefused as exc:
        print(f"qms-hub: {exc}", file=sys.stderr)
        return 2
    except BackupError as exc:
        print(f"qms-hub: {exc}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        print(f"qms-hub: {exc}", file=sys.stderr)
        return 2
    return 2


class PortInUse(Exception):
    """``serve``'s port is taken: which one, and how to choose another."""

    def __init__(self, host: str, port: int):
        super().__init__(
            f"port {port} is already in use on {host} (another qms-hub, or a make run still running?): "
            f"stop that program, or serve on another port: qms-hub serve --port {port + 1}, "
            f"or make run PORT={port + 1}")


def _serve(args: argparse.Namespace) -> int:
    from hub import event_log
    from hub.backup import backup_directory, list_backups
    from hub.database_check import advice, clear_start_failure, ensure_data_dir, record_start_failure
    from hub.server import Hub, HubOptions

    event_log.configure(json_lines=args.log_json)
    # The event loop hands each commit to the store's writer thread and back (hub/store.py): the thread
    # that waits for the GIL gets it after at most this long, not the default 5 ms, which a ticket's
    # round trip through both would otherwise wait for (bench.ticket_throughput: +10%).
    sys.setswitchinterval(SWITCH_INTERVAL)
    site = load_site(args.config)
    cert = args.tls_cert or site.tls_cert
    key = args.tls_key or site.tls_key
    context = None
    if cert or key:
        if not (cert and key):
            raise ValueError("TLS needs both a certificate and a key (--tls-cert and --tls-key)")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
    options = HubOptions(host=args.host, port=args.port, ssl_context=context)
    data_dir = Path(args.data_dir).resolve()

    def refused_to_start(refused: DatabaseRefused) -> int:
        # One line, to the journal and to the data folder for qms-diagnose; systemd stops retrying after a few.
        backups = backup_directory(site.backup, data_dir)
        found = list_backups(backups)
        newest = found[-1] if found else None
        line = "refused to start: " + str(advice(refused, program=_program(), data_dir=data_dir,
                                                 backup_dir=backups, newest=newest, config=args.config))
        print(f"qms-hub: {line}", file=sys.stderr, flush=True)
        record_start_failure(data_dir, line)
        return 2

    try:
        # Before the token secret is read or made there: a read-only folder is named as such.
        ensure_data_dir(data_dir)
    except DatabaseRefused as refused:
        return refused_to_start(refused)
    hub = Hub(site, args.data_dir, options=options)

    async def run() -> None:
        try:
            await hub.start()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise PortInUse(args.host, args.port) from None
        clear_start_failure(data_dir)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        scheme = "wss" if context else "ws"
        print(f"qms-hub: serving {site.site_name} on {scheme}://{args.host}:{hub.port}/ws "
              f"(data in {data_dir})", flush=True)
        await stop.wait()
        await hub.stop()

    try:
        asyncio.run(run())
    except PortInUse as exc:
        print(f"qms-hub: {exc}", file=sys.stderr)
        return 2
    except DatabaseRefused as refused:
        return refused_to_start(refused)
    return 0


def _token(args: argparse.Namespace) -> int:
    # Every token is listed in qms.db (issued, revoked): see hub/token_cli.py.
    store = _open_store(args)
    try:
        return token_cli.run(args, store)
    finally:
        store.close_sync()


def _user(args: argparse.Namespace) -> int:
    if args.user_command == "add":
        return _user_add(args)
    if args.user_command == "list":
        return _user_list(args)
    return _user_change(args)


def _read_password() -> str:
    from hub.people import password_problem

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise ValueError("the passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    problem = password_problem(password)
    if problem is not None:
        raise ValueError(problem)
    return password


def _user_add(args: argparse.Namespace) -> int:
    import sqlite3

    from hub.auth import hash_password
    from protocol.messages import clean_text

    if args.role == "officer" and args.counter_id is None:
        raise ValueError("an officer needs --counter-id")
    password = _read_password()
    username = clean_text(args.name)
    full_name = clean_text(args.full_name) if args.full_name else None
    # Hashed before the write transaction: scrypt must not hold the database's write lock from a running hub.
    password_hash = hash_password(password)
    store = _open_store(args)
    try:
        user_id = store.run_sync(
            lambda conn: db.add_user(conn, username, password_hash, args.role, args.counter_id, full_name,
                                     datetime.now(UTC))
        )
    except sqlite3.IntegrityError:
        raise ValueError(f"a user named {username!r} exists already") from None
    finally:
        store.close_sync()
    print(f"added {args.role} {username} (user id {user_id})")
    return 0



def _program() -> str:
    """How the technician calls this program, for the commands a message suggests."""
    invoked = Path(sys.argv[0])
    # absolute(), not resolve(): /opt/qms/venv is a symlink to the current release, and stays the name to use.
    return str(invoked.absolute()) if invoked.name == "qms-hub" else "qms-hub"


def _open_store(args: argparse.Namespace) -> db.Store:
    """The data folder's database for a command-line change: checked (or made, 0700/0600) as the hub would."""
    from hub.database_check import DATABASE_NAME, prepare_database

    path = Path(args.data_dir) / DATABASE_NAME
    prepare_database(path)
    return db.Store(path)


def _user_list(args: argparse.Namespace) -> int:
    store = _open_store(args)
    try:
        users = store.run_sync(db.list_users)
    finally:
        store.close_sync()
    print(f"{'id':>4}  {'username':<20} {'role':<8} {'counter':>7}  {'state':<8} full name")
    for user in users:
        counter = str(user.counter_id) if user.counter_id is not None else "-"
        state = "disabled" if user.disabled else "active"
        print(f"{user.user_id:>4}  {user.username:<20} {user.role:<8} {counter:>7}  {state:<8} {user.full_name or ''}")
    return 0


def _user_change(args: argparse.Namespace) -> int:
    from hub.auth import hash_password
    from hub.people import AUDIT_ACTIONS, PeopleError, change_user
    from protocol.messages import clean_text

    action = {"disable": "disable", "enable": "enable", "passwd": "set_password", "delete": "delete"}[
        args.user_command]
    username = clean_text(args.name)
    password_hash = hash_password(_read_password()) if action == "set_password" else None
    confirm = username
    if action == "delete" and not args.yes:
        if not sys.stdin.isatty():
            raise ValueError("deleting an account needs --yes when the username cannot be typed again")
        confirm = clean_text(input(f"Type the username {username!r} again to delete the account: "))
    store = _open_store(args)
    try:
        user = store.run_sync(lambda conn: db.find_user(conn, username))
        if user is None:
            raise ValueError(f"no user named {username!r} (qms-hub user list shows who there is)")
        entry = db.AuditEntry(datetime.now(UTC), token_cli.cli_operator(), None, None, AUDIT_ACTIONS[action],
                              {"user_id": user.user_id})
        try:
            store.run_sync(lambda conn: change_user(conn, user.user_id, action, audit=entry,
                                                    password_hash=password_hash, confirm_username=confirm))
        except PeopleError as refused:
            raise ValueError(refused.text) from None
    finally:
        store.close_sync()
    done = {"disable": "disabled", "enable": "enabled", "set_password": "set a new password for",
            "delete": "deleted"}[action]
    ends = " (their open sessions end within a few seconds)" if action != "enable" else ""
    print(f"{done} {user.role} {username}{ends}")
    return 0


def _backup(args: argparse.Namespace) -> int:
    from hub.backup import backup_directory, list_backups, make_backup
    from hub.database_check import DATABASE_NAME, check_database

    # The site file is read once, and not at all to list a folder given with --to.
    site = None
    if args.to:
        folder = Path(args.to)
    else:
        site = load_site(args.config)
        folder = backup_directory(site.backup, Path(args.data_dir))
    if args.list:
        backups = list_backups(folder)
        for path in backups:
            print(f"{path}  {path.stat().st_size} bytes")
        if not backups:
            print(f"no backups in {folder}")
        return 0
    source = Path(args.data_dir) / DATABASE_NAME
    check_database(source, need_write=False)
    # The site's own folder keeps its [backup] keep; a USB stick keeps everything put on it.
    if site is None:
        site = load_site(args.config)
    keep = None if args.to else site.backup.keep
    # Named in the hall's time, like the hub's own daily backups: one order for both in the folder.
    made = make_backup(source, folder, datetime.now(site.tz), keep=keep)
    print(f"backed up {source} to {made} ({made.stat().st_size} bytes)")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from hub.backup import restore

    # The site the hub would serve: the built-in sample without --config, as for serve.
    site = load_site(args.config)
    data_dir = Path(args.data_dir)
    done = restore(Path(args.file), data_dir, site=site, any_site=args.any_site, now=datetime.now().astimezone())
    made = done.identity.get("backed_up_at", "?")
    print(f"restored {args.file} (a backup of '{done.identity.get('site_name', '?')}' made {made}) as {done.database}")
    if done.replaced is not None:
        print(f"the database it replaced is kept in {done.replaced}")
    print("start the hub again: sudo systemctl reset-failed qms-hub; sudo systemctl start qms-hub")
    return 0


def _site(args: argparse.Namespace) -> int:
    from hub.site_config import site_to_toml

    site = load_site_config(args.file)
    if args.site_command == "check":
        print(f"{args.file}: {site.site_name}: {len(site.queues)} queues, {len(site.fields)} fields, "
              f"{len(site.procedures)} procedures, {len(site.counters)} counters")
        for queue in site.queues:
            counters = ", ".join(str(c.number) for c in site.counters_serving(queue.id))
            backups = ", ".join(str(c.number) for c in site.counters if queue.id in c.backup_queue_ids)
            print(f"  queue {queue.id} {queue.name}: numbers from {queue.start_number}, counters {counters}"
                  + (f" (backup: {backups})" if backups else ""))
        return 0
    text = site_to_toml(site)
    if args.out:
        out = Path(args.out)
        out.write_text(text, encoding="utf-8")
        print(f"qms-hub: wrote {out} ({len(site.queues)} queues); check it with: qms-hub site check {out}",
              file=sys.stderr)
    else:
        print(text, end="")
    return 0


def _report(args: argparse.Namespace) -> int:
    import json
    import sqlite3
    import tempfile
    from contextlib import closing

    from hub import report_files, reports
    from hub.database_check import DATABASE_NAME, check_database
    from hub.report_workbook import report_workbook

    site = load_site(args.config)
    now = datetime.now(site.tz)
    if args.by == "all" and args.format != "xlsx":
        raise ValueError("--by all writes a sheet per grouping: it needs --format xlsx (or choose one --by)")
    if args.month:
        if args.first or args.last:
            raise ValueError("give --month or --from/--to, not both")
        first, last = reports.month_range(args.month, now.date())
        reports.check_range(first, last)
    else:
        asked = reports.parse_query({"from": args.first or "", "to": args.last or "", "by": args.by}, now.date(),
                                    allow_all=True)
        first, last = asked.first, asked.last
    source = Path(args.data_dir) / DATABASE_NAME
    check_database(source, need_write=False)
    # Read-only, in one read transaction (one consistent picture while the hub keeps writing).
    with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)) as conn:
        conn.execute("BEGIN")
        made = reports.build_reports(conn, site, first, last, reports.groupings_for(args.by))
    if args.format == "xlsx":
        body = report_workbook(made, now)
    elif args.format == "csv":
        body = report_files.report_csv(made[0])
    else:
        body = (json.dumps(made[0].as_json(), ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    if args.out == "-":
        if args.format == "xlsx":
            raise ValueError("an Excel file cannot go to standard output: give --out FILE or a folder")
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
        return 0
    out = Path(args.out)
    if out.is_dir():
        out = out / reports.report_file_name(first, last, args.by, args.format)
    # Whole or not at all: a monthly export read while it is written never looks finished half-way.
    with tempfile.NamedTemporaryFile(dir=out.parent, prefix=f".{out.name}.", delete=False) as tmp:
        tmp.write(body)
    os.replace(tmp.name, out)
    os.chmod(out, 0o640)
    print(f"qms-hub: wrote {out} ({reports.vietnamese_date(first)} - {reports.vietnamese_date(last)}, "
          f"by {args.by}, {len(body)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
