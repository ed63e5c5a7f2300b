"""app_deploy's computations: the git remote's credentials kept out of what the role shows.

An http(s) remote may carry credentials in its user part (https://deploy:TOKEN@git.example.com/app.git,
https://TOKEN@github.com/org/app.git). The role shows the remote in its messages, and git's own
messages may quote it (raw, or percent-decoded): every piece of the user part is masked there. An
ssh remote (git@host:org/app.git, ssh://git@host/...) carries no secret in its user part and is
shown as is.
"""

import re
import urllib.parse

MASK = "********"
_HTTP_USERINFO = re.compile(r"^(https?://)([^/@?#]*)@", re.IGNORECASE)
# Pieces shorter than this are not masked on their own (they would blank out unrelated words).
_MIN_PIECE = 4


def remote_credentials(url):
    """The user part of an http(s) remote ("" when it has none)."""
    match = _HTTP_USERINFO.match(str(url or ""))
    return match.group(2) if match else ""


def remote_shown(url):
    """The remote as messages may show it: an http(s) user part replaced by the mask."""
    return _HTTP_USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", str(url or ""), count=1)


def mask_remote(text, url):
    """``text`` (a message of git's) with the remote's credentials masked: the whole user part, each
    piece of it (user, password or token), raw and percent-decoded, and any other http(s) user part."""
    text = str(text or "")
    userinfo = remote_credentials(url)
    if userinfo:
        pieces = {userinfo, *userinfo.split(":", 1)}
        pieces |= {urllib.parse.unquote(p) for p in pieces}
        for piece in sorted((p for p in pieces if len(p) >= _MIN_PIECE), key=len, reverse=True):
            text = text.replace(piece, MASK)
    return re.sub(r"(https?://)[^/@\s'\"]*@", lambda m: f"{m.group(1)}{MASK}@", text, flags=re.IGNORECASE)


class FilterModule:
    """app_deploy's filters (published as ddapm.django_datadog.<name>)."""

    def filters(self):
        return {
            "app_deploy_remote_credentials": remote_credentials,
            "app_deploy_remote_shown": remote_shown,
            "app_deploy_mask_remote": mask_remote,
        }
