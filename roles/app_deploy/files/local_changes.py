#!/usr/bin/env python3
"""Local changes in the app's checkout that a deploy would throw away (app_deploy, checkout stage).

    local_changes.py APP_DIR SETTINGS_PATH

The django_apm role keeps its block in the checkout's settings file (SETTINGS_PATH, relative to
APP_DIR), which git reports as a local modification; a deploy resets the checkout (force). Prints,
one a line, every tracked file that differs from HEAD other than that settings file, and the
settings file itself when it differs outside the django_apm block (blank lines aside). Prints
nothing when only the block differs. Exit 0 either way; non-zero when git fails.
"""

import re
import subprocess
import sys

BLOCK = re.compile(r"(?ms)^# BEGIN django_apm:.*?^# END django_apm:[^\n]*\n?")


def git(app, *args):
    return subprocess.run(["git", "-c", "safe.directory=" + app, "-C", app, *args],
                          capture_output=True, text=True, check=True).stdout


def normalise(text):
    """The text without blank lines and surrounding whitespace (the block leaves blank lines behind)."""
    return re.sub(r"\n\s*\n+", "\n", text).strip()


def without_block(text):
    return BLOCK.sub("", text)


def foreign_changes(app, settings):
    status = git(app, "status", "--porcelain", "--untracked-files=no")
    changed = [line[3:] for line in status.splitlines() if len(line) > 3]
    foreign = [path for path in changed if path != settings]
    if settings in changed:
        head = git(app, "show", "HEAD:" + settings)
        with open(f"{app}/{settings}", encoding="utf-8") as handle:
            work = handle.read()
        if normalise(without_block(work)) != normalise(head):
            foreign.append(settings + " (outside the django_apm block)")
    return foreign


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    print("\n".join(foreign_changes(argv[1], argv[2])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
