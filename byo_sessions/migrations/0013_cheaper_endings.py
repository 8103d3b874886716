"""Cheaper endings (issue 13): no index of the session table names the columns an ending
writes (``ended_at``, ``end_reason``, ``ended_by``, ``data``), and each page keeps room
(``fillfactor`` 70 on PostgreSQL), so ending a session, like the periodic last-activity
update, is a HOT update: a new row version on the same page and no new index entry. Before,
each ended row was a new entry in all ten indexes of the table.

* ``ended_at`` loses its index: counts by state read most rows, where a scan is what
  PostgreSQL chose anyway, and the user's history is found through the user index.
* ``(user, ended_at)`` becomes ``(user)``; ``(external_user_id, ended_at)`` becomes
  ``(external_user_id)`` for the rows that have one.
* the ``device`` foreign key's index holds only bound sessions.

The fillfactor applies to pages written from now on: rows already stored keep their packed
pages until the table is rewritten (``VACUUM FULL`` or pg_repack, at a quiet time), and
until then an ending of such a row costs what it did (docs/benchmarks.md). The index
changes run without ``CONCURRENTLY``: the table is write-locked while they build (about
the time of one index build per index: seconds at a million rows)."""

import django.db.models.deletion
from django.db import migrations, models

FILLFACTOR = 70


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        table = schema_editor.quote_name(apps.get_model("byo_sessions", "Session")._meta.db_table)
        schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {FILLFACTOR})")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        table = schema_editor.quote_name(apps.get_model("byo_sessions", "Session")._meta.db_table)
        schema_editor.execute(f"ALTER TABLE {table} RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("byo_sessions", "0012_rollups_browser_search"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="session",
            name="byo_session_user_idx",
        ),
        migrations.RemoveIndex(
            model_name="session",
            name="byo_session_ext_user_idx",
        ),
        migrations.AlterField(
            model_name="session",
            name="device",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="sessions",
                to="byo_sessions.device",
            ),
        ),
        migrations.AlterField(
            model_name="session",
            name="ended_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="session",
            index=models.Index(fields=["user"], name="byo_session_user_idx"),
        ),
        migrations.AddIndex(
            model_name="session",
            index=models.Index(
                condition=models.Q(("external_user_id__isnull", False)),
                fields=["external_user_id"],
                name="byo_session_ext_user_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="session",
            index=models.Index(
                condition=models.Q(("device__isnull", False)), fields=["device"], name="byo_session_device_idx"
            ),
        ),
        migrations.RunPython(set_fillfactor, reset_fillfactor, elidable=False),
    ]
