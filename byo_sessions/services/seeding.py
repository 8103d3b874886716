"""Seeding a database for load and benchmark work: users, devices, sessions, tag rows,
retired tokens and audit rows shaped as the services write them.

Every value is derived from ``(seed, index)``, so a benchmark recomputes any session's
token with :func:`seed_token` and it validates (its SHA-256 is the stored ``token_hash``).
Anyone who knows the seed can do the same: seed benchmark databases only.

A share of the users (``Plan.device_percent``) has one remembered device (a P-256 key
derived from the seed, :func:`seed_device_key`), and their sessions are bound to it (a
proof is needed only where a policy asks for one, as for any bound session).

Rows are generated in chunks and written with PostgreSQL's ``COPY`` (psycopg) or, on
other databases, ``bulk_create``: memory is bounded by the chunk.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Model

from ..conf import byo_settings
from ..core import clock
from ..core.dpop import jwk_thumbprint
from ..core.ids import RANDOM_BYTES, time_ordered_id
from ..core.tokens import hash_token
from ..core.user_agent import parse_user_agent
from ..models import SESSION_ID_PREFIX, AuditEvent, Device, EndReason, RetiredToken, Session, SessionTag
from . import audit

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36 Edg/131.0.0.0",
)
ROLES = ("role:member", "role:member", "role:member", "role:admin")
LOGIN_TYPES = ("login_type:password", "login_type:sso")
SEED_ACTOR = "seed"
USERNAME_PREFIX = "seed_user_"


def _digest(seed: int, what: str) -> bytes:
    return hashlib.sha256(f"byo-seed:{seed}:{what}".encode()).digest()


def seed_token(seed: int, index: int) -> str:
    """The current token of seeded session ``index`` (0-based)."""
    body = base64.urlsafe_b64encode(_digest(seed, f"token:{index}")).rstrip(b"=").decode("ascii")
    return byo_settings.TOKEN_PREFIX + body


def seed_session_id(seed: int, index: int, created_at: datetime) -> str:
    """Seeded session ``index``'s id, made at its creation as ``new_session_id`` makes one."""
    return time_ordered_id(SESSION_ID_PREFIX, created_at, _digest(seed, f"id:{index}")[:RANDOM_BYTES])


@dataclass(frozen=True, slots=True)
class Plan:
    users: int
    sessions: int
    orgs: int = 100
    max_age_days: int = 30
    ended_percent: int = 30
    rotated_percent: int = 50
    device_percent: int = 10
    seed: int = 1
    lifetime: timedelta = timedelta(days=14)


def org_of(plan: Plan, index: int) -> int:
    """Session ``index`` belongs to user ``index % users``, whose org is ``user % orgs``."""
    return (index % plan.users) % plan.orgs


def _number(seed: int, index: int, what: str) -> int:
    return int.from_bytes(_digest(seed, f"{what}:{index}")[:8], "big")


def has_device(plan: Plan, user_index: int) -> bool:
    """Whether seeded user ``user_index`` has a device (and its sessions are bound to it)."""
    return _number(plan.seed, user_index, "device") % 100 < plan.device_percent


AGE_JITTER_SECONDS = 3600


def _age(plan: Plan, index: int) -> timedelta:
    """Older sessions first, as a site accumulates them: session ``index`` was created
    ``(sessions - index) / sessions`` of ``max_age_days`` ago, give or take up to an hour.
    Rows are written in index order, so the tables' physical order follows creation time
    as on a real site; with random ages, benchmarks of pruning and bulk ending would measure
    a layout no site has."""
    span = plan.max_age_days * 86400
    base = span * (plan.sessions - index) // plan.sessions
    jitter = _number(plan.seed, index, "age") % AGE_JITTER_SECONDS
    return timedelta(seconds=max(0, min(span - 1, base - jitter)))


def _b64url(number: int) -> str:
    return base64.urlsafe_b64encode(number.to_bytes(32, "big")).rstrip(b"=").decode("ascii")


def seed_device_key(seed: int, user_index: int) -> ec.EllipticCurvePrivateKey:
    """The private key of seeded user ``user_index``'s device (to sign proofs in benchmarks)."""
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256's group order
    secret = int.from_bytes(_digest(seed, f"device:{user_index}"), "big") % (order - 1) + 1
    return ec.derive_private_key(secret, ec.SECP256R1())


def seed_device_id(seed: int, user_index: int) -> str:
    return "dev_" + base64.urlsafe_b64encode(_digest(seed, f"device_id:{user_index}")).decode("ascii")[:16]


def device_jwk(seed: int, user_index: int) -> dict[str, str]:
    numbers = seed_device_key(seed, user_index).public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": _b64url(numbers.x), "y": _b64url(numbers.y)}


@dataclass(slots=True)
class Rows:
    sessions: list[tuple[Any, ...]]
    tags: list[tuple[Any, ...]]
    retired: list[tuple[Any, ...]]
    events: list[tuple[Any, ...]]


SESSION_COLUMNS = (
    "id",
    "user_id",
    "token_hash",
    "generation",
    "token_issued_at",
    "created_at",
    "last_activity_at",
    "expires_at",
    "ended_at",
    "end_reason",
    "ended_by",
    "ip_address",
    "last_ip_address",
    "user_agent",
    "last_user_agent",
    "client",
    "tags",
    "metadata",
    "device_id",
    "device_thumbprint",
    "data",
    "authenticated_at",
    "authentication_factors",
    "reauthentication_failures",
    "country",
    "city",
    "network",
)
TAG_COLUMNS = ("session_id", "tag")
RETIRED_COLUMNS = ("token_hash", "session_id", "generation", "retired_at")
EVENT_COLUMNS = audit.ROW_COLUMNS
DEVICE_COLUMNS = (
    "id",
    "user_id",
    "external_user_id",
    "thumbprint",
    "public_jwk",
    "display_name",
    "remembered",
    "first_seen_at",
    "last_seen_at",
    "last_ip_address",
    "last_user_agent",
    "country",
    "city",
    "network",
)


def _chunk(
    plan: Plan, user_ids: list[Any], bindings: dict[int, tuple[str, str]], start: int, stop: int, now: datetime
) -> Rows:
    clients = [json.dumps(parse_user_agent(ua).to_dict()) for ua in USER_AGENTS]
    rows = Rows([], [], [], [])
    for i in range(start, stop):
        user = user_ids[i % plan.users]
        org = org_of(plan, i)
        created = now - _age(plan, i)
        sid = seed_session_id(plan.seed, i, created)
        age = now - created
        # Last seen within the last three days (or at creation): live under the 7-day idle default.
        idle = _number(plan.seed, i, "active") % max(1, int(min(age, timedelta(days=3)).total_seconds()))
        active = now - timedelta(seconds=idle)
        generation = 1 if _number(plan.seed, i, "rotated") % 100 < plan.rotated_percent else 0
        ended = _number(plan.seed, i, "ended") % 100 < plan.ended_percent
        ended_at = active if ended else None
        ip = f"10.{org % 256}.{(i // 256) % 256}.{i % 256}"
        ua_index = i % len(USER_AGENTS)
        tags = [f"org:{org}", ROLES[i % len(ROLES)], LOGIN_TYPES[i % len(LOGIN_TYPES)]]
        rows.sessions.append(
            (
                sid,
                user,
                hash_token(seed_token(plan.seed, i)),
                generation,
                active if generation else created,
                created,
                active,
                created + plan.lifetime,
                ended_at,
                EndReason.LOGOUT if ended else "",
                "",
                ip,
                ip,
                USER_AGENTS[ua_index],
                USER_AGENTS[ua_index],
                clients[ua_index],
                json.dumps(tags),
                "{}",
                *bindings.get(i % plan.users, (None, "")),
                "",
                created,
                json.dumps({"password": created.isoformat()}),
                0,
                "",
                "",
                "",
            )
        )  # a password login, as login() records
        rows.tags.extend((sid, tag) for tag in tags)
        ref, ua = str(user), USER_AGENTS[ua_index]
        rows.events.append(
            (created, AuditEvent.Type.SESSION_CREATED, sid, ref, ip, ua, "", SEED_ACTOR, "{}", "", "", "")
        )
        if generation:
            retired = hash_token(seed_token(plan.seed, i) + ":retired")
            rows.retired.append((retired, sid, 0, active))
            rows.events.append(
                (active, AuditEvent.Type.SESSION_ROTATED, sid, ref, ip, ua, "", SEED_ACTOR, "{}", "", "", "")
            )
        if ended_at is not None:
            rows.events.append(
                (
                    ended_at,
                    AuditEvent.Type.SESSION_INVALIDATED,
                    sid,
                    ref,
                    ip,
                    ua,
                    EndReason.LOGOUT,
                    SEED_ACTOR,
                    "{}",
                    "",
                    "",
                    "",
                )
            )
    return rows


def _copy(table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    qn = connection.ops.quote_name
    raw = connection.connection
    assert raw is not None
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY {qn(table)} ({', '.join(qn(c) for c in columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def _bulk(model: type[Model], columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    json_fields = {f.column for f in model._meta.concrete_fields if f.get_internal_type() == "JSONField"}
    attnames = {f.column: f.attname for f in model._meta.concrete_fields}
    objects = [
        model(**{attnames[c]: json.loads(v) if c in json_fields else v for c, v in zip(columns, row, strict=True)})
        for row in rows
    ]
    model._default_manager.bulk_create(objects, batch_size=500)


def _users(plan: Plan) -> list[Any]:
    """``plan.users`` users named ``seed_user_<n>`` (existing ones reused), unusable passwords."""
    model = get_user_model()
    field = model.USERNAME_FIELD
    names = [f"{USERNAME_PREFIX}{n}" for n in range(plan.users)]
    existing = set(
        model._default_manager.filter(**{f"{field}__startswith": USERNAME_PREFIX}).values_list(field, flat=True)
    )
    missing = [model(**{field: name, "password": "!"}) for name in names if name not in existing]
    model._default_manager.bulk_create(missing, batch_size=5000)
    by_name = dict(model._default_manager.filter(**{f"{field}__startswith": USERNAME_PREFIX}).values_list(field, "pk"))
    return [by_name[name] for name in names]


def _devices(
    plan: Plan, user_ids: list[Any], now: datetime
) -> tuple[dict[int, tuple[str, str]], list[tuple[Any, ...]]]:
    """(device id, thumbprint) by user index, and the device rows."""
    bindings: dict[int, tuple[str, str]] = {}
    thumbprints: dict[int, str] = {}
    jwks: dict[int, dict[str, str]] = {}
    for u in range(plan.users):
        if has_device(plan, u):
            jwks[u] = device_jwk(plan.seed, u)
            thumbprints[u] = jwk_thumbprint(jwks[u])
    rows = []
    for u, thumbprint in thumbprints.items():
        seen = now - timedelta(seconds=_number(plan.seed, u, "device_seen") % (3 * 86400))
        first = seen - timedelta(seconds=_number(plan.seed, u, "device_first") % (plan.max_age_days * 86400))
        ua = USER_AGENTS[u % len(USER_AGENTS)]
        device_id = seed_device_id(plan.seed, u)
        bindings[u] = (device_id, thumbprint)
        rows.append(
            (device_id, user_ids[u], None, thumbprint, json.dumps(jwks[u]), "", True, first, seen, None, ua, "", "", "")
        )
    return bindings, rows


def seed(plan: Plan, *, chunk: int = 20_000, progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Write ``plan``; each chunk is one transaction. Returns rows written per table."""
    now = clock.now()
    user_ids = _users(plan)
    bindings, devices = _devices(plan, user_ids, now)
    written = {
        "users": len(user_ids),
        "devices": len(devices),
        "sessions": 0,
        "tags": 0,
        "retired_tokens": 0,
        "audit_events": 0,
    }
    postgres = connection.vendor == "postgresql"

    def put(model: type[Model], columns: tuple[str, ...], batch: list[tuple[Any, ...]]) -> None:
        if postgres:
            _copy(model._meta.db_table, columns, batch)
        else:
            _bulk(model, columns, batch)

    with transaction.atomic():
        connection.ensure_connection()
        put(Device, DEVICE_COLUMNS, devices)
    tables: list[tuple[type[Model], tuple[str, ...], str, str]] = [
        (Session, SESSION_COLUMNS, "sessions", "sessions"),
        (SessionTag, TAG_COLUMNS, "tags", "tags"),
        (RetiredToken, RETIRED_COLUMNS, "retired", "retired_tokens"),
        (AuditEvent, EVENT_COLUMNS, "events", "audit_events"),
    ]
    for start in range(0, plan.sessions, chunk):
        rows = _chunk(plan, user_ids, bindings, start, min(plan.sessions, start + chunk), now)
        with transaction.atomic():
            connection.ensure_connection()
            for model, columns, attr, key in tables:
                batch = getattr(rows, attr)
                put(model, columns, batch)
                written[key] += len(batch)
        if progress is not None:
            progress(written["sessions"])
    return written


def sessions_of_org(plan: Plan, org: int) -> Iterator[int]:
    """Indexes of the seeded sessions of one org (what ``--tag org:<n>`` selects, live or not)."""
    return (i for i in range(plan.sessions) if org_of(plan, i) == org)
