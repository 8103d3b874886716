"""The HTTP edge's shared pieces: the error->status table, the error body (with the one
425 body), token transport, the one Bearer parser, and ``ClientInfo`` from a request.

Everything that turns a Django request into service arguments, or a service result
into a response, lives here so the middleware, decorators, DRF classes and the session
server agree on it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import resolve_url
from django.utils.cache import patch_cache_control
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_variables

from .conf import byo_settings
from .core.network import client_ip
from .values import ClientInfo, DeviceChallenge, DeviceVerification, ErrorType, PresentedToken, SessionError

STATUS_BY_ERROR: dict[ErrorType, int] = {
    ErrorType.INVALID_SESSION_TOKEN: 401,
    ErrorType.SESSION_EXPIRED: 401,
    ErrorType.SESSION_INVALIDATED: 401,
    ErrorType.USER_INACTIVE: 401,
    ErrorType.TOKEN_REUSE_DETECTED: 401,
    ErrorType.IP_ADDRESS_CHANGED: 401,
    ErrorType.USER_AGENT_CHANGED: 401,
    ErrorType.DEVICE_VERIFICATION_REQUIRED: 401,
    ErrorType.DEVICE_VERIFICATION_FAILED: 401,
    ErrorType.REAUTHENTICATION_REQUIRED: 401,
    ErrorType.IP_ADDRESS_NOT_ALLOWED: 403,
    ErrorType.REAUTHENTICATION_FAILED: 403,
    ErrorType.MISSING_REQUIRED_TAGS: 403,
    ErrorType.SESSION_NOT_FOUND: 404,
    ErrorType.DEVICE_NOT_FOUND: 404,
    ErrorType.UNKNOWN_USER: 404,
    ErrorType.DEVICE_ALREADY_REGISTERED: 409,
    ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED: 425,
    ErrorType.SESSION_LIMIT_EXCEEDED: 429,
    ErrorType.INVALID_IP_ADDRESS: 400,
    ErrorType.INVALID_TAG_FORMAT: 400,
    ErrorType.CANNOT_MODIFY_CREATE_ONLY_TAGS: 400,
    ErrorType.CONFLICTING_METADATA_OPTIONS: 400,
    ErrorType.INVALID_METADATA: 400,
    ErrorType.INVALID_DEVICE_REGISTRATION: 400,
    ErrorType.UNEXPECTED_ERROR: 503,
}

# After these the token is worthless: the cookie is cleared.
TERMINAL_ERRORS = frozenset(
    {
        ErrorType.INVALID_SESSION_TOKEN,
        ErrorType.SESSION_EXPIRED,
        ErrorType.SESSION_INVALIDATED,
        ErrorType.USER_INACTIVE,
        ErrorType.TOKEN_REUSE_DETECTED,
        ErrorType.USER_AGENT_CHANGED,
    }
)


def status_for(error: SessionError) -> int:
    return STATUS_BY_ERROR.get(error.type, 400)


def error_body(error: SessionError) -> dict[str, Any]:
    """A refusal as JSON: ``{"type", "details"}``. A ``NewDeviceChallengeRequired`` (the
    425 body) also carries its fresh challenge at the top level (``deviceChallenge``,
    ``expiresAt``): what ``device.js`` reads to sign and retry. The one builder of the
    edge's error bodies (middleware, decorators, DRF); the session server speaks the BYO
    protocol's own shapes (``server/errors.py``)."""
    body = {"type": str(error.type), "details": error.details}
    if error.type == ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED:
        body.update(DeviceChallenge.carried_by(error).as_json())
    return body


def error_response(error: SessionError) -> JsonResponse:
    """The JSON refusal with its standard headers: no-store, and the DPoP ones (``dpop_headers``)
    or the step-up one (``step_up_challenge``)."""
    response = JsonResponse(error_body(error), status=status_for(error))
    patch_cache_control(response, no_store=True)
    for name, value in dpop_headers(error).items():
        response[name] = value
    if error.type == ErrorType.REAUTHENTICATION_REQUIRED:
        response["WWW-Authenticate"] = step_up_challenge(error)
    return response


def step_up_challenge(error: SessionError) -> str:
    """``WWW-Authenticate`` of ``ReauthenticationRequired``: RFC 9470's step-up challenge
    (``insufficient_user_authentication`` with ``max_age``), the standard way to say "the
    session is fine, but its authentication is too old for this"."""
    max_age = error.details.get("max_age")
    suffix = f', max_age="{int(max_age)}"' if isinstance(max_age, int) else ""
    return (
        f'{BEARER_CHALLENGE}, error="insufficient_user_authentication", '
        f'error_description="A more recent authentication is required"{suffix}'
    )


# What a request that needs a session but brought none is refused with.
NO_SESSION = SessionError(
    ErrorType.INVALID_SESSION_TOKEN, {"message": "Authentication required.", "reason": "no_session"}
)

BEARER_CHALLENGE = 'Bearer realm="byo_sessions"'
DPOP_NONCE_HEADER = "DPoP-Nonce"
# The one proof algorithm we accept (core.dpop), advertised as RFC 9449 §7.1 suggests.
DPOP_ALGS = 'algs="ES256"'


def dpop_challenge(error: SessionError | None) -> str | None:
    """The RFC 9449 ``WWW-Authenticate: DPoP ...`` value for a device refusal, else None.

    A fresh challenge (our 425) is ``use_dpop_nonce`` (§9), a refused proof
    ``invalid_dpop_proof`` (§7.1), a missing proof for a device-bound session the bare
    scheme with ``algs``: what standard DPoP clients act on, next to our JSON body.
    """
    if error is None:
        return None
    if error.type == ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED:
        return f'DPoP error="use_dpop_nonce", {DPOP_ALGS}'
    if error.type == ErrorType.DEVICE_VERIFICATION_FAILED:
        return f'DPoP error="invalid_dpop_proof", {DPOP_ALGS}'
    if error.type == ErrorType.DEVICE_VERIFICATION_REQUIRED and error.details.get("reason") == "missing_proof":
        return f"DPoP {DPOP_ALGS}"
    return None


def dpop_headers(error: SessionError) -> dict[str, str]:
    """The RFC 9449 headers of a refusal: ``WWW-Authenticate`` (``dpop_challenge``) and, with a
    fresh challenge, the challenge again as ``DPoP-Nonce`` (§8), so a client that reads
    only headers (panva's ``dpop``/``oauth4webapi``) signs it as its ``nonce`` and retries."""
    headers: dict[str, str] = {}
    challenge = dpop_challenge(error)
    if challenge is not None:
        headers["WWW-Authenticate"] = challenge
    nonce = (
        DeviceChallenge.carried_by(error).device_challenge
        if error.type == ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED
        else None
    )
    if isinstance(nonce, str) and nonce:
        headers[DPOP_NONCE_HEADER] = nonce
    return headers


def bearer_challenge(request: HttpRequest) -> str:
    """``WWW-Authenticate`` of a DRF 401. DRF asks only the *first* listed authentication
    class, so both of ours answer this, whatever their order: a device refusal of the
    request's session answers its DPoP challenge (``dpop_challenge``); a stateless token (a
    JWT-shaped Bearer, which only ``StatelessTokenAuthentication`` claims) can only fail as
    invalid (RFC 6750 ``invalid_token``); otherwise the plain challenge."""
    challenge = dpop_challenge(getattr(request, "byo_session_error", None))
    if challenge is not None:
        return challenge
    value = bearer_value(request)
    if value is not None and value.count(".") == 2:
        return f'{BEARER_CHALLENGE}, error="invalid_token"'
    return BEARER_CHALLENGE


@sensitive_variables()  # raw tokens in locals: keep them out of error reports
def presented_token(request: HttpRequest) -> PresentedToken | None:
    """The token from ``Authorization: Bearer`` (API clients) or the session cookie
    (Django's ``SESSION_COOKIE_NAME``).

    A Bearer value shaped like a JWT (three dot-separated parts; session tokens never hold
    a dot) is a stateless access token for ``StatelessTokenAuthentication``, not ours.
    """
    if byo_settings.ALLOW_BEARER:
        value = bearer_value(request)
        if value and value.count(".") != 2:
            return PresentedToken(value, "bearer")
    cookie = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if cookie:
        return PresentedToken(cookie, "cookie")
    return None


@sensitive_variables()  # raw tokens in locals: keep them out of error reports
def conflicting_cookie(request: HttpRequest, token: PresentedToken | None) -> str | None:
    """The session cookie of a request whose Bearer session token is a *different* one:
    the store refuses both (``conflicting_tokens``). A JWT-shaped Bearer is no session
    token (``presented_token``), so it never conflicts; the same token twice is fine."""
    if token is None or token.transport != "bearer":
        return None
    cookie = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    return cookie if cookie and cookie != token.value else None


@sensitive_variables()  # raw tokens in locals: keep them out of error reports
def bearer_value(request: HttpRequest) -> str | None:
    """The credentials of the request's ``Authorization: Bearer ...`` header."""
    return bearer_credentials(request.META.get("HTTP_AUTHORIZATION", ""))


@sensitive_variables()  # raw tokens in locals: keep them out of error reports
def bearer_credentials(header: str) -> str | None:
    """The credentials of an ``Authorization`` value if its scheme is Bearer (any case):
    the one parser for session tokens, stateless tokens and integration keys."""
    scheme, _, value = header.partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value else None


def view_flag(view: Any, name: str) -> bool:
    """A marker set by a decorator on a function view, or a class attribute of a CBV/DRF view."""
    if view is None:
        return False
    return bool(
        getattr(view, name, False)
        or getattr(getattr(view, "view_class", None), name, False)
        or getattr(getattr(view, "cls", None), name, False)
    )


def client_info(request: HttpRequest, transport: str | None = None) -> ClientInfo:
    """What the services need of this request's client: the IP (under the proxy settings),
    the User-Agent and a ``DPoP`` proof. The session store builds it once per request."""
    return ClientInfo(
        ip_address=request_ip(request),
        user_agent=request_user_agent(request),
        device_verification=device_proof(request, transport),
    )


def request_ip(request: HttpRequest) -> str | None:
    return client_ip(
        request.META,
        proxy_count=byo_settings.PROXY_COUNT,
        trusted_proxies=tuple(byo_settings.TRUSTED_PROXIES),
        header=byo_settings.PROXY_IP_HEADER,
    )


def request_user_agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")


def request_url(request: HttpRequest) -> str | None:
    """The absolute URL a device proof must name (``htu``); None if the host is refused."""
    try:
        return request.build_absolute_uri(request.path)
    except DisallowedHost:
        return None


def device_proof(request: HttpRequest, transport: str | None = None) -> DeviceVerification | None:
    """The ``DPoP`` header as a ``DeviceVerification`` for this request, if one was sent.

    A repeated header reaches Django joined with ", "; it is passed on as is and refused
    by the verifier (``multiple_headers``), so the refusal is audited like any other.
    ``ath`` is required (and checked) when the session token came as Bearer, ignored for a cookie.
    """
    value = request.META.get("HTTP_DPOP")
    if not value:
        return None
    return DeviceVerification(
        signed_device_challenge=value,
        request_url=request_url(request),
        request_method=request.method,
        ath_rule="required" if transport == "bearer" else "ignored",
    )


def return_path(request: HttpRequest) -> str:
    """Where to come back to after an interruption (re-authentication): this page for a GET;
    for a form post, which a redirect cannot replay, the same-site page it was sent from."""
    if request.method in ("GET", "HEAD"):
        return request.get_full_path()
    referer = request.META.get("HTTP_REFERER", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return referer
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def safe_next(request: HttpRequest, candidate: str | None) -> str:
    """``candidate`` when it points into this site, else ``LOGIN_REDIRECT_URL`` (no open redirect)."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def can_answer_challenge(request: HttpRequest) -> bool:
    """A 425 helps only a caller that can sign (it sent a proof) or reads JSON; a page
    navigation cannot, so it proceeds as anonymous and may log in again."""
    return bool(request.META.get("HTTP_DPOP")) or wants_json(request)


def wants_json(request: HttpRequest) -> bool:
    """API-style requests get JSON errors instead of redirects."""
    accept = request.META.get("HTTP_ACCEPT", "")
    return (
        "application/json" in accept
        or request.META.get("HTTP_X_REQUESTED_WITH") == "XMLHttpRequest"
        or request.META.get("HTTP_AUTHORIZATION", "").lower().startswith("bearer ")
        or request.content_type == "application/json"
    )


# --- why a browser was signed out ---------------------------------------------------------

SIGNED_OUT_COOKIE = "byo_signed_out"
_SIGNED_OUT_SALT = "byo_sessions.signed_out"
SIGNED_OUT_MAX_AGE_SECS = 600


def ended_reason(error: SessionError | None) -> str | None:
    """The end reason of a presented session that has ended (by now or during this request),
    or None for every other refusal (an unknown token says nothing about a session)."""
    if error is None or error.type == ErrorType.INVALID_SESSION_TOKEN:
        return None
    if error.type in _ENDED_BY_TYPE:  # their ``reason`` says how (``retired_token``, ``os_changed``)
        return _ENDED_BY_TYPE[error.type]
    ended = error.type in TERMINAL_ERRORS or bool(error.details.get("session_ended"))
    reason = error.details.get("reason")
    return str(reason) if ended and isinstance(reason, str) and reason else None


_ENDED_BY_TYPE = {
    ErrorType.TOKEN_REUSE_DETECTED: "token_reuse_detected",
    ErrorType.USER_AGENT_CHANGED: "user_agent_changed",
}


def set_signed_out_notice(response: HttpResponse, reason: str) -> None:
    """A short-lived signed cookie with the end reason, so the next page (the login page)
    can say why this browser was signed out; it carries no token and no id."""
    response.set_signed_cookie(
        SIGNED_OUT_COOKIE,
        reason,
        salt=_SIGNED_OUT_SALT,
        max_age=SIGNED_OUT_MAX_AGE_SECS,
        path=settings.SESSION_COOKIE_PATH,
        domain=settings.SESSION_COOKIE_DOMAIN,
        secure=bool(settings.SESSION_COOKIE_SECURE),
        httponly=True,
        samesite="Lax",
    )


def signed_out_notice(request: HttpRequest) -> str | None:
    """The end reason ``set_signed_out_notice`` left for this browser, if it is genuine and fresh."""
    value = request.get_signed_cookie(
        SIGNED_OUT_COOKIE, default=None, salt=_SIGNED_OUT_SALT, max_age=SIGNED_OUT_MAX_AGE_SECS
    )
    return value if isinstance(value, str) and value else None


def clear_signed_out_notice(response: HttpResponse) -> None:
    response.delete_cookie(
        SIGNED_OUT_COOKIE, path=settings.SESSION_COOKIE_PATH, domain=settings.SESSION_COOKIE_DOMAIN, samesite="Lax"
    )
