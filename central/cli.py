"""``qms-central``: create or migrate the province's database, add halls, report across them, serve the page.

The database's address is ``--url`` (``postgresql://user@host/db``); its
password comes from the usual ``PGPASSWORD`` / ``~/.pgpass``, or
``--password-file``, never from the command line.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

from central import schema
from central.report import DEFAULT_TIMEZONE, GROUPINGS, province_reports
from hub import reports


def _connect(args: argparse.Namespace) -> psycopg.Connection:
    password = None
    if getattr(args, "password_file", None):
        password = Path(args.password_file).read_text(encoding="utf-8").strip()
    return psycopg.connect(args.url, password=password, autocommit=True, connect_timeout=10)


def _secret(path: str) -> str:
    text = Path(path).read_text(encoding="utf-8").strip()
    if len(text) < 8:
        raise ValueError(f"{path}: a password of at least 8 characters")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qms-central", description="The province's database of every hall.")
    commands = parser.add_subparsers(dest="command", required=True)

    def with_url(command: argparse.ArgumentParser) -> argparse.ArgumentParser:
        command.add_argument("--url", required=True, help="postgresql://user@host/database")
        command.add_argument("--password-file", help="the database user's password (else PGPASSWORD or ~/.pgpass)")
        return command

    init = with_url(commands.add_parser("init", help="create or migrate the schema; add the months' partitions"))
    init.add_argument("--months", type=int, default=15, help="monthly partitions from last month on (default 15)")

    site = commands.add_parser("site", help="the halls that may write")
    site_commands = site.add_subparsers(dest="site_command", required=True)
    add = with_url(site_commands.add_parser("add", help="a hall's login role (again: a new password)"))
    add.add_argument("site_id", help="the hall's site_id, as in its site file")
    add.add_argument("--name", default="", help="the hall's name, for the province page")
    add.add_argument("--site-password-file", required=True, help="the hall role's new password")
    with_url(site_commands.add_parser("list", help="the halls and their roles"))

    reader = commands.add_parser("reader", help="roles that read every hall (reports, the province page)")
    reader_commands = reader.add_subparsers(dest="reader_command", required=True)
    add_reader = with_url(reader_commands.add_parser("add", help="a read-only login role"))
    add_reader.add_argument("role")
    add_reader.add_argument("--role-password-file", required=True)

    report = with_url(commands.add_parser("report", help="every hall's report (the columns of a hall's /api/reports)"))
    report.add_argument("--from", dest="first", help="first service day, YYYY-MM-DD (default: the month's first)")
    report.add_argument("--to", dest="last", help="last service day, YYYY-MM-DD (default: today)")
    report.add_argument("--by", default="site", help=f"grouping: {', '.join(GROUPINGS)} (default site)")
    report.add_argument("--site", help="one hall's site_id (default: every hall)")
    report.add_argument("--format", choices=("json", "csv", "xlsx"), default="json")
    report.add_argument("--out", help="file to write (default: standard output; an .xlsx needs --out)")
    report.add_argument("--timezone", default=DEFAULT_TIMEZONE, help="the halls' time zone, for hours of the day")

    serve = with_url(commands.add_parser("serve", help="the read-only province page"))
    serve.add_argument("--secret-file", required=True, help="the central secret the page's tokens are signed with")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--timezone", default=DEFAULT_TIMEZONE)

    token = commands.add_parser("token", help="a token for the province page, signed with the central secret")
    token.add_argument("--secret-file", required=True)
    token.add_argument("--username", required=True, help="who it is for (shown on the page, in the server's log)")
    token.add_argument("--ttl-days", type=int, default=30)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "init":
            return _init(args)
        if args.command == "site":
            return _site(args)
        if args.command == "reader":
            return _reader(args)
        if args.command == "report":
            return _report(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "token":
            return _token(args)
    except reports.ReportQueryError as exc:
        print(f"qms-central: {exc.message}", file=sys.stderr)
        return 2
    except (psycopg.Error, OSError, ValueError, RuntimeError) as exc:
        print(f"qms-central: {exc}".strip(), file=sys.stderr)
        return 2
    return 2


def _init(args: argparse.Namespace) -> int:
    with _connect(args) as conn:
        found, now = schema.migrate(conn)
        today = date.today()
        first = date(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1)
        made = schema.month_partitions(conn, first, args.months)
    print(f"qms-central: schema {found} -> {now}; {len(made)} new monthly partitions", file=sys.stderr)
    return 0


def _site(args: argparse.Namespace) -> int:
    with _connect(args) as conn:
        if args.site_command == "add":
            role = schema.add_site(conn, args.site_id, _secret(args.site_password_file), args.name)
            print(f"qms-central: hall {args.site_id} writes as role {role}; in its site file: [central] "
                  f"url = \"postgresql://{role}@<this server>/<database>\"", file=sys.stderr)
        else:
            for site_id, name, role in conn.execute("SELECT site_id, site_name, role_name FROM sites ORDER BY 1"):
                print(f"{site_id}\t{role}\t{name}")
    return 0


def _reader(args: argparse.Namespace) -> int:
    with _connect(args) as conn:
        schema.add_reader(conn, args.role, _secret(args.role_password_file))
    return 0


def _report(args: argparse.Namespace) -> int:
    from hub import report_files
    from hub.report_workbook import report_workbook

    asked = reports.parse_query({"from": args.first or "", "to": args.last or "", "by": "queue"},
                                datetime.now(ZoneInfo(args.timezone)).date())
    groupings = list(GROUPINGS) if args.by == "all" else [args.by]
    with _connect(args) as conn:
        made = province_reports(conn, asked.first, asked.last, groupings, site_id=args.site, timezone=args.timezone)
    if args.format == "json":
        body = json.dumps([r.as_json() for r in made] if len(made) > 1 else made[0].as_json(), ensure_ascii=False,
                          indent=2).encode("utf-8") + b"\n"
    elif args.format == "csv":
        body = report_files.report_csv(made[0])
    else:
        if not args.out:
            raise ValueError("an Excel file needs --out FILE")
        body = report_workbook(made, datetime.now(UTC))
    if args.out:
        out = Path(args.out)
        temporary = out.with_name(out.name + ".part")
        temporary.write_bytes(body)
        temporary.replace(out)
        print(f"qms-central: wrote {out}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(body)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from central.web import ProvinceServer, read_secret

    password = Path(args.password_file).read_text(encoding="utf-8").strip() if args.password_file else None
    server = ProvinceServer((args.host, args.port), url=args.url, password=password,
                            secret=read_secret(args.secret_file), timezone=args.timezone)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # out of serve_forever; the socket is closed below

    # Ctrl-C and a service manager's SIGTERM both end it cleanly, also when it was started with SIGINT
    # ignored (as a background job of a script is), which would leave Ctrl-C doing nothing.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        # Said once the handlers are in place, inside the try: whoever waits for this line may signal at once.
        print(f"qms-central: serving the province page on http://{args.host}:{server.server_address[1]}/",
              file=sys.stderr, flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _token(args: argparse.Namespace) -> int:
    from central.web import issue_token, read_secret

    print(issue_token(read_secret(args.secret_file), args.username, ttl=timedelta(days=args.ttl_days)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
