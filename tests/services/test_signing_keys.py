"""Signing keys of stateless tokens (services/signing_keys.py): the lazy first key,
encryption at rest under SECRET_KEY (and its fallbacks), re-encryption, rotation,
expiry and pruning."""

from __future__ import annotations

import json
from io import StringIO

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, OperationalError

from byo_sessions import is_ok, sessions
from byo_sessions.models import AuditEvent, SigningKey
from byo_sessions.services import signing_keys
from byo_sessions.values import ErrorType
from tests.concurrency import run_in_parallel
from tests.services.test_stateless import b64, claims_for, reason

pytestmark = pytest.mark.django_db


def test_first_key_is_created_once_and_audited():
    sessions.create_stateless_token(external_user_id="u")
    sessions.create_stateless_token(external_user_id="v")
    signing_keys.forget_cached()
    sessions.create_stateless_token(external_user_id="w")
    assert SigningKey.objects.count() == 1
    event = AuditEvent.objects.get(event_type=AuditEvent.Type.SIGNING_KEY_CREATED)
    assert event.details["kid"] == SigningKey.objects.get().kid


def test_private_key_is_encrypted_at_rest_and_follows_secret_key_fallbacks(settings):
    key = signing_keys.signing_key()
    row = SigningKey.objects.get()
    assert row.private_key_encrypted.startswith("v1:")
    pem = key.private_key().private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert b64(pem)[:40] not in row.private_key_encrypted and "BEGIN" not in row.private_key_encrypted
    assert set(row.public_jwk) == {"kty", "kid", "use", "alg", "n", "e"}
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
    settings.SECRET_KEY_FALLBACKS = [old]
    assert (
        signing_keys.decrypt_private_key(row.private_key_encrypted, row.kid).private_numbers()
        == key.private_key().private_numbers()
    )
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(signing_keys.KeyDecryptionError) as raised:
        signing_keys.decrypt_private_key(row.private_key_encrypted, row.kid)
    assert row.kid in str(raised.value)
    settings.SECRET_KEY = old
    with pytest.raises(signing_keys.KeyDecryptionError):  # the kid is the associated data: rows cannot swap
        signing_keys.decrypt_private_key(row.private_key_encrypted, "key_other")


def test_reencrypt_moves_keys_to_the_new_secret_key_so_the_fallback_can_go(settings):
    token = sessions.create_stateless_token(external_user_id="u").data.stateless_token
    row = SigningKey.objects.get()
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
    settings.SECRET_KEY_FALLBACKS = [old]
    out = StringIO()
    call_command("byo_rotate_keys", "--reencrypt", stdout=out)
    assert f"Re-encrypted 1 key(s) under the current SECRET_KEY: {row.kid}." in out.getvalue()
    assert SigningKey.objects.get().private_key_encrypted != row.private_key_encrypted
    event = AuditEvent.objects.get(event_type=AuditEvent.Type.SIGNING_KEY_REENCRYPTED)
    assert event.details == {"kids": [row.kid]} and event.actor == "manage.py byo_rotate_keys"
    settings.SECRET_KEY_FALLBACKS = []
    assert is_ok(sessions.verify_stateless_token(token))
    assert is_ok(sessions.create_stateless_token(external_user_id="u"))  # signs with the re-encrypted key
    assert sessions.reencrypt_signing_keys().data == []  # already under the current key: nothing to do, no event
    assert AuditEvent.objects.filter(event_type=AuditEvent.Type.SIGNING_KEY_REENCRYPTED).count() == 1


def test_reencrypt_is_all_or_nothing_when_a_key_cannot_be_decrypted(settings):
    signing_keys.signing_key()
    first = SigningKey.objects.get()
    sessions.rotate_stateless_token_key(
        secs_before_new_key_becomes_default=0, secs_before_existing_keys_are_deactivated=100000
    )
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
    settings.SECRET_KEY_FALLBACKS = [old]
    SigningKey.objects.exclude(kid=first.kid).update(
        private_key_encrypted=first.private_key_encrypted
    )  # sealed for another kid: decrypts with nothing
    before = dict(SigningKey.objects.values_list("kid", "private_key_encrypted"))
    with pytest.raises(CommandError, match="Nothing was re-encrypted"):
        call_command("byo_rotate_keys", "--reencrypt", stdout=StringIO())
    assert dict(SigningKey.objects.values_list("kid", "private_key_encrypted")) == before
    assert not AuditEvent.objects.filter(event_type=AuditEvent.Type.SIGNING_KEY_REENCRYPTED).exists()


def test_rotation_publishes_next_key_then_switches_then_expires_old(clock):
    first = sessions.create_stateless_token(external_user_id="u").data
    rotation = sessions.rotate_stateless_token_key(
        secs_before_new_key_becomes_default=600, secs_before_existing_keys_are_deactivated=600 + 3600
    ).data
    now = clock.now()
    assert int(rotation.new_key_becomes_default_at.timestamp()) == int(now.timestamp()) + 600
    kids = [k["kid"] for k in sessions.get_jwks().data["keys"]]
    assert kids == [rotation.new_key_id, first.key_id]  # next key published at once
    assert sessions.create_stateless_token(external_user_id="u").data.key_id == first.key_id
    clock.advance(600)
    second = sessions.create_stateless_token(external_user_id="u").data
    assert second.key_id == rotation.new_key_id
    assert sessions.verify_stateless_token(second.stateless_token).data
    states = {row.kid: signing_keys.key_state(row) for row in SigningKey.objects.all()}
    assert states == {first.key_id: "retired", rotation.new_key_id: "active"}
    clock.advance(3600)
    assert [k["kid"] for k in sessions.get_jwks().data["keys"]] == [rotation.new_key_id]
    signing_keys.forget_cached()
    assert reason(sessions.verify_stateless_token(first.stateless_token)) in ("unknown_kid", "expired")
    assert signing_keys.key_state(SigningKey.objects.get(kid=first.key_id)) == "expired"
    event = AuditEvent.objects.get(event_type=AuditEvent.Type.SIGNING_KEY_ROTATED)
    assert event.details["kid"] == rotation.new_key_id and event.details["existing_kids"] == [first.key_id]
    assert "private" not in json.dumps(event.details)


def test_a_token_signed_just_before_the_switch_verifies_until_its_expiry(clock):
    sessions.create_stateless_token(external_user_id="u")
    sessions.rotate_stateless_token_key(
        secs_before_new_key_becomes_default=60, secs_before_existing_keys_are_deactivated=60 + 3600
    )
    clock.advance(59)
    last = sessions.create_stateless_token(external_user_id="u", lifetime_secs=3600).data
    clock.advance(3599)
    assert sessions.verify_stateless_token(last.stateless_token).data  # old key still verifies
    clock.advance(1)
    signing_keys.forget_cached()
    assert reason(sessions.verify_stateless_token(last.stateless_token)) in ("expired", "unknown_kid")


@pytest.mark.parametrize(
    "becomes, deactivate, why",
    [
        (-1, 4000, "out_of_range"),
        (0, -5, "out_of_range"),
        ("60", 4000, "out_of_range"),
        (True, 4000, "out_of_range"),
        (600, 600 + 3599, "deactivation_too_early"),
        (0, 0, "deactivation_too_early"),
    ],
)
def test_rotation_parameters_are_validated(becomes, deactivate, why):
    error = sessions.rotate_stateless_token_key(
        secs_before_new_key_becomes_default=becomes, secs_before_existing_keys_are_deactivated=deactivate
    ).error
    assert error.type == ErrorType.INVALID_PARAMETERS and error.details["reason"] == why
    assert SigningKey.objects.count() == 0


def test_a_shorter_existing_end_is_kept(clock):
    sessions.rotate_stateless_token_key(
        secs_before_new_key_becomes_default=0, secs_before_existing_keys_are_deactivated=3600
    )
    sessions.rotate_stateless_token_key(
        secs_before_new_key_becomes_default=0, secs_before_existing_keys_are_deactivated=7200
    )
    ends = sorted((row.serial, row.expires_at) for row in SigningKey.objects.all())
    now = clock.now()
    assert [(e - now).total_seconds() if e else None for _, e in ends] == [3600, 7200, None]


def test_rotate_command(clock, capsys):
    call_command("byo_rotate_keys", "--secs-before-new-key-becomes-default", "60")
    out = capsys.readouterr().out
    new = SigningKey.objects.order_by("-serial").first()
    assert new.kid in out and "next" in out and "active" in out
    assert (new.becomes_default_at - clock.now()).total_seconds() == 60
    old = SigningKey.objects.order_by("serial").first()
    assert (old.expires_at - clock.now()).total_seconds() == 60 + 3600 + 300
    with pytest.raises(CommandError, match="InvalidParameters"):
        call_command(
            "byo_rotate_keys",
            "--secs-before-new-key-becomes-default",
            "60",
            "--secs-before-existing-keys-are-deactivated",
            "61",
        )


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.live_clock
def test_concurrent_first_use_creates_one_key():
    results = run_in_parallel(8, lambda: sessions.create_stateless_token(external_user_id="u"))
    assert all(is_ok(r) for r in results), results
    assert SigningKey.objects.count() == 1
    assert len({jwt.get_unverified_header(r.data.stateless_token)["kid"] for r in results}) == 1


def test_an_expired_key_stops_verifying_even_from_a_warm_cache(settings, clock):
    settings.BYO_SESSIONS = {
        "STATELESS_TOKEN_MAX_LIFETIME_SECS": 60,
        "STATELESS_TOKEN_LIFETIME_SECS": 60,
        "STATELESS_KEY_REFRESH_SECS": 300,
    }
    old = signing_keys.signing_key()
    sessions.rotate_stateless_token_key(
        secs_before_new_key_becomes_default=0, secs_before_existing_keys_are_deactivated=60
    )
    now = int(clock.now().timestamp())
    # A token we would never issue (exp past the key's end), signed by the old key.
    late = jwt.encode(
        claims_for(clock, exp=now + 600),
        old.private_key(),
        algorithm="RS256",
        headers={"typ": "at+jwt", "kid": old.kid},
    )
    assert sessions.verify_stateless_token(late).data  # warms the cache; the old key is retired, not expired
    clock.advance(60)
    assert reason(sessions.verify_stateless_token(late)) == "unknown_kid"
    assert old.kid not in [k["kid"] for k in sessions.get_jwks().data["keys"]]


# --- a database outage ----------------------------------------------------------------


class KeyStoreDown:
    """The database refuses the refresh's one read; ``calls`` counts the attempts."""

    def __init__(self, monkeypatch, error=OperationalError):
        self.calls = 0
        self.error = error
        monkeypatch.setattr(signing_keys, "_unexpired_rows", self)

    def __call__(self, now):
        self.calls += 1
        raise self.error("connection refused")


def unavailable(result):
    assert result.__class__.__name__ == "Err", result
    assert result.error.type == ErrorType.UNEXPECTED_ERROR
    return result.error.details["reason"]


def test_an_outage_keeps_the_last_good_key_set_within_the_staleness_bound(settings, clock, monkeypatch, caplog):
    settings.BYO_SESSIONS = {"STATELESS_KEY_REFRESH_SECS": 5, "STATELESS_KEY_MAX_STALENESS_SECS": 300}
    token = sessions.create_stateless_token(external_user_id="u", lifetime_secs=3600).data.stateless_token
    kid = SigningKey.objects.get().kid
    down = KeyStoreDown(monkeypatch)
    caplog.set_level("WARNING", logger="byo_sessions")
    clock.advance(6)  # the set is due for a refresh, which fails
    assert sessions.verify_stateless_token(token).data["sub"] == "u"
    assert sessions.verify_stateless_token(token).data["sub"] == "u"
    assert down.calls == 1  # no new attempt on every request: once per refresh interval
    assert [k["kid"] for k in sessions.get_jwks().data["keys"]] == [kid]
    minted = sessions.create_stateless_token(external_user_id="v")  # the cached active key signs on
    assert jwt.get_unverified_header(minted.data.stateless_token)["kid"] == kid
    clock.advance(290)  # 296 s after the last good read: still within the bound
    assert sessions.verify_stateless_token(token).data["sub"] == "u"
    assert down.calls == 2
    assert len([r for r in caplog.records if "cannot be read" in r.getMessage()]) == 1  # once per streak

    clock.advance(5)  # 301 s: too stale to trust
    assert unavailable(sessions.verify_stateless_token(token)) == "key_store_unavailable"
    assert unavailable(sessions.get_jwks()) == "key_store_unavailable"
    assert unavailable(sessions.create_stateless_token(external_user_id="v")) == "key_store_unavailable"
    assert (
        unavailable(
            sessions.rotate_stateless_token_key(
                secs_before_new_key_becomes_default=0, secs_before_existing_keys_are_deactivated=3600
            )
        )
        == "key_store_unavailable"
    )

    monkeypatch.undo()  # the database answers again
    clock.advance(5)
    assert sessions.verify_stateless_token(token).data["sub"] == "u"
    assert sessions.get_jwks().data["keys"][0]["kid"] == kid
    assert any("can be read again" in r.getMessage() for r in caplog.records)


def test_no_key_set_was_ever_loaded_then_the_database_comes_back(clock, monkeypatch):
    token = sessions.create_stateless_token(external_user_id="u").data.stateless_token
    signing_keys.forget_cached()  # a process that started during the outage
    down = KeyStoreDown(monkeypatch, error=DatabaseError)
    assert unavailable(sessions.verify_stateless_token(token)) == "key_store_unavailable"
    assert unavailable(sessions.get_jwks()) == "key_store_unavailable"
    assert unavailable(sessions.create_stateless_token(external_user_id="u")) == "key_store_unavailable"
    assert down.calls == 1
    monkeypatch.undo()
    clock.advance(5)
    assert sessions.verify_stateless_token(token).data["sub"] == "u"


def test_a_zero_staleness_bound_means_no_fallback(settings, clock, monkeypatch):
    settings.BYO_SESSIONS = {"STATELESS_KEY_MAX_STALENESS_SECS": 0}
    token = sessions.create_stateless_token(external_user_id="u").data.stateless_token
    KeyStoreDown(monkeypatch)
    clock.advance(5)
    assert unavailable(sessions.verify_stateless_token(token)) == "key_store_unavailable"
