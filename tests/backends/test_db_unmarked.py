"""The URLs of tests/backends/test_db.py, every one to a view without markers: what a
middleware sees while it reads the session under a ``request.urlconf`` of its own."""

from tests.backends.test_db import unmarked_urlpatterns as urlpatterns  # noqa: F401
