"""Stateless tokens: short-lived RS256 JWTs minted from a live session (or for a user),
verified offline with the public keys (``services/signing_keys.py``).

Verification needs no query, so by default a token outlives its session until ``exp``:
that is why the lifetime is short (``STATELESS_TOKEN_LIFETIME_SECS``, at most
``STATELESS_TOKEN_MAX_LIFETIME_SECS``). Projects that need it sooner turn on the
revocation check (``services/revocation.py``): one cache read per verification.

Verification follows RFC 8725 and the PyJWT pitfalls: the algorithm is pinned to RS256,
the key is picked by ``kid`` among our own keys only (unknown: refused, nothing is
fetched), ``typ`` must be ``at+jwt``, ``iss``/``aud`` are always checked, and
``exp``/``iat``/``iss``/``aud``/``jti``/``sub`` are required. Times are checked against
``byo_sessions.core.clock`` (the service layer's one "now"), not PyJWT's own clock.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import Any

import jwt

from ..conf import byo_settings
from ..core import clock
from ..models import Session
from ..values import ClientInfo, Err, ErrorType, Ok, StatelessToken, err
from . import owners, policies, revocation, signing_keys
from . import sessions as session_service
from .validation import RequestContext, check_session

TYP = "at+jwt"
ACCEPTED_TYPS = frozenset({"at+jwt", "application/at+jwt"})  # RFC 9068 §2.1
REGISTERED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid"})
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "jti", "sub"]
MAX_CUSTOM_CLAIMS_BYTES = 16 * 1024
MAX_TOKEN_LENGTH = 32 * 1024
CLOCK_SKEW_SECS = 5  # tolerated for iat/nbf only: a token is never accepted after its exp


def _invalid_parameter(message: str, reason: str, **details: Any) -> Err:
    return err(ErrorType.INVALID_PARAMETERS, message, reason=reason, **details)


def _clean_custom_claims(custom_claims: Any) -> dict[str, Any] | Err:
    if custom_claims is None:
        return {}
    if not isinstance(custom_claims, dict):
        return _invalid_parameter("custom_claims must be a JSON object.", "custom_claims_not_object")
    reserved = sorted(set(custom_claims) & REGISTERED_CLAIMS)
    if reserved:
        return _invalid_parameter(
            f"custom_claims may not set registered claims: {', '.join(reserved)}.", "reserved_claims", claims=reserved
        )
    try:
        encoded = json.dumps(custom_claims, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return _invalid_parameter(f"custom_claims must be JSON-serialisable: {exc}", "custom_claims_not_json")
    if len(encoded.encode()) > MAX_CUSTOM_CLAIMS_BYTES:
        return _invalid_parameter(
            f"custom_claims are larger than {MAX_CUSTOM_CLAIMS_BYTES} bytes.", "custom_claims_too_large"
        )
    cleaned: dict[str, Any] = json.loads(encoded)
    return cleaned


def _clean_text(value: Any, name: str, default: str) -> str | Err:
    if value is None:
        return default
    if not isinstance(value, str) or not value or len(value) > 255:
        return _invalid_parameter(f"{name} must be a non-empty string of at most 255 characters.", f"bad_{name}")
    return value


def _lifetime(lifetime_secs: Any) -> int | Err:
    longest = int(byo_settings.STATELESS_TOKEN_MAX_LIFETIME_SECS)
    if lifetime_secs is None:
        return min(int(byo_settings.STATELESS_TOKEN_LIFETIME_SECS), longest)
    if not isinstance(lifetime_secs, int) or isinstance(lifetime_secs, bool) or not 1 <= lifetime_secs <= longest:
        return _invalid_parameter(f"lifetime_secs must be an integer from 1 to {longest}.", "bad_lifetime")
    return lifetime_secs


def _session_subject(
    session_id: str | None, session_token: str | None, owner: str | None, now: datetime
) -> tuple[str, str] | Err:
    """(sub, sid) of a session that is valid right now and belongs to ``owner`` (if given)."""
    if session_token is not None:
        checked = session_service.validate(session_token=session_token, ignore_device_for_verification=True)
        if isinstance(checked, Err):
            return checked
        sid, sub = checked.data.session_id, str(checked.data.user_id)
    else:
        session = (
            Session.objects.select_related("user").filter(pk=session_id).first()
            if session_service.looks_like_session_id(session_id)
            else None
        )
        if session is None:
            return err(ErrorType.SESSION_NOT_FOUND, "No such session.", session_id=str(session_id)[:64])
        # The same rules validate() applies (ended, expired, user inactive, IP lists against
        # the session's last IP), for the caller's backend rather than an end-user request:
        # no device proof, no activity touch.
        ctx = RequestContext(now=now, client=ClientInfo(ip_address=session.last_ip_address), ignore_device=True)
        checked_session = check_session(session, policies.resolve(session.tags), ctx)
        if isinstance(checked_session, Err):
            return checked_session
        sid, sub = session.id, session.owner_ref
    if owner is not None and owner != sub:
        return err(ErrorType.SESSION_NOT_FOUND, "The session does not belong to this user.", session_id=str(sid)[:64])
    return sub, sid


def _user_subject(user_id: Any, external_user_id: str | None) -> str | Err:
    owner = owners.resolve(user_id, external_user_id)
    return owner if isinstance(owner, Err) else owner.ref


def create_stateless_token(
    *,
    user_id: Any = None,
    external_user_id: str | None = None,
    session_id: str | None = None,
    session_token: str | None = None,
    custom_claims: Any = None,
    issuer: str | None = None,
    audience: str | None = None,
    not_before_unixtime: int | None = None,
    lifetime_secs: int | None = None,
    actor: str = "",
) -> Ok[StatelessToken] | Err:
    """Sign a JWT for a session that is valid now (``session_id`` or ``session_token``) or,
    without a session, for an (active) user. With a session the owner arguments are
    optional and, when given, must name the session's owner. ``exp`` is
    ``now + lifetime_secs``; ``not_before_unixtime`` may delay ``nbf`` but not past ``exp``."""
    now = clock.now()
    lifetime = _lifetime(lifetime_secs)
    if isinstance(lifetime, Err):
        return lifetime
    extra = _clean_custom_claims(custom_claims)
    if isinstance(extra, Err):
        return extra
    iss = _clean_text(issuer, "issuer", byo_settings.STATELESS_TOKEN_ISSUER)
    if isinstance(iss, Err):
        return iss
    aud = _clean_text(audience, "audience", byo_settings.STATELESS_TOKEN_AUDIENCE)
    if isinstance(aud, Err):
        return aud
    iat = int(now.timestamp())
    exp = iat + lifetime
    nbf = iat if not_before_unixtime is None else not_before_unixtime
    if not isinstance(nbf, int) or isinstance(nbf, bool) or not 0 <= nbf < exp:
        return _invalid_parameter("not_before_unixtime must be an integer before the token's expiry.", "bad_nbf")
    if session_id is not None and session_token is not None:
        return _invalid_parameter("Pass session_id or session_token, not both.", "two_sessions")

    sid: str | None = None
    if session_id is not None or session_token is not None:
        if user_id is not None and external_user_id is not None:
            return err(ErrorType.UNKNOWN_USER, "Pass at most one of user_id and external_user_id.")
        owner = str(user_id) if user_id is not None else external_user_id
        subject = _session_subject(session_id, session_token, owner, now)
        if isinstance(subject, Err):
            return subject
        sub, sid = subject
    else:
        named = _user_subject(user_id, external_user_id)
        if isinstance(named, Err):
            return named
        sub = named

    try:
        key = signing_keys.signing_key(actor=actor)  # a usable cached key signs on through an outage
    except signing_keys.KeyStoreUnavailable as exc:
        return exc.as_err()
    jti = secrets.token_urlsafe(16)
    claims: dict[str, Any] = {
        **extra,
        "iss": iss,
        "aud": aud,
        "sub": sub,
        "iat": iat,
        "nbf": nbf,
        "exp": exp,
        "jti": jti,
    }
    if sid is not None:
        claims["sid"] = sid
    token = jwt.encode(
        claims, key.private_key(), algorithm=signing_keys.ALGORITHM, headers={"typ": TYP, "kid": key.kid}
    )
    return Ok(
        StatelessToken(
            stateless_token=token,
            expires_at=now.replace(microsecond=0) + timedelta(seconds=lifetime),
            key_id=key.kid,
            jti=jti,
            claims=claims,
        )
    )


# --- verification -----------------------------------------------------------------------


def _refused(reason: str, message: str, **details: Any) -> Err:
    return err(ErrorType.INVALID_STATELESS_TOKEN, message, reason=reason, **details)


_PYJWT_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.InvalidAudienceError, "bad_audience"),
    (jwt.InvalidIssuerError, "bad_issuer"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.InvalidAlgorithmError, "bad_alg"),
    (jwt.exceptions.InvalidSubjectError, "bad_claim"),
    (jwt.exceptions.InvalidJTIError, "bad_claim"),
)


def _time_claims(claims: dict[str, Any], now: float) -> Err | None:
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name)
        if name in claims and (not isinstance(value, int) or isinstance(value, bool)):
            return _refused("bad_claim", f"The {name} claim must be an integer.", claim=name)
    if claims["exp"] <= now:
        return _refused("expired", "The token has expired.")
    if claims["iat"] > now + CLOCK_SKEW_SECS:
        return _refused("issued_in_future", "The token's iat is in the future.")
    if "nbf" in claims and claims["nbf"] > now + CLOCK_SKEW_SECS:
        return _refused("not_yet_valid", "The token is not valid yet (nbf).")
    return None


# Tokens whose signature, algorithm, issuer, audience and required claims this process has
# checked, with their claims, by (token, key, audience, issuer). A client sends the same
# token until it expires, and checking the same bytes against the same key again gives the
# same answer. The key must still be in the key set, and the times (and revocation, when
# on) are checked on every call, so expiry, key retirement and revocation act as before.
# Bounded: emptied when full.
VERIFIED_CACHE_SIZE = 4096
_verified: dict[tuple[str, str, str, str, str], dict[str, Any]] = {}
_headers: dict[str, dict[str, Any]] = {}  # the decoded header of a token seen before (read only)


def _signature_checked(token: str, key: signing_keys.CachedKey, audience: str, issuer: str) -> dict[str, Any]:
    """PyJWT's checks of ``token`` against ``key`` (once per process); raises ``InvalidTokenError``."""
    cache_key = (token, key.jwk["n"], key.jwk["e"], audience, issuer)
    claims = _verified.get(cache_key)
    if claims is None:
        claims = jwt.decode(
            token,
            key.public_key,
            algorithms=[signing_keys.ALGORITHM],
            audience=audience,
            issuer=issuer,
            # Times are checked by the caller against byo_sessions.core.clock; presence is required here.
            options={"require": REQUIRED_CLAIMS, "verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
        if len(_verified) >= VERIFIED_CACHE_SIZE:
            _verified.clear()
        _verified[cache_key] = claims
    return dict(claims)  # the caller's own copy


def verify_stateless_token(
    token: Any, *, audience: str | None = None, issuer: str | None = None, check_revocation: bool | None = None
) -> Ok[dict[str, Any]] | Err:
    """The token's claims if we signed it, it is current, and it is meant for ``audience``
    from ``issuer`` (both default to the settings). No query once the keys are cached.

    ``check_revocation`` (None: ``STATELESS_REVOCATION_CHECK``) also refuses a token whose
    session has ended (reason ``session_ended``), with one cache read; a cache that
    cannot be read answers ``UnexpectedError`` (503) unless ``STATELESS_REVOCATION_FAIL_OPEN``."""
    if (
        not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2 or not token.isascii()
    ):  # a compact JWT is base64url and dots
        return _refused("malformed", "The token is not a compact JWT.")
    header = _headers.get(token)
    if header is None:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:  # not base64/JSON, or a non-string kid
            return _refused("malformed", "The token header cannot be read.")
        if len(_headers) >= VERIFIED_CACHE_SIZE:
            _headers.clear()
        _headers[token] = header
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYPS:
        return _refused("bad_typ", f"The token type must be {TYP}.")
    if header.get("alg") != signing_keys.ALGORITHM:
        return _refused("bad_alg", f"The token must be signed with {signing_keys.ALGORITHM}.")
    kid = header.get("kid")
    now = clock.now()
    try:
        key = signing_keys.key_set().find(kid, now) if isinstance(kid, str) else None
    except signing_keys.KeyStoreUnavailable as exc:  # our fault, not the token's: 503, not 401
        return exc.as_err()
    if key is None:
        return _refused("unknown_kid", "The token names no key of ours (unknown or expired kid).")
    audience, issuer = audience or byo_settings.STATELESS_TOKEN_AUDIENCE, issuer or byo_settings.STATELESS_TOKEN_ISSUER
    try:
        claims = _signature_checked(token, key, audience, issuer)
    except jwt.InvalidTokenError as exc:
        reason = next((why for cls, why in _PYJWT_REASONS if isinstance(exc, cls)), "invalid")
        details = {"claim": exc.claim} if isinstance(exc, jwt.MissingRequiredClaimError) else {}
        return _refused(reason, f"The token was refused: {exc}", **details)
    if not isinstance(claims.get("sub"), str) or not isinstance(claims.get("jti"), str):
        return _refused("bad_claim", "The sub and jti claims must be strings.")
    timing = _time_claims(claims, now.timestamp())
    if timing is not None:
        return timing
    sid = claims.get("sid")
    if isinstance(sid, str) and revocation.should_check(check_revocation):  # a user-only token names no session
        try:
            ended = revocation.ended_at(sid)
        except revocation.RevocationUnavailable as exc:
            return exc.as_err()
        if ended is not None:
            return _refused("session_ended", "The session this token was minted from has ended.", session_id=sid)
    return Ok(claims)
