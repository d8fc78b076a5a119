"""The operator installed in-cluster on the real node: ``deploy/`` then ``deploy/classes/``,
as docs/install.md says, through a kustomize overlay that names the image built here.

The overlay also sets ``imagePullPolicy: Never`` (nothing can be pulled), quicker rechecks
for tests, and an annotation with the image's ID on the pod template: the tag stays
``:dev``, so without it a rebuilt image would not roll the Deployment. The classes go in
through a second overlay: the ``default`` class exposes environments through the real
node's gateway (Gateway ``devenv-gateway/devenv``, listener ``http``, base domain
``devenv.localtest``, see :mod:`.gateway`); the operator then admits the gateway's
namespace to the exposed ports in each environment's NetworkPolicy. Used by ``make
real-up`` and by the real-node tests (which reuse a running ``real-up`` cluster).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..config import PROJECT_ROOT, LocalClusterError
from .config import (
    GATEWAY_BASE_DOMAIN,
    GATEWAY_NAME,
    GATEWAY_NAMESPACE,
    GATEWAY_SECTION,
    OPERATOR_IMAGE,
)

OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - {deploy}
images:
  - name: ghcr.io/shipit-dev/devenv-operator
    newName: {name}
    newTag: {tag}
patches:
  - target: {{kind: Deployment, name: devenv-operator}}
    patch: |
      - op: replace
        path: /spec/template/spec/containers/0/imagePullPolicy
        value: Never
      - op: add
        path: /spec/template/spec/containers/0/env/-
        value: {{name: DEVENV_PROVISIONING_RECHECK, value: 2s}}
      - op: add
        path: /spec/template/spec/containers/0/env/-
        value: {{name: DEVENV_RESYNC_INTERVAL, value: 20s}}
      - op: add
        path: /spec/template/metadata/annotations
        value: {{localcluster.dev/image-id: "{image_id}"}}
"""
# deploy/classes/ as shipped, with the default class exposing environments through the
# real node's gateway (see .gateway); its NetworkPolicy (kube-router enforces it on the
# node) then admits the gateway's namespace to the exposed ports, and to no other.
CLASSES_OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - {classes}
patches:
  - target: {{group: shipit.dev, kind: DevEnvironmentClass, name: default}}
    patch: |
{patch}
"""
ROLLOUT_TIMEOUT = "110s"
ADMISSION_WAIT_S = 60.0


def overlay_text(overlay_dir: Path, image_id: str, deploy: Path = PROJECT_ROOT / "deploy") -> str:
    name, tag = OPERATOR_IMAGE.rsplit(":", 1)
    return OVERLAY.format(deploy=os.path.relpath(deploy, overlay_dir), name=name, tag=tag,
                          image_id=image_id)


def default_class_patch() -> list[dict[str, Any]]:
    """JSON patch ops for the default class on the real-node cluster: it exposes ports
    through the gateway (whose namespace the class's NetworkPolicy then admits to the
    exposed ports only: the operator writes that rule)."""
    return [{"op": "add", "path": "/spec/exposure", "value": {
        "gateway": {"name": GATEWAY_NAME, "namespace": GATEWAY_NAMESPACE,
                    "sectionName": GATEWAY_SECTION},
        "baseDomain": GATEWAY_BASE_DOMAIN, "scheme": "http"}}]


def classes_overlay_text(overlay_dir: Path,
                         classes: Path = PROJECT_ROOT / "deploy" / "classes") -> str:
    patch = "\n".join("      " + line for line in
                      json.dumps(default_class_patch(), indent=2).splitlines())
    return CLASSES_OVERLAY.format(classes=os.path.relpath(classes, overlay_dir), patch=patch)


def kubectl_path() -> str:
    venv = Path(sys.prefix) / "bin" / "kubectl"
    found = str(venv) if venv.is_file() else shutil.which("kubectl")
    if not found:
        raise LocalClusterError("kubectl not found (install the dev dependencies: uv sync)")
    return found


def _kubectl(kubeconfig: Path, *args: str, input: str | None = None,
             check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [kubectl_path(), f"--kubeconfig={kubeconfig}", *args]
    proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=180)
    if check and proc.returncode != 0:
        raise LocalClusterError(f"kubectl {' '.join(args)} failed (exit {proc.returncode}): "
                                f"{proc.stderr.strip()[-800:]}")
    return proc


def operator_image_id(images_dir: Path) -> str:
    stamp = images_dir / "devenv-operator.id"
    return stamp.read_text().strip() if stamp.is_file() else "unknown"


def install(kubeconfig: Path, image_id: str) -> float:
    """Apply deploy/ and deploy/classes/ and wait until the operator is Ready and the
    admission policies accept a DevEnvironment; return the seconds it took."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="localcluster-install-") as tmp:
        overlay, classes = Path(tmp) / "deploy", Path(tmp) / "classes"
        overlay.mkdir()
        classes.mkdir()
        (overlay / "kustomization.yaml").write_text(overlay_text(overlay, image_id))
        (classes / "kustomization.yaml").write_text(
            classes_overlay_text(classes))
        _kubectl(kubeconfig, "apply", "--server-side", "-k", str(overlay))
        _kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=60s",
                 "crd/devenvironments.shipit.dev", "crd/devenvironmentclasses.shipit.dev")
        _kubectl(kubeconfig, "apply", "--server-side", "-k", str(classes))
    _kubectl(kubeconfig, "-n", "devenv-system", "rollout", "status",
             "deployment/devenv-operator", f"--timeout={ROLLOUT_TIMEOUT}")
    # The admission policies fail closed until the API server has loaded the new kinds
    # ("Resource kind ... not found"): wait until a DevEnvironment is accepted.
    probe = json.dumps({"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironment",
                        "metadata": {"name": "admission-probe"},
                        "spec": {"services": [{"name": "web", "image": "nginx:1.27"}]}})
    deadline = time.monotonic() + ADMISSION_WAIT_S
    while _kubectl(kubeconfig, "create", "--dry-run=server", "-f", "-", input=probe,
                   check=False).returncode != 0:
        if time.monotonic() >= deadline:
            raise LocalClusterError("the admission policies did not accept a DevEnvironment "
                                    f"within {ADMISSION_WAIT_S:.0f}s")
        time.sleep(1)
    return round(time.monotonic() - start, 1)
