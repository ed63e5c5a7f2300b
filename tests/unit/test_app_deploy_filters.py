"""app_deploy: the filters of roles/app_deploy/filter_plugins/app_deploy.py, called directly."""

import importlib.util
from pathlib import Path

import pytest

ROLE = Path(__file__).resolve().parents[2] / "roles" / "app_deploy"
_SPEC = importlib.util.spec_from_file_location("app_deploy_filters", ROLE / "filter_plugins" / "app_deploy.py")
F = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(F)
TOKEN = "glpat-n0t-a-real-t0ken"


def test_filters_are_registered():
    assert set(F.FilterModule().filters()) == {"app_deploy_remote_credentials", "app_deploy_remote_shown", "app_deploy_mask_remote"}


@pytest.mark.parametrize("url,credentials,shown", [
    (f"https://deploy:{TOKEN}@git.example.invalid/app.git", f"deploy:{TOKEN}", "https://********@git.example.invalid/app.git"),
    (f"HTTPS://{TOKEN}@github.example.invalid/org/app.git", TOKEN, "HTTPS://********@github.example.invalid/org/app.git"),
    (f"http://u:p%40ss{TOKEN}@git.example.invalid/a", f"u:p%40ss{TOKEN}", "http://********@git.example.invalid/a"),
    ("https://git.example.invalid/app.git", "", "https://git.example.invalid/app.git"),
    ("git@git.example.invalid:org/app.git", "", "git@git.example.invalid:org/app.git"),
    ("ssh://git@git.example.invalid/org/app.git", "", "ssh://git@git.example.invalid/org/app.git"),
    ("/srv/git/app.git", "", "/srv/git/app.git"),
    ("", "", ""),
])
def test_credentials_of_a_remote_and_how_it_is_shown(url, credentials, shown):
    assert F.remote_credentials(url) == credentials
    assert F.remote_shown(url) == shown


def test_git_messages_lose_every_piece_of_the_credentials():
    url = f"https://deploy:p%40ss-{TOKEN}@git.example.invalid/app.git"
    message = (f"fatal: unable to access '{url}': Failed to connect; token p@ss-{TOKEN} refused; "
               f"also https://other:secret-two@mirror.example.invalid/x and deploy:p%40ss-{TOKEN} again")
    masked = F.mask_remote(message, url)
    assert TOKEN not in masked and "p@ss" not in masked and "secret-two" not in masked, masked
    assert "https://********@git.example.invalid/app.git" in masked and "https://********@mirror.example.invalid/x" in masked


def test_a_remote_without_credentials_leaves_the_message_alone():
    message = "fatal: Remote branch nope not found in upstream origin"
    assert F.mask_remote(message, "git@git.example.invalid:org/app.git") == message
    assert F.mask_remote(None, "") == ""
