"""Data: sessions, their tags, devices, tag policies, audit events, used proof ids.

Writes happen only in ``services/``; these classes hold structure and small derived
properties. A session belongs to a Django user (``user``), or, when the HTTP session
server serves another backend, to the caller's own string id (``external_user_id``), or
to nobody: an anonymous visitor's session that exists only because Django code stored
data in ``request.session`` (a cart, allauth's pending login, ``CSRF_USE_SESSIONS``). A
check constraint keeps at most one owner set.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Func, Q
from django.db.models.fields.json import KT
from django.utils.deconstruct import deconstructible

from .core import clock
from .core.ids import time_ordered_id
from .core.policy import MAX_LABEL_LENGTH, PolicyValueError, priority_error, selector_error, validate_overrides
from .values import Location

# Where ``last_ip_address`` is (services/geo.py), written with it: read without a lookup.
COUNTRY_MAX_LENGTH, CITY_MAX_LENGTH, NETWORK_MAX_LENGTH = 2, 100, 200


class LocatedModel(models.Model):
    """The location columns a session, a device and an audit event share."""

    country = models.CharField(
        max_length=COUNTRY_MAX_LENGTH,
        blank=True,
        default="",
        help_text="ISO 3166-1 alpha-2 code of the last IP address's country.",
    )
    city = models.CharField(max_length=CITY_MAX_LENGTH, blank=True, default="")
    network = models.CharField(
        max_length=NETWORK_MAX_LENGTH,
        blank=True,
        default="",
        help_text="The autonomous system's organisation, when the database has it.",
    )

    class Meta:
        abstract = True

    @property
    def location(self) -> Location:
        return Location(country=self.country, city=self.city, network=self.network)

    def set_location(self, location: Location) -> None:
        self.country, self.city, self.network = location.country, location.city, location.network


SESSION_ID_PREFIX = "ses_"


def new_session_id(created_at: datetime | None = None) -> str:
    """Time first (``created_at``, the clock's now by default), then 128 random bits
    (core/ids.py says why the order)."""
    return time_ordered_id(SESSION_ID_PREFIX, created_at or clock.now())


def new_device_id() -> str:
    return "dev_" + secrets.token_urlsafe(12)


def new_key_id() -> str:
    return "key_" + secrets.token_urlsafe(12)


class EndReason(models.TextChoices):
    LOGOUT = "logout", "Logged out"
    LOGIN_REPLACED = "login_replaced", "Replaced by a new login"
    USER = "user", "Ended by the user"
    ADMIN = "admin", "Ended by an admin"
    BULK = "bulk", "Bulk invalidation"
    API = "api", "Ended through the API"
    EXPIRED_ABSOLUTE = "expired_absolute", "Expired (absolute lifetime)"
    EXPIRED_INACTIVITY = "expired_inactivity", "Expired (inactivity)"
    USER_INACTIVE = "user_inactive", "User deactivated"
    PASSWORD_CHANGED = "password_changed", "Password changed"
    TOKEN_REUSE_DETECTED = "token_reuse_detected", "Token reuse detected"
    IP_CHANGED = "ip_changed", "IP address changed"
    USER_AGENT_CHANGED = "user_agent_changed", "User-Agent changed"
    SESSION_LIMIT = "session_limit", "Concurrent session limit"
    REAUTHENTICATION_FAILED = "reauthentication_failed", "Re-authentication failed too often"
    COUNTRY_CHANGED = "country_changed", "Country changed"


SESSION_ID_MAX_LENGTH = 40  # ids longer than this name no session (looked up without a query)


class BrowserFamily(Func):
    """The browser family read from the User-Agent at login (``client["browser"]``, e.g.
    "Chrome"), lower-cased. The admin's search by browser is an equality on it, served by an
    expression index, so nothing more is written or parsed per request.

    On SQLite it is written without parameters: SQLite uses an expression index only for
    the very same expression text, and Django's JSON key lookup binds the key as one."""

    function = "LOWER"

    def __init__(self) -> None:
        super().__init__(KT("client__browser"), output_field=models.CharField())

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        key: Any = self.source_expressions[0]
        column, params = compiler.compile(key.lhs)
        return f"LOWER(JSON_EXTRACT({column}, '$.browser'))", params


class SessionQuerySet(models.QuerySet["Session"]):
    def live(self, now: datetime) -> SessionQuerySet:
        """Not ended and before the absolute expiry stored on the row: what SQL can decide.

        A policy can end a session sooner (inactivity, a lifetime shortened since), which
        depends on each session's tags: ``services/expiry.py`` decides that on the rows."""
        return self.filter(ended_at__isnull=True, expires_at__gt=now)


class Session(LocatedModel):
    id = models.CharField(primary_key=True, max_length=SESSION_ID_MAX_LENGTH, default=new_session_id, editable=False)
    # Indexed by byo_session_user_idx (Meta): no index of this table names ended_at (see Meta).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="byo_sessions",
        db_index=False,
    )
    external_user_id = models.CharField(max_length=255, null=True, blank=True)

    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    previous_token_hash = models.CharField(max_length=64, null=True, blank=True, editable=False)
    previous_token_valid_until = models.DateTimeField(null=True, blank=True, editable=False)
    generation = models.PositiveIntegerField(default=0, editable=False)
    token_issued_at = models.DateTimeField()

    created_at = models.DateTimeField()
    last_activity_at = models.DateTimeField()
    expires_at = models.DateTimeField(help_text="Absolute expiry fixed at creation.")
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=40, choices=EndReason.choices, blank=True, default="")
    ended_by = models.CharField(max_length=200, blank=True, default="")

    ip_address = models.GenericIPAddressField("IP address at login", null=True, blank=True)
    last_ip_address = models.GenericIPAddressField("last IP address", null=True, blank=True)
    user_agent = models.TextField("User-Agent at login", blank=True, default="")
    last_user_agent = models.TextField("last User-Agent", blank=True, default="")
    client = models.JSONField(default=dict, blank=True, help_text="Parsed User-Agent summary.")

    tags = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Indexed by byo_session_device_idx (Meta): only bound sessions get an entry.
    device = models.ForeignKey(
        "Device", null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions", db_index=False
    )
    # The bound key's thumbprint, copied here so per-request device checks need no join.
    device_thumbprint = models.CharField(max_length=64, blank=True, default="", editable=False)
    # ``request.session``'s data (Django's session framework), serialised with SESSION_SERIALIZER.
    data = models.TextField(blank=True, default="", editable=False)
    # How and when the user last proved who they are (login, then each re-authentication):
    # ``{factor: ISO time}`` and the latest of them. Sensitive actions demand a recent one
    # (``reauth_required``, ASVS 3.7.1). Null for a visitor's session.
    authenticated_at = models.DateTimeField(null=True, blank=True, editable=False)
    authentication_factors = models.JSONField(default=dict, blank=True, editable=False)
    # Wrong answers to a re-authentication since the last right one: the session ends at
    # ``REAUTH_MAX_FAILURES`` (a stolen cookie must not become a password oracle).
    reauthentication_failures = models.PositiveSmallIntegerField(default=0, editable=False)

    objects = SessionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        # Viewing sessions (Django's view_session) must not let staff end them; see docs/audit.md#admin.
        permissions = [("end_session", "Can end sessions")]
        # Ending a session writes ended_at, end_reason, ended_by and data: no index names
        # them (not even in a condition), so with the free room FILLFACTOR leaves in each
        # page (migration 0013) an ending is a HOT update, a new row version on the same
        # page and no new index entry. That is what keeps bulk endings cheap per row
        # (docs/benchmarks.md, "Operator tooling at 1M sessions"). A user's sessions are
        # few, so (user) alone serves live and ended lookups; counts by state scan the table
        # once (selectors.session_counts) as an index could not help them (most rows match).
        indexes = [
            models.Index(fields=["user"], name="byo_session_user_idx"),
            models.Index(
                fields=["external_user_id"],
                condition=Q(external_user_id__isnull=False),
                name="byo_session_ext_user_idx",
            ),
            models.Index(fields=["device"], condition=Q(device__isnull=False), name="byo_session_device_idx"),
            models.Index(fields=["expires_at"], name="byo_session_expires_idx"),
            # Meta indexes, not db_index: PostgreSQL gets no unused varchar_pattern_ops (_like) copy.
            models.Index(fields=["previous_token_hash"], name="byo_session_prev_token_idx"),
            # The admin's default order (newest first, pk as tie-break) and its date filter.
            models.Index(fields=["created_at", "id"], name="byo_session_created_idx"),
            models.Index(fields=["last_ip_address"], name="byo_session_last_ip_idx"),  # admin search by IP
            # Admin search by browser, newest first.
            models.Index(BrowserFamily(), F("created_at"), name="byo_session_browser_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=True) | Q(external_user_id__isnull=True),
                name="byo_session_at_most_one_owner",
            )
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def owner_ref(self) -> str:
        """The user as a string, whichever kind of owner this is ("" when anonymous)."""
        if self.user_id is not None:
            return str(self.user_id)
        return "" if self.external_user_id is None else str(self.external_user_id)

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None and self.external_user_id is None


# CHILD_OF_SESSION: the tag rows and retired tokens of a session refer to it without a
# database foreign-key constraint. PostgreSQL checks such a constraint with per-row queries
# when a session is deleted, even after its children were deleted first: pruning a million
# dead sessions spent 15-53 s of its 55-108 s in those checks (docs/benchmarks.md). The
# rows stay consistent through the code: pruning deletes a batch's children before the
# sessions, the ORM still cascades (``on_delete=CASCADE``) for ``Session.delete()`` and a
# deleted user, and sessions are never deleted any other way. A child written for a
# session deleted at that very moment (a rotation racing a prune of a just-expired
# session) would outlive it: retired tokens age out through their own retention, and a
# tag row only counts where it joins a session.


class SessionTag(models.Model):
    """One row per (session, tag): the indexed form of ``Session.tags`` for bulk selection."""

    # Not indexed alone: the unique (session, tag) constraint's index leads with it. No
    # database constraint: CHILD_OF_SESSION below.
    session = models.ForeignKey(
        Session, on_delete=models.CASCADE, related_name="tag_rows", db_index=False, db_constraint=False
    )
    tag = models.CharField(max_length=161)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["session", "tag"], name="byo_session_tag_unique")]
        # (tag, session): a tag's sessions in id order, read from the index alone (bulk ending
        # walks it batch by batch).
        indexes = [models.Index(fields=["tag", "session"], name="byo_session_tag_idx")]


class RetiredToken(models.Model):
    """Hashes of tokens older than ``previous``; presenting one is token theft."""

    token_hash = models.CharField(max_length=64, unique=True)
    session = models.ForeignKey(
        Session, on_delete=models.CASCADE, related_name="retired_tokens", db_constraint=False
    )  # no database constraint: CHILD_OF_SESSION
    generation = models.PositiveIntegerField()
    retired_at = models.DateTimeField()


class Device(LocatedModel):
    id = models.CharField(primary_key=True, max_length=40, default=new_device_id, editable=False)
    # Not indexed alone: the unique (user, thumbprint) constraint's index leads with it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="byo_devices",
        db_index=False,
    )
    external_user_id = models.CharField(max_length=255, null=True, blank=True)
    thumbprint = models.CharField(max_length=64, help_text="RFC 7638 JWK thumbprint of the device key.")
    public_jwk = models.JSONField()
    display_name = models.CharField(max_length=200, blank=True, default="")
    remembered = models.BooleanField(default=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    last_ip_address = models.GenericIPAddressField("last IP address", null=True, blank=True)
    last_user_agent = models.TextField("last User-Agent", blank=True, default="")

    class Meta:
        ordering = ["-last_seen_at"]
        indexes = [models.Index(fields=["last_seen_at"], name="byo_device_last_seen_idx")]  # the admin's order
        constraints = [
            models.UniqueConstraint(
                fields=["user", "thumbprint"], condition=Q(user__isnull=False), name="byo_device_user_key"
            ),
            models.UniqueConstraint(
                fields=["external_user_id", "thumbprint"],
                condition=Q(external_user_id__isnull=False),
                name="byo_device_ext_user_key",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name or self.thumbprint[:12]


class UsedProof(models.Model):
    """``jti`` values of accepted device proofs, kept until they could no longer be replayed."""

    jti_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(db_index=True)


def _refuse(problem: str | None) -> None:
    if problem is not None:
        raise ValidationError(problem[:1].upper() + problem[1:])


def validate_policy_selector(value: object) -> None:
    """The selector check ``PolicyRule`` applies, so a row that saves is a rule that loads."""
    _refuse(selector_error(value))


def validate_policy_priority(value: object) -> None:
    """The priority check ``PolicyRule`` applies (one bound, in ``policy.py``)."""
    _refuse(priority_error(value))


@deconstructible
class PolicyKeyValidator:
    """Checks one policy key with ``validate_overrides``, the cleaner the rule loader uses."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, value: Any) -> None:
        try:
            validate_overrides({self.key: value})
        except PolicyValueError as exc:
            raise ValidationError([message for _path, message in exc.errors]) from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PolicyKeyValidator) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)


def _key(name: str) -> list[PolicyKeyValidator]:
    return [PolicyKeyValidator(name)]


class TagPolicy(models.Model):
    """A rule selected by a session tag (``org:acme``) or a tag type (``org:*``).

    Each field left empty means "not set by this rule"; see ``docs/policies.md`` for how
    several matching rules and the defaults merge.
    """

    selector = models.CharField(
        max_length=161,
        unique=True,
        help_text="A tag such as org:acme, or a tag type such as org:* .",
        validators=[validate_policy_selector],
    )
    priority = models.IntegerField(
        default=0, help_text="Lower wins among rules of the same tag type.", validators=[validate_policy_priority]
    )
    description = models.CharField(max_length=MAX_LABEL_LENGTH, blank=True, default="")
    absolute_lifetime_secs = models.PositiveIntegerField(
        null=True, blank=True, validators=_key("absolute_lifetime_secs")
    )
    inactivity_timeout_secs = models.PositiveIntegerField(
        null=True, blank=True, validators=_key("inactivity_timeout_secs")
    )
    ip_allowlist = models.JSONField(
        null=True,
        blank=True,
        help_text='CIDR list, e.g. ["10.0.0.0/8", "2001:db8::/32"].',
        validators=_key("ip_allowlist"),
    )
    ip_blocklist = models.JSONField(null=True, blank=True, help_text="CIDR list.", validators=_key("ip_blocklist"))
    disallow_ip_address_changes = models.BooleanField(null=True, blank=True)
    on_ip_address_change = models.CharField(
        max_length=20,
        null=True,
        blank=True,
        choices=[("allow", "Allow"), ("challenge", "Require a device challenge"), ("invalidate", "End the session")],
    )
    on_user_agent_change = models.CharField(
        max_length=20, null=True, blank=True, choices=[("allow", "Allow"), ("invalidate", "End the session")]
    )
    on_country_change = models.CharField(
        max_length=20,
        null=True,
        blank=True,
        choices=[("allow", "Allow"), ("challenge", "Require a device challenge"), ("invalidate", "End the session")],
        help_text="When a session's IP address moves to another country.",
    )
    max_concurrent_sessions_per_user = models.PositiveIntegerField(
        null=True, blank=True, validators=_key("max_concurrent_sessions_per_user")
    )
    max_concurrent_sessions_per_user_per_tag = models.PositiveIntegerField(
        null=True, blank=True, validators=_key("max_concurrent_sessions_per_user_per_tag")
    )
    on_session_limit_exceeded = models.CharField(
        max_length=40,
        null=True,
        blank=True,
        choices=[
            ("drop_oldest", "End the oldest session"),
            ("drop_least_recently_active", "End the least recently active session"),
            ("reject_new", "Refuse the new login"),
        ],
    )
    rotation_interval_secs = models.PositiveIntegerField(
        null=True, blank=True, validators=_key("rotation_interval_secs")
    )
    device_verification_required = models.BooleanField(null=True, blank=True)
    allow_session_extension = models.BooleanField(
        null=True, blank=True, help_text="Whether validation may extend a session's absolute lifetime."
    )
    max_extended_lifetime_secs = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=_key("max_extended_lifetime_secs"),
        help_text="The longest an extended session may live, counted from its creation.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "selector"]
        verbose_name_plural = "tag policies"

    def __str__(self) -> str:
        return self.selector


class PolicySetting(models.Model):
    """Singleton-ish key/value rows for policy-wide settings edited in admin (tag priority, create-only types)."""

    key = models.CharField(max_length=50, unique=True)
    value = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)


class PolicyVersion(models.Model):
    """One row whose counter bumps on every policy change; processes compare it to drop their cache."""

    version = models.BigIntegerField(default=0)


# The audit event types byo_audit_type_idx leaves out (see AuditEvent.Meta).
AUDIT_TYPES_NOT_INDEXED_BY_TYPE = ("session_created", "session_rotated", "session_invalidated")
# Endings, written from the session's row (services/ending.py): their IP address is the
# session's last seen, not a request's, so byo_audit_ip_idx and the admin's IP search
# leave them out (see AuditEvent.Meta).
AUDIT_TYPES_WITH_THE_SESSIONS_IP = ("session_invalidated", "session_expired")


class AuditEvent(LocatedModel):
    """Append-only record of a session lifecycle event. Never holds a raw token."""

    class Type(models.TextChoices):
        SESSION_CREATED = "session_created", "Session created"
        SESSION_ROTATED = "session_rotated", "Token rotated"
        SESSION_INVALIDATED = "session_invalidated", "Session ended"
        BULK_INVALIDATION = "bulk_invalidation", "Sessions ended in bulk"  # one per byo_invalidate run
        SESSION_EXPIRED = "session_expired", "Session expired"
        SESSION_UPDATED = "session_updated", "Session updated"
        SESSION_MIGRATED = "session_migrated", "Moved from Django's sessions"
        SESSION_REAUTHENTICATED = "session_reauthenticated", "Re-authenticated"
        REAUTHENTICATION_FAILED = "reauthentication_failed", "Re-authentication failed"
        SESSION_EXTENDED = "session_extended", "Session extended"
        VALIDATION_FAILED = "validation_failed", "Validation failed"
        TOKEN_REUSE_DETECTED = "token_reuse_detected", "Token reuse detected (theft)"
        IP_CHANGED = "ip_changed", "IP address changed"
        USER_AGENT_CHANGED = "user_agent_changed", "User-Agent changed"
        SESSION_LIMIT_EXCEEDED = "session_limit_exceeded", "Session limit reached"
        NEW_COUNTRY = "new_country", "New country"
        DEVICE_REGISTERED = "device_registered", "Device registered"
        NEW_DEVICE_DETECTED = "new_device_detected", "New device"
        DEVICE_VERIFICATION_FAILED = "device_verification_failed", "Device proof refused"
        DEVICE_CHALLENGE_ISSUED = "device_challenge_issued", "Device challenge issued"
        DEVICE_REVOKED = "device_revoked", "Device revoked"
        POLICY_CHANGED = "policy_changed", "Policy changed"
        SIGNING_KEY_CREATED = "signing_key_created", "Signing key created"
        SIGNING_KEY_ROTATED = "signing_key_rotated", "Signing keys rotated"
        SIGNING_KEY_REENCRYPTED = "signing_key_reencrypted", "Signing key re-encrypted"
        INTEGRATION_KEY_CREATED = "integration_key_created", "Integration key created"
        INTEGRATION_KEY_REVOKED = "integration_key_revoked", "Integration key revoked"

    created_at = models.DateTimeField()
    event_type = models.CharField(max_length=40, choices=Type.choices)
    session_id = models.CharField(max_length=40, blank=True, default="")
    user_ref = models.CharField(max_length=255, blank=True, default="")
    ip_address = models.GenericIPAddressField("IP address", null=True, blank=True)
    user_agent = models.TextField("User-Agent", blank=True, default="")
    reason = models.CharField(max_length=60, blank=True, default="")
    actor = models.CharField(max_length=200, blank=True, default="")
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # Each lookup (a session's timeline, a user's events, one type, the whole trail) comes
        # with the default order, so each index ends with it; Meta indexes, so PostgreSQL gets
        # no unused _like copies.
        indexes = [
            models.Index(fields=["created_at", "id"], name="byo_audit_created_idx"),
            models.Index(fields=["session_id", "created_at"], name="byo_audit_session_idx"),
            models.Index(fields=["user_ref", "created_at"], name="byo_audit_user_idx"),
            # Rows of the per-session lifecycle types are most of the trail and written in
            # bulk (a login, a rotation, each session a bulk run ends); a filter on one of
            # them finds its page along byo_audit_created_idx, so they stay out of this index
            # and each such write maintains one index fewer. The rarer types (security
            # events, devices, keys) are found here.
            models.Index(
                fields=["event_type", "created_at"],
                name="byo_audit_type_idx",
                condition=~Q(event_type__in=AUDIT_TYPES_NOT_INDEXED_BY_TYPE),
            ),
            # The admin's IP search: the events requests from an address caused. An ending's
            # row holds the session's last address, where its earlier rows (created, IP
            # changed) already put it; leaving endings out spares a bulk run an index entry
            # per session (about a sixth of its time at 1M sessions).
            models.Index(
                fields=["ip_address", "created_at"],
                name="byo_audit_ip_idx",
                condition=~Q(event_type__in=AUDIT_TYPES_WITH_THE_SESSIONS_IP),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.session_id}"


class DailyCount(models.Model):
    """One number of one UTC day of the audit trail, kept by ``services/rollups.py`` so the
    overview's 7 and 30 days read a few hundred rows instead of every audit row.

    ``kind`` says what ``count`` counts: ``event`` (audit events of type ``key`` with
    ``reason``), ``logins`` (distinct users who logged in), ``failed_user`` / ``failed_ip``
    (failed validations of one user or IP address: each day's top ``ROLLUP_TOP``), and
    ``day``, the marker that the day was rolled up (``count``: the events counted).
    """

    class Kind(models.TextChoices):
        DAY = "day", "Day rolled up"
        EVENT = "event", "Audit events"
        LOGINS = "logins", "Users who logged in"
        FAILED_USER = "failed_user", "Failed validations of a user"
        FAILED_IP = "failed_ip", "Failed validations from an IP address"
        NEW_BY_COUNTRY = "country", "New sessions from a country"

    day = models.DateField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    key = models.CharField(max_length=255, blank=True, default="")
    reason = models.CharField(max_length=60, blank=True, default="")
    count = models.PositiveBigIntegerField()
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["day", "kind", "key", "reason"]
        # Its index (day first) serves the overview's one range read.
        constraints = [models.UniqueConstraint(fields=["day", "kind", "key", "reason"], name="byo_daily_count_unique")]

    def __str__(self) -> str:
        return f"{self.day} {self.kind} {self.key} {self.reason}: {self.count}"


class SigningKey(models.Model):
    """An RS256 key pair for stateless tokens (``services/signing_keys.py``).

    The private key is stored only encrypted (AES-GCM under a key derived from
    ``SECRET_KEY``), so a database dump alone cannot mint tokens. The state (next,
    active, retired, expired) is derived from the two times, never stored: a stored flag
    would need a job to flip it at the right moment, times need nothing.
    """

    kid = models.CharField(max_length=40, unique=True, default=new_key_id, editable=False)
    # Unique and increasing: concurrent first-key creations or rotations collide on it
    # (IntegrityError) instead of both inserting a key.
    serial = models.PositiveIntegerField(unique=True, editable=False)
    algorithm = models.CharField(max_length=10, default="RS256", editable=False)
    private_key_encrypted = models.TextField(editable=False)
    public_jwk = models.JSONField(editable=False)
    created_at = models.DateTimeField()
    becomes_default_at = models.DateTimeField(help_text="From this moment new tokens are signed with this key.")
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="After this the key verifies nothing and leaves the JWKS."
    )

    class Meta:
        ordering = ["-becomes_default_at", "-serial"]

    def __str__(self) -> str:
        return self.kid


class IntegrationKey(models.Model):
    """A session-server integration key made in the admin (``server/integration_keys.py``).

    Only the SHA-256 digest is stored; the key is shown once, when it is made. Keys listed
    in ``BYO_SESSIONS["SERVER_INTEGRATION_KEYS"]`` keep working beside these.
    """

    label = models.CharField(max_length=200, help_text='Who or what uses this key, e.g. "billing backend".')
    digest = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=20, editable=False, help_text="The key's first characters, to recognise it.")
    allowed_commands = models.JSONField(
        default=list, blank=True, help_text="The commands this key may run; none ticked means every command."
    )
    created_at = models.DateTimeField(editable=False)
    created_by = models.CharField(max_length=200, blank=True, default="", editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Refused from this moment; empty: never.")
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.CharField(max_length=200, blank=True, default="", editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.label} ({self.hint}…)"
