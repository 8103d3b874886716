"""Create the demo's user and admin (idempotent) and print how to log in."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

DEMO = ("demo", "demo-password")
ADMIN = ("admin", "admin-password")


class Command(BaseCommand):
    help = "Create the demo user and admin account."

    def handle(self, *args, **options):
        users = get_user_model().objects
        if not users.filter(username=DEMO[0]).exists():
            users.create_user(username=DEMO[0], password=DEMO[1], email="demo@example.com")
        if not users.filter(username=ADMIN[0]).exists():
            users.create_superuser(username=ADMIN[0], password=ADMIN[1], email="admin@example.com")
        self.stdout.write(f"Demo user:  {DEMO[0]} / {DEMO[1]}")
        self.stdout.write(f"Admin:      {ADMIN[0]} / {ADMIN[1]}")
