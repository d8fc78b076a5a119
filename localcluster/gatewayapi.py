"""The Gateway API CRDs (standard channel) in every local cluster, kwok's and the real node's.

The version is pinned in ``tools/gateway/go.mod``. The manifests come from the
``sigs.k8s.io/gateway-api`` module's own source (``go mod download -json``: the Go module
proxy, checked against the checksum database): the files ``config/crd/kustomization.yaml``
lists under ``standard/`` (the CRDs, then the ``safe-upgrades`` ValidatingAdmissionPolicy
and its binding that refuse an older or experimental bundle over this one). They are parsed
once per version into one JSON file in the binary cache (``cached_build``), so a warm start
reads JSON and never YAML.

:func:`install` is idempotent and quick when nothing changed: one metadata-only GET per
object; an object is applied (server-side, field manager ``localcluster``) only when it is
missing or carries another bundle version or channel. Then it waits until the API server's
discovery serves every version the CRDs serve.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from .api import Api, ApiError
from .builder import cached_build, download_module
from .config import BUILD_RECIPE, TOOLS_DIR, LocalClusterError, module_version

MODULE = "sigs.k8s.io/gateway-api"
GOMOD = TOOLS_DIR / "gateway" / "go.mod"
CHANNEL = "standard"
BUNDLE = f"gateway-api-{CHANNEL}.json"
GROUP = "gateway.networking.k8s.io"
VERSION_ANNOTATION = f"{GROUP}/bundle-version"
CHANNEL_ANNOTATION = f"{GROUP}/channel"
FIELD_MANAGER = "localcluster"
# What a standard-channel bundle holds; anything else in it is refused, not guessed at.
COLLECTIONS = {
    "CustomResourceDefinition": "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    "ValidatingAdmissionPolicy":
        "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies",
    "ValidatingAdmissionPolicyBinding":
        "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings",
}
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
SERVED_TIMEOUT_S = 60.0


def _say(msg: str) -> None:
    print(f"[localcluster] {msg}", file=sys.stderr, flush=True)


def version(gomod_text: str | None = None) -> str:
    """The pinned gateway-api version (``tools/gateway/go.mod``)."""
    return module_version(gomod_text if gomod_text is not None else GOMOD.read_text(), MODULE)


def bundle_key(ver: str) -> str:
    digest = hashlib.sha256("\0".join((BUILD_RECIPE, MODULE, ver, CHANNEL)).encode())
    return f"gateway-api-{ver}-{CHANNEL}_{digest.hexdigest()[:12]}"


def manifest_files(module_dir: Path) -> list[Path]:
    """The standard channel's files, in the order upstream's kustomization lists them."""
    crd_dir = module_dir / "config" / "crd"
    listed = yaml.safe_load((crd_dir / "kustomization.yaml").read_text())["resources"]
    files = [crd_dir / str(r) for r in listed if str(r).startswith(f"{CHANNEL}/")]
    if not files:
        raise LocalClusterError(f"{crd_dir / 'kustomization.yaml'} lists no {CHANNEL}/ files")
    return files


def read_manifests(files: list[Path]) -> list[dict[str, Any]]:
    """Every object of ``files``: CRDs first (the policy guards CRD writes), each checked."""
    objects = [doc for f in files for doc in yaml.safe_load_all(f.read_text()) if doc]
    for obj in objects:
        kind, name = obj.get("kind"), obj.get("metadata", {}).get("name")
        if kind not in COLLECTIONS or not name:
            raise LocalClusterError(f"unexpected object in the Gateway API bundle: {kind} {name}")
    return sorted(objects, key=lambda o: o["kind"] != "CustomResourceDefinition")


def bundle_path(ver: str | None = None) -> Path:
    """The cached bundle (JSON list of objects) for the pinned version; made on first use."""
    ver = ver or version()

    def build_into(tmp: Path) -> None:
        _say(f"reading the Gateway API CRDs ({CHANNEL} channel) from {MODULE}@{ver}")
        objects = read_manifests(manifest_files(download_module(MODULE, ver)))
        (tmp / "bin" / BUNDLE).write_text(json.dumps(objects))

    return cached_build(bundle_key(ver), (BUNDLE,), f"the Gateway API CRDs {ver}",
                        build_into) / BUNDLE


def load_bundle(ver: str | None = None) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = json.loads(bundle_path(ver).read_text())
    return objects


def object_path(obj: dict[str, Any]) -> str:
    return f"{COLLECTIONS[obj['kind']]}/{obj['metadata']['name']}"


def up_to_date(found: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """The object in the cluster is this bundle's: same bundle version and channel."""
    have = found.get("metadata", {}).get("annotations") or {}
    want = wanted["metadata"].get("annotations") or {}
    return all(have.get(k) == want.get(k) for k in (VERSION_ANNOTATION, CHANNEL_ANNOTATION))


def served_resources(objects: list[dict[str, Any]]) -> dict[str, set[str]]:
    """``/apis/<group>/<version>`` -> the plural names the CRDs serve there."""
    served: dict[str, set[str]] = {}
    for obj in objects:
        if obj["kind"] != "CustomResourceDefinition":
            continue
        spec = obj["spec"]
        for v in spec["versions"]:
            if v.get("served"):
                served.setdefault(f"/apis/{spec['group']}/{v['name']}", set()).add(
                    spec["names"]["plural"])
    return served


def stale_objects(api: Api, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Those missing from the cluster or from another bundle (metadata-only reads)."""
    stale = []
    for obj in objects:
        code, text = api.request("GET", object_path(obj), accept=METADATA_ONLY)
        if code == 404:
            stale.append(obj)
        elif code != 200:
            raise ApiError(code, text)
        elif not up_to_date(json.loads(text), obj):
            stale.append(obj)
    return stale


def apply(api: Api, obj: dict[str, Any]) -> None:
    path = f"{object_path(obj)}?fieldManager={FIELD_MANAGER}&force=true"
    code, text = api.request("PATCH", path, obj, timeout=60.0,
                             content_type="application/apply-patch+yaml")
    if code >= 300:
        raise ApiError(code, text)


def _missing_from_discovery(api: Api, served: dict[str, set[str]]) -> dict[str, set[str]]:
    missing = {}
    for path, plurals in served.items():
        code, text = api.request("GET", path)
        have = {r["name"] for r in json.loads(text).get("resources", [])} if code == 200 else set()
        if plurals - have:
            missing[path] = plurals - have
    return missing


def install(api: Api, objects: list[dict[str, Any]] | None = None,
            timeout: float = SERVED_TIMEOUT_S) -> dict[str, Any]:
    """Make the cluster serve the bundle (default: the pinned one); return figures."""
    start = time.monotonic()
    objects = objects if objects is not None else load_bundle()
    stale = stale_objects(api, objects)
    for obj in stale:
        apply(api, obj)
    deadline = time.monotonic() + timeout
    while missing := _missing_from_discovery(api, served_resources(objects)):
        if time.monotonic() >= deadline:
            raise LocalClusterError(f"the Gateway API CRDs were applied but {missing} were "
                                    f"not served within {timeout:.0f}s")
        time.sleep(0.2)
    seconds = round(time.monotonic() - start, 2)
    if stale:
        _say(f"installed {len(stale)} Gateway API objects ({CHANNEL} channel) in {seconds}s")
    return {"applied": len(stale), "seconds": seconds}
