#!/usr/bin/python3
"""A small forward HTTP proxy for the tests: requires Basic proxy credentials, forwards plain
http:// requests (GET/HEAD) to loopback only, and writes one access-log line per request:

    <client> <user or -> <method> <absolute URL> <status>

Usage: forward_proxy.py PORT CREDENTIALS_FILE (user:password, one line) ACCESS_LOG
"""

import base64
import hmac
import sys
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PASS_HEADERS = ("If-Modified-Since", "If-None-Match", "Range", "If-Range", "Accept", "User-Agent")
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy of its own


def make_handler(credentials, log):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _log(self, user, status):
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(f"{self.client_address[0]} {user} {self.command} {self.path} {status}\n")

        def _reply(self, status, headers, body):
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _user(self):
            auth = self.headers.get("Proxy-Authorization", "")
            if not auth.startswith("Basic "):
                return None
            try:
                given = base64.b64decode(auth[6:].strip()).decode("utf-8")
            except ValueError:
                return None
            return given.split(":", 1)[0] if hmac.compare_digest(given, credentials) else None

        def do_GET(self):  # noqa: N802 (http.server naming)
            user = self._user()
            if user is None:
                self._log("-", 407)
                return self._reply(407, [("Proxy-Authenticate", 'Basic realm="test-proxy"')], b"")
            target = urllib.parse.urlsplit(self.path)
            if target.scheme != "http" or target.hostname not in ("127.0.0.1", "localhost"):
                self._log(user, 403)
                return self._reply(403, [], b"this test proxy forwards to loopback only\n")
            request = urllib.request.Request(self.path, method=self.command,
                                             headers={h: self.headers[h] for h in PASS_HEADERS if h in self.headers})
            try:
                with OPENER.open(request, timeout=30) as response:
                    status, headers, body = response.status, response.getheaders(), response.read()
            except urllib.error.HTTPError as exc:
                status, headers, body = exc.code, exc.headers.items(), exc.read()
            except OSError as exc:
                status, headers, body = 502, [], f"{exc}\n".encode()
            self._log(user, status)
            return self._reply(status, headers, body)

        do_HEAD = do_GET  # noqa: N815

        def log_message(self, fmt, *args):  # the access log above is the log
            pass

    return Handler


def main():
    port, credentials_file, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    with open(credentials_file, encoding="utf-8") as handle:
        credentials = handle.read().strip()
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(credentials, log))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
