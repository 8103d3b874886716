"""device.js in real headless Chromium against a server that really verifies proofs."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from byo_sessions.core.challenges import check_challenge
from byo_sessions.core.dpop import access_token_hash, jwk_thumbprint, verify_proof
from tests.browser_scripts import INSPECT_STORED_KEY

from .conftest import AppState

pytestmark = pytest.mark.browser

ECHO = """async ([input, init]) => {
  const response = await window.device.fetchWithDevice(input, init);
  return { status: response.status, body: await response.json() };
}"""


def open_app(page: Page) -> Page:
    page.goto("/")
    page.wait_for_function("window.device !== undefined")
    return page


def echo(page: Page, input: str = "/api/echo", init: dict | None = None) -> dict[str, Any]:
    return page.evaluate(ECHO, [input, init or {}])


def ok_thumbprint(page: Page) -> str:
    result = echo(page)
    assert result["status"] == 200, result
    return result["body"]["thumbprint"]


def test_fetch_with_device_is_verified_and_stable_across_calls_and_reload(page: Page, app: AppState) -> None:
    open_app(page)
    first = ok_thumbprint(page)
    assert ok_thumbprint(page) == first
    assert app.challenge_requests == 1  # the challenge is cached between calls
    page.reload()
    open_app(page)
    assert ok_thumbprint(page) == first  # the key survived the reload (IndexedDB)
    assert app.challenge_requests == 2  # the in-memory challenge did not
    assert [r["status"] for r in app.echo_requests] == [200, 200, 200]
    assert all(r["dpop_headers"] == 1 and r["htm"] == "GET" for r in app.echo_requests)
    assert len({r["jti"] for r in app.echo_requests}) == 3


def test_second_context_is_another_device(page: Page, browser: Browser, base_url: str, app: AppState) -> None:
    mine = ok_thumbprint(open_app(page))
    other_context = browser.new_context(base_url=base_url)
    try:
        theirs = ok_thumbprint(open_app(other_context.new_page()))
    finally:
        other_context.close()
    assert theirs != mine
    assert len(theirs) == 43 and len(mine) == 43


def test_stored_private_key_cannot_be_exported(page: Page, app: AppState) -> None:
    open_app(page)
    thumbprint = ok_thumbprint(page)
    result = page.evaluate(INSPECT_STORED_KEY)
    assert result["pkcs8"] == "InvalidAccessError"
    assert result["jwk"] == "InvalidAccessError"
    assert (result["extractable"], result["type"], result["curve"], result["usages"]) == (
        False,
        "private",
        "P-256",
        ["sign"],
    )
    assert "d" not in result["publicJwk"]
    # The stored key is the one the server saw proofs from.
    assert jwk_thumbprint(result["publicJwk"]) == thumbprint


def test_425_is_retried_once_by_the_library(page: Page, app: AppState) -> None:
    open_app(page)
    app.force_challenge_status = 1
    result = echo(page)
    assert result["status"] == 200
    assert [(r["status"], r["reason"]) for r in app.echo_requests] == [(425, "forced"), (200, "ok")]
    assert app.challenge_requests == 1  # the retry used the challenge from the 425 body


def test_ip_change_gets_a_new_challenge_and_one_retry(page: Page, app: AppState) -> None:
    open_app(page)
    before = ok_thumbprint(page)
    app.ip_override = "203.0.113.9"  # the client "moved": its cached challenge is bound to the old IP
    result = echo(page)
    assert result["status"] == 200 and result["body"]["thumbprint"] == before
    assert [(r["status"], r["reason"]) for r in app.echo_requests] == [(200, "ok"), (425, "ip_mismatch"), (200, "ok")]


def test_two_425_in_a_row_are_returned_to_the_caller(page: Page, app: AppState) -> None:
    open_app(page)
    app.force_challenge_status = 2
    result = echo(page)
    assert result["status"] == 425
    assert set(result["body"]) == {"deviceChallenge", "expiresAt"}
    assert [r["status"] for r in app.echo_requests] == [425, 425]
    # Nothing is stuck: the next call works.
    assert echo(page)["status"] == 200
    assert len(app.echo_requests) == 3


def test_post_with_body_survives_the_retry(page: Page, app: AppState) -> None:
    open_app(page)
    payload = json.dumps({"hello": "wörld", "n": [1, 2, 3]})
    app.force_challenge_status = 1
    result = echo(
        page, "/api/echo", {"method": "POST", "body": payload, "headers": {"Content-Type": "application/json"}}
    )
    assert result["status"] == 200
    assert result["body"]["htm"] == "POST"
    assert result["body"]["body"] == payload
    assert [(r["method"], r["body"]) for r in app.echo_requests] == [("POST", payload), ("POST", payload)]


def test_request_object_and_url_inputs(page: Page, base_url: str, app: AppState) -> None:
    open_app(page)
    result = page.evaluate(
        """async () => {
          const fromRequest = await window.device.fetchWithDevice(
            new Request("/api/echo?x=1#frag", { method: "PUT", body: "request-body", headers: { "X-Test": "1" } }),
          );
          const fromUrl = await window.device.fetchWithDevice(new URL("/api/echo?y=2", location.href), { method: "DELETE" });
          return [await fromRequest.json(), await fromUrl.json(), fromRequest.status, fromUrl.status];
        }"""
    )
    put, delete, put_status, delete_status = result
    assert (put_status, delete_status) == (200, 200)
    assert (put["htm"], put["htu"], put["body"]) == ("PUT", f"{base_url}/api/echo", "request-body")
    assert (delete["htm"], delete["htu"]) == ("DELETE", f"{base_url}/api/echo")
    assert [r["path"] for r in app.echo_requests] == ["/api/echo?x=1", "/api/echo?y=2"]


def test_concurrent_calls_share_one_key_and_one_challenge(page: Page, app: AppState) -> None:
    open_app(page)
    results = page.evaluate(
        """async () => Promise.all(Array.from({ length: 6 }, async () => {
          const response = await window.device.fetchWithDevice("/api/echo");
          return [response.status, (await response.json()).thumbprint];
        }))"""
    )
    assert {status for status, _ in results} == {200}
    assert len({thumbprint for _, thumbprint in results}) == 1
    assert app.challenge_requests == 1
    assert len({r["jti"] for r in app.echo_requests}) == 6


def test_challenge_near_expiry_is_fetched_again(page: Page, app: AppState) -> None:
    app.ttl_secs = 5  # inside the library's 10 s safety margin: never reused
    open_app(page)
    assert ok_thumbprint(page) == ok_thumbprint(page)
    assert app.challenge_requests == 2
    assert [r["status"] for r in app.echo_requests] == [200, 200]


def test_get_device_proof_verifies_for_a_form_post(page: Page, base_url: str, app: AppState) -> None:
    open_app(page)
    thumbprint = ok_thumbprint(page)
    proof = page.evaluate("() => window.device.getDeviceProof('post', '/login?next=/home#x')")
    verified = verify_proof(proof, method="POST", url=f"{base_url}/login", now=time.time())
    assert verified.thumbprint == thumbprint
    assert verified.htu == f"{base_url}/login"
    user_agent = page.evaluate("() => navigator.userAgent")
    check_challenge(verified.nonce, secret=app.secret, ip_address="127.0.0.1", user_agent=user_agent, now=verified.iat)


def test_forget_device_makes_a_new_key(page: Page, app: AppState) -> None:
    open_app(page)
    before = ok_thumbprint(page)
    page.evaluate("() => window.device.forgetDevice()")
    after = ok_thumbprint(page)
    page.reload()
    open_app(page)
    assert after != before
    assert ok_thumbprint(page) == after


def test_fallback_without_indexeddb(page: Page, app: AppState) -> None:
    page.add_init_script("Object.defineProperty(window, 'indexedDB', { value: undefined, configurable: true })")
    open_app(page)
    # fallbackBehavior "fetch" (default): the request goes out without a proof.
    assert echo(page) == {"status": 401, "body": {"error": "missing"}}
    assert app.echo_requests[0]["dpop_headers"] == 0
    error = page.evaluate(
        """async () => {
          window.device.initFetchWithDevice({ fallbackBehavior: "error" });
          try { await window.device.fetchWithDevice("/api/echo"); return "no error"; }
          catch (error) { return error.name; }
        }"""
    )
    assert error == "DeviceUnavailableError"
    assert len(app.echo_requests) == 1


def test_bearer_requests_carry_ath_and_cookie_requests_do_not(page: Page, app: AppState) -> None:
    open_app(page)
    token = "byo_" + "t" * 43
    bearer = echo(page, "/api/echo", {"headers": {"Authorization": f"Bearer {token}"}})
    plain = echo(page)
    other_scheme = echo(page, "/api/echo", {"headers": {"Authorization": "Basic dXNlcjpwdw=="}})
    assert (bearer["status"], plain["status"], other_scheme["status"]) == (200, 200, 200)
    assert bearer["body"]["ath"] == access_token_hash(token)  # WebCrypto SHA-256 == the server's
    assert plain["body"]["ath"] is None and other_scheme["body"]["ath"] is None


def test_ath_survives_the_retry_and_request_inputs(page: Page, app: AppState) -> None:
    open_app(page)
    token = "byo_" + "r" * 43
    app.force_challenge_status = 1
    result = page.evaluate(
        """async (token) => {
          const request = new Request("/api/echo", { method: "POST", body: "x", headers: { Authorization: `bearer ${token}` } });
          const response = await window.device.fetchWithDevice(request);
          return { status: response.status, body: await response.json() };
        }""",
        token,
    )
    assert result["status"] == 200
    expected = access_token_hash(token)
    assert [(r["status"], r["ath"]) for r in app.echo_requests] == [(425, expected), (200, expected)]


def skew_clock(page: Page, offset_secs: int) -> None:
    """Make this browser's clock wrong by ``offset_secs`` before any script runs."""
    page.add_init_script(f"{{ const real = Date.now; Date.now = () => real() + {offset_secs * 1000}; }}")


@pytest.mark.parametrize("offset_secs", [-600, 600])
def test_a_wrong_system_clock_is_corrected_from_the_server_date(page: Page, app: AppState, offset_secs: int) -> None:
    skew_clock(page, offset_secs)
    open_app(page)
    assert page.evaluate(f"() => Math.round((Date.now() - {time.time() * 1000}) / 1000)") in range(
        offset_secs - 5, offset_secs + 5
    )  # the page really sees the wrong clock
    ok_thumbprint(page)
    ok_thumbprint(page)
    # The challenge response's Date header fixed the clock: no 425, one challenge reused.
    assert [r["status"] for r in app.echo_requests] == [200, 200]
    assert app.challenge_requests == 1


@pytest.mark.parametrize("offset_secs", [-600, 600])
def test_a_wrong_clock_without_a_readable_date_costs_one_425(page: Page, app: AppState, offset_secs: int) -> None:
    skew_clock(page, offset_secs)
    open_app(page)
    page.evaluate(
        """() => window.device.initFetchWithDevice({
             fetchChallenge: async () => (await fetch("/challenge")).json(),  // Date not passed on
           })"""
    )
    assert ok_thumbprint(page)
    assert [r["status"] for r in app.echo_requests] == [425, 200]  # the 425 carried the server's Date
    assert app.echo_requests[0]["reason"] in {"iat_too_old", "iat_in_future"}
    ok_thumbprint(page)
    assert [r["status"] for r in app.echo_requests] == [425, 200, 200]


def test_a_custom_fetch_challenge_that_notes_the_server_date_needs_no_425(page: Page, app: AppState) -> None:
    skew_clock(page, -600)
    open_app(page)
    page.evaluate(
        """() => window.device.initFetchWithDevice({
             fetchChallenge: async () => {
               const response = await fetch("/challenge");
               window.device.noteServerDate(response);
               return response.json();
             },
           })"""
    )
    proof = page.evaluate("() => window.device.getDeviceProof('POST', '/login')")
    iat = json.loads(base64.urlsafe_b64decode(proof.split(".")[1] + "=="))["iat"]
    assert abs(iat - time.time()) < 5  # the server's time, although this browser is 10 min behind
    ok_thumbprint(page)
    assert [r["status"] for r in app.echo_requests] == [200]


def test_get_device_proof_names_an_access_token_when_given_one(page: Page, base_url: str, app: AppState) -> None:
    open_app(page)
    token = "byo_s_" + "T" * 43
    with_token = page.evaluate(f"() => window.device.getDeviceProof('GET', '/api/x', {{accessToken: '{token}'}})")
    without = page.evaluate("() => window.device.getDeviceProof('GET', '/api/x')")
    assert verify_proof(with_token, method="GET", url=f"{base_url}/api/x", now=time.time()).ath == access_token_hash(
        token
    )
    assert verify_proof(without, method="GET", url=f"{base_url}/api/x", now=time.time()).ath is None
