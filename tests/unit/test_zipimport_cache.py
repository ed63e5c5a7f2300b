"""The suite's two bytecode caches.

- The host images' cache for zip imports (molecule/harness/zipimport_cache.py): a host runs the
  code the zip holds, the cache is used, and whatever goes wrong with it falls back to a plain
  compile. Each import runs in a new interpreter, as each Ansible task does on a host. bench/
  switches it off.
- The controller's: `make` keeps bytecode in .cache/pycache (PYTHONPYCACHEPREFIX), and the fast
  tests' localhost hosts run modules with the first cache (prefork.local_python())."""

import marshal
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[2] / "molecule" / "harness"
sys.path.insert(0, str(HARNESS))
import zipimport_cache  # noqa: E402

sys.path.remove(str(HARNESS))

BOOT = """
import sys
sys.path.insert(0, {harness!r})
import zipimport_cache
zipimport_cache.install({cache!r})
sys.path.insert(0, {archive!r})
import payload
print(payload.value())
"""


def _archive(path, source):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("payload.py", source)
    return path


def _run(archive, cache, *flags):
    code = BOOT.format(harness=str(HARNESS), cache=str(cache), archive=str(archive))
    return subprocess.run([sys.executable, *flags, "-c", code], capture_output=True, text=True)


def _entries(cache):
    return sorted(p for p in cache.iterdir() if not p.name.endswith(".tmp"))


@pytest.fixture
def cache(tmp_path):
    path = tmp_path / "cache"
    path.mkdir(mode=0o700)
    return path


def test_first_import_compiles_and_keeps_the_code_the_next_one_uses(tmp_path, cache):
    source = "def value():\n    return 'from the zip'\n"
    archive = _archive(tmp_path / "one.zip", source)
    first = _run(archive, cache)
    assert first.stdout.strip() == "from the zip", first.stderr
    [entry] = _entries(cache)
    assert entry.name == zipimport_cache.cache_key(source.encode())
    # The next interpreter reads the entry instead of compiling: swap in other code under the same
    # key and that is what it runs.
    entry.write_bytes(marshal.dumps(compile("def value():\n    return 'from the cache'\n", "x", "exec")))
    second = _run(_archive(tmp_path / "two.zip", source), cache)
    assert second.stdout.strip() == "from the cache", second.stderr


def test_other_source_is_compiled_never_served_from_an_entry_of_older_source(tmp_path, cache):
    _run(_archive(tmp_path / "old.zip", "def value():\n    return 1\n"), cache)
    newer = _run(_archive(tmp_path / "new.zip", "def value():\n    return 2\n"), cache)
    assert newer.stdout.strip() == "2", newer.stderr
    assert len(_entries(cache)) == 2


def test_tracebacks_name_the_archive_of_this_import_with_the_sources_line(tmp_path, cache):
    source = "def value():\n    x = 1\n    raise RuntimeError('boom')\n"
    _run(_archive(tmp_path / "first.zip", source), cache)
    later = tmp_path / "later.zip"
    failed = _run(_archive(later, source), cache)
    assert failed.returncode != 0
    assert f'File "{later}{os.sep}payload.py", line 3, in value' in failed.stderr
    assert "first.zip" not in failed.stderr


def test_a_corrupt_entry_falls_back_to_a_compile(tmp_path, cache):
    source = "def value():\n    return 'compiled'\n"
    (cache / zipimport_cache.cache_key(source.encode())).write_bytes(b"\x00not marshal")
    run = _run(_archive(tmp_path / "p.zip", source), cache)
    assert run.stdout.strip() == "compiled", run.stderr


def test_an_unwritable_cache_only_costs_the_compile(tmp_path, cache):
    if os.geteuid() == 0:
        target = tmp_path / "not-a-dir"  # root writes anywhere: make the entry's path unusable
        target.write_text("")
        cache = target
    else:
        cache.chmod(0o500)
    run = _run(_archive(tmp_path / "p.zip", "def value():\n    return 'ok'\n"), cache)
    assert run.stdout.strip() == "ok", run.stderr


def test_without_its_directory_the_cache_stays_out_of_the_way(tmp_path):
    missing = tmp_path / "no-such-dir"
    run = _run(_archive(tmp_path / "p.zip", "def value():\n    return 'ok'\n"), missing)
    assert run.stdout.strip() == "ok", run.stderr
    assert not missing.exists()


def test_optimised_and_plain_bytecode_are_separate_entries(tmp_path, cache):
    source = "def value():\n    assert False, 'asserts run'\n    return 'asserts stripped'\n"
    optimised = _run(_archive(tmp_path / "o.zip", source), cache, "-O")
    assert optimised.stdout.strip() == "asserts stripped", optimised.stderr
    plain = _run(_archive(tmp_path / "p.zip", source), cache)
    assert "asserts run" in plain.stderr
    assert len(_entries(cache)) == 2


def test_installing_twice_wraps_zipimport_once(cache):
    import zipimport

    original = zipimport._compile_source
    try:
        zipimport_cache.install(str(cache))
        zipimport_cache.install(str(cache))
        assert zipimport._compile_source.compile_source is original
    finally:
        zipimport._compile_source = original


def test_the_bench_hosts_switch_off_the_cache_it_installs():
    """bench/ measures hosts as users have them: it removes the directory the cache needs."""
    bench = HARNESS.parents[1] / "bench"
    sys.path.insert(0, str(bench))
    try:
        import hosts
    finally:
        sys.path.remove(str(bench))
    assert hosts.ZIPIMPORT_CACHE == zipimport_cache.CACHE_DIR


def test_make_keeps_the_controllers_bytecode_and_outside_the_tree():
    """On the controller, `make` runs Python with PYTHONPYCACHEPREFIX=.cache/pycache and writing
    on, even when the caller's environment says PYTHONDONTWRITEBYTECODE (with a prefix and no
    writing, every process would compile everything it imports, the standard library too)."""
    root = HARNESS.parents[1]
    probe = "probe: ; @python3 -c 'import sys; print(sys.dont_write_bytecode, sys.pycache_prefix)'"
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPYCACHEPREFIX", None)
    res = subprocess.run(["make", "-s", "--no-print-directory", f"--eval={probe}", "probe"], cwd=root,
                         env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False", str(root / ".cache" / "pycache")]


def test_the_fast_tests_localhost_python_keeps_the_bytecode_of_zip_imports(tmp_path):
    """prefork.local_python(), the interpreter of the fast tests' localhost hosts: this Python with
    the cache installed on .cache/zipimport; the code it runs is still the zip's."""
    from prefork import ZIPIMPORT_CACHE, local_python

    source = f"def value():\n    return 'local {tmp_path.name}'\n".encode()
    archive = _archive(tmp_path / "local.zip", source.decode())
    entry = ZIPIMPORT_CACHE / zipimport_cache.cache_key(source)
    code = f"import sys\nsys.path.insert(0, {str(archive)!r})\nimport payload\nprint(payload.value())\n"
    for _ in range(2):
        out = subprocess.run([local_python(), "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.strip() == f"local {tmp_path.name}"
        assert entry.is_file(), "the import was not cached"
    assert marshal.loads(entry.read_bytes()).co_filename.endswith("payload.py")
    assert (ZIPIMPORT_CACHE.stat().st_mode & 0o777) == 0o700
