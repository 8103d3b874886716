"""Tag policies in the database: live effect, caching, IP and User-Agent rules, limits,
admin validation, JSON import/export and bulk commands (docs/policies.md)."""
from __future__ import annotations

import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from byo_sessions import ErrorType, is_err, is_ok, sessions
from byo_sessions.admin import TagPolicyForm
from byo_sessions.services import policies
from byo_sessions.models import AuditEvent, PolicySetting, PolicyVersion, Session, TagPolicy
from byo_sessions.core.policy import IpChangeAction, LimitAction, PolicyRule, PolicyValueError, UaChangeAction
from tests.concurrency import run_in_parallel

UA_MAC_CHROME = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/131.0.6778.86 Safari/537.36")
UA_MAC_CHROME_MINOR = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "Chrome/131.0.6778.140 Safari/537.36")
UA_WIN_CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/131.0.6778.86 Safari/537.36")
IP = "10.1.2.3"


def create(user, tags=None, ip=IP, ua=UA_MAC_CHROME):
    return sessions.create(user_id=user.pk, ip_address=ip, user_agent=ua, tags=tags)


def validate(token, ip=IP, ua=UA_MAC_CHROME):
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


def test_policy_cache_costs_no_query_per_request_and_follows_other_processes(user, clock, settings,
                                                                           django_assert_num_queries):
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
    TagPolicy.objects.create(selector="org:acme", ip_allowlist=["10.0.0.0/8", "2001:db8::/32"],
                             ip_blocklist=["10.66.0.0/16"])
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
    TagPolicy.objects.create(selector="org:*", description="Every org: end on IP change",
                             on_ip_address_change="invalidate")
    token = create(user, ["org:acme"]).data.session_token
    assert validate(token, ip="10.1.2.4").error.details["policy"] == "Every org: end on IP change"


def test_ip_change_allowed_is_recorded_once(user):
    token = create(user).data.session_token
    for _ in range(3):
        assert is_ok(validate(token, ip="10.1.2.4"))
    events = AuditEvent.objects.filter(event_type="ip_changed")
    assert events.count() == 1
    assert events.get().details == {"before": IP, "after": "10.1.2.4"}


@pytest.mark.parametrize("new_ua,suspicious", [
    (UA_MAC_CHROME_MINOR, False),
    (UA_WIN_CHROME, True),
])
def test_user_agent_change_recorded_once_with_before_and_after(user, new_ua, suspicious):
    token = create(user).data.session_token
    for _ in range(2):
        assert is_ok(validate(token, ua=new_ua))
    events = AuditEvent.objects.filter(event_type="user_agent_changed")
    assert events.count() == (1 if suspicious else 0)
    if suspicious:
        event = events.get()
        assert event.details["before"] == UA_MAC_CHROME and event.details["after"] == new_ua
        assert event.reason == "os_changed"
    assert Session.objects.get().last_user_agent == new_ua


def test_user_agent_change_invalidate(user):
    TagPolicy.objects.create(selector="role:root", on_user_agent_change="invalidate")
    token = create(user, ["role:root"]).data.session_token
    assert is_ok(validate(token, ua=UA_MAC_CHROME_MINOR))  # an update is normal
    result = validate(token, ua=UA_WIN_CHROME)
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


@pytest.mark.parametrize("action,expected_survivor", [
    ("drop_oldest", [1, 2]),
    ("drop_least_recently_active", [0, 2]),
])
def test_limit_drops_a_session(user, clock, action, expected_survivor):
    TagPolicy.objects.create(selector="org:*", max_concurrent_sessions_per_user=2, on_session_limit_exceeded=action)
    first = create(user, ["org:acme"]).data.session_token
    clock.advance(120)
    second = create(user, ["org:acme"]).data.session_token
    clock.advance(120)
    assert is_ok(validate(first))  # first is now the most recently active
    third = create(user, ["org:acme"]).data.session_token
    tokens = [first, second, third]
    alive = [i for i, t in enumerate(tokens) if is_ok(validate(t))]
    assert alive == expected_survivor
    assert AuditEvent.objects.filter(event_type="session_invalidated", reason="session_limit").count() == 1


def test_limit_reject_new(user):
    TagPolicy.objects.create(selector="org:*", max_concurrent_sessions_per_user=1, on_session_limit_exceeded="reject_new")
    assert is_ok(create(user, ["org:acme"]))
    refused = create(user, ["org:acme"])
    assert refused.error.type == ErrorType.SESSION_LIMIT_EXCEEDED
    assert refused.error.details["current_count"] == 1 and refused.error.details["max_allowed"] == 1
    assert Session.objects.count() == 1


def test_limit_per_tag(user):
    TagPolicy.objects.create(selector="device:*", max_concurrent_sessions_per_user_per_tag=1,
                             on_session_limit_exceeded="reject_new")
    assert is_ok(create(user, ["device:kiosk"]))
    assert is_ok(create(user, ["device:laptop"]))
    assert is_ok(create(user))
    assert create(user, ["device:kiosk"]).error.type == ErrorType.SESSION_LIMIT_EXCEEDED


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("action", ["reject_new", "drop_oldest"])
def test_limit_holds_exactly_under_parallel_logins(user, action):
    TagPolicy.objects.create(selector="org:*", max_concurrent_sessions_per_user=3, on_session_limit_exceeded=action)
    results = run_in_parallel(12, lambda: create(user, ["org:acme"]))
    assert not [r for r in results if isinstance(r, Exception)], results
    live = Session.objects.filter(user=user, ended_at__isnull=True).count()
    assert live == 3
    if action == "reject_new":
        assert sum(is_ok(r) for r in results) == 3
        assert all(r.error.type == ErrorType.SESSION_LIMIT_EXCEEDED for r in results if is_err(r))
    else:
        assert all(is_ok(r) for r in results)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_external_user_limit_holds_under_parallel_creates(db):
    TagPolicy.objects.create(selector="org:*", max_concurrent_sessions_per_user=2, on_session_limit_exceeded="reject_new")
    results = run_in_parallel(10, lambda: sessions.create(external_user_id="ext-1", tags=["org:x"]))
    assert sum(is_ok(r) for r in results) == 2


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("action", ["reject_new", "drop_least_recently_active"])
def test_per_tag_limit_holds_exactly_under_parallel_logins(user, action):
    TagPolicy.objects.create(selector="device:*", max_concurrent_sessions_per_user_per_tag=2,
                             on_session_limit_exceeded=action)
    assert is_ok(create(user, ["device:laptop"]))  # another tag value: its own count
    results = run_in_parallel(12, lambda: create(user, ["device:kiosk"]))
    assert not [r for r in results if isinstance(r, Exception)], results
    live = Session.objects.filter(user=user, ended_at__isnull=True)
    assert sorted(tag for s in live for tag in s.tags) == ["device:kiosk", "device:kiosk", "device:laptop"]
    if action == "reject_new":
        assert sum(is_ok(r) for r in results) == 2
        assert all(r.error.type == ErrorType.SESSION_LIMIT_EXCEEDED and r.error.details["scope"] == "tag device:kiosk"
                   for r in results if is_err(r))
    else:
        assert all(is_ok(r) for r in results)


# --- admin -----------------------------------------------------------------------------------------------

def _policy_form(**fields):
    data = {"selector": "org:acme", "priority": "100", "description": "", "absolute_lifetime_secs": "",
            "inactivity_timeout_secs": "", "rotation_interval_secs": "", "ip_allowlist": "null",
            "ip_blocklist": "null", "disallow_ip_address_changes": "unknown", "on_ip_address_change": "",
            "on_user_agent_change": "", "device_verification_required": "unknown",
            "max_concurrent_sessions_per_user": "", "max_concurrent_sessions_per_user_per_tag": "",
            "on_session_limit_exceeded": ""}
    data.update(fields)
    return data


def test_admin_explains_a_wrong_cidr_in_words(admin_client):
    response = admin_client.post("/admin/byo_sessions/tagpolicy/add/",
                                 _policy_form(ip_allowlist='["10.0.0.1/24"]'))
    assert response.status_code == 200
    assert "did you mean 10.0.0.0/24" in response.content.decode()
    assert not TagPolicy.objects.exists()


def test_admin_refuses_a_bad_selector(admin_client):
    response = admin_client.post("/admin/byo_sessions/tagpolicy/add/", _policy_form(selector="Org Acme"))
    assert response.status_code == 200 and "Use an exact tag such as" in response.content.decode()


def test_admin_refuses_a_priority_the_rule_loader_would_drop(admin_client):
    response = admin_client.post("/admin/byo_sessions/tagpolicy/add/", _policy_form(priority="5000000"))
    assert response.status_code == 200
    assert "Must be a whole number from -1000000 to 1000000 (lower wins); got 5000000." in response.content.decode()
    assert not TagPolicy.objects.exists()


# For each form field: a value the form can submit and the PolicyRule arguments it stands for,
# which PolicyRule refuses; the form must refuse it too, on that field.
_REFUSED = [
    ("selector", "Org:*", {"selector": "Org:*"}),
    ("selector", "org", {"selector": "org"}),
    ("priority", "5000000", {"priority": 5_000_000}),
    ("priority", "-1000001", {"priority": -1_000_001}),
    ("description", "x" * 301, {"label": "x" * 301}),
    ("absolute_lifetime_secs", "0", {"overrides": {"absolute_lifetime_secs": 0}}),
    ("absolute_lifetime_secs", "34560001", {"overrides": {"absolute_lifetime_secs": 34_560_001}}),
    ("inactivity_timeout_secs", "34560001", {"overrides": {"inactivity_timeout_secs": 34_560_001}}),
    ("rotation_interval_secs", "0", {"overrides": {"rotation_interval_secs": 0}}),
    ("ip_allowlist", '["10.0.0.1/24"]', {"overrides": {"ip_allowlist": ["10.0.0.1/24"]}}),
    ("ip_allowlist", '"10.0.0.0/8"', {"overrides": {"ip_allowlist": "10.0.0.0/8"}}),
    ("ip_blocklist", '["garbage"]', {"overrides": {"ip_blocklist": ["garbage"]}}),
    ("on_ip_address_change", "block", {"overrides": {"on_ip_address_change": "block"}}),
    ("on_user_agent_change", "challenge", {"overrides": {"on_user_agent_change": "challenge"}}),
    ("max_concurrent_sessions_per_user", "0", {"overrides": {"max_concurrent_sessions_per_user": 0}}),
    ("max_concurrent_sessions_per_user", "1001", {"overrides": {"max_concurrent_sessions_per_user": 1001}}),
    ("max_concurrent_sessions_per_user_per_tag", "1001",
     {"overrides": {"max_concurrent_sessions_per_user_per_tag": 1001}}),
    ("on_session_limit_exceeded", "drop_newest", {"overrides": {"on_session_limit_exceeded": "drop_newest"}}),
]
# Fields whose form field can only produce values every PolicyRule accepts (true / false / not set).
_ALWAYS_ACCEPTED = {"disallow_ip_address_changes", "device_verification_required"}


@pytest.mark.parametrize("field,form_value,rule_kwargs", _REFUSED)
def test_the_form_refuses_what_policy_rule_refuses(field, form_value, rule_kwargs):
    with pytest.raises(PolicyValueError):
        PolicyRule(**{"selector": "org:acme", **rule_kwargs})
    form = TagPolicyForm(data=_policy_form(**{field: form_value}))
    assert not form.is_valid()
    assert field in form.errors, form.errors
    assert all(message.strip() for message in form.errors[field])


def test_every_form_field_is_covered_by_the_refusal_table():
    covered = {field for field, _, _ in _REFUSED} | _ALWAYS_ACCEPTED
    assert set(TagPolicyForm().fields) == covered
    for field in _ALWAYS_ACCEPTED:
        for raw in ("true", "false", "unknown", "maybe", "2"):
            form = TagPolicyForm(data=_policy_form(**{field: raw}))
            assert form.is_valid(), form.errors
            assert form.cleaned_data[field] in (True, False, None)


@pytest.mark.parametrize("field,kind", [("on_ip_address_change", IpChangeAction),
                                        ("on_user_agent_change", UaChangeAction),
                                        ("on_session_limit_exceeded", LimitAction)])
def test_model_choices_are_exactly_the_policy_actions(field, kind):
    assert [value for value, _ in TagPolicy._meta.get_field(field).choices] == [m.value for m in kind]


def test_model_validators_refuse_what_policy_rule_refuses():
    row = TagPolicy(selector="org:acme", priority=5_000_000, absolute_lifetime_secs=0, ip_allowlist=["10.0.0.1/24"])
    with pytest.raises(ValidationError) as info:
        row.full_clean()
    assert set(info.value.message_dict) == {"priority", "absolute_lifetime_secs", "ip_allowlist"}
    assert "lower wins" in info.value.message_dict["priority"][0]
    TagPolicy(selector="org:*", priority=-1_000_000, description="x" * 300, absolute_lifetime_secs=60).full_clean()


def test_every_row_the_form_saves_loads_as_a_rule_with_its_description_as_label():
    form = TagPolicyForm(data=_policy_form(priority="1000000", description="x" * 300,
                                           max_concurrent_sessions_per_user="3"))
    assert form.is_valid(), form.errors
    row = form.save()
    rule = policies.rule_from_row(row)
    assert (rule.priority, rule.label) == (1_000_000, "x" * 300)
    assert dict(rule.overrides) == {"max_concurrent_sessions_per_user": 3}
    assert policies.current().rules == (rule,)  # not dropped by the loader


def test_admin_saves_a_policy_that_applies_at_once(admin_client, user, clock):
    token = create(user, ["org:acme"]).data.session_token
    clock.advance(4000)
    response = admin_client.post("/admin/byo_sessions/tagpolicy/add/",
                                 _policy_form(absolute_lifetime_secs="3600", ip_allowlist='["10.0.0.0/8"]'))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert validate(token).error.type == ErrorType.SESSION_EXPIRED


# --- import / export ---------------------------------------------------------------------------------------

DOC = {
    "defaults": {"absolute_lifetime_secs": 86400, "inactivity_timeout_secs": 3600},
    "tag_priority": ["org", "role"],
    "on_create_only_tags": ["org"],
    "tags": [
        {"tag": "org:acme", "priority": 0, "label": "Acme Corp (contract 7)", "absolute_lifetime_secs": 43200,
         "ip_allowlist": ["10.0.0.0/8"]},
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
    assert sessions.update(session_id=created.session_id, tags_to_remove=["org:acme"]).error.type == \
        ErrorType.CANNOT_MODIFY_CREATE_ONLY_TAGS


def test_import_is_all_or_nothing_and_names_every_error(tmp_path):
    TagPolicy.objects.create(selector="org:old", absolute_lifetime_secs=60)
    bad = {**DOC, "tags": [
        {"tag": "org:acme", "ip_allowlist": ["10.0.0.1/24"]},
        {"tag": "role:root", "inactivity_timeout_secs": -5},
        {"tag": "Bad Tag"},
    ]}
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


# --- bulk commands -----------------------------------------------------------------------------------------

def test_bulk_invalidate_by_tag_and_user(user, other_user):
    acme = [create(user, ["org:acme"]).data.session_token for _ in range(2)]
    other = create(other_user, ["org:acme"]).data.session_token
    plain = create(user).data.session_token
    out = io.StringIO()
    call_command("byo_invalidate", "--tag", "org:acme", "--user", "alice", stdout=out)
    assert "Ended 2" in out.getvalue()
    assert all(validate(t).error.details["reason"] == "bulk" for t in acme)
    assert is_ok(validate(other)) and is_ok(validate(plain))
    call_command("byo_invalidate", "--all", "--reason", "admin", stdout=out)
    assert validate(other).error.details["reason"] == "admin"
    with pytest.raises(CommandError, match="Say which sessions"):
        call_command("byo_invalidate")


def test_prune_deletes_only_long_dead_sessions(user, clock):
    dead = create(user).data
    sessions.invalidate_by_id(session_id=dead.session_id)
    recent_dead = create(user).data
    alive = create(user).data
    clock.advance(31 * 86400)
    sessions.invalidate_by_id(session_id=recent_dead.session_id)
    out = io.StringIO()
    call_command("byo_prune", "--days", "30", stdout=out)
    remaining = set(Session.objects.values_list("id", flat=True))
    assert dead.session_id not in remaining
    assert recent_dead.session_id in remaining
    # "alive" expired by its 14-day lifetime 17 days ago: kept until 30 days have passed
    assert alive.session_id in remaining
    assert AuditEvent.objects.filter(session_id=dead.session_id).exists()  # the trail outlives the row


def test_an_idle_session_does_not_count_against_the_limit(user, clock):
    TagPolicy.objects.create(selector="org:*", max_concurrent_sessions_per_user=1, inactivity_timeout_secs=1800,
                             on_session_limit_exceeded="reject_new")
    idle = create(user, ["org:acme"]).data
    clock.advance(1801)
    assert is_ok(create(user, ["org:acme"]))
    assert Session.objects.get(pk=idle.session_id).end_reason == "expired_inactivity"


@pytest.mark.parametrize("key,value,error", [
    ("tag_priority", '"org"', "JSON list of tag types"),
    ("tag_priority", '["org", "org"]', "listed once"),
    ("tag_priority", '["*"]', "Not tag types"),
    ("defaults", '{"absolute_lifetime_secs": -1}', "defaults.absolute_lifetime_secs"),
    ("defaults", '["x"]', "JSON object"),
    ("defaults", '{"absolute_lifetime_secs": 60, "inactivity_timeout_secs": 120}', "could never apply"),
])
def test_admin_policy_settings_are_validated(admin_client, key, value, error):
    response = admin_client.post("/admin/byo_sessions/policysetting/add/", {"key": key, "value": value})
    assert response.status_code == 200 and error in response.content.decode()
    assert not PolicySetting.objects.exists()


def test_admin_policy_changes_are_audited(admin_client):
    response = admin_client.post("/admin/byo_sessions/policysetting/add/",
                                 {"key": "tag_priority", "value": '["org", "role"]'})
    assert response.status_code == 302
    admin_client.post("/admin/byo_sessions/tagpolicy/add/", _policy_form(absolute_lifetime_secs="3600"))
    events = AuditEvent.objects.filter(event_type="policy_changed").order_by("id")
    assert [(e.reason, e.actor) for e in events] == [("admin_add", "admin:admin"), ("admin_add", "admin:admin")]
    assert policies.current().tag_priority == ("org", "role")
