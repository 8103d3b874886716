"""The device-challenge endpoint (drf/views.py): JSON for any caller, never cached."""

from __future__ import annotations

import pytest


def test_challenge_endpoint(client, db):
    body = client.get("/byo/device/challenge").json()
    assert set(body) == {"deviceChallenge", "expiresAt"}
    assert client.get("/byo/device/challenge")["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_challenge_endpoint_answers_json_to_a_browser_even_without_rest_framework_installed(client, settings):
    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != "rest_framework"]
    response = client.get("/byo/device/challenge", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert set(response.json()) == {"deviceChallenge", "expiresAt"}
