#!/usr/bin/python3 -I
"""datadog-agent STAND-IN command line: a test double of /opt/datadog-agent/bin/agent/agent.

This is not the Datadog Agent. It is built by molecule/harness/standin/build.sh so the
Ansible role can be tested offline against a package that installs, starts and answers like
the real one, while collecting nothing and sending nothing anywhere.

Commands (a subset of the real CLI, same names and exit codes where it matters):
  run [-p PIDFILE]   refuse to start without api_key; otherwise serve a local IPC API
                     (JSON, http://127.0.0.1:<cmd_port>/agent/status) until SIGTERM
  version            print the baked-in upstream version (7.60.0 / 7.61.0)
  status [-j]        query the running stand-in and print a status report (with the checks it
                     loaded at start: Collector / Running Checks, their instances, loading errors)
  health             PASS when the IPC API answers, the forwarder's API key is not rejected by the
                     (pretend) intake and (if APM is on) the trace intake answers
  configcheck        list the check configurations found under conf.d/
  secret             the secret_backend_command's rights and the ENC[] handles it resolves (no values)
  hostname           print the hostname the stand-in reports
"""

import argparse
import datetime
import json
import logging
import os
import signal
import sys
import threading
import urllib.request

# /opt/datadog-agent/bin/agent/agent -> /opt/datadog-agent (found from the real path, so the
# /usr/bin/datadog-agent symlink and build.sh's staging tree both work).
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "embedded", "lib", "standin"))

import standin_common as common  # noqa: E402

HTTP_TIMEOUT = 5  # seconds, for every local query
# Every query goes to 127.0.0.1: never through an http_proxy from the environment.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --------------------------------------------------------------------------- helpers

def http_get_json(url, timeout=HTTP_TIMEOUT, token=None):
    """GET a local URL (with the IPC auth token when given) and decode its JSON body (raises
    OSError/ValueError on failure)."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with OPENER.open(request, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8") or "null")


def probe_trace_intake(port, timeout=2):
    """Ask the local trace intake for GET /info. Returns (answers, error text or None)."""
    try:
        http_get_json(f"http://127.0.0.1:{port}/info", timeout=timeout)
        return True, None
    except (OSError, ValueError) as exc:
        return False, str(getattr(exc, "reason", exc))


def trace_counts(port, timeout=2):
    """(traces, spans) the trace intake holds since it started, or (None, None)."""
    try:
        traces = http_get_json(f"http://127.0.0.1:{port}/test/traces", timeout=timeout) or []
        return len(traces), sum(len(t) for t in traces if isinstance(t, list))
    except (OSError, ValueError):
        return None, None


def settings_from_args(args):
    path = common.resolve_config_path(args.cfgpath)
    return common.Settings(common.load_config(path), path)


def resolved_settings_from_args(args):
    """Settings with ENC[...] handles resolved by secret_backend_command (what `run` uses), and the
    [(handle, setting)] resolved; SecretError when one does not resolve."""
    path = common.resolve_config_path(args.cfgpath)
    config, handles = common.resolve_secrets(common.load_config(path))
    return common.Settings(config, path), handles


def ipc_url(settings, path):
    return f"http://127.0.0.1:{settings.cmd_port}{path}"


def ipc_get(settings, path):
    """GET an IPC endpoint of the running agent with its auth token (exit 1 if it is unreadable)."""
    return http_get_json(ipc_url(settings, path), token=common.fetch_auth_token(settings.auth_token_path))


# --------------------------------------------------------------------------- checks

def find_check_configs(confd):
    """[(check, path)] of conf.d/<check>.d/*.yaml[.default] and conf.d/<check>.yaml, as the agent's
    file config provider reads them (comp/core/autodiscovery/providers/file.go, agent 7.61.0:
    every *.yaml of a <check>.d folder is one config of that check; auto_conf.yaml files are
    autodiscovery templates, not scheduled without a matching container, so left out here)."""
    found = []
    if os.path.isdir(confd):
        for entry in sorted(os.listdir(confd)):
            full = os.path.join(confd, entry)
            if os.path.isdir(full) and entry.endswith(".d"):
                found += [(entry[:-2], os.path.join(full, f)) for f in sorted(os.listdir(full))
                          if f.endswith((".yaml", ".yml", ".yaml.default")) and f != "auto_conf.yaml"]
            elif entry.endswith((".yaml", ".yml")):
                found.append((entry.rsplit(".", 1)[0], full))
    return found


def fnv1_64(data):
    """FNV-1 64-bit (Go's hash/fnv New64, which the agent's check IDs use)."""
    h = 0xcbf29ce484222325
    for byte in data:
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
        h ^= byte
    return h


def check_id(check, instance, init_config):
    """"<check>:[<name>:]<hex>" like pkg/collector/check/id/id.go BuildID (agent 7.61.0): a 64-bit
    FNV hash of the instance and init_config YAML, with the instance's `name` when it has one.
    Stand-in: the hashed bytes are PyYAML's dump, so the hex differs from the real agent's."""
    import yaml

    text = (yaml.safe_dump(instance, sort_keys=True) + yaml.safe_dump(init_config, sort_keys=True)).encode("utf-8")
    name = instance.get("name") if isinstance(instance, dict) else None
    return f"{check}:{name}:{fnv1_64(text):x}" if name else f"{check}:{fnv1_64(text):x}"


def load_checks(config_dir):
    """What the agent schedules at start from conf.d/ and checks.d/: ({check: {id: stats}},
    {check: {loader: error}}, [config errors]). A check with checks.d/<check>.py is a custom check,
    loaded by the Python loader: the stand-in compiles it (the agent imports it; the stand-in has no
    datadog_checks.base) and reports a loading error when it does not compile, as the real one lists
    an import failure under "Loading Errors" (pkg/collector/python/loader.go). Any other check name
    is taken as one of the integrations the agent package ships. Nothing is ever run."""
    import yaml

    checksd = os.path.join(config_dir, "checks.d")
    running, loading_errors, config_errors = {}, {}, []
    for check, path in find_check_configs(os.path.join(config_dir, "conf.d")):
        try:
            with open(path, encoding="utf-8") as handle:
                data = yaml.safe_load(handle) or {}
        except (OSError, yaml.YAMLError) as exc:
            config_errors.append(f"{check}: {path}: {exc}")
            continue
        instances = data.get("instances") if isinstance(data, dict) else None
        if not isinstance(instances, list) or not instances:
            config_errors.append(f"{check}: {path}: Configuration file contains no valid instances")
            continue
        source = os.path.join(checksd, f"{check}.py")
        if os.path.isfile(source):
            try:
                with open(source, "rb") as handle:
                    compile(handle.read(), source, "exec", dont_inherit=True)
            except (OSError, SyntaxError, ValueError) as exc:
                loading_errors.setdefault(check, {})["python"] = f"unable to import module '{check}': {exc}"
                continue
            loader = "python (custom check, checks.d)"
        else:
            loader = "integration shipped with the agent"
        for instance in instances:
            cid = check_id(check, instance, data.get("init_config"))
            running.setdefault(check, {})[cid] = {
                "CheckName": check, "CheckID": cid, "CheckConfigSource": f"file:{path}",
                "Loader": loader, "TotalRuns": 0, "LastError": "", "standin": "loaded, never run"}
    return running, loading_errors, config_errors


# --------------------------------------------------------------------------- run

class AgentState:
    """What the running stand-in knows about itself; rendered by the IPC API."""

    def __init__(self, settings):
        self.settings = settings
        self.start_time = datetime.datetime.now(datetime.timezone.utc)
        self.pid = os.getpid()
        # Checks are loaded once, at start, like the agent's: a changed check file needs a restart.
        self.checks, self.loading_errors, self.config_errors = load_checks(os.path.dirname(settings.config_path))

    def health(self):
        """GET /agent/status/health, shaped like pkg/status/health Status (Healthy/Unhealthy
        component names, agent 7.61.0). `forwarder` turns unhealthy when the (pretend) intake
        rejects the API key, as comp/forwarder/defaultforwarder/forwarder_health.go does."""
        s = self.settings
        healthy, unhealthy = ["agent-ipc-api"], []
        rejected = common.intake_rejects(s.api_key)
        (unhealthy if rejected else healthy).append(f"forwarder ({rejected})" if rejected else "forwarder")
        if s.apm_enabled:  # the trace-agent of the running config answers its receiver
            ok, error = probe_trace_intake(s.apm_receiver_port)
            (healthy if ok else unhealthy).append(
                "trace-agent-receiver" if ok
                else f"trace-agent-receiver (GET http://127.0.0.1:{s.apm_receiver_port}/info: {error})")
        return {"Healthy": healthy, "Unhealthy": unhealthy}

    def status(self):
        s = self.settings
        apm = {
            "enabled": s.apm_enabled,
            "receiver_port": s.apm_receiver_port,
            "receiver_host": s.apm_bind_host,
            "receiver_address": s.apm_receiver_address,
            "apm_non_local_traffic": s.apm_non_local_traffic,
            "intake": f"ddapm-test-agent {common.TEST_AGENT_VERSION} (stand-in trace intake)",
        }
        if s.apm_enabled:
            apm["info_answers"], apm["info_error"] = probe_trace_intake(s.apm_receiver_port)
            apm["traces_received"], apm["spans_received"] = trace_counts(s.apm_receiver_port)
        return {
            "standin": True,
            "note": common.STANDIN_NOTE,
            "version": common.AGENT_VERSION,
            "package_version": common.PACKAGE_VERSION,
            "pid": self.pid,
            "hostname": s.hostname,
            "api_key_ending": s.api_key_ending,  # never the whole key
            "site": s.site,
            "env": s.env,
            "tags": s.tags,
            "config_path": s.config_path,
            "cmd_port": s.cmd_port,
            "start_time": self.start_time.isoformat(timespec="seconds"),
            "python_version": "%d.%d.%d" % sys.version_info[:3],
            "apm": apm,
            # Shapes of the agent's status JSON (comp/collector/collector/collectorimpl/status.go):
            # runnerStats.Checks[check][checkID], checkSchedulerStats.LoaderErrors[check][loader].
            "runnerStats": {"Checks": self.checks},
            "checkSchedulerStats": {"LoaderErrors": self.loading_errors},
            "autoConfigStats": {"ConfigErrors": self.config_errors},
        }


def make_ipc_handler(state, log, token):
    import hmac
    from http.server import BaseHTTPRequestHandler

    class Handler(BaseHTTPRequestHandler):
        server_version = "datadog-agent-standin"

        def _send(self, code, payload):
            body = json.dumps(payload, indent=2).encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802 (http.server naming)
            path = self.path.split("?", 1)[0].rstrip("/") or "/"
            # Like the agent's IPC server (pkg/api/util/util.go Validate): no token, no answer.
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer "):
                self._send(401, {"error": "no session token provided"})
            elif not hmac.compare_digest(auth[len("Bearer "):].strip(), token):
                self._send(403, {"error": "invalid session token"})
            elif path == "/agent/status/health":
                self._send(200, state.health())
            elif path in ("/", "/agent/status"):
                self._send(200, state.status())
            elif path == "/agent/version":
                self._send(200, {"version": common.AGENT_VERSION, "standin": True, "note": common.STANDIN_NOTE})
            elif path == "/agent/hostname":
                self._send(200, state.settings.hostname)
            else:
                self._send(404, {"error": f"no such endpoint in the stand-in: {path}"})

        def log_message(self, fmt, *args):  # keep the journal quiet: requests at debug level
            log.debug("IPC %s - %s", self.address_string(), fmt % args)

    return Handler


def cmd_run(args):
    from http.server import ThreadingHTTPServer

    try:
        settings, handles = resolved_settings_from_args(args)
    except common.SecretError as exc:
        # Like the agent: a handle that does not resolve fails the config setup; it does not start.
        common.setup_logging("CORE", "agent.log")
        logging.getLogger("core").error("Failed to setup config: unable to decrypt secret from datadog.yaml: %s", exc)
        return 1
    log = common.setup_logging("CORE", "agent.log", settings.log_level)
    log.info("Starting datadog-agent stand-in v%s (%s), config %s",
             common.AGENT_VERSION, common.STANDIN_NOTE, settings.config_path)
    if handles:
        log.info("Resolved %d secret handle(s) with secret_backend_command: %s", len(handles),
                 ", ".join(f"'{h}' (in {where})" for h, where in handles))
    if not settings.api_key:
        log.error("API key is missing: set api_key in %s (or DD_API_KEY). Exiting.", settings.config_path)
        return 1

    try:
        token = common.create_or_fetch_auth_token(settings.auth_token_path)
    except OSError as exc:
        log.error("unable to create or read the authentication token %s: %s", settings.auth_token_path, exc)
        return 1
    state = AgentState(settings)
    try:
        server = ThreadingHTTPServer(("127.0.0.1", settings.cmd_port), make_ipc_handler(state, log, token))
    except OSError as exc:
        log.error("cannot listen on 127.0.0.1:%s for the IPC API: %s", settings.cmd_port, exc)
        return 1
    server.daemon_threads = True

    if args.pidfile:
        try:
            with open(args.pidfile, "w", encoding="ascii") as handle:
                handle.write(f"{os.getpid()}\n")
        except OSError as exc:
            log.error("cannot write pidfile %s: %s", args.pidfile, exc)
            return 1

    def stop(signum, _frame):
        log.info("Received signal %s, shutting down the stand-in", signal.Signals(signum).name)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("Checks loaded (never run by the stand-in): %s",
             ", ".join(f"{c} ({len(ids)} instance(s))" for c, ids in sorted(state.checks.items())) or "none")
    for check, errors in sorted(state.loading_errors.items()):
        log.error("Loading error of check %s: %s", check, "; ".join(errors.values()))
    log.info("Hostname: %s, API key ending with: %s, env: %s, site: %s",
             settings.hostname, settings.api_key_ending, settings.env or "-", settings.site)
    log.info("IPC API (stand-in, plain HTTP, auth token %s) listening on 127.0.0.1:%s",
             settings.auth_token_path, settings.cmd_port)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        if args.pidfile:
            try:
                os.unlink(args.pidfile)
            except OSError:
                pass
    log.info("datadog-agent stand-in stopped")
    return 0


# --------------------------------------------------------------------------- queries

def cmd_version(_args):
    print(f"Agent {common.AGENT_VERSION} - Commit: standin - Serialization version: stand-in - "
          f"Go version: none ({common.STANDIN_NOTE})")
    return 0


def cmd_hostname(args):
    print(settings_from_args(args).hostname)
    return 0


def unreachable(settings, exc):
    print(f"Could not reach agent: {ipc_url(settings, '/agent/status')}: {getattr(exc, 'reason', exc)}\n"
          "Make sure the agent is running before requesting the status.", file=sys.stderr)
    return 1


def render_collector(st):
    """The Collector section of the text status, laid out like the agent's (collector.tmpl): each
    running check, then each of its instances with its ID and configuration source."""
    checks = (st.get("runnerStats") or {}).get("Checks") or {}
    errors = (st.get("checkSchedulerStats") or {}).get("LoaderErrors") or {}
    config_errors = (st.get("autoConfigStats") or {}).get("ConfigErrors") or []
    lines = ["=========", "Collector", "=========", "", "  Running Checks", "  =============="]
    if not checks:
        lines += ["    No checks have run yet (stand-in: none loaded)"]
    for check in sorted(checks):
        lines += ([] if lines[-1] == "" else [""]) + [f"    {check}", "    " + "-" * len(check)]
        for cid, stats in sorted(checks[check].items()):
            lines += [f"      Instance ID: {cid} [OK] (stand-in: loaded, never run)",
                      f"      Configuration Source: {stats['CheckConfigSource']}",
                      f"      Loader: {stats['Loader']}",
                      f"      Total Runs: {stats['TotalRuns']}", ""]
    if errors:
        lines += ["", "  Loading Errors", "  =============="]
        for check in sorted(errors):
            lines += [f"    {check}", "    " + "-" * len(check)]
            lines += [f"      {loader}: {error}" for loader, error in sorted(errors[check].items())]
    if config_errors:
        lines += ["", "  Config Errors", "  =============="] + [f"    {e}" for e in config_errors]
    return lines + [""]


def render_status(st):
    """Text status laid out like the real `datadog-agent status`."""
    title = f"Agent (v{st['version']}) ({st['note']})"
    apm = st["apm"]
    lines = [
        "=" * len(title),
        title,
        "=" * len(title),
        "",
        f"  Status date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
        f"  Agent start: {st['start_time']}",
        f"  Pid: {st['pid']}",
        f"  Python Version: {st['python_version']}",
        f"  Package: datadog-agent {st['package_version']} (stand-in)",
        f"  Config File: {st['config_path']}",
        "",
        "  Hostnames",
        "  =========",
        f"    Hostname: {st['hostname']}",
        "",
        "  API Keys status",
        "  ===============",
        f"    API Key ending with: {st['api_key_ending']} (not validated: the stand-in never contacts Datadog)",
        "",
        "  Metadata",
        "  ========",
        f"    env: {st['env']}",
        f"    site: {st['site']}",
        f"    tags: {', '.join(st['tags'])}",
        "",
    ]
    lines += render_collector(st)
    lines += [
        "=========",
        "APM Agent",
        "=========",
    ]
    if not apm["enabled"]:
        lines += ["  Status: Not running (apm_config.enabled is false)", ""]
        return "\n".join(lines)
    answers = apm.get("info_answers")
    lines += [
        f"  Status: {'Running' if answers else 'Not running or unreachable'}",
        f"  Intake: {apm['intake']}",
        f"  Receiver: {apm['receiver_address']}",
        f"  Receiver answers GET /info: {'yes' if answers else 'no (' + str(apm.get('info_error')) + ')'}",
        "",
        "  Receiver (previous minute)",
        "  ==========================",
        f"    Listening on: {apm['receiver_address']}",
    ]
    if apm.get("traces_received") is None:
        lines.append("    Traces received: unknown (intake not answering)")
    else:
        lines.append(f"    Traces received: {apm['traces_received']} traces, {apm['spans_received']} spans "
                     "(stand-in: totals since the intake started)")
    lines.append("")
    return "\n".join(lines)



# --------------------------------------------------------------------------- status --json: apmStats

def apm_stats(settings, now=None, timeout=2):
    """The "apmStats" section of `status --json`, with the field names and shapes of the Datadog Agent.

    Follows datadog-agent comp/trace/status/statusimpl/status.go (Agent 7.5x/7.6x; the section is
    the trace-agent's expvar JSON, GET /debug/vars, or {"port", "error"} when that fails) and
    pkg/trace/info/stats.go (each "receiver" entry is a TagStats: the Tags fields - Lang,
    LangVersion, Interpreter, LangVendor, TracerVersion, EndpointVersion, Service - and the Stats
    counters side by side), as the app_deploy gate reads them. Like the trace-agent, "receiver"
    covers the previous whole minute and changes once a minute; the stand-in counts the traces of
    its intake whose root span started in that minute (the intake keeps no request headers, so
    Lang comes from the root span's "language" tag).
    """
    if not settings.apm_enabled:
        return {"port": 5012, "error": "apm_config.enabled is false: the trace-agent does not run"}
    try:
        traces = http_get_json(f"http://127.0.0.1:{settings.apm_receiver_port}/test/traces", timeout=timeout) or []
    except (OSError, ValueError) as exc:
        return {"port": 5012, "error": str(getattr(exc, "reason", exc))}
    now = datetime.datetime.now(datetime.timezone.utc).timestamp() if now is None else now
    window_end = int(now // 60 * 60) * 10**9
    window_start = window_end - 60 * 10**9
    receiver, rates = {}, {"service:,env:": 1.0}
    for trace in traces:
        spans = [span for span in trace if isinstance(span, dict)] if isinstance(trace, list) else []
        root = next((span for span in spans if not span.get("parent_id")), spans[0] if spans else None)
        if root is None:
            continue
        meta = root.get("meta") or {}
        rates[f"service:{root.get('service', '')},env:{meta.get('env', '')}"] = 1.0
        if not window_start <= int(root.get("start") or 0) < window_end:
            continue
        lang = meta.get("language", "")
        entry = receiver.setdefault(lang, {
            "Lang": lang, "LangVersion": "", "Interpreter": "", "LangVendor": "", "TracerVersion": "",
            "EndpointVersion": "v0.4", "Service": "", "TracesReceived": 0, "TracesFiltered": 0,
            "TracesPriorityNone": 0, "TracesPriorityNeg": 0, "TracesPriority0": 0, "TracesPriority1": 0,
            "TracesPriority2": 0, "TracesBytes": 0, "SpansReceived": 0, "SpansDropped": 0, "SpansFiltered": 0,
            "ServicesReceived": 0, "ServicesBytes": 0, "EventsExtracted": 0, "EventsSampled": 0,
            "PayloadAccepted": 0, "TracesDropped": {}, "SpansMalformed": {}})
        entry["TracesReceived"] += 1
        entry["SpansReceived"] += len(spans)
    return {
        "pid": os.getpid(),
        "uptime": 0,
        "memstats": {"Alloc": 0},
        "config": {"Hostname": settings.hostname, "ReceiverHost": settings.apm_bind_host,
                   "ReceiverPort": settings.apm_receiver_port, "Endpoints": [{"Host": "(stand-in: sends nothing)"}]},
        "receiver": list(receiver.values()),
        "ratebyservice": rates,
        "ratebyservice_filtered": {k: v for k, v in rates.items() if not k.endswith(",env:")},
        "trace_writer": {"Payloads": 0, "Traces": 0, "Events": 0, "Bytes": 0, "Errors": 0},
        "stats_writer": {"Payloads": 0, "StatsBuckets": 0, "Bytes": 0, "Errors": 0},
    }


def cmd_status(args):
    settings = settings_from_args(args)
    try:
        st = ipc_get(settings, "/agent/status")
    except (OSError, ValueError) as exc:
        return unreachable(settings, exc)
    if args.json:
        st["apmStats"] = apm_stats(settings)
        print(json.dumps(st, indent=2 if args.pretty_json else None))
    else:
        print(render_status(st))
    return 0


def cmd_health(args):
    """Like cmd/agent/subcommands/health/command.go (agent 7.61.0): the running agent's component
    health over IPC (auth token required); exit 1 listing the unhealthy ones."""
    settings = settings_from_args(args)
    try:
        components = ipc_get(settings, "/agent/status/health")
        healthy, unhealthy = list(components["Healthy"]), list(components["Unhealthy"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        healthy, unhealthy = [], [f"agent-ipc-api (Could not reach agent on 127.0.0.1:{settings.cmd_port}: "
                                  f"{getattr(exc, 'reason', exc)})"]
    print(f"Agent health: {'FAIL' if unhealthy else 'PASS'} ({common.STANDIN_NOTE})")
    print(f"=== {len(healthy)} healthy components ===")
    print("\n".join(healthy))
    if unhealthy:
        print(f"=== {len(unhealthy)} unhealthy components ===")
        print("\n".join(unhealthy))
        return 1
    return 0


def cmd_secret(args):
    """Like `datadog-agent secret` (cmd/agent/subcommands/secret, info_nix.go): the executable and
    its rights, then every handle of datadog.yaml and where it is used; never a value. Resolves
    the handles the way the running agent does at start; exit 1 when one does not resolve."""
    path = common.resolve_config_path(args.cfgpath)
    config = common.load_config(path)
    command = config.get("secret_backend_command")
    print(f"=== Checking executable permissions === ({common.STANDIN_NOTE})")
    if not command:
        print("No secret_backend_command set: no decryption done.")
        handles = common.secret_handles(config)
        return 1 if handles else 0
    print(f"Executable path: {command}")
    problem = common.check_secret_command_rights(command)
    print(f"Executable permissions: {'error: ' + problem if problem else 'OK, the executable has the correct permissions'}")
    print("\n=== Secrets stats ===")
    try:
        _config, handles = common.resolve_secrets(config)
    except common.SecretError as exc:
        print(f"Could not resolve the secrets of {path}: {exc}")
        return 1
    print(f"Number of secrets resolved: {len(handles)}")
    print("Secrets handle resolved:")
    for handle, where in handles:
        print(f"\n- '{handle}':\n\tused in 'datadog.yaml' configuration in entry '{where}'")
    return 0


def cmd_configcheck(args):
    """List conf.d/<check>.d/*.yaml[.default] and conf.d/<check>.yaml like the real configcheck
    (the stand-in only lists them: it never runs a check)."""
    import yaml

    settings = settings_from_args(args)
    confd = os.path.join(os.path.dirname(settings.config_path), "conf.d")
    found, errors = find_check_configs(confd), []
    for check, path in found:
        try:
            with open(path, encoding="utf-8") as handle:
                data = yaml.safe_load(handle) or {}
        except (OSError, yaml.YAMLError) as exc:
            errors.append((check, path, str(exc)))
            continue
        instances = (data.get("instances") or []) if isinstance(data, dict) else []
        print(f"=== {check} check ===")
        print("Configuration provider: file")
        print(f"Configuration source: file:{path}")
        print(f"Instances: {len(instances)} (stand-in: listed, never run)")
        print("===\n")
    if errors:
        print("=== Configuration errors ===")
        for check, path, error in errors:
            print(f"{check}: {path}: {error}")
    if not found and not errors:
        print(f"No check configuration found under {confd}")
    return 0


# --------------------------------------------------------------------------- main

def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="datadog-agent",
        description=f"datadog-agent {common.AGENT_VERSION} ({common.STANDIN_NOTE})")
    parser.add_argument("-c", "--cfgpath", default=None,
                        help="path to datadog.yaml or to the directory holding it (default /etc/datadog-agent)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("run", help="run the stand-in agent (what the systemd unit does)")
    p.add_argument("-p", "--pidfile", default=None)
    p.set_defaults(func=cmd_run)
    sub.add_parser("version", help="print the version").set_defaults(func=cmd_version)
    p = sub.add_parser("status", help="print the running stand-in's status")
    p.add_argument("-j", "--json", action="store_true", help="print the raw JSON")
    p.add_argument("-p", "--pretty-json", action="store_true", help="with -j: indent the JSON")
    p.set_defaults(func=cmd_status)
    sub.add_parser("health", help="PASS/FAIL health of the running stand-in").set_defaults(func=cmd_health)
    sub.add_parser("configcheck", help="list check configurations").set_defaults(func=cmd_configcheck)
    sub.add_parser("secret", help="check secret_backend_command and resolve the ENC[] handles of datadog.yaml"
                   ).set_defaults(func=cmd_secret)
    sub.add_parser("hostname", help="print the hostname").set_defaults(func=cmd_hostname)
    args = parser.parse_args(argv)
    if args.command != "version":
        common.use_embedded_site_packages(ROOT)  # PyYAML (version needs nothing embedded)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
