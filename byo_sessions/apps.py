from django.apps import AppConfig


class ByoSessionsConfig(AppConfig):
    name = "byo_sessions"
    verbose_name = "Sessions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks
        from . import policy_store, receivers

        policy_store.connect_signals()
        receivers.connect()
