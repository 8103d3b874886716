"""``manage.py byo_invalidate``: filters that combine, dry run with a sample, confirmation,
batches that commit one by one (batch size 2 here), interruption and rerun, audit rows."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from byo_sessions import is_ok, sessions
from byo_sessions.models import AuditEvent, Device, Session
from byo_sessions.services import bulk
from tests.constants import CHROME_MAC, FIREFOX_LINUX
from tests.services.test_policies import create, validate

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("byo_invalidate", *args, "--noinput", "--batch-size", "2", stdout=out)
    return out.getvalue()


def live_ids() -> set[str]:
    return set(Session.objects.filter(ended_at__isnull=True).values_list("id", flat=True))


def make(
    user: Any = None,
    *,
    external: str | None = None,
    tags: list[str] | None = None,
    ip: str = "198.51.100.7",
    ua: str = CHROME_MAC,
) -> str:
    result = sessions.create(
        user_id=None if user is None else user.pk, external_user_id=external, tags=tags, ip_address=ip, user_agent=ua
    )
    assert is_ok(result), result
    return result.data.session_id


def test_by_username_email_or_pk_and_tag(user, other_user):
    user.email = "Alice@Example.org"
    user.save()
    tagged = make(user, tags=["org:a"])
    untagged = make(user)
    bobs = make(other_user, tags=["org:a"])
    assert run("--user", "alice", "--tag", "org:a").endswith("Ended 1 session(s).\n")
    assert live_ids() == {untagged, bobs}
    assert Session.objects.get(pk=tagged).end_reason == "bulk"
    assert AuditEvent.objects.filter(
        session_id=tagged, actor="command:byo_invalidate", event_type="session_invalidated", user_ref=str(user.pk)
    ).exists()
    assert run("--user", "alice@example.org").endswith("Ended 1 session(s).\n")
    assert run("--user", str(other_user.pk), "--end-reason", "admin").endswith("Ended 1 session(s).\n")
    assert live_ids() == set() and Session.objects.get(pk=bobs).end_reason == "admin"


def test_by_external_user_and_dry_run_with_a_sample(db):
    kept = make(external="u-2")
    chosen = make(external="u-1")
    out = run("--external-user", "u-1", "--dry-run")
    lines = out.splitlines()
    assert lines[0] == "Would end 1 session(s)."
    assert lines[1].split() == ["id", "user", "IP", "browser", "created"]
    assert lines[2].split()[:4] == [chosen, "u-1", "198.51.100.7", "Chrome"]
    assert live_ids() == {kept, chosen} and not AuditEvent.objects.filter(event_type="bulk_invalidation").exists()
    assert run("--external-user", "u-1").endswith("Ended 1 session(s).\n")
    assert live_ids() == {kept}


def test_tags_all_of_by_default_any_of_on_request(user):
    both = make(user, tags=["org:a", "role:admin"])
    only_a = make(user, tags=["org:a"])
    only_admin = make(user, tags=["role:admin"])
    neither = make(user, tags=["org:b"])
    assert run("--tag", "org:a", "--tag", "role:admin", "--dry-run").startswith("Would end 1 ")
    assert run("--tag", "org:a", "--tag", "role:admin", "--all-tags").endswith("Ended 1 session(s).\n")
    assert both not in live_ids()
    assert run("--tag", "org:a", "--tag", "role:admin", "--any-tag").endswith("Ended 2 session(s).\n")
    assert live_ids() == {neither}
    assert {only_a, only_admin}.isdisjoint(live_ids())


def test_ip_address_or_network_current_or_at_creation(user):
    office = make(user, ip="203.0.113.9")
    home = make(user, ip="198.51.100.7")
    v6 = make(user, ip="2001:db8::5")
    moved = make(user, ip="203.0.113.10")
    Session.objects.filter(pk=moved).update(last_ip_address="192.0.2.1")  # now seen elsewhere
    assert run("--ip", "203.0.113.0/24", "--dry-run").startswith("Would end 1 ")  # current IP: only office
    assert run("--created-ip", "203.0.113.0/24", "--dry-run").startswith("Would end 2 ")
    assert run("--ip", "2001:db8::/32").endswith("Ended 1 session(s).\n")
    assert run("--ip", "198.51.100.7").endswith("Ended 1 session(s).\n")
    assert run("--created-ip", "203.0.113.0/24").endswith("Ended 2 session(s).\n")
    assert live_ids() == set()
    assert {office, home, v6, moved}.isdisjoint(live_ids())


def test_created_and_last_active_times(user, clock):
    old = make(user)
    clock.advance(3600)
    idle = make(user)
    clock.advance(3600)
    recent = make(user)
    Session.objects.filter(pk=idle).update(last_activity_at=clock.now() - timedelta(hours=2))
    Session.objects.filter(pk=recent).update(last_activity_at=clock.now())
    Session.objects.filter(pk=old).update(last_activity_at=clock.now())
    middle = (clock.now() - timedelta(minutes=90)).isoformat()
    assert run("--created-before", middle, "--dry-run").startswith("Would end 1 ")
    assert run("--created-after", middle, "--dry-run").startswith("Would end 2 ")
    assert run("--last-active-before", (clock.now() - timedelta(minutes=1)).isoformat()).endswith(
        "Ended 1 session(s).\n"
    )
    assert live_ids() == {old, recent}
    assert run("--created-after", middle, "--created-before", clock.now().isoformat()).endswith("Ended 0 session(s).\n")
    assert run(
        "--created-before", clock.now().date().isoformat() + "T23:59:59", "--created-after", "2000-01-01"
    ).endswith("Ended 2 session(s).\n")


def test_device_and_browser(user, clock):
    chrome = make(user)
    firefox = make(user, ua=FIREFOX_LINUX)
    device = Device.objects.create(
        user=user, thumbprint="t" * 43, public_jwk={}, first_seen_at=clock.now(), last_seen_at=clock.now()
    )
    Session.objects.filter(pk=chrome).update(device=device)
    bound_firefox = make(user, ua=FIREFOX_LINUX)
    Session.objects.filter(pk=bound_firefox).update(device=device)
    assert run("--device", device.pk, "--browser", "firefox").endswith("Ended 1 session(s).\n")
    assert live_ids() == {chrome, firefox}
    assert run("--browser", "Chrome", "--browser", "Firefox").endswith("Ended 2 session(s).\n")


def test_all_ends_only_live_sessions_unless_asked(user, clock):
    live = make(user)
    clock.advance(13 * 86400)
    fresh = make(external="u-1")
    clock.advance(2 * 86400)  # the first is past its 14-day absolute lifetime, never marked ended
    assert run("--all").endswith("Ended 1 session(s).\n")
    assert Session.objects.get(pk=fresh).ended_at is not None
    assert Session.objects.get(pk=live).ended_at is None
    assert run("--all", "--include-expired").endswith("Ended 1 session(s).\n")
    assert live_ids() == set()


def test_refusals_name_the_value(user):
    make(user, tags=["org:a"])
    cases = [
        ((), "Say which sessions"),
        (("--user", "nobody"), "No user 'nobody'"),
        (("--tag", "org-a"), r"--tag 'org-a'.*no ':'"),
        (("--ip", "10.0.0.1/8"), r"--ip '10.0.0.1/8'.*host bits"),
        (("--ip", "banana"), r"--ip 'banana'"),
        (("--created-ip", "300.1.1.1/8"), r"--created-ip '300.1.1.1/8'"),
        (("--created-before", "yesterday"), r"--created-before 'yesterday' is not a date"),
        (("--created-after", "2026-13-45"), r"--created-after '2026-13-45' is not a date"),
        (("--last-active-before", "soon"), r"--last-active-before 'soon'"),
        (("--device", "dev_missing"), r"No device 'dev_missing'"),
        (("--all", "--tag", "org:a"), "--all ends every live session"),
        (("--any-tag",), "--any-tag needs --tag"),
        (("--created-after", "2026-02-01", "--created-before", "2026-01-01"), "--created-after must be earlier"),
        (("--all", "--batch-size", "0"), "--batch-size 0"),
        (("--external-user", " "), "--external-user ' '"),
    ]
    for args, message in cases:
        with pytest.raises(CommandError, match=message):
            call_command("byo_invalidate", *args, "--noinput", stdout=io.StringIO())
    assert len(live_ids()) == 1


def test_several_users_with_one_email_are_refused(django_user_model):
    for name in ("a", "b"):
        django_user_model.objects.create_user(username=name, email="ops@example.org")
    with pytest.raises(CommandError, match="several users have this e-mail"):
        run("--user", "ops@example.org")


def test_confirmation_is_asked_and_a_no_changes_nothing(user, monkeypatch):
    make(user)
    answers = iter(["no", "yes"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    out = io.StringIO()
    call_command("byo_invalidate", "--all", stdout=out)
    assert out.getvalue() == "Cancelled: nothing was ended.\n" and len(live_ids()) == 1
    call_command("byo_invalidate", "--all", stdout=out)
    assert live_ids() == set()


def test_batches_audit_each_session_and_one_summary_with_the_operators_reason(user, other_user):
    ids = {make(user, tags=["org:acme"]) for _ in range(5)} | {make(other_user, tags=["org:acme"])}
    kept = make(user, tags=["org:other"])
    out = run("--tag", "org:acme", "--reason", "incident 42: leaked laptop")
    assert out.splitlines()[-1] == "Ended 6 session(s)."
    assert "Ended 6 of about 6 (100%)." in out  # plain progress lines when not on a terminal
    assert live_ids() == {kept}
    rows = AuditEvent.objects.filter(event_type="session_invalidated")
    assert set(rows.values_list("session_id", flat=True)) == ids and rows.count() == 6
    operations = {r["operation"] for r in rows.values_list("details", flat=True)}
    assert len(operations) == 1
    assert {r["note"] for r in rows.values_list("details", flat=True)} == {"incident 42: leaked laptop"}
    assert set(rows.values_list("user_ref", flat=True)) == {str(user.pk), str(other_user.pk)}
    summary = AuditEvent.objects.get(event_type="bulk_invalidation")
    assert summary.details["operation"] in operations and summary.details["ended"] == 6
    assert summary.details["batches"] == 3 and summary.details["batch_size"] == 2
    assert summary.details["filters"] == {"tags": ["org:acme"]} and summary.actor == "command:byo_invalidate"
    assert summary.details["note"] == "incident 42: leaked laptop" and "interrupted" not in summary.details


def test_an_interrupted_run_keeps_its_committed_batches_and_a_rerun_ends_the_rest(user, monkeypatch):
    for _ in range(7):
        make(user, tags=["org:acme"])
    real = bulk.end_sessions
    calls = []

    def interrupted_on_the_third_batch(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(bulk, "end_sessions", interrupted_on_the_third_batch)
    with pytest.raises(CommandError, match="Interrupted after ending 4 session") as raised:
        run("--tag", "org:acme")
    assert raised.value.returncode == 130
    assert len(live_ids()) == 3
    summary = AuditEvent.objects.get(event_type="bulk_invalidation")
    assert summary.details["interrupted"] is True and summary.details["ended"] == 4
    monkeypatch.setattr(bulk, "end_sessions", real)
    assert run("--tag", "org:acme").endswith("Ended 3 session(s).\n")
    assert live_ids() == set()
    ended = AuditEvent.objects.filter(event_type="session_invalidated")
    assert ended.count() == 7 and ended.values("session_id").distinct().count() == 7  # none audited twice


def test_a_session_ended_meanwhile_is_not_ended_or_audited_again(user):
    ids = sorted(make(user) for _ in range(4))
    selection = bulk.Selection(user_ids=(user.pk,))
    runner = bulk.BulkRun(selection=selection, batch_size=2, actor="t")
    batches = runner.batches_ended()
    assert next(batches) == 2
    sessions.invalidate_by_id(session_id=ids[3])  # a logout between two batches
    assert list(batches) == [1]
    assert AuditEvent.objects.filter(session_id=ids[3], event_type="session_invalidated").count() == 1


def test_ended_sessions_refuse_validation(user, other_user):
    acme = [create(user, ["org:acme"]).data.session_token for _ in range(3)]
    other = create(other_user, ["org:beta"]).data.session_token
    run("--tag", "org:acme")
    assert all(validate(t).error.details["reason"] == "bulk" for t in acme)
    assert is_ok(validate(other))


@pytest.mark.parametrize("by_tag", [False, True], ids=["primary key walk", "tag walk"])
def test_each_span_is_ended_in_batches_taking_every_nth_candidate(user, by_tag, monkeypatch):
    """Five batches' candidates at a time, each batch every fifth of them (a page's rows
    over several transactions); the last, shorter span in as many batches as it needs."""
    made = sorted(make(user, tags=["org:acme"]) for _ in range(23))
    selection = bulk.Selection(tags=("org:acme",)) if by_tag else bulk.Selection(user_ids=(user.pk,))
    batches: list[list[str]] = []

    def recorded(field: str, ids: list[str]) -> Any:
        batches.append(sorted(ids))
        return real_id_in(field, ids)

    real_id_in = bulk.IdIn
    monkeypatch.setattr(bulk, "IdIn", recorded)
    counts = list(bulk.BulkRun(selection=selection, batch_size=2, actor="t").batches_ended())
    assert counts == [2] * 10 + [2, 1]
    spans = [made[0:10], made[10:20], made[20:23]]
    expected = (
        [spans[0][p::5] for p in range(5)] + [spans[1][p::5] for p in range(5)] + [spans[2][p::2] for p in range(2)]
    )
    assert batches == expected
    ended = AuditEvent.objects.filter(event_type="session_invalidated")
    assert ended.count() == 23 and ended.values("session_id").distinct().count() == 23
    assert live_ids() == set()


def test_a_session_created_during_the_run_is_left_alone(user, clock):
    """Ids follow creation time, so a login during the run sorts after the walk's position;
    the run ends only what existed when it started."""
    before = sorted(make(user) for _ in range(4))
    runner = bulk.BulkRun(selection=bulk.Selection(user_ids=(user.pk,)), batch_size=2, actor="t").batches_ended()
    assert next(runner) == 2
    clock.advance(1)
    again = make(user)  # the user signs in again between two batches
    assert list(runner) == [2]
    assert live_ids() == {again} and again > before[-1]


def test_id_filters_take_more_ids_than_sqlite_has_variables(user):
    """A batch's ids are one parameter (a bulk run with a large ``--batch-size`` on SQLite)."""
    from django.db import connection

    from byo_sessions.services.ending import IdIn

    kept = make(user)
    variables = connection.features.max_query_params or 40_000  # SQLite's limit (32,766 or more); none elsewhere
    many = [f"ses_missing{n}" for n in range(variables)]
    assert list(Session.objects.filter(IdIn("pk", [*many, kept])).values_list("pk", flat=True)) == [kept]
