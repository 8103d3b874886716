"""The public session API: ``from byo_sessions import sessions``.

Call shapes follow the BYO-style clients (``sessions.create(...)``, ``validate``,
``validate_and_refresh``, ``invalidate_by_token``, ...), each with an async twin named
the Django way (``acreate``, ``avalidate``, ...), except the admin-side operations
``invalidate_where``, ``reencrypt_signing_keys`` and the ``device`` functions. See
``docs/api.md``; stateless tokens (``create_stateless_token``, ``verify_stateless_token``,
``get_jwks``, ``rotate_stateless_token_key``, ``reencrypt_signing_keys``) are in
``docs/stateless-tokens.md``.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async

from .services import devices as device  # sessions.device.create_challenge / register
from .services.sessions import (
    create,
    fetch_all_for_user,
    fetch_by_id,
    invalidate_all_for_user,
    invalidate_all_for_user_except_one,
    invalidate_by_id,
    invalidate_by_token,
    invalidate_where,
    update,
    update_many,
    validate,
    validate_and_refresh,
)
from .services.signing_keys import get_jwks, reencrypt_signing_keys, rotate_stateless_token_key
from .services.stateless import create_stateless_token, verify_stateless_token

acreate = sync_to_async(create)
avalidate = sync_to_async(validate)
avalidate_and_refresh = sync_to_async(validate_and_refresh)
ainvalidate_by_token = sync_to_async(invalidate_by_token)
ainvalidate_by_id = sync_to_async(invalidate_by_id)
ainvalidate_all_for_user = sync_to_async(invalidate_all_for_user)
ainvalidate_all_for_user_except_one = sync_to_async(invalidate_all_for_user_except_one)
afetch_all_for_user = sync_to_async(fetch_all_for_user)
afetch_by_id = sync_to_async(fetch_by_id)
aupdate = sync_to_async(update)
aupdate_many = sync_to_async(update_many)
acreate_stateless_token = sync_to_async(create_stateless_token)
averify_stateless_token = sync_to_async(verify_stateless_token)
aget_jwks = sync_to_async(get_jwks)
arotate_stateless_token_key = sync_to_async(rotate_stateless_token_key)

__all__ = [
    "create",
    "validate",
    "validate_and_refresh",
    "invalidate_by_token",
    "invalidate_by_id",
    "invalidate_all_for_user",
    "invalidate_all_for_user_except_one",
    "invalidate_where",
    "fetch_all_for_user",
    "fetch_by_id",
    "update",
    "update_many",
    "aupdate_many",
    "device",
    "acreate",
    "avalidate",
    "avalidate_and_refresh",
    "ainvalidate_by_token",
    "ainvalidate_by_id",
    "ainvalidate_all_for_user",
    "ainvalidate_all_for_user_except_one",
    "afetch_all_for_user",
    "afetch_by_id",
    "aupdate",
    "create_stateless_token",
    "verify_stateless_token",
    "get_jwks",
    "rotate_stateless_token_key",
    "acreate_stateless_token",
    "averify_stateless_token",
    "aget_jwks",
    "arotate_stateless_token_key",
    "reencrypt_signing_keys",
]
