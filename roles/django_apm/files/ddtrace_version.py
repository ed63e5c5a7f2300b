"""Print the ddtrace version installed in the running Python's environment, or "none"."""

import importlib.metadata


def version():
    try:
        return importlib.metadata.version("ddtrace")
    except importlib.metadata.PackageNotFoundError:
        return "none"


if __name__ == "__main__":
    print(version())
