"""Create (or reset) the test user whose name and email the traces must never carry."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create or reset a user with a known name, email and password."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="alice.patientcare")
        parser.add_argument("--email", default="alice.patientcare@example.org")
        parser.add_argument("--password", default="correct-horse-battery-staple")

    def handle(self, *args, **options):
        user, created = get_user_model().objects.get_or_create(username=options["username"])
        user.email = options["email"]
        user.first_name, user.last_name = "Alice", "Patientcare"
        user.set_password(options["password"])
        user.save()
        self.stdout.write(f"{'created' if created else 'updated'} {user.username}")
