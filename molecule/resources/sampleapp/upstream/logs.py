"""The app's logging, as a production app has it: one JSON object a line on stderr (the journal of
its units), with the trace correlation ddtrace adds to every log record (ddtrace 4.x patches the
logging module when ddtrace.auto is imported; DD_LOGS_INJECTION is on by default): dd.trace_id,
dd.span_id, dd.service, dd.env, dd.version. Plus the lines a real app writes and that carry PHI:
each request with its path and query string, each Celery task start with its arguments, each login
with the user name and email (the audit line). The Datadog agent masks those (django_apm_logs)."""
import json
import logging
import time

from celery.signals import task_prerun
from django.contrib.auth.signals import user_logged_in

# The attributes ddtrace's logging integration sets on every record (ddtrace.internal.constants).
DD_ATTRIBUTES = ("dd.trace_id", "dd.span_id", "dd.service", "dd.env", "dd.version")

request_log = logging.getLogger("upstream.request")
task_log = logging.getLogger("upstream.task")
audit_log = logging.getLogger("upstream.audit")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the dd.* correlation, the exception."""

    def format(self, record):
        entry = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({name: getattr(record, name) for name in DD_ATTRIBUTES if hasattr(record, name)})
        if record.exc_info:
            entry["error.stack"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class RequestLogMiddleware:
    """One line per request: method, full path with its query string, status, duration."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        start = time.monotonic()
        response = self.get_response(request)
        request_log.info("%s %s %s %.1fms", request.method, request.get_full_path(), response.status_code,
                         (time.monotonic() - start) * 1000)
        return response


def log_task_start(sender=None, task_id=None, task=None, args=None, kwargs=None, **_):
    task_log.info("task %s[%s] started args=%r kwargs=%r", getattr(task, "name", sender), task_id, list(args or ()), kwargs or {})


def log_login(sender, request, user, **_):
    audit_log.info("login user=%s email=%s from %s", user.get_username(), user.email, request.META.get("REMOTE_ADDR", ""))


def connect():
    """Called once the apps are ready (patients.apps)."""
    task_prerun.connect(log_task_start, weak=False, dispatch_uid="upstream-task-start-log")
    user_logged_in.connect(log_login, weak=False, dispatch_uid="upstream-login-audit-log")
