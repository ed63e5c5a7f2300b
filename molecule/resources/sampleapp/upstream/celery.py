"""The Celery app: Redis as broker, configuration from the Django settings (CELERY_*)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "upstream.settings.prod")

app = Celery("upstream")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
