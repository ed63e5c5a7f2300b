"""Is the app healthy after django_apm restarted it? Run on the host (stdlib only), read-only.

    app_health.py --settle SECONDS [--url URL [--unix-socket PATH] [--wait SECONDS]] UNIT...

With --unix-socket (gunicorn's bind unix:PATH) URL is asked through that socket: the URL gives the
path and the Host header.
Healthy when, over SECONDS after the restart (or until URL answered, if that took longer), every
UNIT stays active with the same main PID and no automatic restart by systemd (NRestarts
unchanged), and URL (when given) answers within --wait seconds (default 60) with an HTTP status below 500 (Django's own 4xx pages prove the app is up; a 5xx or no answer does not).
While it waits for URL, a UNIT that failed, stopped or was restarted by systemd ends the wait at
once: no answer is coming, and the rollback need not wait out --wait.
Prints one JSON object {"ok": bool, "problems": [...]} and exits 0 when healthy, 1 otherwise.
"""

import argparse
import http.client
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

PROPERTIES = ("ActiveState", "SubState", "MainPID", "NRestarts")


def unit_state(unit):
    out = subprocess.run(["systemctl", "show", "--property=" + ",".join(PROPERTIES), unit],
                         capture_output=True, text=True, check=False).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a redirect is an answer: do not follow it
        return None


def http_status(url, timeout):
    """(status, error): the HTTP status of a GET (0 when nothing answered) and why not."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status, ""
    except urllib.error.HTTPError as err:
        return err.code, ""
    except (urllib.error.URLError, OSError) as err:
        return 0, str(getattr(err, "reason", err))


def unix_http_status(path):
    """http_status for an app on the unix socket at ``path`` (redirects are answers here too)."""

    def get(url, timeout):
        parts = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(parts.netloc or "localhost", timeout=timeout)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(path)
            conn.sock = sock
            conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
            return conn.getresponse().status, ""
        except (OSError, http.client.HTTPException) as err:
            return 0, f"{path}: {err}"
        finally:
            conn.close()
            sock.close()

    return get


def check(units, url, settle, wait=60.0, poll=0.5, state=unit_state, get=http_status, clock=time.monotonic,
          sleep=time.sleep):
    """The problems found (an empty list: healthy). The app gets ``wait`` seconds to answer (a
    Django app with ddtrace can take long to start on a loaded host); the units are watched for
    ``settle`` seconds at least, or until the answer came."""
    problems = []
    start = clock()
    first = {unit: state(unit) for unit in units}
    if url:
        status, error = 0, ""
        while True:
            left = start + wait - clock()
            status, error = get(url, max(1.0, min(10.0, left)))
            if 0 < status < 500 or clock() >= start + wait:
                break
            now = {unit: state(unit) for unit in units}
            if any(_gone(first[unit], now[unit]) for unit in units):
                # A unit died or systemd restarted it: the app will not answer, stop waiting.
                problems.append("%s did not answer (%s): a unit went down first" % (url, "HTTP %d" % status if status else error))
                return problems + _unit_problems(units, first, now, clock() - start)
            sleep(poll)
        if not 0 < status < 500:
            problems.append("%s did not answer within %ss (%s)" % (url, wait, "HTTP %d" % status if status else error))
    remaining = start + settle - clock()
    if remaining > 0:
        sleep(remaining)
    return problems + _unit_problems(units, first, {unit: state(unit) for unit in units}, settle)


def _gone(before, after):
    """Whether a unit is down or was restarted by systemd since ``before`` (a unit still starting is not)."""
    return (after.get("ActiveState") in ("failed", "inactive")
            or after.get("NRestarts") != before.get("NRestarts")
            or (after.get("ActiveState") == "active" and after.get("MainPID") != before.get("MainPID")))


def _unit_problems(units, first, last, within):
    problems = []
    for unit in units:
        before, after = first[unit], last[unit]
        if after.get("ActiveState") != "active":
            problems.append("%s is %s (%s)" % (unit, after.get("ActiveState"), after.get("SubState")))
        elif (before.get("MainPID"), before.get("NRestarts")) != (after.get("MainPID"), after.get("NRestarts")):
            problems.append("%s did not stay up: restarted within %ss (main PID %s -> %s)"
                            % (unit, round(within, 1), before.get("MainPID"), after.get("MainPID")))
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--url", default="")
    parser.add_argument("--unix-socket", default="", help="ask --url through this unix socket (gunicorn's bind unix:PATH)")
    parser.add_argument("--wait", type=float, default=60.0)
    parser.add_argument("units", nargs="*")
    args = parser.parse_args(argv)
    get = unix_http_status(args.unix_socket) if args.unix_socket else http_status
    problems = check(args.units, args.url, args.settle, args.wait, get=get)
    print(json.dumps({"ok": not problems, "problems": problems}))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
