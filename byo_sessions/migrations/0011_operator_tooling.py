"""Operator tooling at scale: the ``bulk_invalidation`` event type, indexes behind the
admin's default orders and filters, and no duplicate indexes (single-column indexes that
a composite one leads with, and PostgreSQL's ``varchar_pattern_ops`` ``_like`` copies,
which serve only LIKE 'prefix%' queries this app never makes)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# (table, column) of the big tables' text keys whose _like copy PostgreSQL got with the
# primary key, unique or foreign key index (the AlterFields above drop the db_index ones).
_LIKE_COPIES = (
    ("byo_sessions_session", "id"),
    ("byo_sessions_session", "token_hash"),
    ("byo_sessions_session", "device_id"),
    ("byo_sessions_retiredtoken", "token_hash"),
    ("byo_sessions_retiredtoken", "session_id"),
    ("byo_sessions_usedproof", "jti_hash"),
    ("byo_sessions_device", "id"),
)


def drop_like_copies(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column in _LIKE_COPIES:
        name = schema_editor._create_index_name(table, [column], suffix="_like")
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


class Migration(migrations.Migration):
    dependencies = [
        ("byo_sessions", "0010_admin_labels_integration_keys"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="created_at",
            field=models.DateTimeField(),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="event_type",
            field=models.CharField(
                choices=[
                    ("session_created", "Session created"),
                    ("session_rotated", "Token rotated"),
                    ("session_invalidated", "Session ended"),
                    ("bulk_invalidation", "Sessions ended in bulk"),
                    ("session_expired", "Session expired"),
                    ("session_updated", "Session updated"),
                    ("session_migrated", "Moved from Django's sessions"),
                    ("session_reauthenticated", "Re-authenticated"),
                    ("reauthentication_failed", "Re-authentication failed"),
                    ("session_extended", "Session extended"),
                    ("validation_failed", "Validation failed"),
                    ("token_reuse_detected", "Token reuse detected (theft)"),
                    ("ip_changed", "IP address changed"),
                    ("user_agent_changed", "User-Agent changed"),
                    ("session_limit_exceeded", "Session limit reached"),
                    ("new_country", "New country"),
                    ("device_registered", "Device registered"),
                    ("new_device_detected", "New device"),
                    ("device_verification_failed", "Device proof refused"),
                    ("device_challenge_issued", "Device challenge issued"),
                    ("device_revoked", "Device revoked"),
                    ("policy_changed", "Policy changed"),
                    ("signing_key_created", "Signing key created"),
                    ("signing_key_rotated", "Signing keys rotated"),
                    ("signing_key_reencrypted", "Signing key re-encrypted"),
                    ("integration_key_created", "Integration key created"),
                    ("integration_key_revoked", "Integration key revoked"),
                ],
                max_length=40,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="session_id",
            field=models.CharField(blank=True, default="", max_length=40),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="user_ref",
            field=models.CharField(blank=True, default="", max_length=255),
        ),
        migrations.AlterField(
            model_name="device",
            name="user",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="byo_devices",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="session",
            name="previous_token_hash",
            field=models.CharField(blank=True, editable=False, max_length=64, null=True),
        ),
        migrations.AlterField(
            model_name="session",
            name="user",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="byo_sessions",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="sessiontag",
            name="session",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="tag_rows",
                to="byo_sessions.session",
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["created_at", "id"], name="byo_audit_created_idx"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["session_id", "created_at"], name="byo_audit_session_idx"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["user_ref", "created_at"], name="byo_audit_user_idx"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["event_type", "created_at"], name="byo_audit_type_idx"),
        ),
        migrations.AddIndex(
            model_name="device",
            index=models.Index(fields=["last_seen_at"], name="byo_device_last_seen_idx"),
        ),
        migrations.AddIndex(
            model_name="session",
            index=models.Index(fields=["previous_token_hash"], name="byo_session_prev_token_idx"),
        ),
        migrations.AddIndex(
            model_name="session",
            index=models.Index(fields=["created_at", "id"], name="byo_session_created_idx"),
        ),
        migrations.AddIndex(
            model_name="session",
            index=models.Index(fields=["last_ip_address"], name="byo_session_last_ip_idx"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["ip_address", "created_at"], name="byo_audit_ip_idx"),
        ),
        migrations.RemoveIndex(
            model_name="sessiontag",
            name="byo_session_tag_idx",
        ),
        migrations.AddIndex(
            model_name="sessiontag",
            index=models.Index(fields=["tag", "session"], name="byo_session_tag_idx"),
        ),
        migrations.RunPython(drop_like_copies, migrations.RunPython.noop),
    ]
