"""DRF's own ``rest_framework.authentication.SessionAuthentication`` on the byo engine:
the user comes from ``request._request.user``, CSRF is enforced on unsafe methods."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.compat.conftest import COOKIE, login_through_django

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.compat.urls")]

URL = "/drf/session-me/"


def test_logged_in_cookie_request_is_authenticated(user, other_user):
    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")  # the login form hands out the CSRF cookie
    response = client.post(
        "/accounts/login/",
        {"username": "alice", "password": "pw-alice-123", "csrfmiddlewaretoken": client.cookies["csrftoken"].value},
    )
    assert response.status_code == 302
    assert client.get(URL).json() == {"user": "alice", "pk": user.pk}


def test_post_needs_the_csrf_token(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    refused = client.post(URL, {}, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    client.get("/form/")  # a page rendering {% csrf_token %} sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    accepted = client.post(URL, {}, content_type="application/json", headers={"X-CSRFToken": token})
    assert accepted.status_code == 200 and accepted.json() == {"posted": True, "user": "alice"}


def test_anonymous_is_refused(client, db):
    response = client.get(URL)
    assert response.status_code == 403
    assert response.json()["detail"] == "Authentication credentials were not provided."


def test_a_logged_out_token_is_anonymous(client, user):
    token = login_through_django(client, "alice", "pw-alice-123")
    assert client.get(URL).status_code == 200
    client.post("/accounts/logout/")
    replay = Client()
    replay.cookies[COOKIE] = token
    assert replay.get(URL).status_code == 403
