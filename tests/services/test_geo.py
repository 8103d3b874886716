"""Where sessions, devices and audit events are (services/geo.py) and the country-change rule
(services/validation.py, policy key ``on_country_change``).

Most tests read a small MaxMind-format City and ASN database written here with mmdb-writer
and served through Django's own GeoIP2 (``GEOIP_PATH``), so the countries are the test's
own; one test reads the offline country package's shipped data.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import Client
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from byo_sessions import DeviceVerification, ErrorType, is_ok, sessions
from byo_sessions.models import AuditEvent, Device, EndReason, Session, TagPolicy
from byo_sessions.services import geo
from byo_sessions.values import Location
from tests.constants import UA
from tests.dpop_signer import TestDevice
from tests.services.test_devices import API_URL, proof
from tests.services.test_devices import login as device_login

pytestmark = pytest.mark.django_db

BERLIN, MUNICH, PARIS, PRIVATE = "198.51.100.10", "198.51.100.200", "192.0.2.10", "10.1.2.3"
_PLACES = {
    "198.51.100.0/25": ("DE", "Germany", "Berlin"),
    "198.51.100.128/25": ("DE", "Germany", "Munich"),
    "192.0.2.0/24": ("FR", "France", "Paris"),
}


@functools.cache
def written_databases() -> Path:
    """The City and ASN databases, written once per test run (writing takes a few seconds)."""
    directory = Path(tempfile.mkdtemp(prefix="byo-geoip-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)  # one run's files, not every run's
    _write_databases(directory)
    return directory


def _write_databases(directory: Path) -> None:
    city = MMDBWriter(
        ip_version=6, database_type="GeoLite2-City", languages=["en"], description={"en": "test"}, ipv4_compatible=True
    )
    asn = MMDBWriter(
        ip_version=6, database_type="GeoLite2-ASN", languages=["en"], description={"en": "test"}, ipv4_compatible=True
    )
    for network, (code, country, town) in _PLACES.items():
        city.insert_network(
            IPSet([network]), {"country": {"iso_code": code, "names": {"en": country}}, "city": {"names": {"en": town}}}
        )
        asn.insert_network(
            IPSet([network]), {"autonomous_system_number": 64500, "autonomous_system_organization": f"{town} Telecom"}
        )
    city.to_db_file(str(directory / "GeoLite2-City.mmdb"))
    asn.to_db_file(str(directory / "GeoLite2-ASN.mmdb"))


@pytest.fixture
def geoip(settings: Any) -> Iterator[Path]:
    """Django's GeoIP2 over the test's own databases (GEOLOCATION "auto" picks it up)."""
    settings.GEOIP_PATH = str(written_databases())
    yield written_databases()
    geo.forget_cached()


def start(user: Any, ip: str = BERLIN, tags: list[str] | None = None) -> str:
    return sessions.create(user_id=user.pk, ip_address=ip, user_agent=UA, tags=tags).data.session_token


def events(event_type: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=event_type).order_by("id"))


# --- lookups ----------------------------------------------------------------------------


def test_geoip2_gives_country_city_and_network(geoip):
    assert geo.source_in_use() == "geoip2"
    assert geo.locate(BERLIN) == Location(country="DE", city="Berlin", network="Berlin Telecom")
    assert geo.locate(PARIS) == Location(country="FR", city="Paris", network="Paris Telecom")
    assert geo.locate(PRIVATE) == Location() and not geo.locate(None)


def test_geoip2_country_database_without_asn(settings, tmp_path):
    writer = MMDBWriter(
        ip_version=6,
        database_type="GeoLite2-Country",
        languages=["en"],
        description={"en": "test"},
        ipv4_compatible=True,
    )
    writer.insert_network(IPSet(["192.0.2.0/24"]), {"country": {"iso_code": "FR", "names": {"en": "France"}}})
    writer.to_db_file(str(tmp_path / "GeoLite2-Country.mmdb"))
    settings.GEOIP_PATH = str(tmp_path)
    try:
        assert geo.locate(PARIS) == Location(country="FR")
    finally:
        geo.forget_cached()


def test_offline_country_by_default(settings):
    """No GEOIP_PATH: the offline package's shipped registry data (countries that do not move)."""
    assert geo.source_in_use() == "offline"
    assert geo.locate("193.0.6.139").country == "NL"  # RIPE NCC, Amsterdam
    assert geo.locate("8.8.8.8").country == "US"
    assert geo.locate("2001:67c:2e8::1").country == "NL"
    assert geo.locate(PRIVATE) == Location()


def test_geolocation_off(settings, geoip):
    settings.BYO_SESSIONS = {"GEOLOCATION": None}
    assert geo.source_in_use() is None and geo.locate(BERLIN) == Location()


def test_unreadable_database_gives_no_location_not_an_error(settings, tmp_path):
    (tmp_path / "GeoLite2-City.mmdb").write_bytes(b"not a database")
    settings.GEOIP_PATH = str(tmp_path)
    try:
        assert geo.locate(BERLIN) == Location()
    finally:
        geo.forget_cached()


def test_country_names_follow_the_active_language(settings):
    from django.utils import translation

    assert geo.country_name("DE") == "Germany"
    with translation.override("de"):
        assert geo.country_name("DE") == "Deutschland"
    assert geo.country_name("") == ""


def test_setting_checks(settings):
    settings.BYO_SESSIONS = {"GEOLOCATION": "maxmind"}
    assert "byo_sessions.E050" in [m.id for m in run_checks()]
    settings.BYO_SESSIONS = {"GEOLOCATION": "geoip2"}  # without GEOIP_PATH
    assert "byo_sessions.E050" in [m.id for m in run_checks()]
    settings.BYO_SESSIONS = {"GEOIP_ASN_DATABASE": ""}
    assert "byo_sessions.E050" in [m.id for m in run_checks()]
    settings.BYO_SESSIONS = {"GEOLOCATION": "offline"}
    assert "byo_sessions.E050" not in [m.id for m in run_checks()]


# --- where it is stored ---------------------------------------------------------------


def test_session_and_its_audit_rows_are_located(user, geoip):
    token = start(user)
    session = Session.objects.get()
    assert (session.country, session.city, session.network) == ("DE", "Berlin", "Berlin Telecom")
    created = events("session_created")[0]
    assert (created.country, created.city, created.network) == ("DE", "Berlin", "Berlin Telecom")
    info = sessions.fetch_all_for_user(user_id=user.pk).data[0]
    assert info.location == Location(country="DE", city="Berlin", network="Berlin Telecom")
    assert is_ok(sessions.validate(session_token=token, ip_address=MUNICH, user_agent=UA))
    session.refresh_from_db()
    assert (session.last_ip_address, session.city) == (MUNICH, "Munich")
    assert events("new_country") == []  # same country


def test_device_is_located(user, geoip, clock):
    device_login(user, TestDevice(), clock, ip=PARIS)
    assert Device.objects.get().location == Location(country="FR", city="Paris", network="Paris Telecom")


def test_steady_request_costs_one_query_no_write_and_no_lookup(client: Client, user, geoip, django_assert_num_queries):
    client.force_login(user)  # through byo_sessions' engine (tests/settings.py)
    client.get("/whoami/", REMOTE_ADDR=BERLIN)  # locates the session's first address
    client.get("/whoami/", REMOTE_ADDR=BERLIN)  # warm caches
    geo.forget_cached()
    with django_assert_num_queries(1) as ctx:
        assert client.get("/protected/", REMOTE_ADDR=BERLIN).json()["user"] == user.get_username()
    assert "UPDATE" not in ctx.captured_queries[0]["sql"].upper()
    assert geo._locate.cache_info().misses == 0  # no lookup on the steady path
    assert Session.objects.get().country == "DE"


# --- the country-change rule -----------------------------------------------------------


def test_move_to_another_country_is_audited_and_allowed_by_default(user, geoip):
    token = start(user)
    assert is_ok(sessions.validate(session_token=token, ip_address=PARIS, user_agent=UA))
    session = Session.objects.get()
    assert (session.country, session.city, session.last_ip_address) == ("FR", "Paris", PARIS)
    [moved] = events("new_country")
    assert (moved.reason, moved.details["before"], moved.details["after"], moved.country) == ("allow", "DE", "FR", "FR")
    assert is_ok(sessions.validate(session_token=token, ip_address=PARIS, user_agent=UA))
    assert len(events("new_country")) == 1  # acted on once


def test_country_change_can_end_the_session(user, geoip):
    TagPolicy.objects.create(selector="org:*", on_country_change="invalidate")
    token = start(user, tags=["org:acme"])
    assert is_ok(sessions.validate(session_token=token, ip_address=MUNICH, user_agent=UA))  # same country: fine
    result = sessions.validate(session_token=token, ip_address=PARIS, user_agent=UA)
    assert result.error.type == ErrorType.IP_ADDRESS_CHANGED
    assert result.error.details["reason"] == EndReason.COUNTRY_CHANGED and result.error.details["session_ended"]
    assert result.error.details["policy"] == "org:*" and result.error.details["country"] == "FR"
    session = Session.objects.get()
    assert session.ended_at is not None and session.end_reason == EndReason.COUNTRY_CHANGED
    assert [e.reason for e in events("new_country")] == ["invalidate"]
    ended = events("session_invalidated")[0]
    assert ended.reason == "country_changed" and ended.details["country_after"] == "FR"
    again = sessions.validate(session_token=token, ip_address=PARIS, user_agent=UA)
    assert again.error.type == ErrorType.SESSION_INVALIDATED


def test_unknown_country_is_no_change(user, geoip):
    """A private or unlisted address says nothing about a country: never a reason to end."""
    TagPolicy.objects.create(selector="org:*", on_country_change="invalidate")
    token = start(user, tags=["org:acme"])
    assert is_ok(sessions.validate(session_token=token, ip_address=PRIVATE, user_agent=UA))
    session = Session.objects.get()
    assert (session.ended_at, session.country, session.last_ip_address) == (None, "", PRIVATE)


def test_country_change_challenge_needs_the_device(user, geoip, clock):
    TagPolicy.objects.create(selector="org:*", on_country_change="challenge")
    plain = start(user, tags=["org:acme"])
    refused = sessions.validate(session_token=plain, ip_address=PARIS, user_agent=UA)
    assert refused.error.type == ErrorType.DEVICE_VERIFICATION_REQUIRED

    device = TestDevice()
    token = device_login(user, device, clock, ip=BERLIN, tags=["org:acme"]).data.session_token
    assert is_ok(sessions.validate(session_token=token, ip_address=MUNICH, user_agent=UA))  # same country
    asked = sessions.validate(session_token=token, ip_address=PARIS, user_agent=UA)
    assert asked.error.type == ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED
    bound = Session.objects.get(device__isnull=False)
    assert (bound.country, bound.last_ip_address) == ("DE", MUNICH)  # not accepted yet
    answered = sessions.validate(
        session_token=token,
        ip_address=PARIS,
        user_agent=UA,
        device_verification=(
            DeviceVerification(
                signed_device_challenge=proof(device, clock, nonce=asked.error.details["device_challenge"]),
                request_url=API_URL,
                request_method="GET",
            )
        ),
    )
    assert is_ok(answered)
    bound.refresh_from_db()
    assert (bound.country, bound.last_ip_address) == ("FR", PARIS)
    assert [(e.reason, e.session_id) for e in events("new_country")] == [("challenge_passed", bound.pk)]


def test_login_from_a_new_country_is_audited(user, geoip):
    start(user, ip=BERLIN)
    assert events("new_country") == []  # nothing to compare the first login with
    start(user, ip=MUNICH)
    assert events("new_country") == []
    start(user, ip=PARIS)
    [news] = events("new_country")
    assert (news.reason, news.details["after"], news.details["known"]) == ("login", "FR", ["DE"])
