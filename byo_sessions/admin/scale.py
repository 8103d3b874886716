"""What keeps the changelists fast at millions of rows: a paginator that never counts a
whole table, and a search that turns the term into one indexed equality.

Django's changelist counts the filtered rows (for the paginator) and, unless
``show_full_result_count`` is off, the whole table too; each ``search_fields`` entry
becomes an ``icontains`` (``UPPER(col) LIKE '%term%'``), which no btree index serves,
ORed across joins. Here an unfiltered list shows PostgreSQL's planner estimate
(``pg_class.reltuples``, kept by autovacuum), a filtered one an exact count up to
``COUNT_CAP`` rows ("more than" beyond), and a search term is matched by what it looks
like: a session id, an IP address, an e-mail, or a user name / external id.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Q, QuerySet
from django.utils.functional import cached_property

from ..core.network import InvalidIpAddress, normalise_ip
from ..models import AUDIT_TYPES_WITH_THE_SESSIONS_IP, SESSION_ID_MAX_LENGTH, SESSION_ID_PREFIX

COUNT_CAP = 10_000


def _estimated_rows(queryset: QuerySet[Any]) -> int | None:
    """The planner's row estimate of the table, on PostgreSQL once it has been analysed."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [connection.ops.quote_name(queryset.model._meta.db_table)],
        )
        row = cursor.fetchone()
    return int(row[0]) if row is not None and row[0] >= 0 else None


class EstimatedCountPaginator(Paginator):
    """Pages without a full count: the estimate for a whole table, an exact count capped
    at ``COUNT_CAP`` for a filtered one (the last pages beyond it are not linked)."""

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        if not queryset.query.where:
            estimate = _estimated_rows(queryset)
            if estimate is not None and estimate > COUNT_CAP:
                return estimate
        return queryset.order_by()[: COUNT_CAP + 1].count()


def looks_like_ip(term: str) -> str | None:
    try:
        return normalise_ip(term) if (":" in term or term.count(".") == 3) else None
    except InvalidIpAddress:
        return None


def session_search(term: str) -> Q:
    """Sessions matching ``term`` by indexed equality: id, current IP, the user's e-mail,
    username or pk, or an external user id. (The IP at creation has no index: a scan of
    the table per search; ``byo_invalidate --created-ip`` selects by it.)"""
    term = term.strip()
    ip = looks_like_ip(term)
    if ip is not None:
        return Q(last_ip_address=ip)
    if term.startswith(SESSION_ID_PREFIX) and len(term) <= SESSION_ID_MAX_LENGTH:
        return Q(pk=term)
    user_model = get_user_model()
    users = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: term})
    if "@" in term:
        users = users | user_model._default_manager.filter(**{f"{user_model.get_email_field_name()}__iexact": term})
    owners = Q(user_id__in=list(users.values_list("pk", flat=True)[:100])) | Q(external_user_id=term)
    if term.isdigit():
        owners |= Q(user_id=int(term))
    return owners


def audit_search(term: str) -> Q:
    """Audit events matching ``term`` by indexed equality: session id or user reference;
    an IP address: the events requests from it caused (not the endings, whose address is
    the session's last: ``AUDIT_TYPES_WITH_THE_SESSIONS_IP``), along their index."""
    term = term.strip()
    ip = looks_like_ip(term)
    if ip is not None:
        return Q(ip_address=ip) & ~Q(event_type__in=AUDIT_TYPES_WITH_THE_SESSIONS_IP)
    return Q(session_id=term) | Q(user_ref=term)
