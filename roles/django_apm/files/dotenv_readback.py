"""Read the .env back as the app does: python-decouple's RepositoryEnv, run on the host as the app user.

    python dotenv_readback.py FILE

Prints the name -> value mapping as JSON (the role compares it with what it wrote: the values may
be secret, so the task that runs this hides its output). Exits 3 when python-decouple is not
installed in the app's virtualenv (nothing to compare with).
"""

import json
import sys


def main(argv):
    try:
        from decouple import RepositoryEnv
    except ImportError:
        return 3
    print(json.dumps(RepositoryEnv(argv[1]).data))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
