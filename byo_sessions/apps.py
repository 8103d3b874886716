from django.apps import AppConfig


class ByoSessionsConfig(AppConfig):
    name = "byo_sessions"
    verbose_name = "Sessions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, not at the top: they need the app registry (models), and importing
        # checks registers the system checks.
        from . import checks, receivers  # noqa: F401 (importing checks registers them)
        from .services import policies

        policies.connect_signals()
        receivers.connect()
