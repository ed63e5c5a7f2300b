"""What both test files of the datadog_agent_checks scenario share: the made-up secrets of its
group_vars (the clear values of the vaulted API key, check passwords and proxy password) and the
assertion that a log holds none of them."""

# Clear values of group_vars/all.yml and db.yml (made up): no log may hold them.
SECRETS = {"api key": "3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e", "redis password": "checks-redis-Pa55word-molecule",
           "postgres password": "checks-pg-Pa55word-molecule", "proxy password": "checks-proxy-Pa55word-molecule"}


def no_secret(log, what):
    for name, value in SECRETS.items():
        assert value not in log, f"the {name} appears in the log of {what}"
