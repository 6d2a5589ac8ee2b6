"""``qms-hub token``: hand out a token, list the tokens handed out, revoke them.

``qms-hub token --role ...`` (or ``token issue --role ...``) prints a signed token
and records it in ``qms.db`` first; ``token list`` shows what was handed out
(the hub's LOGINs included) and what still counts; ``token revoke`` takes one
token (``--id``), a device's (``--client-id``) or a person's (``--username`` or
``--user-id``) out of force. The hub reads the revocations every few seconds
and closes the connections that used them (``hub.token_registry``).
"""

from __future__ import annotations

import argparse
import getpass
from datetime import UTC, datetime, timedelta

from hub import store as db
from hub.auth import DEVICE_ROLES, ROLES, TokenAuthority

ACTIONS = ("issue", "list", "revoke")


def add_parser(commands: argparse._SubParsersAction) -> None:
    token = commands.add_parser(
        "token", help="hand out a signed token for a device or a person; list or revoke tokens",
        description="qms-hub token --role ROLE ... prints a new token; 'token list' shows the tokens handed out; "
                    "'token revoke --id ID | --client-id ID | --username NAME | --user-id N' revokes them "
                    "(the hub closes their connections within a few seconds).")
    token.add_argument("action", nargs="?", choices=ACTIONS, default="issue",
                       help="issue (the default), list or revoke")
    token.add_argument("--role", choices=ROLES, help="issue: the token's role")
    token.add_argument("--client-id", help="issue: device id, e.g. kiosk-001 (required for kiosk and tv); "
                                           "revoke: every token of that device")
    token.add_argument("--user-id", type=int, help="issue: the person's user id; revoke: every token of that person")
    token.add_argument("--username", help="issue: the person's username; revoke: every token of that person")
    token.add_argument("--full-name")
    token.add_argument("--counter-id", type=_positive_int, help="issue: the officer's counter")
    token.add_argument("--ttl-days", type=_positive_int, default=365, help="issue: validity in days (default 365)")
    token.add_argument("--id", dest="token_id", help="revoke: the token with this id (see token list)")
    token.add_argument("--all", action="store_true", help="list: expired tokens too")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def run(args: argparse.Namespace, store: db.Store) -> int:
    """The ``token`` command, on an open store (closed by the caller)."""
    if args.action == "list":
        return _list(args, store)
    if args.action == "revoke":
        return _revoke(args, store)
    return _issue(args, store)


def _issue(args: argparse.Namespace, store: db.Store) -> int:
    if args.role is None:
        raise ValueError("issuing a token needs --role (kiosk, tv, officer, leader or admin)")
    authority = TokenAuthority.from_data_dir(args.data_dir)
    now = datetime.now(UTC)
    account = None
    if args.role not in DEVICE_ROLES:
        account = _account(store.run_sync(lambda conn: db.token_rules(conn, now)).accounts, args)
        if account is not None and args.username is not None and account.username != args.username:
            raise ValueError(f"user id {args.user_id} is {account.username!r}, not {args.username!r}")
    token = authority.issue(
        args.role,
        client_id=args.client_id,
        user_id=account.user_id if account is not None else args.user_id,
        username=account.username if account is not None else args.username,
        full_name=args.full_name,
        counter_id=args.counter_id,
        ttl=timedelta(days=args.ttl_days),
        # A person with an account: the token ends with the account's next change, like a LOGIN's.
        generation=account.generation if account is not None else None,
    )
    identity = authority.verify(token)
    assert identity.token_id is not None and identity.issued_at is not None
    record = db.TokenRecord(identity.token_id, identity.role, identity.client_id, identity.user_id, identity.username,
                            identity.generation, identity.issued_at, identity.expires_at, cli_operator())
    # Listed before it is printed: a token nobody could revoke is never handed out.
    store.run_sync(lambda conn: db.record_token(conn, record))
    print(token)
    return 0


def _list(args: argparse.Namespace, store: db.Store) -> int:
    now = datetime.now(UTC)
    tokens = store.run_sync(lambda conn: db.list_tokens(conn, now, include_expired=args.all))
    print(f"{'id':<22}  {'role':<7} {'for':<24} {'issued (UTC)':<16}  {'expires (UTC)':<16}  state")
    for token in tokens:
        who = token.client_id or token.username or (f"user {token.user_id}" if token.user_id is not None else "-")
        if token.revoked_at is not None:
            state = f"revoked {_short(token.revoked_at)} ({token.revoked_by})"
        elif token.expires_at <= now:
            state = "expired"
        else:
            state = "in force"
        print(f"{token.token_id:<22}  {token.role:<7} {who:<24} {_short(token.issued_at):<16}  "
              f"{_short(token.expires_at):<16}  {state}")
    if not tokens:
        print("no tokens" + ("" if args.all else " in force (--all shows expired ones too)"))
    return 0


def _revoke(args: argparse.Namespace, store: db.Store) -> int:
    chosen = [name for name in ("token_id", "client_id", "username", "user_id") if getattr(args, name) is not None]
    if len(chosen) != 1 and chosen != ["username", "user_id"]:
        raise ValueError("revoke which tokens? give one of --id, --client-id, --username or --user-id")
    now = datetime.now(UTC)
    by = cli_operator()

    def revoke(conn) -> str:
        if args.token_id is not None:
            if not db.revoke_tokens(conn, now, by, token_id=args.token_id):
                raise ValueError(f"no token in force has the id {args.token_id!r} (qms-hub token list shows them)")
            what = f"token {args.token_id}"
        elif args.client_id is not None:
            count = db.revoke_tokens(conn, now, by, client_id=args.client_id)
            # Tokens not listed (signed before tokens had ids) are cut off by the time they were issued.
            db.cut_off_device(conn, args.client_id, now)
            what = f"{count} listed token(s) of {args.client_id}, and any older one it holds"
        else:
            person = _account(db.token_rules(conn, now).accounts, args)
            user_id = person.user_id if person is not None else args.user_id
            count = db.revoke_tokens(conn, now, by, user_id=user_id,
                                     username=person.username if person is not None else args.username)
            if person is not None:
                db.bump_token_generation(conn, person.user_id)
            elif not count:
                raise ValueError("no such person, and no token of theirs in force (qms-hub user list shows who "
                                 "there is)")
            what = f"{count} listed token(s) of {person.username if person else args.username or user_id}" + (
                ", and every other token of the account" if person is not None else "")
        db.write_audit(conn, db.AuditEntry(now, by, None, None, "token.revoked", {
            "token_id": args.token_id, "client_id": args.client_id, "username": args.username,
            "user_id": args.user_id}))
        return what

    print(f"revoked {store.run_sync(revoke)} (the hub closes their connections within a few seconds)")
    return 0


def _account(accounts: dict[int, db.AccountTokens], args: argparse.Namespace) -> db.AccountTokens | None:
    """The account ``--user-id`` (else ``--username``) names, if there is one."""
    if args.user_id is not None:
        return accounts.get(args.user_id)
    return next((a for a in accounts.values() if a.username == args.username), None)


def cli_operator() -> str:
    """Who ran the command, for the token list and the audit trail."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # a user id with no name (a container, systemd's DynamicUser)
        return "cli"


def _short(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
