"""The policy admin (admin/__init__.py): ``TagPolicyForm`` refuses what ``PolicyRule``
refuses, in words; a saved rule applies at once; policy settings are validated and
every change is audited."""

from __future__ import annotations

import pytest

from byo_sessions import ErrorType
from byo_sessions.admin import TagPolicyForm
from byo_sessions.core.policy import PolicyRule, PolicyValueError
from byo_sessions.models import AuditEvent, PolicySetting, TagPolicy
from byo_sessions.services import policies
from tests.services.test_policies import create, validate

pytestmark = pytest.mark.django_db


def _policy_form(**fields):
    data = {
        "selector": "org:acme",
        "priority": "100",
        "description": "",
        "absolute_lifetime_secs": "",
        "inactivity_timeout_secs": "",
        "rotation_interval_secs": "",
        "ip_allowlist": "",
        "ip_blocklist": "",
        "disallow_ip_address_changes": "unknown",
        "on_ip_address_change": "",
        "on_user_agent_change": "",
        "on_country_change": "",
        "device_verification_required": "unknown",
        "max_concurrent_sessions_per_user": "",
        "max_concurrent_sessions_per_user_per_tag": "",
        "on_session_limit_exceeded": "",
    }
    data.update(fields)
    return data


def test_admin_explains_a_wrong_cidr_in_words(admin_client):
    response = admin_client.post("/admin/byo_sessions/tagpolicy/add/", _policy_form(ip_allowlist='["10.0.0.1/24"]'))
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
    ("on_country_change", "block", {"overrides": {"on_country_change": "block"}}),
    ("max_concurrent_sessions_per_user", "0", {"overrides": {"max_concurrent_sessions_per_user": 0}}),
    ("max_concurrent_sessions_per_user", "1001", {"overrides": {"max_concurrent_sessions_per_user": 1001}}),
    (
        "max_concurrent_sessions_per_user_per_tag",
        "1001",
        {"overrides": {"max_concurrent_sessions_per_user_per_tag": 1001}},
    ),
    ("on_session_limit_exceeded", "drop_newest", {"overrides": {"on_session_limit_exceeded": "drop_newest"}}),
    ("max_extended_lifetime_secs", "0", {"overrides": {"max_extended_lifetime_secs": 0}}),
    ("max_extended_lifetime_secs", "34560001", {"overrides": {"max_extended_lifetime_secs": 34_560_001}}),
]


# Fields whose form field can only produce values every PolicyRule accepts (true / false / not set).
_ALWAYS_ACCEPTED = {"disallow_ip_address_changes", "device_verification_required", "allow_session_extension"}


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


def test_every_row_the_form_saves_loads_as_a_rule_with_its_description_as_label():
    form = TagPolicyForm(
        data=_policy_form(priority="1000000", description="x" * 300, max_concurrent_sessions_per_user="3")
    )
    assert form.is_valid(), form.errors
    row = form.save()
    rule = policies.rule_from_row(row)
    assert (rule.priority, rule.label) == (1_000_000, "x" * 300)
    assert dict(rule.overrides) == {"max_concurrent_sessions_per_user": 3}
    assert policies.current().rules == (rule,)  # not dropped by the loader


def test_admin_saves_a_policy_that_applies_at_once(admin_client, user, clock):
    token = create(user, ["org:acme"]).data.session_token
    clock.advance(4000)
    response = admin_client.post(
        "/admin/byo_sessions/tagpolicy/add/", _policy_form(absolute_lifetime_secs="3600", ip_allowlist='["10.0.0.0/8"]')
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert validate(token).error.type == ErrorType.SESSION_EXPIRED


@pytest.mark.parametrize(
    "key,value,error",
    [
        ("tag_priority", '"org"', "JSON list of tag types"),
        ("tag_priority", '["org", "org"]', "listed once"),
        ("tag_priority", '["*"]', "Not tag types"),
        ("defaults", '{"absolute_lifetime_secs": -1}', "defaults.absolute_lifetime_secs"),
        ("defaults", '["x"]', "JSON object"),
        ("defaults", '{"absolute_lifetime_secs": 60, "inactivity_timeout_secs": 120}', "could never apply"),
    ],
)
def test_admin_policy_settings_are_validated(admin_client, key, value, error):
    response = admin_client.post("/admin/byo_sessions/policysetting/add/", {"key": key, "value": value})
    assert response.status_code == 200 and error in response.content.decode()
    assert not PolicySetting.objects.exists()


def test_admin_policy_changes_are_audited(admin_client):
    response = admin_client.post(
        "/admin/byo_sessions/policysetting/add/", {"key": "tag_priority", "value": '["org", "role"]'}
    )
    assert response.status_code == 302
    admin_client.post("/admin/byo_sessions/tagpolicy/add/", _policy_form(absolute_lifetime_secs="3600"))
    events = AuditEvent.objects.filter(event_type="policy_changed").order_by("id")
    assert [(e.reason, e.actor) for e in events] == [("admin_add", "admin:admin"), ("admin_add", "admin:admin")]
    assert policies.current().tag_priority == ("org", "role")


def test_admin_refuses_an_idle_timeout_below_twice_the_touch_interval(admin_client, settings):
    settings.BYO_SESSIONS = {"TOUCH_INTERVAL_SECS": 60}
    response = admin_client.post("/admin/byo_sessions/tagpolicy/add/", _policy_form(inactivity_timeout_secs="20"))
    assert response.status_code == 200
    assert (
        "The inactivity timeout (20 seconds) must be at least 2 minutes: last activity is recorded at most "
        "every 1 minute (TOUCH_INTERVAL_SECS)"
    ) in response.content.decode()
    assert not TagPolicy.objects.exists()
    response = admin_client.post(
        "/admin/byo_sessions/policysetting/add/", {"key": "defaults", "value": '{"inactivity_timeout_secs": 20}'}
    )
    assert response.status_code == 200 and "must be at least 2 minutes" in response.content.decode()
    assert not PolicySetting.objects.exists()
    response = admin_client.post("/admin/byo_sessions/tagpolicy/add/", _policy_form(inactivity_timeout_secs="120"))
    assert response.status_code == 302 and TagPolicy.objects.get().inactivity_timeout_secs == 120


def test_view_only_staff_see_policies_and_change_nothing(staff_client):
    rule = TagPolicy.objects.create(selector="org:acme", priority=100, absolute_lifetime_secs=3600)
    setting = PolicySetting.objects.create(key="tag_priority", value=["org"])
    client = staff_client("view_tagpolicy", "view_policysetting")
    base = "/admin/byo_sessions/tagpolicy/"
    assert client.get(base).status_code == 200 and "delete_selected" not in client.get(base).content.decode()
    assert client.post(f"{base}{rule.pk}/change/", _policy_form(absolute_lifetime_secs="60")).status_code == 403
    assert client.post(f"{base}{rule.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"{base}add/", _policy_form(selector="org:other")).status_code == 403
    assert client.get(f"{base}import/").status_code == 403
    settings_url = "/admin/byo_sessions/policysetting/"
    assert client.post(f"{settings_url}{setting.pk}/change/", {"key": "tag_priority", "value": "[]"}).status_code == 403
    assert client.post(f"{settings_url}{setting.pk}/delete/", {"post": "yes"}).status_code == 403
    rule.refresh_from_db()
    setting.refresh_from_db()
    assert rule.absolute_lifetime_secs == 3600 and setting.value == ["org"]
    assert TagPolicy.objects.count() == 1 and not AuditEvent.objects.filter(event_type="policy_changed").exists()
