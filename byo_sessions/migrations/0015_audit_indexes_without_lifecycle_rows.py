# Two audit indexes become partial (models.AuditEvent.Meta). On PostgreSQL each new index is
# built CONCURRENTLY under a temporary name, the old one dropped CONCURRENTLY and the new one
# renamed, so the audit table (and every login, rotation and ending, which write to it) is
# never locked for the builds; elsewhere the indexes are simply replaced. Each step can be
# rerun after an interruption (a failed concurrent build leaves an invalid index, which the
# rerun drops first).

from typing import Any

from django.db import migrations, models

LIFECYCLE_TYPES = ("session_created", "session_rotated", "session_invalidated")
ENDING_TYPES = ("session_invalidated", "session_expired")

OLD_TYPE = models.Index(fields=["event_type", "created_at"], name="byo_audit_type_idx")
OLD_IP = models.Index(fields=["ip_address", "created_at"], name="byo_audit_ip_idx")
NEW_TYPE = models.Index(
    fields=["event_type", "created_at"],
    name="byo_audit_type_idx",
    condition=~models.Q(event_type__in=LIFECYCLE_TYPES),
)
NEW_IP = models.Index(
    fields=["ip_address", "created_at"],
    name="byo_audit_ip_idx",
    condition=~models.Q(event_type__in=ENDING_TYPES),
)


def _replace(schema_editor: Any, model: Any, old: models.Index, new: models.Index) -> None:
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.remove_index(model, old)
        schema_editor.add_index(model, new)
        return
    quote = schema_editor.quote_name
    building = new.clone()
    building.name = f"{new.name}_new"
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(building.name)}")
    schema_editor.add_index(model, building, concurrently=True)
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(old.name)}")
    schema_editor.execute(f"ALTER INDEX {quote(building.name)} RENAME TO {quote(new.name)}")


def forwards(apps: Any, schema_editor: Any) -> None:
    model = apps.get_model("byo_sessions", "AuditEvent")
    _replace(schema_editor, model, OLD_TYPE, NEW_TYPE)
    _replace(schema_editor, model, OLD_IP, NEW_IP)


def backwards(apps: Any, schema_editor: Any) -> None:
    model = apps.get_model("byo_sessions", "AuditEvent")
    _replace(schema_editor, model, NEW_TYPE, OLD_TYPE)
    _replace(schema_editor, model, NEW_IP, OLD_IP)


class Migration(migrations.Migration):
    atomic = False  # CREATE / DROP INDEX CONCURRENTLY run outside a transaction

    dependencies = [
        ("byo_sessions", "0014_session_children_without_constraints"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="auditevent", name="byo_audit_type_idx"),
                migrations.RemoveIndex(model_name="auditevent", name="byo_audit_ip_idx"),
                migrations.AddIndex(model_name="auditevent", index=NEW_TYPE),
                migrations.AddIndex(model_name="auditevent", index=NEW_IP),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
