# Load the Celery app whenever Django starts, so that @shared_task uses it (the seed's layout).
from .celery import app as celery_app

__all__ = ("celery_app",)
