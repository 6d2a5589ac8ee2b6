"""docs/protocol.md: every message documented, examples that decode, the page in the repo current.

The generator is ``tools/protocol_docs.py``, a developer's tool outside the shipped packages.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from support import REPO_ROOT

from hub.auth import Identity
from hub.permissions import CLIENT_TYPE_FOR_ROLE, check
from protocol import messages as m
from tools import protocol_docs as docs

REPO = REPO_ROOT
PAGE = REPO / "docs" / "protocol.md"

# As PROTOCOL.md's "Errors" section lists them.
SEED_ERROR_CODES = {"AUTH_FAILED", "INVALID_MESSAGE", "COUNTER_NOT_FOUND"}
PROTOCOL_MD_ERROR_CODES = SEED_ERROR_CODES | {"FORBIDDEN", "QUEUE_EMPTY", "COUNTER_PAUSED", "RATE_LIMITED",
                                              # Version 2.
                                              "COUNTER_BUSY", "ALREADY_RATED", "TICKET_NOT_FOUND"}


def _name(struct: type) -> str:
    return f"{struct.__name__} ({m.message_type(struct)})"


def _identity(role: str, counter_id: int | None = None, client_id: str | None = None) -> Identity:
    return Identity(role=role, client_id=client_id, user_id=7, username=f"{role}07", full_name=None,
                    counter_id=counter_id, expires_at=datetime.now(UTC) + timedelta(hours=1))


def inspect_doc(struct: type) -> str:
    return (struct.__doc__ or "").strip()


def _example_message(struct: type, **payload_changes):
    frame = docs.example_frame(struct)
    frame = {**frame, "payload": {**frame["payload"], **payload_changes}}
    return m.decode_client_message(json.dumps(frame, ensure_ascii=False))


def test_every_message_has_its_docs():
    documented = set(docs.MESSAGE_DOCS)
    missing = [_name(s) for s in (*m.CLIENT_MESSAGE_TYPES, *m.SERVER_MESSAGE_TYPES) if s not in documented]
    assert not missing, f"add these to tools/protocol_docs.py's MESSAGE_DOCS, then run `make docs`: {missing}"
    stale = documented - set(m.CLIENT_MESSAGE_TYPES) - set(m.SERVER_MESSAGE_TYPES)
    assert not stale, f"MESSAGE_DOCS documents messages that no longer exist: {stale}"
    for struct in m.CLIENT_MESSAGE_TYPES:
        assert isinstance(docs.MESSAGE_DOCS[struct], docs.ClientMessageDoc), _name(struct)
        assert inspect_doc(struct), f"{_name(struct)} needs a docstring: the page shows it"
    for struct in m.SERVER_MESSAGE_TYPES:
        assert isinstance(docs.MESSAGE_DOCS[struct], docs.ServerMessageDoc), _name(struct)
        assert inspect_doc(struct), f"{_name(struct)} needs a docstring: the page shows it"


@pytest.mark.parametrize("struct", m.CLIENT_MESSAGE_TYPES, ids=m.message_type)
def test_client_example_decodes_as_its_message(struct):
    frame = docs.example_frame(struct)
    decoded = m.decode_client_message(json.dumps(frame, ensure_ascii=False))
    assert type(decoded) is struct
    # Strict decoding already refused unknown fields; the values must survive cleaning unchanged.
    payload = msgspec.to_builtins(decoded)["payload"]
    assert {k: payload[k] for k in frame["payload"]} == frame["payload"]


@pytest.mark.parametrize("struct", m.SERVER_MESSAGE_TYPES, ids=m.message_type)
def test_server_example_decodes_and_shows_every_field(struct):
    frame = docs.example_frame(struct)
    decoded = m.decode_server_message(json.dumps(frame, ensure_ascii=False))
    assert type(decoded) is struct
    # Hub messages decode leniently, so a misspelt field would pass unnoticed:
    # the example must be exactly what encoding the struct gives back.
    assert msgspec.to_builtins(decoded) == frame


@pytest.mark.parametrize(
    "struct", [s for s in m.CLIENT_MESSAGE_TYPES if s is not m.RegisterClient], ids=m.message_type
)
def test_who_may_send_agrees_with_the_permission_rules(struct):
    doc = docs.MESSAGE_DOCS[struct]
    assert set(doc.may_send) <= set(docs.ROLE_ORDER) and set(doc.own_counter) <= set(doc.may_send)
    for role in docs.ROLE_ORDER:
        device_id = f"{role}-001" if role in ("kiosk", "tv") else None
        at_counter_1 = check(_identity(role, counter_id=1, client_id=device_id), _example_message(struct))
        assert (at_counter_1 is None) == (role in doc.may_send), f"{role} sending {_name(struct)}: {at_counter_1}"
        if "counter_id" in docs.example_frame(struct)["payload"] and role in doc.may_send:
            elsewhere = check(_identity(role, counter_id=2, client_id=device_id), _example_message(struct))
            assert (elsewhere is None) == (role not in doc.own_counter), (
                f"{role} of counter 2 sending {_name(struct)} for counter 1: {elsewhere}"
            )


def test_every_role_registers_as_the_type_the_page_lists():
    assert set(docs.MESSAGE_DOCS[m.RegisterClient].may_send) == set(docs.ROLE_ORDER)
    for role in docs.ROLE_ORDER:
        client_id = f"{role}-001"
        identity = _identity(role, counter_id=1, client_id=client_id)
        for client_type in ("kiosk", "tv", "officer", "admin"):
            message = _example_message(m.RegisterClient, client_type=client_type, client_id=client_id)
            allowed = check(identity, message) is None
            assert allowed == (CLIENT_TYPE_FOR_ROLE[role] == client_type), f"{role} as {client_type}"
    page_rows = docs.render()
    for role in docs.ROLE_ORDER:
        assert f"| `{role}` | `{CLIENT_TYPE_FOR_ROLE[role]}` |" in page_rows


def test_roles_are_the_protocols_roles():
    assert set(docs.ROLE_ORDER) == set(m.Role.__args__)


def test_every_error_code_says_when_it_is_sent():
    assert set(docs.ERROR_DOCS) == set(m.ERROR_CODES)
    origins = {code: origin for code, (origin, _) in docs.ERROR_DOCS.items()}
    assert {c for c, o in origins.items() if o == "seed"} == SEED_ERROR_CODES
    assert {c for c, o in origins.items() if o in ("seed", "PROTOCOL.md")} == PROTOCOL_MD_ERROR_CODES
    beyond = {c for c, o in origins.items() if o == "this hub"}
    assert beyond == set(m.ERROR_CODES) - PROTOCOL_MD_ERROR_CODES
    assert "go beyond PROTOCOL.md's list" in docs.render()


@pytest.mark.parametrize("struct", list(docs.SEED_PAYLOAD_FIELDS), ids=m.message_type)
def test_seed_fields_are_all_there_and_extras_are_optional(struct):
    fields = {f.name: f for f in docs.payload_fields(struct)}
    seed = docs.SEED_PAYLOAD_FIELDS[struct]
    assert set(seed) <= set(fields), f"{_name(struct)} lost seed fields {set(seed) - set(fields)}"
    if struct in m.CLIENT_MESSAGE_TYPES:
        # A seed client never sends them.
        required_extras = [name for name, f in fields.items() if name not in seed and f.required]
        assert not required_extras, f"{_name(struct)} requires fields the seed does not send: {required_extras}"


def test_the_seeds_messages_keep_their_names_and_directions():
    client = {m.message_type(s) for s in m.CLIENT_MESSAGE_TYPES}
    server = {m.message_type(s) for s in m.SERVER_MESSAGE_TYPES}
    assert {"AUTH", "REGISTER_CLIENT", "COUNTER_STATUS_CHANGE", "TICKET_CREATED", "CALL_TICKET", "ANNOUNCEMENT",
            "PING"} <= client
    assert {"CONNECTION_ACK", "COUNTER_STATUS_UPDATE", "QUEUE_UPDATE", "TICKET_ANNOUNCEMENT", "SYSTEM_ALERT",
            "STATS_UPDATE", "CLIENT_CONNECTED", "CLIENT_DISCONNECTED", "PONG", "ERROR"} <= server


def test_page_shows_each_message_with_its_example_and_schema():
    page = docs.render()
    for struct in (*m.CLIENT_MESSAGE_TYPES, *m.SERVER_MESSAGE_TYPES):
        heading = f"#### `{m.message_type(struct)}` ({docs.direction(struct)})"
        assert page.count(heading) == 1, heading
        section = page.split(heading, 1)[1].split("\n#### ", 1)[0]
        assert json.dumps(docs.example_frame(struct), indent=2, ensure_ascii=False) in section
        blocks = section.split("```json\n")[1:]
        schema = json.loads(blocks[1].split("\n```", 1)[0])
        assert schema["$ref"] == f"#/$defs/{struct.__name__}"
        assert schema["$defs"][struct.__name__]["properties"]["type"]["enum"] == [m.message_type(struct)]


def test_the_page_in_the_repo_is_current():
    assert PAGE.exists(), "docs/protocol.md is missing: run `make docs`"
    if PAGE.read_text(encoding="utf-8") != docs.render():
        pytest.fail("docs/protocol.md is not what tools/protocol_docs.py generates from the code now: run `make docs`")


@pytest.mark.parametrize("hash_seed", ["1", "2"])
def test_the_command_prints_the_same_page_in_any_process(hash_seed):
    # Another hash seed reorders any set or dict built from hashes; a C locale must not mangle the Vietnamese.
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": "ascii"}
    result = subprocess.run([sys.executable, "-m", "tools.protocol_docs"], cwd=REPO, env=env, capture_output=True,
                            check=True)
    assert result.stdout == docs.render().encode("utf-8")


def test_make_docs_writes_the_page_and_the_script_prints_it(tmp_path):
    # As `make docs` runs it, into a file; and as a script, from another folder.
    page = tmp_path / "protocol.md"
    subprocess.run([sys.executable, "-m", "tools.protocol_docs", str(page)], cwd=REPO, check=True)
    assert page.read_bytes() == docs.render().encode("utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["protocol.md"], "nothing left beside it"
    script = subprocess.run([sys.executable, str(REPO / "tools" / "protocol_docs.py")], cwd=tmp_path,
                            capture_output=True, check=True)
    assert script.stdout == page.read_bytes()


def test_schema_descriptions_are_the_docstrings_cleaned():
    # msgspec 0.22 on Python 3.11/3.12 puts __doc__ in the schema with its indentation; 0.23 and
    # Python 3.13 do not. The page must not depend on which one made it.
    for struct in (*m.CLIENT_MESSAGE_TYPES, *m.SERVER_MESSAGE_TYPES):
        schema = docs._schema(struct)
        for name, definition in schema["$defs"].items():
            if "description" in definition:
                assert definition["description"] == inspect.cleandoc(definition["description"]), name
        assert schema["$defs"][struct.__name__].get("description", "") == (inspect.getdoc(struct) or "")
    indented = {"description": "First line.\n\n    More, indented.\n    ", "items": [{"description": "  x\n  y"}]}
    assert docs._clean_descriptions(indented) == {"description": "First line.\n\nMore, indented.",
                                                  "items": [{"description": "x\ny"}]}


def test_the_protocol_package_does_not_need_the_hub():
    # Kiosks and TVs install protocol/ without hub/: nothing there may import it.
    assert not (REPO / "protocol" / "docs.py").exists(), "the generator lives in tools/protocol_docs.py"
    code = ("import importlib, pkgutil, sys, protocol\n"
            "for info in pkgutil.iter_modules(protocol.__path__):\n"
            "    importlib.import_module('protocol.' + info.name)\n"
            "print(sorted(n for n in sys.modules if n == 'hub' or n.startswith(('hub.', 'tools'))))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
