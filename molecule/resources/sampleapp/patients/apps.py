from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "patients"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from upstream import logs  # pylint: disable=import-outside-toplevel

        logs.connect()
