"""Unit tests of the Gateway API CRD bundle: its pin, which files of the module it takes,
what it checks, and an install that applies only what is missing or from another bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from localcluster import gatewayapi as gw
from localcluster.config import LocalClusterError


def crd(plural: str, kind: str, versions: tuple[str, ...] = ("v1",),
        bundle: str = "v1.6.3", channel: str = "standard") -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{gw.GROUP}", "annotations": {
            gw.VERSION_ANNOTATION: bundle, gw.CHANNEL_ANNOTATION: channel}},
        "spec": {"group": gw.GROUP, "names": {"plural": plural, "kind": kind},
                 "versions": [{"name": v, "served": True, "storage": i == 0}
                              for i, v in enumerate(versions)]},
    }


def policy(bundle: str = "v1.6.3") -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": f"safe-upgrades.{gw.GROUP}", "annotations": {
                gw.VERSION_ANNOTATION: bundle, gw.CHANNEL_ANNOTATION: "standard"}}}


def test_the_pinned_version_is_read_from_the_gateway_tools_module() -> None:
    assert gw.version() == "v1.6.3"
    assert gw.version("require (\n\tsigs.k8s.io/gateway-api v1.7.0\n)\n") == "v1.7.0"


def test_another_version_gets_another_cache_entry() -> None:
    assert gw.bundle_key("v1.6.3").startswith("gateway-api-v1.6.3-standard_")
    assert gw.bundle_key("v1.6.3") != gw.bundle_key("v1.6.4")


def fake_module(root: Path) -> Path:
    crd_dir = root / "config" / "crd"
    for channel in ("standard", "experimental"):
        (crd_dir / channel).mkdir(parents=True)
    (crd_dir / "kustomization.yaml").write_text(yaml.safe_dump({"resources": [
        "standard/routes.yaml", "standard/vap.yaml", "experimental/x.yaml"]}))
    (crd_dir / "standard" / "vap.yaml").write_text(
        yaml.safe_dump(policy()) + "\n---\n" + yaml.safe_dump(
            {**policy(), "kind": "ValidatingAdmissionPolicyBinding"}))
    (crd_dir / "standard" / "routes.yaml").write_text(yaml.safe_dump(crd("httproutes",
                                                                         "HTTPRoute")))
    return root


def test_only_the_standard_channel_is_taken_in_upstreams_order(tmp_path: Path) -> None:
    files = gw.manifest_files(fake_module(tmp_path))
    assert [f.relative_to(tmp_path / "config" / "crd").as_posix() for f in files] == [
        "standard/routes.yaml", "standard/vap.yaml"]


def test_crds_come_before_the_policy_that_guards_crd_writes(tmp_path: Path) -> None:
    module = fake_module(tmp_path)
    (module / "config" / "crd" / "kustomization.yaml").write_text(yaml.safe_dump(
        {"resources": ["standard/vap.yaml", "standard/routes.yaml"]}))
    objects = gw.read_manifests(gw.manifest_files(module))
    assert [o["kind"] for o in objects] == [
        "CustomResourceDefinition", "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding"]


def test_an_unexpected_kind_in_the_bundle_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "x.yaml"
    f.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace",
                                 "metadata": {"name": "x"}}))
    with pytest.raises(LocalClusterError, match="unexpected object"):
        gw.read_manifests([f])


def test_an_object_is_current_only_with_the_same_bundle_version_and_channel() -> None:
    wanted = crd("gateways", "Gateway")
    assert gw.up_to_date(crd("gateways", "Gateway"), wanted)
    assert not gw.up_to_date(crd("gateways", "Gateway", bundle="v1.4.0"), wanted)
    assert not gw.up_to_date(crd("gateways", "Gateway", channel="experimental"), wanted)
    assert not gw.up_to_date({"metadata": {}}, wanted)


def test_served_resources_are_grouped_by_api_version() -> None:
    objects = [crd("gateways", "Gateway", ("v1", "v1beta1")), crd("grpcroutes", "GRPCRoute"),
               policy()]
    assert gw.served_resources(objects) == {
        f"/apis/{gw.GROUP}/v1": {"gateways", "grpcroutes"},
        f"/apis/{gw.GROUP}/v1beta1": {"gateways"},
    }


class FakeApi:
    """The apiserver as the install sees it: objects by path, and discovery from them."""

    def __init__(self, present: dict[str, dict[str, Any]]) -> None:
        self.objects = dict(present)
        self.calls: list[tuple[str, str, str]] = []

    def request(self, method: str, path: str, body: Any = None, timeout: float = 10.0,
                content_type: str = "application/json",
                accept: str = "application/json") -> tuple[int, str]:
        self.calls.append((method, path, accept))
        if method == "PATCH":
            assert content_type == "application/apply-patch+yaml"
            assert "fieldManager=localcluster" in path
            self.objects[path.split("?", 1)[0]] = body
            return 200, json.dumps(body)
        if path in self.objects:
            return 200, json.dumps({"metadata": self.objects[path]["metadata"]})
        if path.startswith(f"/apis/{gw.GROUP}/"):
            resources = [{"name": p} for p in gw.served_resources(
                [o for o in self.objects.values() if o.get("kind") ==
                 "CustomResourceDefinition"]).get(path, ())]
            return 200, json.dumps({"resources": resources})
        return 404, "{}"


def test_install_applies_what_is_missing_or_stale_and_waits_until_served() -> None:
    objects = [crd("gateways", "Gateway"), crd("httproutes", "HTTPRoute"), policy()]
    api = FakeApi({gw.object_path(objects[0]): objects[0],
                   gw.object_path(objects[2]): policy(bundle="v1.5.0")})
    figures = gw.install(api, objects, timeout=1)  # type: ignore[arg-type]
    assert figures["applied"] == 2
    patched = [p.split("?")[0] for m, p, _ in api.calls if m == "PATCH"]
    assert patched == [gw.object_path(objects[1]), gw.object_path(objects[2])]
    reads = [a for m, p, a in api.calls if m == "GET" and "customresourcedefinitions" in p]
    assert reads
    assert all(a == gw.METADATA_ONLY for a in reads)


def test_a_second_install_writes_nothing() -> None:
    objects = [crd("gateways", "Gateway"), policy()]
    api = FakeApi({gw.object_path(o): o for o in objects})
    assert gw.install(api, objects, timeout=1)["applied"] == 0  # type: ignore[arg-type]
    assert not [c for c in api.calls if c[0] != "GET"]


def test_install_fails_with_what_is_not_served() -> None:
    objects = [crd("gateways", "Gateway")]

    class NeverServed(FakeApi):
        def request(self, method: str, path: str, *args: Any, **kw: Any) -> tuple[int, str]:
            if path.startswith(f"/apis/{gw.GROUP}/"):
                return 404, "{}"
            return super().request(method, path, *args, **kw)

    with pytest.raises(LocalClusterError, match="gateways"):
        gw.install(NeverServed({}), objects, timeout=0.3)  # type: ignore[arg-type]
