"""Unit tests of component command lines, the go build recipe and process helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from localcluster import builder as build
from localcluster import procs
from localcluster.cluster import node_manifest
from localcluster.components import Layout, component_specs
from localcluster.config import LocalClusterError, Settings

BRIEF_LDFLAGS = (
    "-s -w -X k8s.io/component-base/version.gitVersion=v1.36.3 "
    "-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=36 "
    "-X k8s.io/component-base/version.gitTreeState=clean "
    "-X k8s.io/client-go/pkg/version.gitVersion=v1.36.3 "
    "-X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=36 "
    "-X k8s.io/client-go/pkg/version.gitTreeState=clean"
)


def specs(tmp_path: Path, **kw: int) -> dict[str, list[str]]:
    s = Settings(state_dir=tmp_path, **kw)
    return {c.name: c.argv for c in component_specs(Path("/bin-dir"), s, Layout(tmp_path))}


def test_start_order(tmp_path: Path) -> None:
    assert list(specs(tmp_path)) == [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
    ]


def test_apiserver_flags(tmp_path: Path) -> None:
    argv = specs(tmp_path, port_base=16443)["kube-apiserver"]
    assert argv[0] == "/bin-dir/kube-apiserver"
    assert "--secure-port=16443" in argv
    assert "--etcd-servers=http://127.0.0.1:16444" in argv
    assert "--authorization-mode=Node,RBAC" in argv
    assert "--service-cluster-ip-range=10.0.0.0/16" in argv
    assert not any(a.startswith(("--enable-admission", "--disable-admission")) for a in argv)
    assert any(a.startswith("--service-account-signing-key-file=") for a in argv)
    assert any(a.startswith("--service-account-issuer=") for a in argv)


def test_controller_and_scheduler_use_qps_setting(tmp_path: Path) -> None:
    argv = specs(tmp_path, qps=40)
    for name in ("kube-controller-manager", "kube-scheduler"):
        assert "--kube-api-qps=40" in argv[name]
        assert "--kube-api-burst=60" in argv[name]
        assert "--leader-elect=false" in argv[name]
    assert "--secure-port=6446" in argv["kube-controller-manager"]
    assert "--secure-port=6447" in argv["kube-scheduler"]


def test_etcd_and_kwok_flags(tmp_path: Path) -> None:
    argv = specs(tmp_path)
    assert "--unsafe-no-fsync" in argv["etcd"]
    assert f"--data-dir={tmp_path / 'etcd'}" in argv["etcd"]
    # kwok manages only the nodes localcluster registers for it, never a real node.
    assert not any(a.startswith("--manage-all-nodes") for a in argv["kwok"])
    selector = "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake"
    assert selector in argv["kwok"]
    annotations = node_manifest("kwok-node-0", "v1.36.3")["metadata"]["annotations"]
    assert annotations["kwok.x-k8s.io/node"] == "fake"
    assert f"--config={tmp_path / 'config' / 'kwok-stages.yaml'}" in argv["kwok"]
    assert "--server-address=127.0.0.1:6448" in argv["kwok"]


def test_kube_build_uses_the_shared_cache_flags() -> None:
    kube, etcd, kwok = build.build_steps("v1.36.3")
    assert kube.ldflags == BRIEF_LDFLAGS
    cmd = build.go_command(kube, Path("/out"))
    assert cmd[:5] == ["go", "build", "-trimpath", "-ldflags", BRIEF_LDFLAGS]
    assert cmd[5:7] == ["-o", "/out/"]
    assert build.go_command(etcd, Path("/out"))[-3:] == ["-o", "/out/etcd", etcd.packages[0]]
    assert kwok.packages == ("sigs.k8s.io/kwok/cmd/kwok",)


def test_go_env_is_static_and_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CGO_ENABLED", "1")
    monkeypatch.setenv("GOFLAGS", "-mod=mod")
    env = build.go_env()
    assert env["CGO_ENABLED"] == "0"
    assert env["GOTOOLCHAIN"] == "local"
    assert env["GOFLAGS"].split() == ["-mod=mod", "-buildvcs=false"]


def test_missing_go_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LocalClusterError, match="Go toolchain"):
        build.go_version()


def test_process_identity_detects_exit() -> None:
    me = procs.identify(os.getpid())
    assert me is not None
    assert procs.alive(me)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    ident = procs.identify(child.pid)
    child.wait()
    assert ident is None or not procs.alive(ident)
    assert not procs.alive(procs.ProcId(child.pid, 0))
