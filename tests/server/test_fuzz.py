"""Property tests of the session server against hostile requests.

For every command of ``COMMANDS``, ``data`` holds the command's own field names: either
a request that succeeds with one to three fields dropped or replaced, or every field drawn
at random; plus unknown extra fields. Values come from a nasty pool (None, bools, huge,
negative and float numbers, NaN/Infinity, empty/huge/non-ASCII strings, lone surrogates,
NUL, lists, nested objects, malformed IPs and tags, JSON-ish text) and plausible ones (a
live session's id and token, a fresh device proof, the owner, good IPs and tags), so the
services' own checks run, not only the wire's type checks. Whatever arrives: never a 500,
only documented statuses, strict JSON, a non-200 answer in the command's error union that
the real client parses, and nothing half-written. Each example runs in a savepoint that is
rolled back, so every example sees the same world.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from propelauth_byo.result import is_err

from byo_sessions.models import Device, RetiredToken, Session, SessionTag, SigningKey, UsedProof
from byo_sessions.server.commands import COMMANDS
from byo_sessions.server.views import MAX_DEPTH
from byo_sessions.services import devices, policies, signing_keys
from byo_sessions.services import sessions as svc
from byo_sessions.services.sessions import MAX_METADATA_DEPTH
from byo_sessions.values import ErrorType, Ok
from tests.dpop_signer import TestDevice
from tests.server.conftest import APP_URL, IP, KEY, UA, configure
from tests.server.test_compat import UNIONS, call, union_types

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.server.urls")]

URL = "/byo-server/run-command"
# docs/server.md: 200, the typed errors of errors.py / http.STATUS_BY_ERROR, 413 (too large),
# 501 (not offered). 405 only for a method other than POST; 500 never. 503 means "the
# database is unreachable": with a live test database it can only be input the driver
# refused (a NUL on PostgreSQL, say), which must have been a typed 400 instead.
DOCUMENTED = frozenset({200, 400, 401, 403, 404, 409, 413, 425, 429, 501})
OWNER = "fuzz-user"

# The known field names of every command (docs/server.md, byo-protocol.md, commands.py).
FIELDS: dict[str, tuple[str, ...]] = {
    "CreateSession": ("userId", "tags", "userAgent", "ipAddress", "metadata", "deviceRegistration"),
    "ValidateSession": (
        "sessionToken",
        "userAgent",
        "ipAddress",
        "requiredTags",
        "deviceVerification",
        "ignoreDeviceForVerification",
    ),
    "ValidateAndRefreshSession": (
        "sessionToken",
        "userAgent",
        "ipAddress",
        "requiredTags",
        "deviceVerification",
        "ignoreDeviceForVerification",
    ),
    "FetchAllSessionsForUser": ("userId", "sessionTags"),
    "FetchAllSessions": ("userId", "sessionTags", "page"),
    "FetchSessionById": ("sessionId",),
    "UpdateSession": ("sessionId", "tagsToAdd", "tagsToRemove", "newMetadata", "patchMetadata"),
    "UpdateSessions": ("filter", "tagsToAdd", "tagsToRemove", "newMetadata", "patchMetadata"),
    "InvalidateSessionById": ("sessionId", "userId"),
    "InvalidateSessionByToken": ("sessionToken",),
    "InvalidateAllSessionsForUser": ("userId", "sessionTags"),
    "InvalidateAllSessionsForUserExceptOne": ("userId", "sessionTokenToKeep", "sessionTags"),
    "CreateDeviceChallenge": ("userAgent", "ipAddress"),
    "RegisterDevice": (
        "signedDeviceChallenge",
        "rememberDevice",
        "sessionToken",
        "sessionId",
        "requestUrl",
        "requestMethod",
        "ipAddress",
        "userAgent",
    ),
    "CreateStatelessToken": (
        "userId",
        "sessionId",
        "customClaims",
        "issuer",
        "audience",
        "notBeforeUnixtime",
        "lifetimeSecs",
    ),
    "GetJwks": (),
    "RotateStatelessTokenKey": ("secsBeforeNewKeyBecomesDefault", "secsBeforeExistingKeysAreDeactivated"),
    "Ping": (),
}
NESTED: dict[str, tuple[str, ...]] = {
    "deviceRegistration": ("signedDeviceChallenge", "rememberDevice", "requestUrl", "requestMethod"),
    "deviceVerification": ("signedDeviceChallenge", "requestUrl", "requestMethod"),
    "filter": ("userId", "sessionTags"),
}
# Commands that change nothing (but audit rows) when they fail. A failed validation may
# legitimately end a session (reuse, UA change), so it is checked more loosely.
LOOSE_ON_FAILURE = frozenset({"ValidateSession", "ValidateAndRefreshSession"})


class Ref:
    """A value known only at run time (the live session's id or token)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


SESSION_ID, SESSION_TOKEN, OTHER_TOKEN = Ref("session_id"), Ref("session_token"), Ref("other_token")
PROOF = Ref("proof")  # a fresh device proof for IP, UA, GET APP_URL
REGISTRATION = {"signedDeviceChallenge": PROOF, "rememberDevice": True, "requestUrl": APP_URL, "requestMethod": "GET"}

# A request that succeeds, per command: examples start from it and break some fields, so
# the services' own checks (not only the wire's type checks) meet the nasty values.
VALID: dict[str, dict[str, Any]] = {
    "CreateSession": {
        "userId": OWNER,
        "tags": ["org:acme"],
        "userAgent": UA,
        "ipAddress": IP,
        "metadata": {"k": 1},
        "deviceRegistration": REGISTRATION,
    },
    "ValidateSession": {
        "sessionToken": SESSION_TOKEN,
        "userAgent": UA,
        "ipAddress": IP,
        "requiredTags": ["org:acme"],
        "ignoreDeviceForVerification": False,
    },
    "ValidateAndRefreshSession": {
        "sessionToken": SESSION_TOKEN,
        "userAgent": UA,
        "ipAddress": IP,
        "requiredTags": ["org:acme"],
        "ignoreDeviceForVerification": True,
    },
    "FetchAllSessionsForUser": {"userId": OWNER, "sessionTags": ["org:acme"]},
    "FetchAllSessions": {"userId": OWNER, "sessionTags": ["org:acme"], "page": 0},
    "FetchSessionById": {"sessionId": SESSION_ID},
    "UpdateSession": {
        "sessionId": SESSION_ID,
        "tagsToAdd": ["team:x"],
        "tagsToRemove": ["role:admin"],
        "patchMetadata": {"k2": [1, 2]},
    },
    "UpdateSessions": {
        "filter": {"userId": OWNER, "sessionTags": ["org:acme"]},
        "tagsToAdd": ["team:x"],
        "tagsToRemove": ["role:admin"],
        "newMetadata": {"k": "v2"},
    },
    "InvalidateSessionById": {"sessionId": SESSION_ID, "userId": OWNER},
    "InvalidateSessionByToken": {"sessionToken": SESSION_TOKEN},
    "InvalidateAllSessionsForUser": {"userId": OWNER, "sessionTags": ["org:acme"]},
    "InvalidateAllSessionsForUserExceptOne": {
        "userId": OWNER,
        "sessionTokenToKeep": SESSION_TOKEN,
        "sessionTags": ["org:acme"],
    },
    "CreateDeviceChallenge": {"userAgent": UA, "ipAddress": IP},
    "RegisterDevice": {**REGISTRATION, "sessionToken": SESSION_TOKEN, "ipAddress": IP, "userAgent": UA},
    "CreateStatelessToken": {
        "userId": OWNER,
        "sessionId": SESSION_ID,
        "customClaims": {"role": "x"},
        "issuer": "https://issuer.example",
        "audience": "api",
        "lifetimeSecs": 300,
    },
    "GetJwks": {},
    "RotateStatelessTokenKey": {"secsBeforeNewKeyBecomesDefault": 0, "secsBeforeExistingKeysAreDeactivated": 3600},
    "Ping": {},
}

# --- the nasty pool --------------------------------------------------------------------

JSONISH = [
    "NaN",
    "Infinity",
    "-Infinity",
    "null",
    "true",
    "false",
    "{}",
    "[]",
    '{"a": 1}',
    "[1, 2]",
    "1e309",
    "0x10",
    "-0",
    "undefined",
    "None",
    "'",
    '"',
    "\\",
    "%s%n%x",
    "${jndi:ldap://x/a}",
    "<script>x</script>",
    "'; DROP TABLE byo_sessions_session; --",
    "../../etc/passwd",
]
BAD_IPS = [
    "999.1.1.1",
    "1.2.3",
    "1.2.3.4/24",
    "fe80::1%eth0",
    "::ffff:999.1.1.1",
    "2001:db8::g",
    "localhost",
    "0",
    "-1",
    "1.2.3.4\x00",
    "١٢٣.١.١.١",
    "1.2.3.4, 5.6.7.8",
    " 203.0.113.7 ",
    "::ffff:203.0.113.7",
    "::1",
    "x" * 101,
]
ODD_STRINGS = [
    "",
    " ",
    "\t\n",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\U0001f600" * 20,
    "é" * 300,
    "ﬀ",
    "\u202e" + "gnp.exe",
    "x" * 10_000,
    "é" * 70_000,
    "byo_s_" + "A" * 43,
    "byo_s_" + "é" * 43,
    "ses_" + "A" * 22,
    "ses_" + "A" * 300,
    "a.b.c",
    "GET, POST",
    "https://app.example/api/me#x",
]
GOOD_TAGS = ["org:acme", "role:admin", "team:x", "org:other", "idp:urn:acme", "t:" + "a" * 128]
BAD_TAGS = [
    "org:" + "a" * 200,
    "a" * 40 + ":x",
    "Org:acme",
    "org:",
    ":acme",
    "org acme",
    "org:a\x00",
    "org:\ud800",
    "org",
    "",
    "org:a b",
    "org:é",
    "org:acme\n",
]
NUMBERS = [
    0,
    -1,
    1,
    2**31,
    2**63,
    -(2**63) - 1,
    10**30,
    10**300,
    0.5,
    -0.0,
    1e308,
    3600,
    10**6,
    315_360_001,
    float("nan"),
    float("inf"),
    float("-inf"),
]  # sent as bare NaN/Infinity, which json.loads takes

texts = st.one_of(st.text(max_size=40), st.sampled_from(JSONISH + BAD_IPS + ODD_STRINGS))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.sampled_from(NUMBERS), st.floats(), texts)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3), max_leaves=8
)
tag_lists = st.one_of(
    st.lists(st.sampled_from(GOOD_TAGS + BAD_TAGS), max_size=4),
    st.integers(30, 40).map(lambda n: [f"n:{i}" for i in range(n)]),  # around MAX_TAGS (32)
    st.lists(texts, max_size=3),
    st.lists(scalars, min_size=1, max_size=3),  # wrong-type entries
    st.sampled_from(GOOD_TAGS + BAD_TAGS),  # a single tag instead of a list
)
plausible = st.sampled_from(
    [
        SESSION_ID,
        SESSION_TOKEN,
        OTHER_TOKEN,
        PROOF,
        OWNER,
        "someone-else",
        IP,
        "2001:db8::1",
        UA,
        APP_URL,
        "GET",
        "post",
    ]
)
# What each known field gets, beyond the generic pool: values of the right JSON type.
KINDS: dict[str, Any] = {
    **dict.fromkeys(
        [
            "userId",
            "userAgent",
            "ipAddress",
            "sessionToken",
            "sessionId",
            "signedDeviceChallenge",
            "requestUrl",
            "requestMethod",
            "issuer",
            "audience",
            "sessionTokenToKeep",
        ],
        st.one_of(plausible, texts),
    ),
    **dict.fromkeys(["tags", "requiredTags", "sessionTags", "tagsToAdd", "tagsToRemove"], tag_lists),
    **dict.fromkeys(
        ["metadata", "newMetadata", "patchMetadata", "customClaims"],
        st.one_of(
            st.dictionaries(texts, json_values, max_size=4),
            json_values,
            st.sampled_from(
                [{"iss": "x"}, {"sub": "y"}, {"big": "x" * 20_000}, {"n": float("nan")}, {"": None}, {"\x00": "\x00"}]
            ),
        ),
    ),
    **dict.fromkeys(["rememberDevice", "ignoreDeviceForVerification"], st.one_of(st.booleans(), scalars)),
    **dict.fromkeys(
        [
            "page",
            "notBeforeUnixtime",
            "lifetimeSecs",
            "secsBeforeNewKeyBecomesDefault",
            "secsBeforeExistingKeysAreDeactivated",
        ],
        st.one_of(st.integers(), st.sampled_from(NUMBERS)),
    ),
}
anything = st.one_of(scalars, json_values, tag_lists, plausible)


@st.composite
def field_value(draw: Any, name: str) -> Any:
    if name in NESTED and draw(st.booleans()):
        return draw(data_objects(NESTED[name], {}))
    return draw(st.one_of(KINDS[name], anything) if name in KINDS else anything)


@st.composite
def data_objects(draw: Any, names: tuple[str, ...], valid: dict[str, Any]) -> dict[str, Any]:
    """From the valid request, each known field kept, dropped or replaced (at least one
    changes), then unknown extras; or every field drawn at random."""
    data = dict(valid)
    if not data or draw(st.integers(0, 3)) == 0:
        data = {}
        for name in names:
            if draw(st.booleans()):
                data[name] = draw(field_value(name))
    elif names:
        for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)):
            if draw(st.integers(0, 4)) == 0:
                data.pop(name, None)
            else:
                data[name] = draw(field_value(name))
    extras = draw(st.dictionaries(texts, anything, max_size=2))
    return {**extras, **data}


# --- helpers ---------------------------------------------------------------------------


def resolve(value: Any, refs: dict[str, str]) -> Any:
    if isinstance(value, Ref):
        return refs[value.name]
    if isinstance(value, list):
        return [resolve(v, refs) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, refs) for k, v in value.items()}
    return value


def no_constants(name: str) -> Any:
    raise AssertionError(f"the answer holds a bare {name}, which is not JSON")


def send(payload: bytes | str, *, content_type: str = "application/json", method: str = "post") -> tuple[int, Any]:
    """POST raw bytes; the answer must be strict JSON, not cached, never a 500."""
    client = Client(raise_request_exception=False)
    response = getattr(client, method)(
        URL, payload, content_type=content_type, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert response.status_code != 500, response.content[:500]
    assert response["Content-Type"] == "application/json", response.content[:500]
    assert response["Cache-Control"] == "no-store"
    return response.status_code, json.loads(response.content, parse_constant=no_constants)


def check_error_shape(status: int, body: Any, command: str | None) -> None:
    """The protocol's ``{"type", "details"}`` (+ our ``cause``), a type of the command's union."""
    assert isinstance(body, dict) and {"type", "details"} <= set(body) <= {"type", "details", "cause"}, body
    assert isinstance(body["type"], str)
    if body["type"] == "UnexpectedError":
        assert isinstance(body["details"], str) and body["details"]
    if "cause" in body:
        assert body["cause"]["type"] in set(ErrorType) and isinstance(body["cause"]["details"], dict)
    if command in UNIONS:
        assert body["type"] in union_types(UNIONS[command]), (command, body)
        if status != 501:
            result = call(command, body)  # the real client: a ValueError here is a broken answer
            assert is_err(result) and result.error.type == body["type"]


def snapshot() -> dict[str, list[dict[str, Any]]]:
    return {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (Session, SessionTag, Device, UsedProof, RetiredToken, SigningKey)
    }


def assert_tag_rows_match() -> None:
    """SessionTag rows (what filters use) always mirror Session.tags."""
    rows: dict[str, set[str]] = {}
    for session_id, tag in SessionTag.objects.values_list("session_id", "tag"):
        rows.setdefault(session_id, set()).add(tag)
    for session_id, tags in Session.objects.values_list("id", "tags"):
        assert rows.get(session_id, set()) == set(tags), session_id


@pytest.fixture
def world(settings: Any, clock: Any) -> dict[str, str]:
    """Two live sessions of OWNER, a signing key, and "org" tags create-only."""
    configure(settings, CREATE_ONLY_TAG_TYPES=["org"])
    policies.forget_cached()
    first = svc.create(
        external_user_id=OWNER, tags=["org:acme", "role:admin"], metadata={"k": "v"}, ip_address=IP, user_agent=UA
    )
    other = svc.create(external_user_id=OWNER, tags=["org:acme"], ip_address=IP, user_agent=UA)
    assert isinstance(first, Ok) and isinstance(other, Ok)
    signing_keys.signing_key()  # made once, outside the per-example savepoints (RSA generation is slow)
    challenge = devices.create_challenge(ip_address=IP, user_agent=UA)
    assert isinstance(challenge, Ok)
    # Single use, but every example's savepoint is rolled back, so it stays fresh.
    proof = TestDevice().proof("GET", APP_URL, challenge.data.device_challenge, iat=int(clock.now().timestamp()))
    return {
        "session_id": first.data.session_id,
        "session_token": first.data.session_token,
        "other_token": other.data.session_token,
        "proof": proof,
    }


def run_example(command: str, payload: str) -> tuple[int, Any]:
    with transaction.atomic():
        before = snapshot()
        status, body = send(payload)
        assert status in DOCUMENTED, (status, body)
        if status == 200:
            assert isinstance(body, dict)
        else:
            check_error_shape(status, body, command if command in COMMANDS else None)
        after = snapshot()
        assert_tag_rows_match()
        if status != 200:
            if command in LOOSE_ON_FAILURE:
                assert len(after["Session"]) == len(before["Session"])
                assert {k: after[k] for k in ("SessionTag", "Device", "SigningKey")} == {
                    k: before[k] for k in ("SessionTag", "Device", "SigningKey")
                }
            else:
                assert after == before, f"{command} failed ({status} {body}) but wrote to the database"
        if command == "CreateSession" and status == 200:
            assert len(after["Session"]) == len(before["Session"]) + 1
        transaction.set_rollback(True)
    signing_keys.forget_cached()
    policies.forget_cached()
    return status, body


# --- the property test -----------------------------------------------------------------


def test_fields_cover_every_command():
    assert set(FIELDS) == set(VALID) == set(COMMANDS)
    assert all(set(VALID[name]) <= set(FIELDS[name]) for name in COMMANDS)
    assert set(KINDS) | set(NESTED) >= {field for names in [*FIELDS.values(), *NESTED.values()] for field in names}


def test_the_examples_start_from_requests_that_succeed(world):
    for command in sorted(COMMANDS):
        status, body = run_example(command, json.dumps({"command": command, "data": resolve(VALID[command], world)}))
        assert status == 200, (command, body)


@pytest.mark.parametrize("command", sorted(COMMANDS))
@given(draw=st.data())
@hsettings(
    max_examples=35,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_any_data_gets_a_typed_answer_and_no_half_write(world, command, draw):
    data = resolve(draw.draw(data_objects(FIELDS[command], VALID[command]), label="data"), world)
    run_example(command, json.dumps({"command": command, "data": data}))


# --- bodies that are not a run-command object ------------------------------------------


@given(
    body=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        json_values.filter(lambda v: not isinstance(v, dict)).map(json.dumps),  # JSON, not an object
        st.dictionaries(st.sampled_from(["command", "data", "Command", ""]), json_values, max_size=3).map(json.dumps),
        st.builds(
            lambda command, data: json.dumps({"command": command, "data": data}),  # data a list/str/number
            st.sampled_from(sorted(COMMANDS)),
            st.one_of(st.lists(scalars, max_size=3), st.text(max_size=10), st.integers(), st.floats(), st.booleans()),
        ),
    )
)
@hsettings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_body_gets_a_typed_answer(world, body):
    status, answer = run_example("", body)
    assert status in (200, 400, 413, 501), answer


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "application/xml",
        "application/json; charset=latin-1",
        "",
    ],
)
def test_content_type_is_not_what_decides(content_type):
    status, body = send(json.dumps({"command": "Ping"}), content_type=content_type)
    assert status == 200 and "timestamp" in body
    status, body = send("command=Ping&data=1", content_type=content_type)
    assert status == 400 and body["details"].startswith("InvalidRequest: ")


def test_a_form_post_is_a_typed_400():
    response = Client().post(URL, {"command": "Ping"}, headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 400 and response.json()["type"] == "UnexpectedError"


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "options"])
def test_other_methods_are_a_typed_405(method):
    client = Client()
    response = getattr(client, method)(URL, headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 405 and response.json()["type"] == "UnexpectedError"


@pytest.mark.parametrize("data", [[], "x", 7, 1.5, True, [{"userId": OWNER}]])
def test_data_that_is_not_an_object_is_a_typed_400(data):
    for command in sorted(COMMANDS):
        status, body = send(json.dumps({"command": command, "data": data}))
        assert (status, body["details"]) == (400, "InvalidRequest: data must be a JSON object."), command


# --- regressions -----------------------------------------------------------------------


def nested(depth: int, inner: str = "") -> str:
    return "[" * depth + inner + "]" * depth


def with_metadata(value: str) -> str:
    """A CreateSession body whose metadata holds ``value`` (raw JSON) under "a"."""
    return '{"command": "CreateSession", "data": {"userId": "u", "metadata": {"a": ' + value + "}}}"


TOO_DEEP = (
    400,
    {
        "type": "UnexpectedError",
        "details": f"InvalidRequest: the body nests arrays/objects deeper than {MAX_DEPTH} levels.",
    },
)


@pytest.mark.parametrize(
    "payload",
    [
        nested(10_000),  # json.loads raised RecursionError: a Django 500 page
        '{"command": "Ping", "data": ' + nested(10_000) + "}",
        with_metadata(nested(10_000)),
        '{"command": "Ping", "data": ' + '{"a": ' * 10_000 + "1" + "}" * 10_000 + "}",
    ],
)
def test_ten_thousand_levels_are_a_typed_400(payload):
    assert send(payload) == TOO_DEEP


def test_metadata_deeper_than_sqlite_json_is_a_typed_400_not_a_503():
    # 2,000 levels parse, but SQLite's JSON CHECK refused the row: DatabaseError, a 503
    # that told the caller to retry. Now refused before any service runs.
    assert send(with_metadata(nested(2_000))) == TOO_DEEP
    assert not Session.objects.exists() and not SessionTag.objects.exists()


def test_deep_body_with_a_lone_surrogate_is_a_typed_400():
    # views._lone_surrogate recurses: at 3,000 levels (json.loads copes) it raised
    # RecursionError outside the view's try, a Django 500 page. It sees at most MAX_DEPTH now.
    assert send(with_metadata(nested(3_000, '"\\ud800"'))) == TOO_DEEP


def ping_with(value: str) -> str:
    """A Ping body carrying ``value`` (raw JSON) in an extra field, which Ping ignores."""
    return '{"command": "Ping", "data": {"x": ' + value + "}}"


def test_depth_limit_boundary():
    # body (1) > data (2) > lists: 98 lists reach MAX_DEPTH exactly.
    assert send(ping_with(nested(MAX_DEPTH - 2)))[0] == 200
    assert send(ping_with(nested(MAX_DEPTH - 1))) == TOO_DEEP
    # Metadata has its own, lower limit (the service's MAX_METADATA_DEPTH): a typed 400 too.
    assert send(with_metadata(nested(MAX_METADATA_DEPTH - 1)))[0] == 200  # {"a": ...} is one level
    status, body = send(with_metadata(nested(MAX_METADATA_DEPTH)))
    assert status == 400 and "InvalidMetadata" in json.dumps(body)
    assert Session.objects.count() == 1
    assert send(json.dumps({"command": "Ping", "data": {"many": [[1]] * 5000}}))[0] == 200  # wide is fine


@pytest.mark.parametrize(
    "command, data",
    [
        ("CreateSession", {"userId": "\ud800"}),
        ("FetchSessionById", {"sessionId": "x\udfff"}),
        ("UpdateSessions", {"filter": {"userId": "\ud83d"}}),
        ("CreateStatelessToken", {"userId": "u", "sessionId": "\ud800"}),
    ],
)
def test_lone_surrogates_are_a_typed_400(command, data):
    # They reached sqlite3, which cannot encode them: UnicodeEncodeError, a 500.
    status, body = send(json.dumps({"command": command, "data": data}))
    assert status == 400 and body["details"].startswith("InvalidRequest: ")
    assert not Session.objects.exists()
