"""ASGI entry point: ``uvicorn example_project.asgi:application``.

byo_sessions' middlewares and session engine work under ASGI as under WSGI: Django runs
their database work in its sync thread (``sync_to_async``), async views await
``request.auser()`` and the ``sessions.a*`` functions.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

application = get_asgi_application()
