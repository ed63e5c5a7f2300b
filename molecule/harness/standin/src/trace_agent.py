#!/usr/bin/python3 -I
"""datadog-agent STAND-IN trace-agent: /opt/datadog-agent/embedded/bin/trace-agent.

This is not Datadog's trace-agent. It reads the same datadog.yaml and serves the APM trace
intake with Datadog's APM test agent (ddapm-test-agent, embedded in the package), so that
tracers can send traces to localhost:8126 and tests can read them back from
/test/session/traces and /test/traces.

Like the real trace-agent it exits 0 when apm_config.enabled is false and refuses to run
without an API key. Unlike ddapm-test-agent's own command line it opens only the APM
receiver: no OTLP ports, no web UI. Every outbound path of the test agent is shut:
no --agent-url, no API key given to it, LLM Observability forwarding disabled, and the
/vcr/ recording proxy and the /test/settings keys that would switch forwarding on are
refused by a guard in front of the app. Nothing ever reaches Datadog or the internet.

  trace-agent [--config PATH] [--pidfile PATH]   run (what the systemd unit does)
  trace-agent --selftest                         build the app without serving (build check)
"""

import argparse
import asyncio
import json
import os
import signal
import sys

# /opt/datadog-agent/embedded/bin/trace-agent -> /opt/datadog-agent
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "embedded", "lib", "standin"))

import standin_common as common  # noqa: E402

# /test/settings keys that would let a client turn on forwarding to an agent or to Datadog.
BLOCKED_SETTINGS = {"agent_url", "dd_api_key", "dd_site", "disable_llmobs_data_forwarding", "proxy_to_agent",
                    "vcr_ci_mode", "vcr_cassettes_directory", "vcr_provider_map"}


def build_app(settings, log):
    """ddapm-test-agent's aiohttp app, configured for an offline, permissive trace intake."""
    os.environ["TEST_AGENT_VERSION"] = f"{common.AGENT_VERSION}-standin"  # what GET /info reports
    from aiohttp import web
    from ddapm_test_agent import agent as test_agent
    from ddapm_test_agent import trace_snapshot

    state_dir = os.path.join(ROOT, "run")
    app = test_agent.make_app(
        enabled_checks=[],                       # no trace checks: any normal tracer payload is accepted
        log_span_fmt="[{name}]",
        snapshot_dir=os.path.join(state_dir, "apm-snapshots"),
        snapshot_ci_mode=False,
        snapshot_ignored_attrs=set(test_agent._parse_csv(trace_snapshot.DEFAULT_SNAPSHOT_IGNORES)),
        agent_url="",                            # never forward to another agent
        trace_request_delay=0.0,
        suppress_trace_parse_errors=False,
        pool_trace_check_failures=False,
        disable_error_responses=True,            # answer 200 to tracers, as a real agent would
        snapshot_removed_attrs=set(),
        snapshot_regex_placeholders={},
        vcr_cassettes_directory=os.path.join(state_dir, "vcr-cassettes"),
        vcr_ci_mode=True,                        # never record through to third-party APIs
        vcr_provider_map="",
        vcr_ignore_headers="",
        vcr_json_body_normalizers="",
        vcr_body_regex_normalizers="",
        dd_site=settings.site,
        dd_api_key="",                           # the test agent never gets the API key
        disable_llmobs_data_forwarding=True,
        org_prop_marker="",
        enable_web_ui=False,
    )
    app["proxy_to_agent"] = False

    @web.middleware
    async def offline_guard(request, handler):
        """Refuse the few requests that would make the test agent talk to the outside."""
        if request.path.startswith("/vcr/"):
            return web.json_response({"error": "the stand-in trace intake has no outbound /vcr/ proxy"}, status=403)
        if request.path == "/test/settings" and request.method == "POST":
            try:
                keys = set(json.loads(await request.read() or b"{}"))
            except (ValueError, TypeError):
                keys = set()
            blocked = sorted(keys & BLOCKED_SETTINGS)
            if blocked:
                log.warning("refused /test/settings for %s: outbound paths are disabled in the stand-in", blocked)
                return web.json_response(
                    {"error": f"settings {blocked} are disabled in the stand-in (no outbound traffic)"}, status=403)
        return await handler(request)

    app.middlewares.insert(0, offline_guard)  # first, before the test agent's own middlewares
    return app


async def serve(app, host, port, log):
    from aiohttp import web

    runner = web.AppRunner(app, tcp_keepalive=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host=host, port=port)
    await site.start()
    log.info("trace intake (ddapm-test-agent %s) listening on %s:%s", common.TEST_AGENT_VERSION, host, port)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("shutting down the stand-in trace-agent")
    await runner.cleanup()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="trace-agent",
                                     description=f"trace-agent ({common.STANDIN_NOTE}; intake: ddapm-test-agent)")
    parser.add_argument("-c", "--config", default=common.DEFAULT_CONFIG, help="path to datadog.yaml")
    parser.add_argument("--pidfile", default=None)
    parser.add_argument("--selftest", action="store_true", help="import and build the intake, then exit")
    parser.add_argument("--version", action="store_true")
    args = parser.parse_args(argv)
    if args.version:
        print(f"Trace Agent {common.AGENT_VERSION} ({common.STANDIN_NOTE}; intake: ddapm-test-agent "
              f"{common.TEST_AGENT_VERSION})")
        return 0

    common.use_embedded_site_packages(ROOT)
    if args.selftest:
        settings = common.Settings({"api_key": "selftest"}, "<selftest>")
        log = common.setup_logging("TRACE", None)
        build_app(settings, log)
        print(f"trace-agent stand-in selftest: ok (Python {sys.version_info[0]}.{sys.version_info[1]})")
        return 0

    path = common.resolve_config_path(args.config)
    try:  # the trace-agent resolves datadog.yaml's ENC[] handles too (pkg/trace/config: secrets)
        config, _handles = common.resolve_secrets(common.load_config(path))
    except common.SecretError as exc:
        common.setup_logging("TRACE", "trace-agent.log")
        common.die(f"unable to decrypt secret from {path}: {exc}")
    settings = common.Settings(config, path)
    log = common.setup_logging("TRACE", "trace-agent.log", settings.log_level)
    if not settings.apm_enabled:
        log.info("trace-agent not enabled (apm_config.enabled is false in %s). Exiting.", path)
        return 0
    if not settings.api_key:
        log.error("API key is missing: you must specify an API key in %s (or DD_API_KEY). Exiting.", path)
        return 1
    log.info("Starting trace-agent stand-in v%s (%s)", common.AGENT_VERSION, common.STANDIN_NOTE)

    app = build_app(settings, log)
    if args.pidfile:
        with open(args.pidfile, "w", encoding="ascii") as handle:
            handle.write(f"{os.getpid()}\n")
    try:
        asyncio.run(serve(app, settings.apm_bind_host, settings.apm_receiver_port, log))
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", settings.apm_bind_host, settings.apm_receiver_port, exc)
        return 1
    finally:
        if args.pidfile:
            try:
                os.unlink(args.pidfile)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
