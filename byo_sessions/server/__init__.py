"""The session server: ``POST {mount}/run-command`` speaking the BYO-style wire protocol.

Any backend (Flask, FastAPI, Express...) can use byo_sessions as a self-hosted sidecar
through the published ``propelauth-byo`` clients. ``views`` is the thin HTTP edge,
``keys`` checks integration keys, ``fields`` reads the request data, ``commands``
translates each command to service calls and ``errors`` maps our ``ErrorType`` onto
each command's error union. See ``docs/server.md``.
"""
