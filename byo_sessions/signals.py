"""Django signals for session lifecycle events.

Handlers receive keyword arguments only; none of them carries a raw token.
"""

from django.dispatch import Signal

# session_id, user_ref, tags, metadata, ip_address, user_agent
session_created = Signal()
# session_id, user_ref, reason, actor
session_invalidated = Signal()
# session_id, user_ref, generation
session_rotated = Signal()
# session_id (may be ""), user_ref, error_type, reason
session_validation_failed = Signal()
# session_id, user_ref, details (both IPs and User-Agents)
token_reuse_detected = Signal()
# device_id, user_ref, session_id, ip_address, user_agent, display_name
new_device_detected = Signal()
# device_id, user_ref, session_id
device_registered = Signal()
