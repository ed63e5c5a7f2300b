"""A custom command (the kind a cron job runs): the patient lookups of patients.queries."""
import json

from django.core.management.base import BaseCommand

from patients.queries import lookups


class Command(BaseCommand):
    help = "Count what the five query shapes find for a patient id and an email."

    def add_arguments(self, parser):
        parser.add_argument("patient_id")
        parser.add_argument("--email", default="alice.patientcare@example.org")

    def handle(self, *args, **options):
        self.stdout.write(json.dumps(lookups(options["patient_id"], options["email"]), sort_keys=True))
