from django.apps import AppConfig, apps


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
        if apps.is_installed("django.contrib.admin"):  # the admin's header and index (admin/site.py)
            from .admin import site as admin_site

            admin_site.brand_default_site()
