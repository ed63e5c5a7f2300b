"""Production settings: the base settings hardened, plus the error and performance monitoring."""
from decouple import config

from .base import *  # noqa: F401,F403

DEBUG = False
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True

# --- Sentry ---
SENTRY_DSN = config("SENTRY_DSN", default="")
if SENTRY_DSN:
    import sentry_sdk

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        environment=config("DD_ENV", default="production"),
        send_default_pii=False,
    )

# --- Logging ---
# JSON lines on stderr (the journal of the app's units), each with ddtrace's dd.trace_id, dd.span_id,
# dd.service, dd.env and dd.version (upstream/logs.py). The app's own loggers log at INFO.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "upstream.logs.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "loggers": {"upstream": {"level": config("APP_LOG_LEVEL", default="INFO")}},
    "root": {"handlers": ["console"], "level": config("LOG_LEVEL", default="WARNING")},
}
