"""Unit tests of localcluster settings, version pins, cache keys and port layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from localcluster import config
from localcluster.config import LocalClusterError, Pins, Ports


def test_ports_derive_from_base() -> None:
    p = Ports.from_base(6443)
    assert p.apiserver == 6443
    assert (p.etcd_client, p.etcd_peer) == (6444, 6445)
    assert (p.controller_manager, p.scheduler, p.kwok) == (6446, 6447, 6448)
    assert len(set(p.all().values())) == len(p.all())


def test_default_and_test_clusters_do_not_share_ports() -> None:
    default = set(Ports.from_base(config.DEFAULT_PORT_BASE).all().values())
    test = set(Ports.from_base(16443).all().values())
    assert not default & test


@pytest.mark.parametrize("base", [80, 0, 65534])
def test_port_base_out_of_range_is_rejected(base: int) -> None:
    with pytest.raises(LocalClusterError, match="port_base"):
        Ports.from_base(base)


def test_burst_matches_upstream_default_pairing() -> None:
    assert config.burst_for(20) == 30
    assert config.burst_for(100) == 150
    assert config.burst_for(1) == 11


GOMOD = """\
module example/tools

require (
\tk8s.io/api v0.36.3 // indirect
\tk8s.io/kubernetes v1.36.3 // indirect
)

require sigs.k8s.io/kwok v0.8.0

replace k8s.io/kubernetes => k8s.io/kubernetes v9.9.9
"""


def test_module_version_reads_require_not_replace() -> None:
    assert config.module_version(GOMOD, "k8s.io/kubernetes") == "v1.36.3"
    assert config.module_version(GOMOD, "sigs.k8s.io/kwok") == "v0.8.0"
    with pytest.raises(LocalClusterError):
        config.module_version(GOMOD, "go.etcd.io/etcd/server/v3")


def test_pins_of_the_tools_modules() -> None:
    pins = config.read_pins()
    assert pins == Pins(kubernetes="v1.36.3", etcd="v3.6.16", kwok="v0.8.0")


def test_cache_key_changes_with_every_input() -> None:
    pins = Pins("v1.36.3", "v3.6.16", "v0.8.0")
    key = config.cache_key(pins, "go1.26.8", ("a",))
    assert key.startswith("kube-v1.36.3_etcd-v3.6.16_kwok-v0.8.0_go1.26.8_")
    assert key == config.cache_key(pins, "go1.26.8", ("a",))
    assert key != config.cache_key(pins, "go1.26.9", ("a",))
    assert key != config.cache_key(Pins("v1.36.4", "v3.6.16", "v0.8.0"), "go1.26.8", ("a",))
    assert key != config.cache_key(pins, "go1.26.8", ("b",))
    assert "/" not in key


def test_cache_root_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LOCALCLUSTER_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert config.cache_root() == tmp_path / "xdg" / "devenv-operator" / "localcluster"
    monkeypatch.setenv("LOCALCLUSTER_CACHE_DIR", str(tmp_path / "explicit"))
    assert config.cache_root() == tmp_path / "explicit" / "localcluster"


def test_settings_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOCALCLUSTER_STATE_DIR", str(tmp_path / "env-state"))
    monkeypatch.setenv("LOCALCLUSTER_NODES", "5")
    monkeypatch.setenv("LOCALCLUSTER_PORT_BASE", "20443")
    monkeypatch.setenv("LOCALCLUSTER_QPS", "50")
    s = config.settings_from_env()
    assert (s.state_dir, s.nodes, s.port_base, s.qps, s.burst) == (
        tmp_path / "env-state",
        5,
        20443,
        50,
        75,
    )
    s = config.settings_from_env(state_dir=tmp_path / "flag", nodes=1, port_base=7000, qps=5)
    assert (s.state_dir, s.nodes, s.port_base, s.qps) == (tmp_path / "flag", 1, 7000, 5)


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("STATE_DIR", "NODES", "PORT_BASE", "QPS"):
        monkeypatch.delenv(f"LOCALCLUSTER_{var}", raising=False)
    s = config.settings_from_env()
    assert s.state_dir == config.PROJECT_ROOT / ".localcluster"
    assert (config.PROJECT_ROOT / "pyproject.toml").is_file()
    assert (s.nodes, s.port_base, s.qps, s.burst) == (3, 6443, 20, 30)


def test_bad_env_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALCLUSTER_NODES", "three")
    with pytest.raises(LocalClusterError, match="LOCALCLUSTER_NODES"):
        config.settings_from_env()
    monkeypatch.setenv("LOCALCLUSTER_NODES", "0")
    with pytest.raises(LocalClusterError, match="nodes"):
        config.settings_from_env()
