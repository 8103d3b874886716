"""The per-request rules: is this loaded session still good for this request?

``check_session`` never writes by itself except to end a session that a rule says must
end; everything else it wants persisted (last activity, last IP/User-Agent) comes back
as ``Changes`` so the caller can fold it into one UPDATE (with a rotation, if due).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .. import signals
from ..core.policy import CountryChangeAction, IpChangeAction, Policy, UaChangeAction
from ..core.user_agent import parse_user_agent, suspicious_change
from ..models import EndReason, Session
from ..values import ClientInfo, DeviceVerification, Err, ErrorType, Location, err
from . import audit, devices, geo, policies
from .audit import Event, EventType
from .ending import end_session
from .expiry import end_due, ended_error


@dataclass(frozen=True, slots=True)
class RequestContext:
    """One validation's inputs: the moment, the client and what the caller demands."""

    now: datetime
    client: ClientInfo = ClientInfo()  # IP already normalised, User-Agent cleaned
    required_tags: tuple[str, ...] = ()
    ignore_device: bool = False  # the view opted out of device checks
    device_required: bool = False  # the view demands a device proof whatever the policy says
    presented_token_hash: str = ""  # SHA-256 hex of the token this request presented (for ``ath``)
    # The proof's replay key as the session read recorded it (``devices.read_session``), and
    # whether that read spent it; None where the read did not try.
    proof_read: tuple[str, bool] | None = None

    @property
    def ip_address(self) -> str | None:
        return self.client.ip_address

    @property
    def user_agent(self) -> str | None:
        return self.client.user_agent

    @property
    def device_verification(self) -> DeviceVerification | None:
        return self.client.device_verification


@dataclass(slots=True)
class Changes:
    """Columns to write for this request (empty on the steady path) and events to record."""

    fields: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)


def _fail_repeatable(
    session: Session, ctx: RequestContext, type_: ErrorType, reason: str, message: str, **details: Any
) -> Err:
    """A refusal that leaves the session as it was, so the client can repeat it at will (an
    ended session's cookie, a missing tag, a refused IP): a log line and a signal every time,
    an audit row at most once per session, reason and minute (``audit.record_throttled``)."""
    audit.record_throttled(
        Event.for_session(
            EventType.VALIDATION_FAILED,
            session,
            ip_address=ctx.ip_address,
            user_agent=ctx.user_agent or "",
            reason=reason,
            details={"error": str(type_), **details},
        )
    )
    signals.session_validation_failed.send(
        sender=Session, session_id=session.id, user_ref=session.owner_ref, error_type=str(type_), reason=reason
    )
    return err(type_, message, reason=reason, **details)


def check_session(session: Session, policy: Policy, ctx: RequestContext) -> Err | Changes:
    if session.ended_at is not None:
        ended = ended_error(session)
        return _fail_repeatable(session, ctx, ended.error.type, ended.error.details["reason"], ended.error.message)
    why = end_due(session, policy, ctx.now)
    if why == EndReason.USER_INACTIVE:
        end_session(session, reason=why)
        return err(ErrorType.USER_INACTIVE, "The user is inactive.", reason=why)
    if why is not None:
        end_session(session, reason=why, event_type=EventType.SESSION_EXPIRED)
        return err(ErrorType.SESSION_EXPIRED, "The session has expired.", reason=why)
    missing = [tag for tag in ctx.required_tags if tag not in session.tags]
    if missing:
        return _fail_repeatable(
            session,
            ctx,
            ErrorType.MISSING_REQUIRED_TAGS,
            "missing_required_tags",
            "The session lacks required tags.",
            missing_tags=missing,
        )

    changes = Changes()
    ip_result = _check_ip(session, policy, ctx, changes)
    if isinstance(ip_result, Err):
        return ip_result
    ua_error = _check_user_agent(session, policy, ctx, changes)
    if ua_error is not None:
        return ua_error
    device_error = devices.check_request_device(session, policy, ctx, ip_change_pending=ip_result)
    if device_error is not None:
        return device_error
    if ip_result and not ctx.ignore_device:
        _accept_ip_change(session, ctx, changes, "challenge_passed")
    touch_due = ctx.now - session.last_activity_at >= timedelta(seconds=policies.touch_interval_secs(policy))
    if touch_due or changes.fields:
        changes.fields["last_activity_at"] = ctx.now
    return changes


def _check_ip(session: Session, policy: Policy, ctx: RequestContext, changes: Changes) -> Err | bool:
    """An error, or whether an IP change now waits for a device proof (``challenge``)."""
    refused = policy.ip_refusal(ctx.ip_address)
    if refused is not None:
        return _fail_repeatable(
            session, ctx, ErrorType.IP_ADDRESS_NOT_ALLOWED, refused.reason, refused.message, **refused.details
        )
    ip, last = ctx.ip_address, session.last_ip_address
    if ip is None or last is None or ip == last:  # the steady path: no lookup, nothing to write
        if ip is not None and last is None:
            changes.fields["last_ip_address"] = ip
            _set_location(changes, geo.locate(ip))
        return False
    if policy.disallow_ip_address_changes and ip != session.ip_address:
        return _fail_repeatable(
            session,
            ctx,
            ErrorType.IP_ADDRESS_CHANGED,
            "ip_changes_disallowed",
            "This session is pinned to the IP address it was created from.",
            ip_address=ip,
            session_ip_address=session.ip_address,
            policy=policy.sources.get("disallow_ip_address_changes", ""),
        )
    action = policy.on_ip_address_change
    if action == IpChangeAction.INVALIDATE:
        decided_by = policy.sources.get("on_ip_address_change", "")
        end_session(session, reason=EndReason.IP_CHANGED, details={"before": last, "after": ip, "policy": decided_by})
        return err(
            ErrorType.IP_ADDRESS_CHANGED,
            "The session ended because its IP address changed.",
            reason=EndReason.IP_CHANGED,
            ip_address=ip,
            session_ended=True,
            policy=decided_by,
        )
    moved = _country_move(session, ip)
    country_action = policy.on_country_change if moved is not None else CountryChangeAction.ALLOW
    if country_action == CountryChangeAction.INVALIDATE and moved is not None:
        decided_by = policy.sources.get("on_country_change", "")
        audit.record(
            Event.for_session(
                EventType.NEW_COUNTRY,
                session,
                ip_address=ip,
                user_agent=ctx.user_agent or "",
                reason=str(country_action),
                details={"before": moved[0], "after": moved[1], "ip_before": last},
            )
        )
        end_session(
            session,
            reason=EndReason.COUNTRY_CHANGED,
            details={
                "before": last,
                "after": ip,
                "country_before": moved[0],
                "country_after": moved[1],
                "policy": decided_by,
            },
        )
        return err(
            ErrorType.IP_ADDRESS_CHANGED,
            "The session ended because it moved to another country.",
            reason=EndReason.COUNTRY_CHANGED,
            ip_address=ip,
            session_ended=True,
            policy=decided_by,
            country=moved[1],
        )
    if action == IpChangeAction.CHALLENGE or country_action == CountryChangeAction.CHALLENGE:
        return True  # services.devices decides; the change is recorded only once proven
    _accept_ip_change(session, ctx, changes, str(action))
    return False


def _country_move(session: Session, ip: str) -> tuple[str, str] | None:
    """(country before, country after) when ``ip`` is in another known country than the session."""
    after = geo.locate(ip).country
    if session.country and after and after != session.country:
        return session.country, after
    return None


def _set_location(changes: Changes, location: Location) -> None:
    changes.fields.update(country=location.country, city=location.city, network=location.network)


def _accept_ip_change(session: Session, ctx: RequestContext, changes: Changes, how: str) -> None:
    """Remember the new IP and where it is (so the change is acted on once), and audit it:
    ``new_country`` too when the session moved between two known countries."""
    changes.fields["last_ip_address"] = ctx.ip_address
    location = geo.locate(ctx.ip_address)
    changes.events.append(
        Event.for_session(
            EventType.IP_CHANGED,
            session,
            ip_address=ctx.ip_address,
            user_agent=ctx.user_agent or "",
            reason=how,
            details={"before": session.last_ip_address, "after": ctx.ip_address},
        )
    )
    if session.country and location.country and location.country != session.country:
        changes.events.append(
            Event.for_session(
                EventType.NEW_COUNTRY,
                session,
                ip_address=ctx.ip_address,
                user_agent=ctx.user_agent or "",
                reason=how,
                details={"before": session.country, "after": location.country, "ip_before": session.last_ip_address},
            )
        )
    _set_location(changes, location)


def _check_user_agent(session: Session, policy: Policy, ctx: RequestContext, changes: Changes) -> Err | None:
    ua, last = ctx.user_agent, session.last_user_agent
    if ua is None or ua == last:
        return None
    before, after = parse_user_agent(last), parse_user_agent(ua)
    reason = suspicious_change(before, after) if last else None
    if reason is None:
        changes.fields["last_user_agent"] = ua
        return None
    details = {
        "before": last,
        "after": ua,
        "change": reason,
        "before_summary": before.display_name,
        "after_summary": after.display_name,
    }
    if policy.on_user_agent_change == UaChangeAction.INVALIDATE:
        end_session(
            session, reason=EndReason.USER_AGENT_CHANGED, event_type=EventType.USER_AGENT_CHANGED, details=details
        )
        return err(
            ErrorType.USER_AGENT_CHANGED,
            "The session ended because the browser changed.",
            reason=reason,
            before=before.display_name,
            after=after.display_name,
            policy=policy.sources.get("on_user_agent_change", ""),
        )
    changes.fields["last_user_agent"] = ua
    changes.events.append(
        Event.for_session(
            EventType.USER_AGENT_CHANGED,
            session,
            ip_address=ctx.ip_address,
            user_agent=ua,
            reason=reason,
            details=details,
        )
    )
    return None
