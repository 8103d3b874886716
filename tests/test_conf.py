"""Settings (conf.py): the one secret-key list every derived secret uses."""

from __future__ import annotations

from byo_sessions.conf import secret_keys


def test_secret_keys_are_the_current_key_then_the_fallbacks(settings):
    settings.SECRET_KEY = "current-" + "k" * 50
    settings.SECRET_KEY_FALLBACKS = ["old-" + "o" * 50, "older-" + "p" * 50]
    assert secret_keys() == ["current-" + "k" * 50, "old-" + "o" * 50, "older-" + "p" * 50]
    settings.SECRET_KEY_FALLBACKS = []
    assert secret_keys() == ["current-" + "k" * 50]
