"""A bytecode cache for Python code imported from zip archives, for the test host images only.

Ansible sends every module to the host as a zip (AnsiballZ) and the host's Python imports
ansible.module_utils from it. zipimport never caches bytecode, so every task compiles the same
module_utils from source again: about 0.13 s of the 0.25 s a task's Python spends on a test host
(measured with a kept AnsiballZ_stat.py, Debian 12). The harness's host images (image.sh) install
this module with a .pth line that calls install(): zipimport then keeps the code it compiles in
CACHE_DIR, keyed by the SHA-256 of the source, the interpreter's cache tag and optimisation level.
A host therefore runs exactly the code the controller sent (other source, other key). Line numbers
are the source's; file names are set to the archive the code was imported from this time, so
tracebacks name the right file. Anything that goes wrong with the cache (unreadable, unwritable,
corrupt entry) falls back to zipimport's own compile. Users' hosts do not have it.
"""

import marshal
import os
import sys
import types
import zipimport

CACHE_DIR = "/var/cache/ddapm-harness/zipimport"


def _retarget(code, filename):
    """`code` and every code object nested in it, with co_filename set to `filename`."""
    consts = tuple(_retarget(c, filename) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def interpreter_tag():
    """What the bytecode depends on besides the source: the interpreter and its -O level."""
    return f"{sys.implementation.cache_tag}-O{sys.flags.optimize}"


def cache_key(source, tag=None):
    """The cache entry's name for `source` (bytes) on this interpreter (or the one `tag` names)."""
    import hashlib  # here, not at start-up: every python3 on the host loads this module

    return hashlib.sha256((tag or interpreter_tag()).encode() + b"\0" + source).hexdigest()


def caching(compile_source, cache_dir):
    """A replacement for zipimport._compile_source(pathname, source) that caches its result."""

    def _compile_source(pathname, source):
        path = os.path.join(cache_dir, cache_key(source))
        try:
            with open(path, "rb") as entry:
                return _retarget(marshal.loads(entry.read()), pathname)
        except (OSError, ValueError, EOFError, TypeError):
            pass
        code = compile_source(pathname, source)
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as entry:
                entry.write(marshal.dumps(code))
            os.replace(tmp, path)  # whole entries only: a reader never sees half of one
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        return code

    _compile_source.compile_source = compile_source
    return _compile_source


def install(cache_dir=CACHE_DIR):
    """Route zipimport's compiles through the cache in `cache_dir` (once; only if it exists)."""
    current = zipimport._compile_source
    if os.path.isdir(cache_dir) and not hasattr(current, "compile_source"):
        zipimport._compile_source = caching(current, cache_dir)
