"""Create the demo's user, admin and tag policy (idempotent) and print how to log in."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from byo_sessions.models import TagPolicy

DEMO = ("demo", "demo-password")
ADMIN = ("admin", "admin-password")
# Sessions made by the demo's login page are tagged role:member or role:staff
# (DemoLoginView; admin logins through /admin/login/ are untagged); under this policy a
# request from a new IP address must be signed by the session's device.
IP_CHALLENGE_POLICY = {
    "selector": "role:*",
    "defaults": {
        "on_ip_address_change": "challenge",
        "description": "Demo: an IP change needs a fresh proof from the session's device.",
    },
}


class Command(BaseCommand):
    help = "Create the demo user, the admin account and the demo tag policy."

    def handle(self, *args, **options):
        users = get_user_model().objects
        if not users.filter(username=DEMO[0]).exists():
            users.create_user(username=DEMO[0], password=DEMO[1], email="demo@example.com")
        if not users.filter(username=ADMIN[0]).exists():
            users.create_superuser(username=ADMIN[0], password=ADMIN[1], email="admin@example.com")
        _policy, created = TagPolicy.objects.get_or_create(**IP_CHALLENGE_POLICY)
        self.stdout.write(f"Demo user:  {DEMO[0]} / {DEMO[1]}")
        self.stdout.write(f"Admin:      {ADMIN[0]} / {ADMIN[1]}")
        self.stdout.write(f"Tag policy: role:* on_ip_address_change=challenge{' (created)' if created else ''}")
