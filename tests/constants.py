"""Values the tests share: where a request comes from, and the session cookie's name.

Addresses are from the documentation ranges (RFC 5737) unless a test needs a private
one; User-Agent strings are real browsers' (the parser and the suspicious-change rule
see them as they would in production).
"""

from __future__ import annotations

COOKIE = "session_token"  # SESSION_COOKIE_NAME in tests/settings.py

IP = "203.0.113.7"
OFFICE_IP = "10.1.2.3"  # inside the 10.0.0.0/8 allowlists of the policy tests

CHROME_LINUX = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
# The same browser after a minor update: a normal change, never suspicious.
CHROME_MAC_UPDATED = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.140 Safari/537.36"
)
# The same browser on another OS: a suspicious change (reason "os_changed").
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"

UA = CHROME_LINUX  # the browser of a test that does not care which
