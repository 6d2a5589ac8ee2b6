import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
import threading
import unicodedata
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from hub.auth import (
    ALGORITHM,
    AUDIENCE,
    DEVICE_ROLES,
    ISSUER,
    ROLES,
    Identity,
    TokenAuthority,
    TokenError,
    hash_password,
    verify_password,
)

START = 1_750_000_000.0  # a fixed "now" so expiry arithmetic is exact
TTL = timedelta(hours=8)
LEEWAY = 30.0

# Identity fields that make a valid token for each role.
FIELDS_BY_ROLE = {
    "admin": dict(user_id=1, username="admin", full_name="Quản trị viên"),
    "leader": dict(user_id=2, username="lanh.dao", full_name="Nguyễn Văn Lãnh"),
    "officer": dict(
        user_id=3, username="can.bo", full_name="Trần Thị Bình", counter_id=4, client_id="desk-4"
    ),
    "kiosk": dict(client_id="kiosk-entrance"),
    "tv": dict(client_id="tv-hall-1"),
    "counter": dict(client_id="counter-04", counter_id=4),
}


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def secret() -> bytes:
    return secrets.token_bytes(64)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def authority(secret, clock) -> TokenAuthority:
    return TokenAuthority(secret, clock=clock, leeway=LEEWAY)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def valid_claims(**overrides) -> dict:
    """Claims of a good kiosk token at START, for hand-built tokens."""
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": int(START),
        "nbf": int(START),
        "exp": int(START + TTL.total_seconds()),
        "sub": "kiosk-entrance",
        "role": "kiosk",
        "client_id": "kiosk-entrance",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def sign(secret: bytes, claims: dict, algorithm: str = ALGORITHM) -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


# --- issue / verify round trip ------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_round_trip_for_every_role(authority, role):
    fields = FIELDS_BY_ROLE[role]
    identity = authority.verify(authority.issue(role, ttl=TTL, **fields))

    assert identity == Identity(
        role=role,
        client_id=fields.get("client_id"),
        user_id=fields.get("user_id"),
        username=fields.get("username"),
        full_name=fields.get("full_name"),
        counter_id=fields.get("counter_id"),
        expires_at=datetime.fromtimestamp(START + TTL.total_seconds(), tz=UTC),
        # Every token gets an id of its own, the key it is counted and revoked by.
        token_id=identity.token_id,
        issued_at=datetime.fromtimestamp(int(START), tz=UTC),
        token_key=identity.token_id or "",
    )
    assert identity.expires_at.tzinfo == UTC
    assert identity.token_id and identity.generation is None


def test_every_token_has_its_own_id_and_a_generation_when_given(authority):
    first = authority.verify(authority.issue("tv", client_id="tv-1", ttl=TTL))
    second = authority.verify(authority.issue("tv", client_id="tv-1", ttl=TTL))
    person = authority.verify(authority.issue("admin", user_id=1, username="root", ttl=TTL, generation=3))
    assert len({first.token_id, second.token_id, person.token_id}) == 3
    assert person.generation == 3


def test_token_without_an_id_is_told_apart_by_its_signature(authority, secret):
    claims = {"iss": ISSUER, "aud": AUDIENCE, "iat": int(START), "exp": int(START) + 60, "role": "tv",
              "client_id": "tv-old"}
    old = authority.verify(jwt.encode(claims, secret, algorithm=ALGORITHM))
    again = authority.verify("Bearer " + jwt.encode(claims, secret, algorithm=ALGORITHM))
    other = authority.verify(jwt.encode({**claims, "exp": int(START) + 61}, secret, algorithm=ALGORITHM))
    assert old.token_id is None and old.token_key.startswith("sig:")
    assert old.token_key == again.token_key != other.token_key


@pytest.mark.parametrize("claim,value", [("jti", 7), ("jti", ""), ("jti", "x" * 65), ("gen", -1), ("gen", "1"),
                                         ("gen", True)])
def test_bad_token_id_or_generation_refused(authority, secret, claim, value):
    claims = {"iss": ISSUER, "aud": AUDIENCE, "iat": int(START), "exp": int(START) + 60, "role": "tv",
              "client_id": "tv-1", claim: value}
    with pytest.raises(TokenError, match=f"{claim}|JWT ID"):  # pyjwt checks a jti's type itself
        authority.verify(jwt.encode(claims, secret, algorithm=ALGORITHM))


def test_issued_claims(authority, secret):
    token = authority.issue("officer", ttl=TTL, **FIELDS_BY_ROLE["officer"])
    # START is in the past for the real clock pyjwt would use, hence no time checks here.
    no_time_checks = {"verify_exp": False, "verify_iat": False, "verify_nbf": False}
    claims = jwt.decode(token, secret, algorithms=[ALGORITHM], audience=AUDIENCE, options=no_time_checks)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert claims["iss"] == ISSUER
    assert claims["iat"] == claims["nbf"] == int(START)
    assert claims["exp"] == int(START) + 8 * 3600
    assert claims["sub"] == "user:3"
    assert claims["role"] == "officer"
    assert claims["counter_id"] == 4


def test_subject_is_client_id_for_devices_and_username_without_user_id(authority):
    def subject(token):
        return jwt.decode(token, options={"verify_signature": False})["sub"]

    assert subject(authority.issue("tv", client_id="tv-1", ttl=TTL)) == "tv-1"
    assert subject(authority.issue("admin", username="root", ttl=TTL)) == "root"


@pytest.mark.parametrize("role", DEVICE_ROLES)
def test_device_without_client_id_refused_at_issue(authority, role):
    with pytest.raises(ValueError, match="client_id"):
        authority.issue(role, ttl=TTL)


def test_officer_without_counter_id_refused_at_issue(authority):
    with pytest.raises(ValueError, match="counter_id"):
        authority.issue("officer", user_id=3, username="can.bo", ttl=TTL)


@pytest.mark.parametrize(
    "role, fields",
    [
        ("superuser", dict(user_id=1)),
        ("officer", dict(user_id=3, counter_id="4")),
        ("officer", dict(user_id=3, counter_id=True)),
        ("admin", dict(user_id=True)),
        ("admin", dict(username="x" * 201)),
        ("admin", dict()),  # a person token must say which person
    ],
)
def test_bad_identity_refused_at_issue(authority, role, fields):
    with pytest.raises(ValueError):
        authority.issue(role, ttl=TTL, **fields)


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(seconds=-5), 3600])
def test_bad_ttl_refused_at_issue(authority, ttl):
    with pytest.raises(ValueError, match="ttl"):
        authority.issue("kiosk", client_id="k1", ttl=ttl)


def test_short_secret_refused(clock):
    with pytest.raises(ValueError, match="32 bytes"):
        TokenAuthority(b"too short", clock=clock)


# --- time -----------------------------------------------------------------


def test_expired_token_refused(authority, clock):
    token = authority.issue("kiosk", client_id="k1", ttl=TTL)
    clock.now = START + TTL.total_seconds() + LEEWAY + 1
    with pytest.raises(TokenError, match="expired"):
        authority.verify(token)


def test_expiry_allows_leeway(authority, clock):
    token = authority.issue("kiosk", client_id="k1", ttl=TTL)
    clock.now = START + TTL.total_seconds() + LEEWAY - 1
    assert authority.verify(token).role == "kiosk"


def test_token_issued_in_the_future_refused(secret, clock):
    # The issuing clock runs well ahead of the verifying one.
    issuer = TokenAuthority(secret, clock=FakeClock(START + 10 * 60))
    token = issuer.issue("tv", client_id="tv-1", ttl=TTL)
    verifier = TokenAuthority(secret, clock=clock, leeway=LEEWAY)
    with pytest.raises(TokenError, match="not yet valid"):
        verifier.verify(token)


def test_small_clock_skew_within_leeway_accepted(secret, clock):
    issuer = TokenAuthority(secret, clock=FakeClock(START + LEEWAY - 1))
    token = issuer.issue("tv", client_id="tv-1", ttl=TTL)
    assert TokenAuthority(secret, clock=clock, leeway=LEEWAY).verify(token).client_id == "tv-1"


def test_not_before_in_the_future_refused(authority, secret):
    token = sign(secret, valid_claims(nbf=int(START) + 3600))
    with pytest.raises(TokenError, match="not yet valid"):
        authority.verify(token)


@pytest.mark.parametrize("exp", ["tomorrow", True, float("nan"), float("inf"), 10**30])
def test_malformed_exp_refused(authority, secret, exp):
    with pytest.raises(TokenError, match="exp"):
        authority.verify(sign(secret, valid_claims(exp=exp)))


# --- signature and algorithm -------------------------------------------------


def test_tampered_payload_refused(authority, secret):
    header, payload, signature = sign(secret, valid_claims()).split(".")
    # Promote the kiosk to admin while keeping the kiosk's signature.
    forged = b64url(json.dumps(valid_claims(role="admin", user_id=1)).encode())
    with pytest.raises(TokenError, match="bad signature"):
        authority.verify(f"{header}.{forged}.{signature}")


def test_single_changed_payload_character_refused(authority, secret):
    header, payload, signature = sign(secret, valid_claims()).split(".")
    position = len(payload) // 2
    replacement = "A" if payload[position] != "A" else "B"
    altered = payload[:position] + replacement + payload[position + 1 :]
    with pytest.raises(TokenError):
        authority.verify(f"{header}.{altered}.{signature}")


def test_signature_from_another_secret_refused(authority):
    token = sign(secrets.token_bytes(64), valid_claims())
    with pytest.raises(TokenError, match="bad signature"):
        authority.verify(token)


def test_alg_none_refused(authority):
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(valid_claims(role="admin", user_id=1)).encode())
    with pytest.raises(TokenError, match="algorithm"):
        authority.verify(f"{header}.{payload}.")


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_other_hmac_algorithm_with_same_secret_refused(authority, secret, algorithm):
    token = sign(secret, valid_claims(), algorithm=algorithm)
    with pytest.raises(TokenError, match="algorithm"):
        authority.verify(token)


# --- claims -------------------------------------------------------------------


@pytest.mark.parametrize("issuer", ["someone-else", "qms", "hub", ""])
def test_wrong_issuer_refused(authority, secret, issuer):
    # "qms" and "hub" are substrings of the real issuer (cf. CVE-2024-53861).
    with pytest.raises(TokenError, match="issuer|missing claim: iss"):
        authority.verify(sign(secret, valid_claims(iss=issuer)))


@pytest.mark.parametrize("audience", ["other-hall", ["other-hall"], "qms"])
def test_wrong_audience_refused(authority, secret, audience):
    with pytest.raises(TokenError, match="audience"):
        authority.verify(sign(secret, valid_claims(aud=audience)))


@pytest.mark.parametrize("claim", ["role", "exp", "iat", "iss", "aud"])
def test_missing_required_claim_refused(authority, secret, claim):
    claims = valid_claims()
    del claims[claim]
    with pytest.raises(TokenError, match=f"missing claim: {claim}"):
        authority.verify(sign(secret, claims))


@pytest.mark.parametrize("role", ["superuser", "Admin", 3, ["admin"]])
def test_unknown_role_refused(authority, secret, role):
    with pytest.raises(TokenError, match="role"):
        authority.verify(sign(secret, valid_claims(role=role)))


@pytest.mark.parametrize("counter_id", ["4", True, 4.0])
def test_counter_id_must_be_an_integer(authority, secret, counter_id):
    claims = valid_claims(role="officer", user_id=3, counter_id=counter_id)
    with pytest.raises(TokenError, match="counter_id"):
        authority.verify(sign(secret, claims))


@pytest.mark.parametrize("user_id", ["3", False])
def test_user_id_must_be_an_integer(authority, secret, user_id):
    with pytest.raises(TokenError, match="user_id"):
        authority.verify(sign(secret, valid_claims(role="admin", user_id=user_id)))


def test_officer_token_without_counter_refused(authority, secret):
    with pytest.raises(TokenError, match="counter_id"):
        authority.verify(sign(secret, valid_claims(role="officer", user_id=3)))


def test_device_token_without_client_id_refused(authority, secret):
    claims = valid_claims()
    del claims["client_id"]
    with pytest.raises(TokenError, match="client_id"):
        authority.verify(sign(secret, claims))


@pytest.mark.parametrize("field", ["client_id", "username", "full_name"])
def test_overlong_string_claim_refused(authority, secret, field):
    claims = valid_claims(role="admin", user_id=1, **{field: "x" * 201})
    with pytest.raises(TokenError, match=field):
        authority.verify(sign(secret, claims))


def test_string_claim_at_limit_accepted(authority):
    token = authority.issue("admin", user_id=1, full_name="ễ" * 200, ttl=TTL)
    assert authority.verify(token).full_name == "ễ" * 200


# --- input forms ------------------------------------------------------------


@pytest.mark.parametrize(
    "template", ["Bearer {}", "bearer {}", "BEARER {}", "  Bearer   {}  ", "Bearer\t{}", " {} "]
)
def test_bearer_prefix_and_surrounding_spaces_accepted(authority, template):
    token = authority.issue("tv", client_id="tv-1", ttl=TTL)
    assert authority.verify(template.format(token)).client_id == "tv-1"


def test_bearer_only_stripped_at_the_start(authority):
    token = authority.issue("tv", client_id="tv-1", ttl=TTL)
    header, rest = token.split(".", 1)
    with pytest.raises(TokenError):
        authority.verify(f"{header}bearer .{rest}")


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "   ",
        "Bearer ",
        "a.b",
        "a.b.c",
        "....",
        "ễ.ễ.ễ",
        "\x00",
        "x" * (1024 * 1024),
        "eyJhbGciOiJIUzI1NiJ9." + "A" * (1024 * 1024) + ".sig",
        None,
        123,
        b"a.b.c",
        ["a.b.c"],
    ],
    ids=lambda value: repr(value)[:20],
)
def test_garbage_gives_token_error(authority, garbage):
    with pytest.raises(TokenError):
        authority.verify(garbage)


def test_payload_that_is_not_an_object_refused(authority, secret):
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(b"[1, 2, 3]")
    signing_input = f"{header}.{payload}".encode()
    signature = b64url(hmac.new(secret, signing_input, hashlib.sha256).digest())
    with pytest.raises(TokenError):
        authority.verify(f"{header}.{payload}.{signature}")


# --- secret on disk -----------------------------------------------------------


def file_mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_from_data_dir_creates_private_secret(tmp_path, clock):
    data_dir = tmp_path / "data"
    first = TokenAuthority.from_data_dir(data_dir, clock=clock)

    secret_path = data_dir / "token-secret"
    assert file_mode(data_dir) == 0o700
    assert file_mode(secret_path) == 0o600
    assert len(bytes.fromhex(secret_path.read_text().strip())) == 64
    assert [p.name for p in data_dir.iterdir()] == ["token-secret"]  # no temp files left

    second = TokenAuthority.from_data_dir(data_dir, clock=clock)
    token = first.issue("kiosk", client_id="k1", ttl=TTL)
    assert second.verify(token).client_id == "k1"


def test_from_data_dir_accepts_str_path(tmp_path, clock):
    authority = TokenAuthority.from_data_dir(str(tmp_path), clock=clock)
    assert authority.verify(authority.issue("tv", client_id="t", ttl=TTL)).role == "tv"


def test_loose_secret_mode_is_tightened(tmp_path, clock, caplog):
    original = TokenAuthority.from_data_dir(tmp_path, clock=clock)
    secret_path = tmp_path / "token-secret"
    os.chmod(secret_path, 0o644)

    with caplog.at_level(logging.WARNING, logger="hub.auth"):
        reloaded = TokenAuthority.from_data_dir(tmp_path, clock=clock)

    assert file_mode(secret_path) == 0o600
    assert "0644" in caplog.text
    assert reloaded.verify(original.issue("tv", client_id="t", ttl=TTL)).role == "tv"


def test_simultaneous_first_start_agrees_on_one_secret(tmp_path, clock):
    data_dir = tmp_path / "data"
    start_together = threading.Barrier(8)
    authorities = []

    def start_hub():
        start_together.wait()
        authorities.append(TokenAuthority.from_data_dir(data_dir, clock=clock))

    threads = [threading.Thread(target=start_hub) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(authorities) == 8
    token = authorities[0].issue("kiosk", client_id="k1", ttl=TTL)
    for authority in authorities:
        assert authority.verify(token).client_id == "k1"
    assert [p.name for p in data_dir.iterdir()] == ["token-secret"]


@pytest.mark.parametrize("content", ["", "not hex at all", "abcd\n"])
def test_corrupt_secret_file_refused(tmp_path, content):
    secret_path = tmp_path / "token-secret"
    secret_path.write_text(content)
    os.chmod(secret_path, 0o600)
    with pytest.raises(ValueError, match="token secret"):
        TokenAuthority.from_data_dir(tmp_path)
    assert secret_path.read_text() == content  # left alone for a person to look at


# --- passwords ----------------------------------------------------------------


def test_password_hash_verifies():
    encoded = hash_password("Mật khẩu 123!")
    assert encoded.startswith("scrypt$16384$8$1$")
    assert verify_password("Mật khẩu 123!", encoded)


def test_wrong_password_fails():
    encoded = hash_password("correct horse")
    assert not verify_password("correct horsf", encoded)
    assert not verify_password("", encoded)


def test_same_password_hashes_differently():
    assert hash_password("secret") != hash_password("secret")


def test_decomposed_vietnamese_matches_precomposed():
    precomposed = unicodedata.normalize("NFC", "Hồ Chí Minh")
    decomposed = unicodedata.normalize("NFD", "Hồ Chí Minh")
    assert precomposed != decomposed
    assert verify_password(decomposed, hash_password(precomposed))


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "scrypt",
        "plaintext-password",
        "bcrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$16384$8$1$!!not-base64!!$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$",
        "scrypt$16384$8$1$$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$1000$8$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA==",  # n not a power of two
        "scrypt$1073741824$8$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA==",  # n absurdly large
        "scrypt$-16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$16384$0$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA==$extra",
        None,
        b"scrypt$16384$8$1$c2FsdA==$aGFzaA==",
    ],
)
def test_malformed_stored_hash_returns_false(encoded):
    assert verify_password("anything", encoded) is False


def test_non_string_password_returns_false():
    assert verify_password(None, hash_password("x")) is False
