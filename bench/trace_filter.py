"""D. Cost of django_apm's trace filter per span, next to ddtrace's own cost per span (issue 10).

Runs on this machine, no host needed. Each run is a fresh Python process that renders the
role's settings block (roles/django_apm/templates/settings_block.py.j2, with the role's own
filters and defaults), executes it as the app's settings would (the .env path points nowhere, the
tracer settings come from the environment: tracing on, an agent URL nobody listens on), and then,
ROUNDS times, interleaved:

1. ddtrace's own cost: the wall time to create, tag and finish the spans of one trace shaped like
   the sample app's /patients/ request (a web root, PostgreSQL queries carrying the seed's
   literals, Redis commands with arguments, an HTTP client call with a query string, a cache span),
   with the trace filter taken out of the tracer's processors;
2. the filter's cost: the wall time of the filter's process_trace over a fresh copy of those
   finished spans (SQL obfuscation included).

Both are divided by the number of spans: microseconds per span, and their ratio (filter / ddtrace)
within the run. Printed, never asserted. `python bench/trace_filter.py` prints one run;
`make bench` (BENCH_ONLY=filter) runs BENCH_RUNS of them in the table.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 300

QUERIES = [
    'SELECT "patients_patient"."visits" FROM "patients_patient" WHERE "patients_patient"."external_id" = %s LIMIT 1',
    "SELECT COUNT(*) FROM patients_patient WHERE external_id = '12345' OR id = 12345",
    "SELECT COUNT(*) FROM patients_patient WHERE id IN (12345, 12346, 12347)",
    "SELECT COUNT(*) FROM auth_user WHERE email = 'alice.patientcare@example.org'",
    "UPDATE patients_patient SET visits = 3, note = E'it''s \\n 12345' WHERE id = 12345 /* report 12345 */",
]


def render_block():
    """The settings block as the role renders it, with the role's filters and these inputs."""
    import yaml
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    sys.path.insert(0, str(ROOT / "roles/django_apm/filter_plugins"))
    from django_apm import FilterModule

    env = Environment(loader=FileSystemLoader(str(ROOT / "roles/django_apm/templates")), undefined=StrictUndefined,
                      keep_trailing_newline=True)
    env.filters.update(FilterModule().filters())
    env.filters["comment"] = lambda text: "\n".join("# " + line for line in str(text).split("\n"))
    privacy = yaml.safe_load((ROOT / "roles/django_apm/vars/main.yml").read_text())["_django_apm_privacy_env"]
    return env.get_template("settings_block.py.j2").render(
        ansible_managed="bench", django_apm_ddtrace_version="bench", django_apm_service="upstream",
        django_apm_dotenv_path="/nonexistent/.env", _django_apm_block_names=[], _django_apm_privacy_env=privacy,
        django_apm_trace_filter=True, django_apm_redis_service="upstream-redis", django_apm_keep_redis_only_traces=False)


def one_run():
    """Runs in a fresh process (ddtrace reads its settings once): prints one JSON result."""
    os.environ.update(DD_TRACE_ENABLED="true", DD_SERVICE="upstream", DD_ENV="bench", DD_VERSION="0" * 40,
                      DD_TRACE_AGENT_URL="http://127.0.0.1:9", DD_REMOTE_CONFIGURATION_ENABLED="false",
                      DD_TELEMETRY_ENABLED="false", DD_INSTRUMENTATION_TELEMETRY_ENABLED="false")
    exec(compile(render_block(), "settings_block", "exec"), {"__name__": "bench_block"})
    from ddtrace.trace import tracer

    aggregator = tracer._span_aggregator
    (scrub,) = [p for p in aggregator.user_processors if type(p).__name__ == "Scrub"]
    aggregator.user_processors = [p for p in aggregator.user_processors if p is not scrub]
    kept = []
    aggregator.writer.write = kept.extend  # the spans stay here: nothing is encoded or sent

    def trace():
        with tracer.trace("django.request", service="upstream", resource="GET patients/", span_type="web") as root:
            root.set_tag("http.url", "http://testserver/patients/?patient_id=12345")
            root.set_tag("usr.id", "7")
            with tracer.trace("django.cache", span_type="cache") as span:
                span.set_tag("django.cache.key", ":1:patient:12345")
            for query in QUERIES:
                with tracer.trace("postgres.query", service="upstream-postgres", resource=query, span_type="sql") as span:
                    span.set_tag("db.system", "postgresql")
                    span.set_tag("component", "psycopg")
            for command in ("GET :1:patient:12345", "SET :1:patient:12345 0 EX 30", 'LPUSH celery {"body": "W1siMTIzNDUiXQ=="}'):
                with tracer.trace("redis.command", service="upstream-redis", resource=command, span_type="redis") as span:
                    span.set_tag("redis.raw_command", command)
            with tracer.trace("requests.request", span_type="http") as span:
                span.set_tag("http.url", "http://127.0.0.1:8000/health/?patient_id=12345")

    for _ in range(20):  # warm-up
        trace()
    ddtrace_us, filter_us, spans = [], [], 0
    for _ in range(ROUNDS):
        kept.clear()
        start = time.perf_counter()
        trace()
        ddtrace_us.append((time.perf_counter() - start) * 1e6)
        spans = len(kept)
        start = time.perf_counter()
        out = scrub.process_trace(list(kept))
        filter_us.append((time.perf_counter() - start) * 1e6)
    sql = [s.resource for s in out if s.span_type == "sql"]
    if any(needle in text for text in sql for needle in ("12345", "alice")):
        raise SystemExit(f"the filter left a literal: {sql}")
    ddtrace_span, filter_span = statistics.median(ddtrace_us) / spans, statistics.median(filter_us) / spans
    print(json.dumps({"spans": spans, "ddtrace_us_per_span": ddtrace_span, "filter_us_per_span": filter_span,
                      "ratio": filter_span / ddtrace_span, "sql": sql}))


def measure():
    res = subprocess.run([sys.executable, __file__, "--one"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    if res.returncode != 0:
        raise RuntimeError(f"trace filter bench failed: {(res.stderr or res.stdout)[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def run(runs):
    return [measure() for _ in range(runs)]


def rows(results):
    from report import Row

    spans = results[0]["spans"]
    note = f"{spans}-span trace shaped like the /patients/ request, {ROUNDS} rounds a run, medians"
    return [
        Row("D", "ddtrace's own cost per span (create, tag, finish)", [r["ddtrace_us_per_span"] for r in results], "us", note=note),
        Row("D", "trace filter per span, SQL obfuscation included", [r["filter_us_per_span"] for r in results], "us",
            note="the same spans, in the same run"),
        Row("D", "trace filter / ddtrace, per span", [r["ratio"] for r in results], "x",
            note="within each run; the filter adds this share to ddtrace's per-span cost"),
    ]


if __name__ == "__main__":
    if sys.argv[1:] == ["--one"]:
        one_run()
    else:
        r = measure()
        print(f"{r['spans']} spans a trace: ddtrace {r['ddtrace_us_per_span']:.2f} us/span, trace filter "
              f"{r['filter_us_per_span']:.2f} us/span with SQL obfuscation ({r['ratio']:.1%} of ddtrace's own cost, same run)")
        print("obfuscated SQL:", *r["sql"], sep="\n  ")
