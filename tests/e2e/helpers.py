"""What e2e tests share besides fixtures: where the cluster lives, kubectl, the operator
process under test, and small helpers to apply manifests, read objects and wait.

Tests import from here, never from ``conftest`` (pytest imports conftest itself, and a
second import under another name would be a second copy of it); conftest builds its
fixtures from these.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
import yaml

from localcluster.operator_process import OperatorProcess

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
# Overridable so that several test runs (e.g. parallel developers) can share a machine.
STATE_DIR = Path(os.environ.get("E2E_STATE_DIR", str(ROOT / ".localcluster" / "test")))
PORT_BASE = int(os.environ.get("E2E_PORT_BASE", "16443"))
# Set (to 1) by a pytest run nested in a test: use the cluster already running in STATE_DIR,
# owned by the outer run, and neither start nor stop it.
REUSE_CLUSTER = os.environ.get("E2E_REUSE_CLUSTER", "") not in ("", "0")


# -- kubectl ------------------------------------------------------------------------------


def kubectl_path() -> str:
    venv_kubectl = Path(sys.prefix) / "bin" / "kubectl"
    found = str(venv_kubectl) if venv_kubectl.is_file() else shutil.which("kubectl")
    if not found:
        pytest.fail("kubectl not found (install the dev dependencies: uv sync)")
    return found


def run_kubectl(
    kubeconfig: Path,
    *args: str,
    input: str | None = None,
    check: bool = True,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``kubectl --kubeconfig KUBECONFIG ARGS``; with ``check`` fail loudly on errors."""
    cmd = [kubectl_path(), f"--kubeconfig={kubeconfig}", *args]
    proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"kubectl {' '.join(args)} failed with exit {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


class Kubectl(Protocol):
    def __call__(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]: ...


# -- the operator, run as users run it: a separate process on the cluster's kubeconfig ----

OPERATOR_SETTINGS = {
    # Short periods so drift repair and rechecks show within a test's patience.
    "DEVENV_RESYNC_INTERVAL": "20s",
    "DEVENV_PROVISIONING_RECHECK": "2s",
    "DEVENV_EXPIRY_WARNING": "5s",
    # Most suites run without any class installed; test_class_use.py runs the default (a
    # cluster with no class refuses environments).
    "DEVENV_REQUIRE_CLASS": "false",
}


class Operator(OperatorProcess):
    """The devenv-operator process under test: one log file per run, test-friendly periods."""

    def __init__(self, kubeconfig: Path, log_dir: Path) -> None:
        super().__init__(kubeconfig, OPERATOR_SETTINGS)
        self.log_dir = log_dir
        self.runs = 0

    @property
    def metrics_port(self) -> int:
        return self.port

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"operator-{self.runs}.log"

    def start(self, **settings: str) -> None:
        self.runs += 1
        try:
            self.launch(self.log_path, settings, timeout=30)
        except RuntimeError as exc:
            raise AssertionError(f"{exc}\n{self.logs()[-4000:]}") from exc

    @contextlib.contextmanager
    def settings_applied(self, **settings: str) -> Iterator[None]:
        """Run with other settings, then with the defaults again.

        SIGKILL rather than a graceful stop: a restart costs seconds less, and all the
        operator needs survives a crash anyway (tested on its own).
        """
        self.stop(kill=True)
        self.start(**settings)
        try:
            yield
        finally:
            self.stop(kill=True)
            self.start()

    def restart(self, **settings: str) -> None:
        self.stop()
        self.start(**settings)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")
                         for p in sorted(self.log_dir.glob("operator-*.log")))

    def metrics(self) -> str:
        return self.get("/metrics", timeout=5)


# -- manifests, reads and waits -------------------------------------------------------------


def manifest(name: str, **spec: Any) -> dict[str, Any]:
    """A DevEnvironment manifest; default: one service ``web``."""
    spec.setdefault("services", [{"name": "web", "image": "nginx:1.27"}])
    return {"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironment",
            "metadata": {"name": name}, "spec": spec}


def apply(kubectl: Any, obj: dict[str, Any] | list[dict[str, Any]], check: bool = True) -> Any:
    # JSON, not YAML: kubectl's YAML 1.1 parser would turn strings like "y" into booleans.
    docs = obj if isinstance(obj, list) else [obj]
    body = docs[0] if len(docs) == 1 else {"apiVersion": "v1", "kind": "List", "items": docs}
    return kubectl("apply", "-f", "-", input=json.dumps(body), check=check)


def get(kubectl: Any, *what: str) -> dict[str, Any] | None:
    """`kubectl get WHAT -o json`, or None when it does not exist."""
    proc = kubectl("get", *what, "-o", "json", check=False)
    if proc.returncode != 0:
        if "NotFound" in proc.stderr or "not found" in proc.stderr:
            return None
        raise AssertionError(proc.stderr)
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def items(kubectl: Any, *what: str) -> list[dict[str, Any]]:
    found = get(kubectl, *what)
    return list(found["items"]) if found else []


def wait_for(predicate: Callable[[], T | None], timeout: float = 60, interval: float = 0.25,
             what: str = "condition") -> T:
    """Poll until predicate returns something truthy; fail with what it last returned."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def condition(env: dict[str, Any] | None, ctype: str) -> dict[str, Any]:
    for cond in ((env or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == ctype:
            return dict(cond)
    return {}


def devenv(kubectl: Any, name: str) -> dict[str, Any] | None:
    return get(kubectl, "devenvironment", name)


def wait_phase(kubectl: Any, name: str, phase: str, timeout: float = 60) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        env = devenv(kubectl, name)
        return env if env and (env.get("status") or {}).get("phase") == phase else None
    return wait_for(check, timeout, what=f"{name} phase {phase}")


def wait_ready(kubectl: Any, name: str, generation: int = 1,
               timeout: float = 90) -> dict[str, Any]:
    """The environment once it is Ready for ``generation`` (not an earlier one)."""
    def check() -> dict[str, Any] | None:
        env = devenv(kubectl, name) or {}
        status = env.get("status") or {}
        return env if (status.get("phase") == "Ready"
                       and status.get("observedGeneration") == generation) else None
    return wait_for(check, timeout, what=f"{name} Ready at generation {generation}")


def wait_reason(kubectl: Any, name: str, reason: str, timeout: float = 60) -> dict[str, Any]:
    """The environment once its Ready condition has ``reason``."""
    def check() -> dict[str, Any] | None:
        env = devenv(kubectl, name) or {}
        return env if condition(env, "Ready").get("reason") == reason else None
    return wait_for(check, timeout, what=f"{name} Ready=False {reason}")


def events_for(kubectl: Any, name: str) -> list[dict[str, Any]]:
    return items(kubectl, "events", "-A", "--field-selector",
                 f"involvedObject.kind=DevEnvironment,involvedObject.name={name}")


def unique(prefix: str) -> str:
    """A fresh DevEnvironment name, so tests never collide with leftovers."""
    import uuid

    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def delete_env(kubectl: Any, name: str, wait: bool = False) -> None:
    kubectl("delete", "devenvironment", name, "--ignore-not-found", f"--wait={str(wait).lower()}")


def yaml_docs(path: str | Path) -> list[dict[str, Any]]:
    """The documents of a YAML file of the project (``path`` relative to its root)."""
    return [d for d in yaml.safe_load_all((ROOT / path).read_text()) if d]


def absent(kubectl: Any, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents whose object is not in the cluster (so a test may create, then delete,
    them without touching what was there before it)."""
    def ref(d: dict[str, Any]) -> list[str]:
        where = ["-n", d["metadata"]["namespace"]] if "namespace" in d["metadata"] else []
        return [f"{d['kind'].lower()}/{d['metadata']['name']}", *where]
    return [d for d in docs if get(kubectl, *ref(d)) is None]
