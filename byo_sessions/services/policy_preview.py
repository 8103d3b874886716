"""A dry run of a policy change: which live sessions a proposed policy set would end,
refuse or challenge that the current one lets through, before anything is saved.

What a policy decides about a live session without a new event (a move, a new login):
* its lifetime and inactivity timeout: under the proposed set it may already be over;
* its IP allow/block lists: its last address may no longer be allowed;
* device verification: a session without a bound device would be challenged.
Limits and change rules act on later events (a login, a new IP), so no dry run can name
the sessions they will touch; the preview says so rather than guess.

One pass over the live sessions in scope (the rule's tag through the tag index, or all of
them for defaults and imports), streamed in chunks: bounded memory, run on demand only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q

from ..core import clock
from ..core.policy import Policy, PolicySet
from ..models import EndReason, Session
from . import policies
from .expiry import expiry_from

SAMPLE = 50  # sessions named on the page; the counts cover them all
END, REFUSE, CHALLENGE = "end", "refuse", "challenge"
OUTCOMES = {
    END: "would end now",
    REFUSE: "would be refused on its next request",
    CHALLENGE: "would have to prove a device",
}
_COLUMNS = (
    "id",
    "user_id",
    "external_user_id",
    "tags",
    "created_at",
    "last_activity_at",
    "expires_at",
    "last_ip_address",
    "device_thumbprint",
)


@dataclass(frozen=True, slots=True)
class Affected:
    session_id: str
    user_ref: str
    tags: list[str]
    outcome: str
    why: str


@dataclass(slots=True)
class PolicyPreview:
    examined: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {END: 0, REFUSE: 0, CHALLENGE: 0})
    sample: list[Affected] = field(default_factory=list)

    @property
    def affected(self) -> int:
        return sum(self.counts.values())


def _ending(policy: Policy, row: tuple, now: datetime) -> str | None:
    _absolute, end, why = expiry_from(created_at=row[4], last_activity_at=row[5], expires_at=row[6], policy=policy)
    return why if end <= now else None


def _outcome(current: Policy, proposed: Policy, row: tuple, now: datetime) -> tuple[str, str] | None:
    ended = _ending(proposed, row, now)
    if ended is not None and _ending(current, row, now) is None:
        return END, str(dict(EndReason.choices).get(ended, ended))
    refusal = proposed.ip_refusal(row[7]) if row[7] else None
    if refusal is not None and (current.ip_refusal(row[7]) is None):
        return REFUSE, refusal.message
    if proposed.device_verification_required and not current.device_verification_required and not row[8]:
        return CHALLENGE, f"Device verification required by policy {proposed.source('device_verification_required')}."
    return None


def scope_for_selector(selector: str) -> Q:
    """The sessions a tag rule can touch: carrying its tag, or any tag of its type."""
    if selector.endswith(":*"):
        return Q(tag_rows__tag__startswith=selector[:-1])
    return Q(tag_rows__tag=selector)


def preview(
    *, proposed: PolicySet, scope: Q | None = None, now: datetime | None = None, sample: int = SAMPLE
) -> PolicyPreview:
    """What ``proposed`` would do to the live sessions (in ``scope``) that ``current()`` spares."""
    now = clock.now() if now is None else now
    current = policies.current()
    rows = Session.objects.live(now).filter(Q(user__isnull=False) | Q(external_user_id__isnull=False))
    if scope is not None:
        rows = rows.filter(scope).distinct()
    result = PolicyPreview()
    for row in rows.order_by().values_list(*_COLUMNS).iterator(chunk_size=2000):
        result.examined += 1
        tags = tuple(row[3] or ())
        found = _outcome(current.resolve(tags), proposed.resolve(tags), row, now)
        if found is None:
            continue
        outcome, why = found
        result.counts[outcome] += 1
        if len(result.sample) < sample:
            result.sample.append(
                Affected(row[0], str(row[1] if row[1] is not None else row[2]), list(tags), outcome, why)
            )
    return result


def with_rule(*, selector: str, rule: object, replacing: str | None = None) -> PolicySet:
    """The current policy set with the rule for ``selector`` (and ``replacing``, a renamed
    selector) swapped for ``rule`` (a ``PolicyRule``), as a save would leave it."""
    current = policies.current()
    gone = {selector, replacing}
    kept = tuple(r for r in current.rules if r.selector not in gone)
    return PolicySet(
        defaults=current.defaults,
        rules=(*kept, rule),  # type: ignore[arg-type]
        tag_priority=current.tag_priority,
        create_only_tag_types=current.create_only_tag_types,
    )
