"""Where an IP address is: its country, and its city and network when the database knows them.

Looked up where a session, a device or an audit row records an IP address (a login, an
accepted IP change, a device binding, an audit event), never on the steady request path:
a session keeps the answer beside ``last_ip_address`` until the address changes.

The source (setting ``GEOLOCATION``):

* ``"geoip2"``: Django's own ``django.contrib.gis.geoip2.GeoIP2`` over the MaxMind or DB-IP
  database in ``GEOIP_PATH`` (a City database also gives the city); an ASN database beside it
  (``GEOIP_ASN_DATABASE``) gives the network.
* ``"offline"``: the country only, from the ``iptocc`` package, which ships its data
  (built from the regional internet registries' delegation files) and needs no download.
* ``"auto"`` (the default): ``"geoip2"`` when ``GEOIP_PATH`` is set, else ``"offline"``.
* ``None``: no lookup; every location is empty.

A private, reserved or unknown address, or a database that cannot be read, gives an empty
``Location``: a location is a hint for people and policies, never a reason to refuse.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import iptocc
from babel import Locale, UnknownLocaleError
from django.conf import settings
from django.core.signals import setting_changed
from django.utils import translation

from ..conf import byo_settings
from ..values import Location

logger = logging.getLogger(__name__)

GEOIP2, OFFLINE, AUTO = "geoip2", "offline", "auto"
SOURCES = (GEOIP2, OFFLINE, AUTO, None)
_CACHE_SIZE = 4096


def locate(ip_address: str | None) -> Location:
    """The location of ``ip_address`` (normalised, as the services store it); cached per process."""
    if not ip_address:
        return Location()
    return _locate(ip_address)


@lru_cache(maxsize=_CACHE_SIZE)
def _locate(ip_address: str) -> Location:
    source = source_in_use()
    try:
        if source == GEOIP2:
            return _from_geoip2(ip_address)
        if source == OFFLINE:
            return _from_offline(ip_address)
    except Exception:  # a damaged or missing database: no location, never a failed request
        logger.warning("byo_sessions: could not locate an IP address with %s", source, exc_info=True)
    return Location()


def source_in_use() -> str | None:
    """``"geoip2"``, ``"offline"`` or None, after resolving ``"auto"``."""
    source = byo_settings.GEOLOCATION
    if source == AUTO:
        return GEOIP2 if getattr(settings, "GEOIP_PATH", None) else OFFLINE
    return source  # type: ignore[no-any-return]


def _from_offline(ip_address: str) -> Location:
    return Location(country=iptocc.country_code(ip_address) or "")


@lru_cache(maxsize=1)
def _readers() -> tuple[Any, Any]:
    """Django's ``GeoIP2`` and, when present, an ASN reader (opened once per process)."""
    # Imported here: the ``geoip2`` package is needed only by projects that configure GEOIP_PATH.
    import geoip2.database
    from django.contrib.gis.geoip2 import GeoIP2

    geoip = GeoIP2()
    asn_path = Path(getattr(settings, "GEOIP_PATH", "")) / byo_settings.GEOIP_ASN_DATABASE
    asn = geoip2.database.Reader(str(asn_path)) if asn_path.is_file() else None
    return geoip, asn


def _from_geoip2(ip_address: str) -> Location:
    from geoip2.errors import AddressNotFoundError

    geoip, asn = _readers()
    country = city = network = ""
    try:
        found = geoip.city(ip_address) if geoip.is_city else geoip.country(ip_address)
        country, city = found.get("country_code") or "", found.get("city") or ""
    except AddressNotFoundError:
        pass
    if asn is not None:
        try:
            network = asn.asn(ip_address).autonomous_system_organization or ""
        except AddressNotFoundError:
            pass
    return Location(country=country[:2], city=city[:100], network=network[:200])


def country_name(code: str) -> str:
    """The country's name in the active language (CLDR, through Babel), or the code itself."""
    if not code:
        return ""
    try:
        locale = Locale.parse(translation.get_language() or settings.LANGUAGE_CODE, sep="-")
    except (UnknownLocaleError, ValueError):
        locale = Locale("en")
    return str(locale.territories.get(code.upper(), code))


def forget_cached() -> None:
    """Drop cached answers and open databases (settings changed, or a database was updated)."""
    _locate.cache_clear()
    _readers.cache_clear()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("BYO_SESSIONS", "GEOIP_PATH", "GEOIP_CITY", "GEOIP_COUNTRY"):
        forget_cached()


setting_changed.connect(_on_setting_changed)
