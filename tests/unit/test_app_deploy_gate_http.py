"""Where app_deploy's gate asks the app over HTTP, from django_apm's gunicorn bind (the role's own
vars/main.yml expressions), and the gate's own uri task (read from tasks/gate.yml) run by
ansible-playbook on localhost against an app on a unix socket, as gunicorn runs behind a web
server (`--bind unix:PATH`). The URL used to be 'http://' + bind + '/health/', which for a unix
socket is http://unix:/run/...: the gate failed every such deploy and stopped the rollout. No
containers."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "app_deploy"


def _cases(sock):
    # name: (gunicorn bind, app_deploy_health_url, URL asked, socket used)
    return {
        "loopback": ("127.0.0.1:8000", "", "http://127.0.0.1:8000/health/", ""),
        "any-ipv4": ("0.0.0.0:8080", "", "http://127.0.0.1:8080/health/", ""),
        "any-ipv6": ("[::]:8000", "", "http://[::1]:8000/health/", ""),
        "unix": (f"unix:{sock}", "", "http://localhost/health/", str(sock)),
        "given-url": (f"unix:{sock}", "https://app.example.invalid/healthz", "https://app.example.invalid/healthz", ""),
    }


def test_the_gate_reaches_the_app_from_its_bind(local_tasks, unix_app):
    sock, seen = unix_app
    uri_task = next(t for t in yaml.safe_load((ROLE / "tasks" / "gate.yml").read_text()) if "ansible.builtin.uri" in t)
    uri_task = {k: v for k, v in uri_task.items() if k not in ("retries", "delay", "until")}
    tasks = [{"name": "The role's constants and expressions", "ansible.builtin.include_vars": str(ROLE / "vars" / "main.yml")},
             {"name": "The gate asks over HTTP", "ansible.builtin.set_fact": {"app_deploy_gate_http": "always", "cases": {}}}]
    for name, (bind, given, _url, _socket) in _cases(sock).items():
        tasks += [
            {"name": f"Inputs ({name})", "ansible.builtin.set_fact": {
                "django_apm_facts": {"gunicorn_bind": bind, "gunicorn_enabled": True, "manage_units": True},
                "app_deploy_health_url": given}},
            {"name": f"What the gate asks ({name})", "ansible.builtin.set_fact": {"cases": "{{ cases | combine({%r: {"
             "'url': _app_deploy_health_url, 'socket': _app_deploy_health_socket, 'where': _app_deploy_health_where}}) }}" % name}},
        ]
        if name == "unix":
            tasks.append({**uri_task, "name": "The gate's own uri task (unix)"})
    tasks.append({"name": "out", "ansible.builtin.debug": {"msg": {"cases": "{{ cases }}", "ask": "{{ __app_deploy_gate_http }}"}}})
    out = local_tasks(tasks)
    for name, (bind, _given, url, socket_path) in _cases(sock).items():
        got = out["cases"][name]
        assert (got["url"], got["socket"]) == (url, socket_path), (name, got)
        assert got["where"] == url + (f" through {bind}" if socket_path else ""), (name, got)
    assert out["ask"]["status"] == 200, out["ask"]
    assert seen == [("/health/", "localhost")]
