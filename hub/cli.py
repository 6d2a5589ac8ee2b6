"""``qms-hub``: serve the hall, hand out device tokens, add the people who log in."""

from __future__ import annotations

import argparse
import asyncio
import errno
import getpass
import os
import signal
import ssl
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.site_config import SiteConfig, SiteConfigError, load_site_config, sample_site

DEFAULT_DATA_DIR = "./var"
PERSON_ROLES = ("admin", "leader", "officer")


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

    token = commands.add_parser("token", help="print a signed token for a device or a person")
    token.add_argument("--role", required=True, choices=("kiosk", "tv", "officer", "leader", "admin"))
    token.add_argument("--client-id", help="device id, e.g. kiosk-001 (required for kiosk and tv)")
    token.add_argument("--user-id", type=int)
    token.add_argument("--username")
    token.add_argument("--full-name")
    token.add_argument("--counter-id", type=_positive_int, help="the officer's counter")
    token.add_argument("--ttl-days", type=_positive_int, default=365, help="validity in days (default 365)")

    user = commands.add_parser("user", help="manage people who log in at the console")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    add = user_commands.add_parser("add", help="add a person; the password is read from stdin")
    add.add_argument("name", help="username")
    add.add_argument("--role", required=True, choices=PERSON_ROLES)
    add.add_argument("--counter-id", type=_positive_int, help="the officer's counter")
    add.add_argument("--full-name", help="full name, e.g. Nguyễn Văn A")
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
            return _user_add(args)
    except SiteConfigError as exc:
        print(f"qms-hub: site file refused: {exc}", file=sys.stderr)
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
    from hub.server import Hub, HubOptions

    event_log.configure(json_lines=args.log_json)
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
    hub = Hub(site, args.data_dir, options=options)
    data_dir = Path(args.data_dir).resolve()

    async def run() -> None:
        try:
            await hub.start()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise PortInUse(args.host, args.port) from None
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
    return 0


def _token(args: argparse.Namespace) -> int:
    from hub.auth import TokenAuthority

    authority = TokenAuthority.from_data_dir(args.data_dir)
    token = authority.issue(
        args.role,
        client_id=args.client_id,
        user_id=args.user_id,
        username=args.username,
        full_name=args.full_name,
        counter_id=args.counter_id,
        ttl=timedelta(days=args.ttl_days),
    )
    print(token)
    return 0


def _user_add(args: argparse.Namespace) -> int:
    import sqlite3

    from hub import store as db
    from hub.auth import hash_password
    from protocol.messages import clean_text

    if args.role == "officer" and args.counter_id is None:
        raise ValueError("an officer needs --counter-id")
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise ValueError("the passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        raise ValueError("the password needs at least 8 characters")
    username = clean_text(args.name)
    full_name = clean_text(args.full_name) if args.full_name else None
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    store = db.Store(Path(args.data_dir) / "qms.db")
    try:
        user_id = store.run_sync(
            lambda conn: db.add_user(conn, username, hash_password(password), args.role, args.counter_id, full_name,
                                     datetime.now(UTC))
        )
    except sqlite3.IntegrityError:
        raise ValueError(f"a user named {username!r} exists already") from None
    finally:
        store.close_sync()
    print(f"added {args.role} {username} (user id {user_id})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
