"""The stand-in agent's check loading (molecule/harness/standin/src/agent.py): what `status` lists
under Collector, from conf.d/ and checks.d/ as the agent's file provider and Python loader see them."""

import importlib.util
import sys
import types
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "molecule" / "harness" / "standin" / "src"


@pytest.fixture(scope="module")
def agent():
    sys.modules.setdefault("standin_version", types.SimpleNamespace(
        AGENT_VERSION="7.61.0", PACKAGE_VERSION="1:7.61.0-1", TEST_AGENT_VERSION="0"))
    sys.path.insert(0, str(SRC))
    try:
        spec = importlib.util.spec_from_file_location("standin_agent", SRC / "agent.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SRC))
    return module


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_every_file_of_a_check_folder_is_loaded_with_its_instances(agent, tmp_path):
    _write(tmp_path / "conf.d/postgres.d/conf.yaml", "init_config: {}\ninstances:\n- host: db\n  password: S3cret\n")
    _write(tmp_path / "conf.d/redisdb.d/cache.yaml", "instances:\n- host: a\n- host: b\n  name: second\n")
    _write(tmp_path / "conf.d/redisdb.d/queue.yaml", "instances:\n- host: c\n")
    _write(tmp_path / "conf.d/redisdb.d/auto_conf.yaml", "ad_identifiers: [redis]\ninstances:\n- host: '%%host%%'\n")
    _write(tmp_path / "conf.d/redisdb.d/conf.yaml.example", "instances:\n- host: x\n")
    _write(tmp_path / "conf.d/empty.d/conf.yaml", "init_config: {}\n")
    _write(tmp_path / "conf.d/queue_depth.d/conf.yaml", "instances:\n- queue: default\n")
    _write(tmp_path / "checks.d/queue_depth.py", "X = 1\n")
    _write(tmp_path / "conf.d/broken.d/conf.yaml", "instances:\n- a: 1\n")
    _write(tmp_path / "checks.d/broken.py", "def f(:\n")
    running, loading, config = agent.load_checks(str(tmp_path))
    assert {c: len(ids) for c, ids in running.items()} == {"postgres": 1, "redisdb": 3, "queue_depth": 1}
    sources = sorted({s["CheckConfigSource"] for s in running["redisdb"].values()})
    assert sources == [f"file:{tmp_path}/conf.d/redisdb.d/cache.yaml", f"file:{tmp_path}/conf.d/redisdb.d/queue.yaml"]
    assert any(cid.startswith("redisdb:second:") for cid in running["redisdb"])
    assert next(iter(running["queue_depth"].values()))["Loader"].startswith("python (custom check")
    assert "unable to import module 'broken'" in loading["broken"]["python"]
    assert config == [f"empty: {tmp_path}/conf.d/empty.d/conf.yaml: Configuration file contains no valid instances"]
    text = "\n".join(agent.render_collector({"runnerStats": {"Checks": running},
                                             "checkSchedulerStats": {"LoaderErrors": loading},
                                             "autoConfigStats": {"ConfigErrors": config}}))
    assert "  Running Checks" in text and "    postgres\n    --------" in text
    assert text.count("Instance ID: redisdb:") == 3
    assert "Loading Errors" in text and "S3cret" not in text


def test_check_ids_follow_the_agents_shape(agent):
    assert agent.fnv1_64(b"") == 0xcbf29ce484222325
    assert agent.fnv1_64(b"a") == 0xaf63bd4c8601b7be  # FNV-1 64 test vector (Go's hash/fnv New64)
    first, again = agent.check_id("redisdb", {"host": "a"}, {}), agent.check_id("redisdb", {"host": "a"}, {})
    assert first == again and first.startswith("redisdb:") and first != agent.check_id("redisdb", {"host": "b"}, {})
