"""Tokens and passwords for the hub.

Every WebSocket client (kiosk and TV devices; officers, leaders and admins)
presents a JWT that the hub itself signed with HS256. Only the hub issues
and verifies tokens, so one shared secret, kept in the data directory, is
all the key material there is.

Every token carries an id (``jti``) so that it can be revoked, and a person's
token the generation (``gen``) of the account it was issued for: changing the
password or disabling the account bumps the generation, and older tokens
stop counting (``hub.token_registry`` keeps that list; this module only signs
and checks signatures).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import math
import os
import re
import secrets
import stat
import tempfile
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

logger = logging.getLogger(__name__)

ROLES = ("admin", "leader", "officer", "kiosk", "tv", "counter")
# Devices: their token names the client_id they register under (a counter display also its counter).
DEVICE_ROLES = ("kiosk", "tv", "counter")
ISSUER = "qms-hub"
AUDIENCE = "qms-hall"
ALGORITHM = "HS256"

SECRET_FILENAME = "token-secret"
SECRET_BYTES = 64
# RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
MIN_SECRET_BYTES = 32

# Longest string claim we accept (client ids, usernames, Vietnamese full names).
MAX_CLAIM_CHARS = 200
# Our own tokens stay well under 4 KiB even with every string claim at its
# limit; refusing anything longer keeps a hostile client from making us
# base64-decode and JSON-parse megabytes.
MAX_TOKEN_CHARS = 8192

_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "role"]
_BEARER_PREFIX = re.compile(r"\Abearer\s+", re.IGNORECASE)


class TokenError(Exception):
    """Why a token was refused, in words a person can read.

    For example 'token expired', 'bad signature', 'wrong audience',
    'missing claim: role'.
    """


@dataclass(frozen=True)
class Identity:
    """Who a verified token speaks for."""

    role: str
    client_id: str | None  # devices: required; people: optional
    user_id: int | None
    username: str | None
    full_name: str | None
    counter_id: int | None  # officers: required (their counter)
    expires_at: datetime  # aware, UTC
    # The token's id (``jti``); None for a token signed before tokens had ids.
    token_id: str | None = None
    # The account's token generation the token was issued at (``gen``), for people's tokens.
    generation: int | None = None
    issued_at: datetime | None = None
    # What tells this token from every other: its id, or a digest of its signature (no id).
    token_key: str = ""


class TokenAuthority:
    """Issues and verifies the hub's JWTs.

    `clock` returns seconds since the epoch; tests inject a fake one, and all
    time checks in `verify` use it (pyjwt's own time checks read the system
    clock, so they are switched off and redone here).
    """

    def __init__(
        self,
        secret: bytes,
        *,
        clock: Callable[[], float] = time.time,
        leeway: float = 30.0,
    ) -> None:
        if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"token secret must be at least {MIN_SECRET_BYTES} bytes")
        if leeway < 0:
            raise ValueError("leeway must not be negative")
        self._secret = secret
        self._clock = clock
        self._leeway = float(leeway)

    @classmethod
    def from_data_dir(cls, data_dir: str | os.PathLike, **kw: Any) -> TokenAuthority:
        """Load data_dir/token-secret, creating it (and data_dir) on first use.

        A new data_dir is made with mode 0700 and a new secret (64 random
        bytes, hex) with mode 0600. A secret readable by group or others is
        tightened to 0600 with a warning. Keyword arguments go to __init__.
        """
        directory = Path(data_dir)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        secret_path = directory / SECRET_FILENAME
        if not secret_path.exists():
            _publish_new_secret(secret_path)
        return cls(_read_secret(secret_path), **kw)

    def issue(
        self,
        role: str,
        *,
        client_id: str | None = None,
        user_id: int | None = None,
        username: str | None = None,
        full_name: str | None = None,
        counter_id: int | None = None,
        ttl: timedelta,
        generation: int | None = None,
        token_id: str | None = None,
    ) -> str:
        """Return a signed JWT for this identity, valid for `ttl`.

        ``generation`` is the account's token generation (people's tokens the
        hub can check against the users table); ``token_id`` the ``jti``, a new
        random one unless given. Raises ValueError if the identity is
        incomplete or malformed (unknown role, device without client_id,
        officer without counter_id, ...).
        """
        _check_identity_fields(
            role=role,
            client_id=client_id,
            user_id=user_id,
            username=username,
            full_name=full_name,
            counter_id=counter_id,
        )
        if not isinstance(ttl, timedelta) or ttl < timedelta(seconds=1):
            raise ValueError("ttl must be a timedelta of at least one second")
        _check_token_fields(token_id, generation)

        issued_at = int(self._clock())
        if role in DEVICE_ROLES:
            subject = client_id
        elif user_id is not None:
            subject = f"user:{user_id}"
        else:
            subject = username
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + int(ttl.total_seconds()),
            "sub": subject,
            "role": role,
            "jti": token_id if token_id is not None else new_token_id(),
        }
        optional_claims = {
            "client_id": client_id,
            "user_id": user_id,
            "username": username,
            "full_name": full_name,
            "counter_id": counter_id,
            "gen": generation,
        }
        claims.update({name: value for name, value in optional_claims.items() if value is not None})
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Identity:
        """Return the Identity in `token`, or raise TokenError saying why not.

        Accepts an HTTP-style 'Bearer ' prefix. Never raises anything but
        TokenError, whatever `token` is.
        """
        claims = self._decode(token)
        expires_at = self._check_times(claims)
        # Exact comparison on top of pyjwt's own check: pyjwt 2.10.0 accepted
        # any issuer that was a substring of the expected one (CVE-2024-53861).
        if claims.get("iss") != ISSUER:
            raise TokenError("wrong issuer")
        if claims.get("aud") != AUDIENCE:
            raise TokenError("wrong audience")
        try:
            _check_identity_fields(
                role=claims["role"],
                client_id=claims.get("client_id"),
                user_id=claims.get("user_id"),
                username=claims.get("username"),
                full_name=claims.get("full_name"),
                counter_id=claims.get("counter_id"),
            )
            _check_token_fields(claims.get("jti"), claims.get("gen"))
        except ValueError as error:
            raise TokenError(str(error)) from None
        token_id = claims.get("jti")
        return Identity(
            role=claims["role"],
            client_id=claims.get("client_id"),
            user_id=claims.get("user_id"),
            username=claims.get("username"),
            full_name=claims.get("full_name"),
            counter_id=claims.get("counter_id"),
            expires_at=expires_at,
            token_id=token_id,
            generation=claims.get("gen"),
            issued_at=_moment_or_none(_numeric_date(claims, "iat")),
            token_key=token_id if token_id is not None else "sig:" + _signature_digest(token),
        )

    def _decode(self, token: object) -> dict[str, Any]:
        """Check the signature and claim presence; return the claims."""
        if not isinstance(token, str):
            raise TokenError("token must be a string")
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenError("token too long")
        token = _BEARER_PREFIX.sub("", token.strip(), count=1).strip()
        if not token:
            raise TokenError("empty token")
        try:
            return jwt.decode(
                token,
                self._secret,
                # Pinned: never let the token's own header pick the algorithm
                # ('none', or an RS/ES alg with our secret as the "public key").
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={
                    "require": _REQUIRED_CLAIMS,
                    # pyjwt reads the system clock; _check_times uses ours.
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.MissingRequiredClaimError as error:
            raise TokenError(f"missing claim: {error.claim}") from None
        except jwt.InvalidSignatureError:
            raise TokenError("bad signature") from None
        except jwt.InvalidAlgorithmError:
            raise TokenError("algorithm not allowed") from None
        except jwt.InvalidAudienceError:
            raise TokenError("wrong audience") from None
        except jwt.InvalidIssuerError:
            raise TokenError("wrong issuer") from None
        except jwt.DecodeError:
            raise TokenError("malformed token") from None
        except jwt.PyJWTError as error:
            raise TokenError(f"invalid token: {error}") from None
        except Exception:
            # The token is attacker-controlled input to a third-party parser;
            # whatever it trips over is still just a bad token to our callers.
            logger.debug("unexpected error decoding token", exc_info=True)
            raise TokenError("malformed token") from None

    def _check_times(self, claims: dict[str, Any]) -> datetime:
        """Check exp/iat/nbf against the injected clock; return exp as a datetime."""
        now = self._clock()
        expires = _numeric_date(claims, "exp")
        issued = _numeric_date(claims, "iat")
        not_before = _numeric_date(claims, "nbf") if "nbf" in claims else None

        if expires <= now - self._leeway:
            raise TokenError("token expired")
        if issued > now + self._leeway:
            raise TokenError("token not yet valid (issued in the future)")
        if not_before is not None and not_before > now + self._leeway:
            raise TokenError("token not yet valid")
        try:
            return datetime.fromtimestamp(expires, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise TokenError("bad claim: exp (out of range)") from None


def _moment_or_none(seconds: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None  # a token "issued" before year 1: nothing any revocation could be older than


def new_token_id() -> str:
    """A fresh token id: 128 random bits, URL-safe."""
    return secrets.token_urlsafe(16)


def _signature_digest(token: str) -> str:
    # The signature tells a token from every other (a "Bearer " prefix or spaces do not).
    signature = token.strip().rpartition(".")[2]
    return hashlib.sha256(signature.encode("ascii", "replace")).hexdigest()[:32]


def _check_token_fields(token_id: object, generation: object) -> None:
    if token_id is not None and (not isinstance(token_id, str) or not 1 <= len(token_id) <= 64
                                 or not token_id.isascii() or not token_id.isprintable()):
        raise ValueError("bad claim: jti (must be a short printable string)")
    if generation is not None and (isinstance(generation, bool) or not isinstance(generation, int)
                                   or generation < 0):
        raise ValueError("bad claim: gen (must be a whole number)")


def _numeric_date(claims: dict[str, Any], name: str) -> float:
    value = claims.get(name)
    # bool is an int subclass, and JSON allows NaN/Infinity through Python's parser.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TokenError(f"bad claim: {name} (must be a number)")
    return value


def _check_identity_fields(
    *,
    role: object,
    client_id: object,
    user_id: object,
    username: object,
    full_name: object,
    counter_id: object,
) -> None:
    """Raise ValueError naming the first problem with these identity fields.

    Shared by issue() (which raises it) and verify() (which turns it into a
    TokenError), so the hub never signs a token it would then refuse.
    """
    if not isinstance(role, str) or role not in ROLES:
        raise ValueError(f"unknown role (expected one of {', '.join(ROLES)})")
    for name, value in (("client_id", client_id), ("username", username), ("full_name", full_name)):
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise ValueError(f"bad claim: {name} (must be a non-empty string)")
        if len(value) > MAX_CLAIM_CHARS:
            raise ValueError(f"bad claim: {name} (longer than {MAX_CLAIM_CHARS} characters)")
    for name, value in (("user_id", user_id), ("counter_id", counter_id)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"bad claim: {name} (must be an integer)")

    if role in DEVICE_ROLES:
        if client_id is None:
            raise ValueError(f"a {role} token needs a client_id")
    elif user_id is None and username is None:
        raise ValueError(f"a {role} token needs a user_id or a username")
    if role == "officer" and counter_id is None:
        raise ValueError("an officer token needs a counter_id")
    if role == "counter" and counter_id is None:
        raise ValueError("a counter display's token needs a counter_id")


def _publish_new_secret(secret_path: Path) -> None:
    """Create secret_path holding a fresh secret, unless someone beats us to it.

    The secret is written to a temporary file (mkstemp: O_CREAT|O_EXCL, mode
    0600), synced, then hard-linked into place. link() fails if the name
    exists, so when two hub processes start at once exactly one secret wins
    and both read it; and since the file only appears complete, neither a
    racing reader nor a power cut can leave an empty or half-written secret.
    """
    fd, temp_name = tempfile.mkstemp(
        dir=secret_path.parent, prefix=f".{SECRET_FILENAME}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "w", encoding="ascii") as temp_file:
            temp_file.write(secrets.token_hex(SECRET_BYTES) + "\n")
            temp_file.flush()
            os.fsync(temp_file.fileno())
        try:
            os.link(temp_name, secret_path)
        except FileExistsError:
            return  # another process published first; its secret is the one
        _fsync_directory(secret_path.parent)
        logger.info("created new token secret at %s", secret_path)
    finally:
        os.unlink(temp_name)


def _fsync_directory(directory: Path) -> None:
    # Makes the new directory entry durable, not just the file contents.
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _read_secret(secret_path: Path) -> bytes:
    """Read the hex secret, first tightening its mode to 0600 if needed."""
    with open(secret_path, encoding="ascii") as secret_file:
        # fstat/fchmod on the open file, so the check and fix hit the file we read.
        mode = stat.S_IMODE(os.fstat(secret_file.fileno()).st_mode)
        if mode & 0o077:
            os.fchmod(secret_file.fileno(), 0o600)
            logger.warning(
                "token secret %s had mode %04o (readable by others); tightened it to 0600",
                secret_path,
                mode,
            )
        try:
            text = secret_file.read(4 * SECRET_BYTES)
            secret = bytes.fromhex(text.strip())
        except ValueError:  # includes UnicodeDecodeError
            secret = b""
    if len(secret) < MIN_SECRET_BYTES:
        # Refuse rather than replace: a new secret would silently log out
        # every device, and a mangled file deserves a person's attention.
        raise ValueError(
            f"{secret_path} does not hold a valid token secret "
            f"(expected at least {2 * MIN_SECRET_BYTES} hex digits); "
            "delete it to generate a new one (all issued tokens become invalid)"
        )
    return secret


# --- passwords ---------------------------------------------------------------

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
PASSWORD_SALT_BYTES = 16
PASSWORD_HASH_BYTES = 32
# Stored parameters are only trusted up to these bounds, so a corrupted or
# planted hash cannot make a login attempt eat gigabytes or minutes.
_MAX_SCRYPT_N = 2**20
_MAX_SCRYPT_R = 32
_MAX_SCRYPT_P = 16
_SCRYPT_MAXMEM = 256 * 1024 * 1024


def _password_bytes(password: str) -> bytes:
    # Vietnamese diacritics can arrive precomposed (NFC) or decomposed (NFD)
    # depending on the keyboard/OS; normalise so both spellings match.
    return unicodedata.normalize("NFC", password).encode("utf-8")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        _password_bytes(password), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=length
    )


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """Hash with scrypt; returns 'scrypt$n$r$p$salt_b64$hash_b64'."""
    if not isinstance(password, str):
        raise TypeError("password must be a string")
    salt = os.urandom(PASSWORD_SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, PASSWORD_HASH_BYTES)
    fields = ("scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64encode(salt), _b64encode(digest))
    return "$".join(fields)


def verify_password(password: str, encoded: str) -> bool:
    """True if `password` matches `encoded` (from hash_password).

    False, never an exception, for a wrong password, a malformed stored value
    or a non-string argument.
    """
    if not isinstance(password, str) or not isinstance(encoded, str):
        return False
    parsed = _parse_password_hash(encoded)
    if parsed is None:
        return False
    n, r, p, salt, expected = parsed
    try:
        actual = _scrypt(password, salt, n, r, p, len(expected))
    except ValueError:  # e.g. unencodable password (lone surrogates), memory limit
        return False
    return hmac.compare_digest(actual, expected)


def _parse_password_hash(encoded: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return None
    _, n_text, r_text, p_text, salt_text, hash_text = parts
    if not all(text.isascii() and text.isdigit() for text in (n_text, r_text, p_text)):
        return None
    n, r, p = int(n_text), int(r_text), int(p_text)
    n_is_power_of_two = n > 1 and n & (n - 1) == 0
    if not (n_is_power_of_two and n <= _MAX_SCRYPT_N and 1 <= r <= _MAX_SCRYPT_R and 1 <= p <= _MAX_SCRYPT_P):
        return None
    try:
        salt = base64.b64decode(salt_text, validate=True)
        expected = base64.b64decode(hash_text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not salt or len(expected) < 16:
        return None
    return n, r, p, salt, expected
