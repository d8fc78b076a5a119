"""Unit tests of the real node's pure parts: its configuration files, the apiserver's extra
flags, the OCI image layouts written from Python, the stock-image lookalikes' names and
recipes, and the install overlay."""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path

import pytest
import yaml

from localcluster.components import Layout, component_specs
from localcluster.config import SERVICE_CIDR, LocalClusterError, Settings, settings_from_env
from localcluster.realnode import config as rc
from localcluster.realnode import images, install, lookalikes, netpol, netpol_launch, node


def layout(tmp_path: Path) -> rc.NodeLayout:
    return rc.NodeLayout(tmp_path / "node")


def test_pods_get_no_route_out_and_no_masquerading(tmp_path: Path) -> None:
    bridge = rc.cni_conflist(layout(tmp_path))["plugins"][0]
    assert bridge["ipMasq"] is False
    assert bridge["isDefaultGateway"] is False
    assert bridge["ipam"]["routes"] == [{"dst": SERVICE_CIDR}]
    assert bridge["ipam"]["ranges"] == [[{"subnet": rc.NODE_SUBNET, "gateway": rc.GATEWAY}]]
    assert bridge["ipam"]["dataDir"].startswith(str(tmp_path))


def test_containerd_uses_a_private_root_socket_and_the_local_sandbox_image(
    tmp_path: Path,
) -> None:
    text = rc.containerd_toml(layout(tmp_path), rc.NodePorts.from_base(23000))
    assert f'root = "{tmp_path}/node/containerd/root"' in text
    assert f'address = "{tmp_path}/node/containerd/containerd.sock"' in text
    assert f'sandbox_image = "{rc.PAUSE_IMAGE}"' in text
    assert "restrict_oom_score_adj = true" in text
    assert 'address = "127.0.0.1:23014"' in text


def test_kubelet_serves_on_the_node_address_with_cgroup_v1_settings(tmp_path: Path) -> None:
    cfg = rc.kubelet_config(layout(tmp_path), rc.NodePorts.from_base(23000), Path("/ca.crt"))
    assert (cfg["address"], cfg["port"]) == (rc.GATEWAY, 23010)
    assert cfg["cgroupDriver"] == "cgroupfs"
    assert cfg["failCgroupV1"] is False
    assert cfg["failSwapOn"] is False
    assert cfg["authentication"]["anonymous"]["enabled"] is False
    assert cfg["authentication"]["x509"]["clientCAFile"] == "/ca.crt"


def test_a_real_node_cluster_has_no_kwok_nodes_by_default(tmp_path: Path) -> None:
    s = settings_from_env(state_dir=tmp_path, real_node=True)
    assert s.real_node
    assert s.nodes == 0
    assert settings_from_env(state_dir=tmp_path, real_node=False).nodes >= 1


def test_the_apiserver_reaches_a_real_kubelet_by_internal_ip(tmp_path: Path) -> None:
    def argv(real: bool) -> list[str]:
        s = Settings(state_dir=tmp_path, real_node=real)
        specs = component_specs(Path("/bin"), s, Layout(tmp_path))
        return next(c.argv for c in specs if c.name == "kube-apiserver")

    assert "--kubelet-preferred-address-types=InternalIP" in argv(True)
    assert not any(a.startswith("--kubelet-") for a in argv(False))


def test_node_components_start_after_containerd_and_forward_to_the_apiserver(
    tmp_path: Path,
) -> None:
    s = Settings(state_dir=tmp_path, port_base=23000, real_node=True)
    specs = node.component_specs(node.NodeBins(Path("/bin"), Path("/np")), s, Layout(tmp_path))
    assert [c.name for c in specs] == ["containerd", "apiserver-forward", "kubelet",
                                       "kube-proxy", "netpol"]
    forward = specs[1].argv
    assert forward[-2:] == [f"{rc.GATEWAY}:23000", "127.0.0.1:23000"]
    endpoints = node.kubernetes_endpoints(23000)
    assert endpoints["endpoints"][0]["addresses"] == [rc.GATEWAY]
    assert endpoints["ports"][0]["port"] == 23000


def test_the_policy_enforcer_runs_the_firewall_alone_and_listens_nowhere(
    tmp_path: Path,
) -> None:
    s = Settings(state_dir=tmp_path, port_base=23000, real_node=True)
    specs = node.component_specs(node.NodeBins(Path("/bin"), Path("/np")), s, Layout(tmp_path))
    launcher = specs[-1].argv
    # The launcher waits for the node on the apiserver, then becomes kube-router.
    assert launcher[1:5] == ["-m", "localcluster.realnode.netpol_launch", "https://127.0.0.1:23000",
                             str(tmp_path / "pki")]
    sep = launcher.index("--")
    kube_router = launcher[sep + 1:]
    assert kube_router[0] == "/np/kube-router"
    flags = set(kube_router[1:])
    assert {"--run-firewall=true", "--run-router=false", "--run-service-proxy=false",
            "--run-loadbalancer=false", "--enable-cni=false"} <= flags
    # Its health and metrics servers would bind every address: both off.
    assert {"--health-port=0", "--metrics-port=0"} <= flags
    assert f"--service-cluster-ip-range={SERVICE_CIDR}" in flags
    assert f"--hostname-override={rc.NODE_NAME}" in flags
    assert f"--kubeconfig={tmp_path / 'kubeconfig'}" in flags
    assert netpol_launch.main(["x"]) == 2


def test_the_policy_enforcer_is_pinned_and_its_state_is_told_apart() -> None:
    assert re.fullmatch(r"v\d+\.\d+\.\d+", netpol.version())
    assert netpol.ldflags("v9.9.9").endswith("/pkg/version.Version=v9.9.9")
    ours = ["KUBE-SRC-ABCDEFGHIJKLMNOP", "KUBE-DST-ABCDEFGHIJKLMNO2",
            "TMP-ABCDEFGHIJKLMNOP", "inet6:KUBE-SRC-ABCDEFGHIJKLMNOP"]
    theirs = ["KUBE-SRC-short", "my-set", "TMP-lowercaseletters1", "KUBE-DST-ABCDEFGHIJKLMNOP9"]
    assert [n for n in ours + theirs if netpol.IPSET_NAME.match(n)] == ours
    assert all(netpol._ours(c) for c in ("KUBE-ROUTER-FORWARD", "KUBE-POD-FW-X",
                                          "KUBE-NWPLCY-DEFAULT"))
    # kube-proxy's chains are not its own: stopping the enforcer leaves Services working.
    assert not any(netpol._ours(c) for c in ("KUBE-SERVICES", "KUBE-FORWARD", "KUBE-SVC-X"))


def test_an_oci_archive_names_its_image_and_its_blobs_match_their_digests(
    tmp_path: Path,
) -> None:
    fake_busybox = tmp_path / "busybox"
    fake_busybox.write_bytes(b"\x7fELF not really")
    layer = images.busybox_layer(fake_busybox)
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        names = set(tar.getnames())
        assert {"bin/busybox", "bin/sh", "bin/httpd", "tmp", "etc/passwd"} <= names
        assert tar.getmember("tmp").mode == 0o1777
    path = tmp_path / "img.tar"
    digest = images.oci_archive(path, "localcluster.local/x:1", [layer], {"User": "65534"})
    with tarfile.open(path) as tar:
        def read(name: str) -> bytes:
            fh = tar.extractfile(name)
            assert fh is not None
            return fh.read()

        index = json.loads(read("index.json"))
        entry = index["manifests"][0]
        assert entry["digest"] == digest
        assert entry["annotations"]["io.containerd.image.name"] == "localcluster.local/x:1"
        manifest = json.loads(read("blobs/sha256/" + digest.split(":")[1]))
        config = json.loads(read("blobs/sha256/" + manifest["config"]["digest"].split(":")[1]))
        assert config["rootfs"]["diff_ids"] == [manifest["layers"][0]["digest"]]
        assert config["config"]["User"] == "65534"
    assert images.image_size(path) == len(layer)


def test_the_debootstrap_mirror_is_the_one_apt_uses(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://mirror.invalid/security\n"
        "Suites: bookworm-security\nComponents: main\n")
    assert images.apt_mirror(tmp_path) == "http://mirror.invalid/debian"
    other = tmp_path / "one-line"
    other.mkdir()
    (other / "sources.list").write_text("deb [arch=amd64] http://m.invalid/d bookworm main\n")
    assert images.apt_mirror(other) == "http://m.invalid/d"


# -- the stock-image lookalikes and the install overlay ---------------------------------

ROOT = Path(__file__).resolve().parents[2]
# Where README.md and examples/ name an image: a service's `image:`, a template's
# `apiImage` parameter, a `docker build -t`, a Tekton parameter's default.
IMAGE_REF = re.compile(r"(?:\bimage:|apiImage[:=]|docker build -t|default:)\s*"
                       r"([A-Za-z0-9][\w.-]*(?:/[\w.-]+)*:[\w.$(){}-]+)")


def images_named_by_docs() -> set[str]:
    files = [ROOT / "README.md", *sorted(p for p in (ROOT / "examples").rglob("*")
                                         if p.is_file())]
    found = set()
    for f in files:
        for ref in IMAGE_REF.findall(f.read_text()):
            ref = ref.replace("PR_NUMBER", lookalikes.PR_NUMBER)
            if "$" not in ref:  # $(params.image), $CI_REGISTRY_IMAGE: filled in by CI
                found.add(lookalikes.normalize(ref))
    return found


def test_every_image_readme_and_examples_name_has_a_lookalike_and_no_other() -> None:
    named = images_named_by_docs()
    assert "docker.io/library/postgres:16" in named
    assert "registry.example.com/shop/worker:pr-1234" in named
    assert named == lookalikes.all_names()


def test_references_are_normalised_as_containerd_names_them() -> None:
    n = lookalikes.normalize
    assert n("postgres:16") == "docker.io/library/postgres:16"
    assert n("bitnami/redis:7") == "docker.io/bitnami/redis:7"
    assert n("nginx") == "docker.io/library/nginx:latest"
    assert n("registry.example.com/shop/api:main") == "registry.example.com/shop/api:main"
    assert n("localhost/x:1") == "localhost/x:1"
    assert n("localhost:5000/x") == "localhost:5000/x:latest"
    assert n("ghcr.io/a/b@sha256:ab") == "ghcr.io/a/b@sha256:ab"


def test_the_lookalikes_index_names_each_image_once_per_tag() -> None:
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:1",
            "size": 1, "annotations": {"org.opencontainers.image.ref.name": "shop-app"}}
    index = lookalikes.named_index({"schemaVersion": 2, "manifests": [desc]},
                                   {"shop-app": ("r.example/a:main", "r.example/b:pr-1")})
    assert [m["annotations"] for m in index["manifests"]] == [
        {"io.containerd.image.name": "r.example/a:main",
         "org.opencontainers.image.ref.name": "main"},
        {"io.containerd.image.name": "r.example/b:pr-1",
         "org.opencontainers.image.ref.name": "pr-1"}]
    assert {m["digest"] for m in index["manifests"]} == {"sha256:1"}
    with pytest.raises(LocalClusterError):
        lookalikes.named_index({"manifests": [desc]}, {"postgres": ("x:1",)})


def test_every_lookalike_is_a_stage_on_the_one_shared_layer() -> None:
    text = (lookalikes.RECIPES / "Containerfile").read_text()
    stages = {stage: parent for parent, stage in re.findall(r"^FROM (\S+) AS (\S+)$",
                                                            text, re.M)}
    assert stages.pop("common") == "${BASE}"
    assert stages == {x.target: "common" for x in lookalikes.LOOKALIKES}
    for src in re.findall(r"^COPY (\S+) ", text, re.M):
        assert (lookalikes.RECIPES / src).is_file(), src
    for x in lookalikes.LOOKALIKES:
        if x.target != "shop-app":
            assert f"useradd -r -g {x.user} -u {x.uid} " in text, x.target
            assert f"EXPOSE {x.port}" in text
    assert "USER 10001:10001" in text


def test_buildah_keeps_the_lookalikes_under_local_names_only() -> None:
    for x in lookalikes.LOOKALIKES:
        assert x.local_tag.startswith("localhost/devenv-lookalike/")
        assert all(n == lookalikes.normalize(n) for n in x.names)
    args = lookalikes.build_args("localhost/base:1")
    assert "--pull=never" in args
    assert args[args.index("--label") + 1] == lookalikes.BUILD_LABEL


def test_the_install_overlay_runs_the_built_image_and_rolls_when_it_changes(
    tmp_path: Path,
) -> None:
    text = install.overlay_text(tmp_path, "sha256:abc", deploy=ROOT / "deploy")
    doc = yaml.safe_load(text)
    assert doc["images"] == [{"name": "ghcr.io/shipit-dev/devenv-operator",
                              "newName": "localcluster.local/devenv-operator",
                              "newTag": "dev"}]
    assert (tmp_path / doc["resources"][0]).resolve() == (ROOT / "deploy").resolve()
    ops = yaml.safe_load(doc["patches"][0]["patch"])
    assert {"op": "replace", "path": "/spec/template/spec/containers/0/imagePullPolicy",
            "value": "Never"} in ops
    assert {"op": "add", "path": "/spec/template/metadata/annotations",
            "value": {"localcluster.dev/image-id": "sha256:abc"}} in ops
