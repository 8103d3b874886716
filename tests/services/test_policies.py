"""Tag policies in the database (services/policies.py): live effect, caching, IP and
User-Agent rules, JSON import/export (docs/policies.md). Session limits are in
test_limits.py, the policy admin in tests/admin/test_policies_admin.py."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from byo_sessions import ErrorType, is_err, is_ok, sessions
from byo_sessions.core.policy import PolicyValueError
from byo_sessions.models import AuditEvent, PolicySetting, PolicyVersion, Session, TagPolicy
from byo_sessions.services import policies
from tests.constants import CHROME_MAC, CHROME_MAC_UPDATED, CHROME_WINDOWS, OFFICE_IP


def create(user, tags=None, ip=OFFICE_IP, ua=CHROME_MAC):
    return sessions.create(user_id=user.pk, ip_address=ip, user_agent=ua, tags=tags)


def validate(token, ip=OFFICE_IP, ua=CHROME_MAC):
    return sessions.validate(session_token=token, ip_address=ip, user_agent=ua)


pytestmark = pytest.mark.django_db


def test_shorter_lifetime_applies_to_live_sessions(user, clock):
    token = create(user, ["org:acme"]).data.session_token
    clock.advance(7200)
    assert is_ok(validate(token))
    TagPolicy.objects.create(selector="org:acme", absolute_lifetime_secs=3600)
    result = validate(token)
    assert is_err(result) and result.error.type == ErrorType.SESSION_EXPIRED
    assert result.error.details["reason"] == "expired_absolute"


def test_inactivity_timeout_from_a_role_rule(user, clock):
    TagPolicy.objects.create(selector="role:root", inactivity_timeout_secs=900)
    root = create(user, ["role:root"]).data.session_token
    member = create(user, ["role:member"]).data.session_token
    clock.advance(901)
    assert validate(root).error.details["reason"] == "expired_inactivity"
    assert is_ok(validate(member))


def test_policy_cache_costs_no_query_per_request_and_follows_other_processes(
    user, clock, settings, django_assert_num_queries
):
    settings.BYO_SESSIONS = {"POLICY_REFRESH_SECS": 5}
    token = create(user, ["org:acme"]).data.session_token
    validate(token)
    with django_assert_num_queries(1):
        assert is_ok(validate(token))
    # Another process changes the policy: simulate with a raw write that bypasses our signals.
    TagPolicy.objects.bulk_create([TagPolicy(selector="org:acme", ip_allowlist=["192.0.2.0/24"])])
    PolicyVersion.objects.update_or_create(pk=1, defaults={"version": 999})
    with django_assert_num_queries(1):
        assert is_ok(validate(token))  # still the cached set, inside the refresh window
    clock.advance(5)
    result = validate(token)
    assert is_err(result) and result.error.type == ErrorType.IP_ADDRESS_NOT_ALLOWED


def test_ip_allowlist_and_blocklist(user):
    TagPolicy.objects.create(
        selector="org:acme", ip_allowlist=["10.0.0.0/8", "2001:db8::/32"], ip_blocklist=["10.66.0.0/16"]
    )
    token = create(user, ["org:acme"]).data.session_token
    assert is_ok(validate(token, ip="10.9.9.9"))
    assert is_ok(validate(token, ip="::ffff:10.9.9.9"))
    assert is_ok(validate(token, ip="2001:db8::1"))
    refused = validate(token, ip="192.0.2.1")
    assert refused.error.type == ErrorType.IP_ADDRESS_NOT_ALLOWED
    assert refused.error.details["ip_address"] == "192.0.2.1" and refused.error.details["policy"] == "org:acme"
    blocked = validate(token, ip="10.66.1.1")
    assert blocked.error.type == ErrorType.IP_ADDRESS_NOT_ALLOWED and blocked.error.details["network"] == "10.66.0.0/16"
    outside = create(user, ["org:acme"], ip="198.51.100.1")
    assert is_err(outside) and outside.error.type == ErrorType.IP_ADDRESS_NOT_ALLOWED
    assert AuditEvent.objects.filter(event_type="validation_failed", reason="ip_not_in_allowlist").exists()


def test_missing_ip_with_an_allowlist_is_refused(user):
    TagPolicy.objects.create(selector="org:acme", ip_allowlist=["10.0.0.0/8"])
    token = create(user, ["org:acme"]).data.session_token
    assert sessions.validate(session_token=token).error.type == ErrorType.IP_ADDRESS_NOT_ALLOWED


def test_disallow_ip_changes_refuses_without_ending(user):
    TagPolicy.objects.create(selector="org:*", disallow_ip_address_changes=True)
    token = create(user, ["org:acme"]).data.session_token
    assert validate(token, ip="10.1.2.4").error.type == ErrorType.IP_ADDRESS_CHANGED
    assert is_ok(validate(token))


def test_ip_change_invalidate(user):
    TagPolicy.objects.create(selector="org:acme", on_ip_address_change="invalidate")
    token = create(user, ["org:acme"]).data.session_token
    changed = validate(token, ip="10.1.2.4")
    assert changed.error.type == ErrorType.IP_ADDRESS_CHANGED
    assert changed.error.details["policy"] == "org:acme"  # the rule that chose "invalidate"
    assert validate(token).error.details["reason"] == "ip_changed"


def test_ip_change_error_names_the_rule_by_its_label(user):
    TagPolicy.objects.create(
        selector="org:*", description="Every org: end on IP change", on_ip_address_change="invalidate"
    )
    token = create(user, ["org:acme"]).data.session_token
    assert validate(token, ip="10.1.2.4").error.details["policy"] == "Every org: end on IP change"


def test_ip_change_allowed_is_recorded_once(user):
    token = create(user).data.session_token
    for _ in range(3):
        assert is_ok(validate(token, ip="10.1.2.4"))
    events = AuditEvent.objects.filter(event_type="ip_changed")
    assert events.count() == 1
    assert events.get().details == {"before": OFFICE_IP, "after": "10.1.2.4"}


@pytest.mark.parametrize(
    "new_ua,suspicious",
    [
        (CHROME_MAC_UPDATED, False),
        (CHROME_WINDOWS, True),
    ],
)
def test_user_agent_change_recorded_once_with_before_and_after(user, new_ua, suspicious):
    token = create(user).data.session_token
    for _ in range(2):
        assert is_ok(validate(token, ua=new_ua))
    events = AuditEvent.objects.filter(event_type="user_agent_changed")
    assert events.count() == (1 if suspicious else 0)
    if suspicious:
        event = events.get()
        assert event.details["before"] == CHROME_MAC and event.details["after"] == new_ua
        assert event.reason == "os_changed"
    assert Session.objects.get().last_user_agent == new_ua


def test_user_agent_change_invalidate(user):
    TagPolicy.objects.create(selector="role:root", on_user_agent_change="invalidate")
    token = create(user, ["role:root"]).data.session_token
    assert is_ok(validate(token, ua=CHROME_MAC_UPDATED))  # an update is normal
    result = validate(token, ua=CHROME_WINDOWS)
    assert result.error.type == ErrorType.USER_AGENT_CHANGED and result.error.details["reason"] == "os_changed"
    assert result.error.details["policy"] == "role:root"
    assert Session.objects.get().end_reason == "user_agent_changed"


def test_tag_priority_decides_between_types(user, clock):
    TagPolicy.objects.create(selector="org:acme", absolute_lifetime_secs=3600)
    TagPolicy.objects.create(selector="role:root", absolute_lifetime_secs=600)
    PolicySetting.objects.create(key="tag_priority", value=["org", "role"])
    token = create(user, ["org:acme", "role:root"]).data.session_token
    clock.advance(601)
    assert is_ok(validate(token))  # org wins: 1 h
    PolicySetting.objects.filter(key="tag_priority").update(value=["role", "org"])
    policies.bump_version()
    assert validate(token).error.type == ErrorType.SESSION_EXPIRED  # now role wins: 10 min


# --- import / export ---------------------------------------------------------------------------------------

DOC = {
    "defaults": {"absolute_lifetime_secs": 86400, "inactivity_timeout_secs": 3600},
    "tag_priority": ["org", "role"],
    "on_create_only_tags": ["org"],
    "tags": [
        {
            "tag": "org:acme",
            "priority": 0,
            "label": "Acme Corp (contract 7)",
            "absolute_lifetime_secs": 43200,
            "ip_allowlist": ["10.0.0.0/8"],
        },
        {"tag": "role:root", "priority": 0, "inactivity_timeout_secs": 900, "on_user_agent_change": "invalidate"},
    ],
}


def test_import_then_export_round_trips(tmp_path):
    path = tmp_path / "policies.json"
    path.write_text(json.dumps(DOC))
    out = io.StringIO()
    call_command("byo_policies", "import", str(path), stdout=out)
    assert "Imported: 2 tag rule(s)." in out.getvalue()
    acme = TagPolicy.objects.get(selector="org:acme")
    assert acme.ip_allowlist == ["10.0.0.0/8"] and acme.description == "Acme Corp (contract 7)"
    exported = io.StringIO()
    call_command("byo_policies", "export", stdout=exported)
    doc = json.loads(exported.getvalue())
    assert doc["tag_priority"] == ["org", "role"] and doc["on_create_only_tags"] == ["org"]
    assert doc["tags"] == DOC["tags"]  # labels included
    assert doc["defaults"]["absolute_lifetime_secs"] == 86400
    again = tmp_path / "again.json"
    again.write_text(json.dumps(doc))
    call_command("byo_policies", "import", str(again), stdout=io.StringIO())
    second = io.StringIO()
    call_command("byo_policies", "export", stdout=second)
    assert json.loads(second.getvalue()) == doc
    assert AuditEvent.objects.filter(event_type="policy_changed").count() == 2


def test_imported_policy_governs_sessions(tmp_path, user):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(DOC))
    call_command("byo_policies", "import", str(path), stdout=io.StringIO())
    assert create(user, ["org:acme"], ip="192.0.2.1").error.type == ErrorType.IP_ADDRESS_NOT_ALLOWED
    created = create(user, ["org:acme"]).data
    assert (
        sessions.update(session_id=created.session_id, tags_to_remove=["org:acme"]).error.type
        == ErrorType.CANNOT_MODIFY_CREATE_ONLY_TAGS
    )


def test_import_is_all_or_nothing_and_names_every_error(tmp_path):
    TagPolicy.objects.create(selector="org:old", absolute_lifetime_secs=60)
    bad = {
        **DOC,
        "tags": [
            {"tag": "org:acme", "ip_allowlist": ["10.0.0.1/24"]},
            {"tag": "role:root", "inactivity_timeout_secs": -5},
            {"tag": "Bad Tag"},
        ],
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    err = io.StringIO()
    with pytest.raises(CommandError, match="3 error"):
        call_command("byo_policies", "import", str(path), stdout=io.StringIO(), stderr=err)
    text = err.getvalue()
    assert "tags[0].ip_allowlist[0]" in text and "tags[1].inactivity_timeout_secs" in text and "tags[2].tag" in text
    assert list(TagPolicy.objects.values_list("selector", flat=True)) == ["org:old"]


def test_import_rejects_unreadable_json(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{not json")
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("byo_policies", "import", str(path))


def test_import_dry_run_changes_nothing(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(DOC))
    out = io.StringIO()
    call_command("byo_policies", "import", str(path), "--dry-run", stdout=out)
    assert "Valid: 2" in out.getvalue() and not TagPolicy.objects.exists()


# --- an inactivity timeout shorter than twice the touch interval (issue 11, item 5) -----------


@pytest.mark.parametrize("where", ["settings", "rule"])
def test_a_short_idle_timeout_never_logs_out_an_active_user(user, clock, settings, where):
    """Idle 20 s under the default 60 s touch interval, a request every 7 s: last activity is
    written often enough (every 10 s) that the session lives, with few UPDATEs. Used to end at 21 s."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.BYO_SESSIONS = {"INACTIVITY_TIMEOUT_SECS": 20 if where == "settings" else 3600}
    if where == "rule":  # stored before TOUCH_INTERVAL_SECS was raised, or written around the admin
        TagPolicy.objects.create(selector="org:kiosk", inactivity_timeout_secs=20)
    token = create(user, ["org:kiosk"]).data.session_token
    with CaptureQueriesContext(connection) as queries:
        for _ in range(60 // 7 + 1):
            clock.advance(7)
            assert is_ok(validate(token))
    updates = [q for q in queries.captured_queries if q["sql"].upper().startswith("UPDATE")]
    assert 1 <= len(updates) <= 5  # one every 10 s at most, not one per request
    clock.advance(21)  # truly idle: it still ends
    assert validate(token).error.details["reason"] == "expired_inactivity"


def test_touch_interval_is_half_a_shorter_idle_timeout(settings):
    from byo_sessions.core.policy import Policy

    settings.BYO_SESSIONS = {"TOUCH_INTERVAL_SECS": 60}
    assert policies.touch_interval_secs(Policy(inactivity_timeout_secs=20)) == 10
    assert policies.touch_interval_secs(Policy(inactivity_timeout_secs=1)) == 1
    assert policies.touch_interval_secs(Policy(inactivity_timeout_secs=3600)) == 60
    assert policies.touch_interval_secs(Policy()) == 60
    assert policies.min_inactivity_timeout_secs() == 120


def test_import_refuses_an_idle_timeout_below_twice_the_touch_interval(tmp_path, settings):
    settings.BYO_SESSIONS = {"TOUCH_INTERVAL_SECS": 60}
    doc = {
        "defaults": {"inactivity_timeout_secs": 90},
        "tags": [
            {"tag": "org:kiosk", "inactivity_timeout_secs": 20},
            {"tag": "org:ok", "inactivity_timeout_secs": 120},
        ],
    }
    with pytest.raises(PolicyValueError) as caught:
        policies.import_document(doc, dry_run=True)
    errors = dict(caught.value.errors)
    assert set(errors) == {"defaults.inactivity_timeout_secs", "tags[0].inactivity_timeout_secs"}
    assert errors["tags[0].inactivity_timeout_secs"] == (
        "The inactivity timeout (20 seconds) must be at least 2 minutes: last activity is recorded at most "
        "every 1 minute (TOUCH_INTERVAL_SECS), so a shorter timeout would log out users who are still active. "
        "Lower TOUCH_INTERVAL_SECS to allow it."
    )
    settings.BYO_SESSIONS = {"TOUCH_INTERVAL_SECS": 10}
    policies.import_document(doc)  # a shorter touch interval allows it
    assert TagPolicy.objects.get(selector="org:kiosk").inactivity_timeout_secs == 20
