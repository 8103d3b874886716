"""The published Node client (``@propelauth/byo-node``) against a live server.

``node_client_check.mjs`` runs a whole scenario through the real client in a ``node``
subprocess and prints what each call returned; this test judges those observations and
looks at the database behind them. ``scripts/node_client.sh`` installs the pinned client
into ``.node-client/``: without node or the client the test skips, unless CI=true.

The Node client does no parsing of its own (``ok`` is ``response.ok``, the JSON is passed
through): unlike the Python client it never raises on an unknown error type, so what is
checked here is the exact JSON a Node app receives, against the client's ``index.d.ts``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from byo_sessions.core.tokens import hash_token
from byo_sessions.models import Device, Session, SigningKey
from byo_sessions.services import sessions as svc_sessions
from tests.node_packages import ROOT, installed_npm_package
from tests.server.conftest import IP, KEY, OTHER_KEY, UA, configure

pytestmark = [pytest.mark.urls("tests.server.urls")]

NODE_CLIENT_VERSION = "1.0.4"  # keep in step with scripts/node_client.sh
CLIENT_DIR = ROOT / ".node-client"
SCRIPT = Path(__file__).with_name("node_client_check.mjs")
USER = "node-user-1"  # the scenario's user ids
DEVICE_USER = "node-device-user"
DAY = 24 * 3600


@pytest.fixture
def node_client() -> Path:
    return installed_npm_package("@propelauth/byo-node", NODE_CLIENT_VERSION, CLIENT_DIR, "node_client.sh")


def run_node(server_url: str, client_dir: Path, **extra: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "BYO_SERVER_URL": server_url,
        "BYO_INTEGRATION_KEY": KEY,
        "BYO_OTHER_KEY": OTHER_KEY,
        "BYO_NODE_CLIENT_DIR": str(client_dir),
        "BYO_IP": IP,
        "BYO_UA": UA,
        **extra,
    }
    done = subprocess.run(["node", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"node exited {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    return json.loads(done.stdout)


class Steps:
    """The observations, with the step's JSON in every failure message."""

    def __init__(self, seen: dict[str, Any]) -> None:
        self.steps = seen["steps"]

    def ok(self, name: str) -> Any:
        step = self.steps.get(name)
        assert step is not None and step.get("ok") is True, f"{name}: {step}"
        return step["data"]

    def err(self, name: str, wire_type: str) -> Any:
        step = self.steps.get(name)
        assert step is not None and step.get("ok") is False, f"{name}: {step}"
        assert step["error"]["type"] == wire_type, f"{name}: {step}"
        return step["error"]


@pytest.mark.node
@pytest.mark.django_db(transaction=True)
def test_node_client_scenario(node_client, server_url, clock, settings):
    configure(settings, CREATE_ONLY_TAG_TYPES=["org"], ROTATION_INTERVAL_SECS=60, ROTATION_GRACE_SECS=30)
    aged = svc_sessions.create(external_user_id="node-aged", ip_address=IP, user_agent=UA).data
    clock.advance(61)  # its rotation is due: the client's validateAndRefresh must rotate it
    now = int(clock.now().timestamp())
    seen = run_node(server_url, node_client, BYO_NOW=str(now), BYO_AGED_TOKEN=aged.session_token)
    s = Steps(seen)
    assert seen["clientVersion"] == NODE_CLIENT_VERSION
    assert not [name for name, step in s.steps.items() if "threw" in step], "a client call threw"

    # --- ping and integration keys (passed through as sent: no union check in this client)
    assert s.ok("ping") == s.ok("pingLast") == {"timestamp": now}
    assert s.ok("pingTrailingSlashUrl") == {"timestamp": now}
    assert s.err("pingWrongKey", "IntegrationKeyNotFound")
    assert s.err("validateWrongKey", "IntegrationKeyNotFound")
    assert s.err("pingEmptyKey", "NoIntegrationKeyFoundInHeader")

    # --- create / validate / refresh
    created = s.ok("create")
    sid, token = created["sessionId"], created["sessionToken"]
    assert sid.startswith("ses_") and token.startswith("byo_s_")
    assert created["expiresAt"] == now + 14 * DAY and "newDeviceDetected" not in created
    valid = s.ok("validate")
    assert valid == {
        "sessionId": sid,
        "userId": USER,
        "createdAt": now,
        "expiresAt": now + 7 * DAY,
        "hasDeviceRegistered": False,
        "tags": ["org:acme", "team:blue"],
        "metadata": {"role": "admin", "n": 1},
    }
    assert s.ok("validateRequiredTags") == valid
    assert s.err("validateMissingTag", "InvalidSessionToken")["details"].startswith("MissingRequiredTags")
    assert s.ok("validateAndRefreshNotDue") == valid  # no newSessionToken: rotation is not due
    assert s.err("validateUnknownToken", "InvalidSessionToken")["details"].startswith(
        "InvalidSessionToken (unknown_token)"
    )
    assert s.err("validateNoToken", "InvalidSessionToken")["details"].startswith(
        "InvalidSessionToken (malformed_token)"
    )

    # --- rotation of a token that is due, and the grace window
    rotated = s.ok("refreshAged")
    new_token = rotated["newSessionToken"]
    assert new_token.startswith("byo_s_") and new_token != aged.session_token
    assert rotated["sessionId"] == aged.session_id and rotated["userId"] == "node-aged"
    assert s.ok("refreshAgedAgain")["newSessionToken"] == new_token  # same successor within the grace
    assert "newSessionToken" not in s.ok("validateRotated")
    row = Session.objects.get(pk=aged.session_id)
    assert (row.generation, row.token_hash, row.previous_token_hash) == (
        1,
        hash_token(new_token),
        hash_token(aged.session_token),
    )

    # --- non-ASCII strings round-trip; a lone surrogate (a JS string cut mid-pair) is a 400
    unicode = s.ok("createUnicode")
    assert s.ok("validateUnicode")["userId"] == "nöde-üser-😀"
    assert s.ok("validateUnicode")["metadata"] == {"name": "Zoë 🚀 «quoted»", "nested": {"list": [1, 2.5, None, True]}}
    assert Session.objects.get(pk=unicode["sessionId"]).external_user_id == "nöde-üser-😀"
    for name, where in [
        ("createLoneSurrogateMetadata", "data.metadata.name"),
        ("createLoneSurrogateUser", "data.userId"),
        ("validateLoneSurrogateUserAgent", "data.userAgent"),
        ("updateLoneSurrogateTag", "data.tagsToAdd[0]"),
    ]:
        assert s.err(name, "UnexpectedError")["details"] == (
            f"InvalidRequest: {where} is not valid Unicode (it holds a lone UTF-16 surrogate)."
        )

    # --- fetch
    second, third = s.ok("createSecond"), s.ok("createThird")
    listed = s.ok("fetchAllForUser")["sessions"]
    assert {i["sessionId"] for i in listed} == {sid, second["sessionId"], third["sessionId"]}
    assert {i["sessionId"] for i in s.ok("fetchAllForUserTagged")["sessions"]} == {sid, third["sessionId"]}
    page = s.ok("fetchAll")
    assert (page["page"], page["pageSize"], page["totalCount"], page["hasMoreResults"]) == (0, 100, 3, False)
    info = s.ok("fetchById")
    assert {
        k: info[k]
        for k in ("sessionId", "createdAt", "expiresAt", "lastActivityAt", "ipAddress", "sessionTags", "metadata")
    } == {
        "sessionId": sid,
        "createdAt": now,
        "expiresAt": now + 7 * DAY,
        "lastActivityAt": now,
        "ipAddress": IP,
        "sessionTags": ["org:acme", "team:blue"],
        "metadata": {"role": "admin", "n": 1},
    }
    assert info["device"] == {
        "displayName": "Chrome 131 on Linux",
        "deviceType": "Desktop",
        "browser": "Chrome",
        "browserVersion": "131.0.0",
        "os": "Linux",
    }
    assert s.err("fetchByIdMissing", "SessionNotFound")

    # --- update: tags and metadata, then the errors of its union
    assert s.ok("update") == {}
    updated = s.ok("fetchByIdAfterUpdate")
    assert updated["sessionTags"] == ["org:acme", "team:blue", "role:admin"]
    assert updated["metadata"] == {"role": "admin", "n": 1, "plan": "pro"}
    locked = s.err("updateCreateOnlyTag", "CannotModifyOnCreateOnlyTags")
    assert locked["details"]["tag_names"] == ["org:acme"]  # the member index.d.ts names
    assert s.err("updateBadTag", "InvalidTagFormat")["details"] == {"InvalidTagFormat": "Not A Tag"}
    assert s.err("updateConflictingMetadata", "ConflictingMetadataOptions")
    assert s.err("updateMissing", "SessionNotFound")
    assert s.err("createBadTag", "TagParseError")["details"] == {"InvalidTagFormat": "Not A Tag"}
    assert s.err("createBadIp", "IpAddressError")["details"].startswith("InvalidIpAddress")
    assert s.ok("updateMany") == {"updatedCount": 2}
    assert s.err("updateManyCreateOnly", "CannotModifyOnCreateOnlyTags")["details"]["tag_names"] == ["org:other"]

    # --- invalidation: the client's view, then the rows
    assert s.ok("invalidateByToken") == {} and s.ok("invalidateByTokenUnknown") == {}
    for name in ("validateAfterInvalidate", "refreshAfterInvalidate"):
        assert s.err(name, "InvalidSessionToken")["details"].startswith("SessionInvalidated (logout)")
    assert s.err("invalidateByIdOtherUser", "SessionNotFound") and s.err("invalidateByIdMissing", "SessionNotFound")
    assert s.ok("invalidateAllExceptOne") == {"sessionsInvalidated": 1}
    kept = s.ok("validateKept")
    assert kept["tags"] == ["org:acme", "team:blue", "role:admin", "tier:gold"]
    assert kept["metadata"] == {"role": "admin", "n": 1, "plan": "pro", "bulk": True}
    assert s.err("validateThirdAfterExceptOne", "InvalidSessionToken")["details"].startswith("SessionInvalidated")
    assert [i["sessionId"] for i in s.ok("fetchAllForUserAfter")["sessions"]] == [sid]
    rows = {row.pk: row for row in Session.objects.filter(external_user_id=USER)}
    assert set(rows) == {sid, second["sessionId"], third["sessionId"]}  # nothing else reached the database
    assert (rows[second["sessionId"]].end_reason, rows[second["sessionId"]].ended_by) == ("logout", "byo-server")
    assert rows[third["sessionId"]].ended_at is not None and rows[third["sessionId"]].end_reason == "user"
    assert rows[sid].ended_at is not None and rows[sid].end_reason == "api"  # the final invalidateById
    assert s.ok("invalidateById") == {}
    assert s.err("validateAfterInvalidateById", "InvalidSessionToken")["details"].startswith("SessionInvalidated (api)")

    # --- devices: a WebCrypto P-256 key signs the server's challenges
    challenge = s.ok("deviceChallenge")
    assert challenge["deviceChallenge"] and challenge["expiresAt"] == now + 300
    bound = s.ok("createWithDevice")
    assert bound["newDeviceDetected"] is True
    assert s.ok("validateWithDevice")["hasDeviceRegistered"] is True
    assert s.err("validateWithOtherDevice", "DeviceVerificationFailed")
    assert s.err("registerDeviceGarbage", "InvalidDeviceRegistration")
    assert s.ok("registerDevice") == {"newDeviceDetected": False}  # the same key, already this user's
    device = Device.objects.get(external_user_id=DEVICE_USER)
    assert Session.objects.get(pk=bound["sessionId"]).device_id == device.pk
    assert s.ok("invalidateAllForUser") == {"sessionsInvalidated": 2}
    assert not Session.objects.filter(external_user_id=DEVICE_USER, ended_at__isnull=True).exists()

    # --- stateless tokens: created, verified with the JWKS in Node, keys rotated
    made = s.ok("createStatelessToken")
    assert made["expiresAt"] == now + 120
    assert s.err("createStatelessTokenForeignSession", "TokenCreationFailed")["details"].startswith("SessionNotFound")
    assert "reserved_claims" in s.err("createStatelessTokenReservedClaim", "TokenCreationFailed")["details"]
    (jwk,) = s.ok("getJwks")["keys"]
    assert (jwk["kty"], jwk["use"], jwk["alg"], jwk["e"]) == ("RSA", "sig", "RS256", "AQAB")
    verified = seen["verifyStatelessToken"]
    assert verified["verified"] is True and verified["header"]["kid"] == jwk["kid"]
    assert {k: verified["claims"][k] for k in ("sub", "sid", "aud", "iss", "plan", "exp")} == {
        "sub": USER,
        "sid": sid,
        "aud": "api",
        "iss": "byo_sessions",
        "plan": "pro",
        "exp": now + 120,
    }
    rotation = s.ok("rotateKey")
    assert (rotation["newKeyBecomesDefaultAt"], rotation["existingKeysExpireAt"]) == (now + 600, now + 4200)
    after = [k["kid"] for k in s.ok("getJwksAfterRotate")["keys"]]
    assert after == [rotation["newKeyId"], jwk["kid"]]
    assert seen["verifyAfterRotate"]["verified"] is True  # the old key still verifies its tokens
    assert SigningKey.objects.filter(kid=rotation["newKeyId"]).exists()
    assert "deactivation_too_early" in s.err("rotateKeyInvalid", "InvalidParameters")["details"]

    # --- a protocol command byo-sessions does not offer
    assert "CommandNotAvailable" in s.err("notOfferedPasskeys", "UnexpectedError")["details"]


# --- the fix the Node client led to: lone surrogates are a typed 400, not a 500/503 -------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data, where",
    [
        ({"userId": "u-\ud83d"}, "data.userId"),
        ({"userId": "u1", "userAgent": "UA \udc00"}, "data.userAgent"),
        ({"userId": "u1", "metadata": {"a": [1, {"b": "x\ud800"}]}}, "data.metadata.a[1].b"),
        ({"userId": "u1", "metadata": {"k\udfff": 1}}, "a member name in data.metadata"),
        ({"userId": "u1", "tags": ["x:\ud83d"]}, "data.tags[0]"),
    ],
)
def test_lone_surrogates_are_refused_as_invalid_requests(post, data, where):
    status, body = post({"command": "CreateSession", "data": data})  # json.dumps escapes them as \udXXX
    assert (status, body["type"]) == (400, "UnexpectedError")
    assert body["details"] == f"InvalidRequest: {where} is not valid Unicode (it holds a lone UTF-16 surrogate)."
    assert not Session.objects.exists()


@pytest.mark.django_db
def test_raw_surrogate_bytes_and_valid_pairs(post):
    raw = b'{"command": "CreateSession", "data": {"userId": "u-\xed\xa0\xbd"}}'  # CESU-style, not UTF-8
    status, body = post(raw, raw=True)
    assert status == 400 and "data.userId is not valid Unicode" in body["details"]
    # A valid pair (what JSON.stringify sends for an emoji it escapes) and a literal
    # backslash followed by "ud83d" are ordinary text.
    status, body = post({"command": "CreateSession", "data": {"userId": "u-\U0001f600", "metadata": {"p": "\\ud83d"}}})
    assert status == 200, body
    escaped = '{"command": "CreateSession", "data": {"userId": "u-\\ud83d\\ude00"}}'
    status, body = post(escaped, raw=True)
    assert status == 200, body
    assert sorted(Session.objects.values_list("external_user_id", flat=True)) == ["u-\U0001f600"] * 2
    row = Session.objects.get(pk=body["sessionId"])
    assert row.metadata == {}
