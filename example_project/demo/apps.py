from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "example_project.demo"
    label = "demo"

    def ready(self) -> None:
        from byo_sessions import signals

        from .receivers import email_new_device

        signals.new_device_detected.connect(email_new_device, dispatch_uid="demo_email_new_device")
