"""Editing policies safely (admin/policy_forms.py, policy_tools.py, policy_io.py's diff):
networks one per line, durations with units, "inherit" spelled out, the effective policy
for any tags, and a dry run of a change or an import that names the sessions it would end."""

from __future__ import annotations

import json

import pytest

from byo_sessions import sessions
from byo_sessions.models import Session, TagPolicy
from byo_sessions.services import policies
from tests.admin.test_policies_admin import _policy_form

pytestmark = pytest.mark.django_db
BASE = "/admin/byo_sessions/tagpolicy/"


def test_networks_one_per_line_and_durations_with_units(admin_client):
    response = admin_client.post(
        f"{BASE}add/",
        _policy_form(
            ip_allowlist="10.0.0.0/8\n2001:db8::/32", absolute_lifetime_secs="12 hours", inactivity_timeout_secs="30m"
        ),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    rule = TagPolicy.objects.get()
    assert rule.ip_allowlist == ["10.0.0.0/8", "2001:db8::/32"]
    assert (rule.absolute_lifetime_secs, rule.inactivity_timeout_secs) == (43200, 1800)
    page = admin_client.get(f"{BASE}{rule.pk}/change/").content.decode()
    assert 'value="12 hours"' in page and 'value="30 minutes"' in page
    assert ">\n10.0.0.0/8\n2001:db8::/32</textarea>" in page


def test_a_failed_save_shows_what_was_typed_never_null(admin_client):
    page = admin_client.post(f"{BASE}add/", _policy_form(selector="Bad Selector", ip_blocklist="")).content.decode()
    assert "null" not in page.split('name="ip_blocklist"')[1].split("</textarea>")[0]
    page = admin_client.post(f"{BASE}add/", _policy_form(ip_allowlist="10.0.0.1/24")).content.decode()
    assert "did you mean 10.0.0.0/24" in page and ">\n10.0.0.1/24</textarea>" in page
    page = admin_client.post(f"{BASE}add/", _policy_form(absolute_lifetime_secs="twelve hours")).content.decode()
    assert "Write a duration such as" in page and not TagPolicy.objects.exists()


def test_inherit_is_spelled_out(admin_client):
    page = admin_client.get(f"{BASE}add/").content.decode()
    assert page.count("Inherit (not set by this rule)") == 7  # three yes/no and four choice fields
    assert "Unknown" not in page and "---------" not in page


def test_effective_policy_for_any_tags(admin_client):
    TagPolicy.objects.create(selector="org:*", priority=10, absolute_lifetime_secs=86400)
    TagPolicy.objects.create(selector="org:acme", priority=1, absolute_lifetime_secs=3600, description="Acme")
    policies.forget_cached()
    page = admin_client.get(f"{BASE}effective/?tags=org:acme+role:admin").content.decode()
    assert "<td>Absolute lifetime</td><td>1 hour</td><td>Acme</td>" in page
    page = admin_client.get(f"{BASE}effective/?tags=org:globex").content.decode()
    assert "<td>Absolute lifetime</td><td>1 day</td><td>org:*</td>" in page
    assert "Org Acme" in admin_client.get(f"{BASE}effective/?tags=Org+Acme").content.decode()  # named error


def test_dry_run_names_the_sessions_a_change_would_end_and_saves_nothing(admin_client, user, clock):
    acme = [
        sessions.create(user_id=user.pk, tags=["org:acme"], ip_address="203.0.113.5").data.session_id for _ in range(2)
    ]
    other = sessions.create(user_id=user.pk, tags=["org:globex"]).data.session_id
    clock.advance(2 * 3600)
    young = sessions.create(user_id=user.pk, tags=["org:acme"]).data.session_id
    response = admin_client.post(f"{BASE}dry-run/", _policy_form(absolute_lifetime_secs="1 hour"))
    page = response.content.decode()
    assert response.status_code == 200 and not TagPolicy.objects.exists()
    assert 'id="byo-would-end"><span class="value">2<' in page
    assert (
        all(sid in page for sid in acme)
        and other not in page
        and f">{user.username}</a>" in page
        and young not in page.split("byo-affected")[1]
    )
    assert "Expired (absolute lifetime)" in page
    # "Save this change" posts the same form to the add view.
    assert f'action="{BASE}add/"' in page and 'name="absolute_lifetime_secs" value="1 hour"' in page


def test_dry_run_of_an_allowlist_and_device_rule(admin_client, user):
    outside = sessions.create(user_id=user.pk, tags=["org:acme"], ip_address="203.0.113.5").data.session_id
    inside = sessions.create(user_id=user.pk, tags=["org:acme"], ip_address="10.1.2.3").data.session_id
    page = admin_client.post(f"{BASE}dry-run/", _policy_form(ip_allowlist="10.0.0.0/8")).content.decode()
    assert 'id="byo-would-refuse"><span class="value">1<' in page and outside in page and inside not in page
    page = admin_client.post(f"{BASE}dry-run/", _policy_form(device_verification_required="true")).content.decode()
    assert 'id="byo-would-challenge"><span class="value">2<' in page


def test_dry_run_of_an_edit_compares_with_the_rule_in_force(admin_client, user, clock):
    rule = TagPolicy.objects.create(selector="org:acme", priority=100, absolute_lifetime_secs=3600)
    policies.forget_cached()
    sid = sessions.create(user_id=user.pk, tags=["org:acme"]).data.session_id
    clock.advance(1800)
    page = admin_client.post(
        f"{BASE}dry-run/?object_id={rule.pk}", _policy_form(absolute_lifetime_secs="20 minutes")
    ).content.decode()
    assert 'id="byo-would-end"><span class="value">1<' in page and sid in page
    assert f'action="{BASE}{rule.pk}/change/"' in page
    assert Session.objects.get(pk=sid).ended_at is None


def test_dry_run_shows_form_errors_and_needs_permission(admin_client, staff_client):
    page = admin_client.post(f"{BASE}dry-run/", _policy_form(ip_allowlist="10.0.0.1/24")).content.decode()
    assert "cannot be saved as it stands" in page and "did you mean 10.0.0.0/24" in page
    assert admin_client.get(f"{BASE}dry-run/").status_code == 404
    viewer = staff_client("view_tagpolicy")
    assert viewer.post(f"{BASE}dry-run/", _policy_form()).status_code == 403


def test_import_dry_run_shows_a_diff_and_the_sessions_it_would_end(admin_client, user, clock):
    sid = sessions.create(user_id=user.pk, tags=["org:acme"]).data.session_id
    clock.advance(7200)
    document = {
        "defaults": {},
        "tag_priority": [],
        "on_create_only_tags": [],
        "tags": [{"tag": "org:acme", "priority": 1, "absolute_lifetime_secs": 3600}],
    }
    page = admin_client.post(f"{BASE}import/", {"text": json.dumps(document), "dry_run": "on"}).content.decode()
    assert '<span class="add">+      &quot;absolute_lifetime_secs&quot;: 3600,</span>' in page
    assert 'id="byo-would-end"><span class="value">1<' in page and sid in page
    assert not TagPolicy.objects.exists()
