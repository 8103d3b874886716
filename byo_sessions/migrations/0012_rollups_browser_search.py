"""Daily rollups of the audit trail (``DailyCount``, kept by ``byo_rollup`` and ``byo_prune``)
so the overview's 7 and 30 days read closed days from a few hundred rows; and an
expression index on the browser family read at login, for the admin's search by browser."""

from django.conf import settings
from django.db import migrations, models

import byo_sessions.models


class Migration(migrations.Migration):
    dependencies = [
        ("byo_sessions", "0011_operator_tooling"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="DailyCount",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("day", models.DateField()),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("day", "Day rolled up"),
                            ("event", "Audit events"),
                            ("logins", "Users who logged in"),
                            ("failed_user", "Failed validations of a user"),
                            ("failed_ip", "Failed validations from an IP address"),
                            ("country", "New sessions from a country"),
                        ],
                        max_length=20,
                    ),
                ),
                ("key", models.CharField(blank=True, default="", max_length=255)),
                ("reason", models.CharField(blank=True, default="", max_length=60)),
                ("count", models.PositiveBigIntegerField()),
                ("computed_at", models.DateTimeField()),
            ],
            options={
                "ordering": ["day", "kind", "key", "reason"],
            },
        ),
        migrations.AddIndex(
            model_name="session",
            index=models.Index(
                byo_sessions.models.BrowserFamily(), models.F("created_at"), name="byo_session_browser_idx"
            ),
        ),
        migrations.AddConstraint(
            model_name="dailycount",
            constraint=models.UniqueConstraint(fields=("day", "kind", "key", "reason"), name="byo_daily_count_unique"),
        ),
    ]
