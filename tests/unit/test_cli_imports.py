"""``kubectl devenv`` starts without the Kubernetes client when it does not talk to a
cluster: ``--help``, ``--version`` and an offline ``render -f`` load neither ``kubernetes``
nor Kopf nor their HTTP stacks (importing the client was 85% of the plugin's start-up CPU);
``--help`` and ``--version`` not even the models (pydantic), which only the commands read.

Each command runs in a fresh interpreter, which then lists ``sys.modules``; a command that
connects is the control, showing that the listing does see the client when it is loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("kubernetes", "kopf", "urllib3", "aiohttp")
# Run the plugin's main as the console script does, then list what got imported, whatever
# way it ended (argparse ends --help and --version with SystemExit).
PROBE = """
import json, sys
from devenv_cli.app import main
try:
    code = main(sys.argv[2:])
except SystemExit as exc:
    code = exc.code
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""
TEMPLATE = {"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironmentTemplate",
            "metadata": {"name": "shop"},
            "spec": {"parameters": [{"name": "apiImage", "type": "image", "required": True}],
                     "services": [{"name": "api", "image": "$(params.apiImage)"}]}}


def run_plugin(tmp_path: Path, *argv: str) -> tuple[int, set[str], str]:
    """(exit code, the modules imported, stdout) of ``kubectl devenv ARGV``."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "PYTHONPATH")}
    env |= {"HOME": str(tmp_path), "PYTHONPATH": str(ROOT / "operator")}
    listing = tmp_path / "modules.json"
    done = subprocess.run([sys.executable, "-c", PROBE, str(listing), *argv], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert listing.exists(), done.stderr
    found = json.loads(listing.read_text())
    return found["code"], set(found["modules"]), done.stdout


def heavy(modules: set[str], also: tuple[str, ...] = ()) -> set[str]:
    return {m for m in modules
            if m.split(".")[0] in HEAVY + also or m == "devenv_operator.kube"}


@pytest.fixture
def template_file(tmp_path: Path) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(TEMPLATE))
    return path


def test_help_does_not_import_the_kubernetes_client_or_kopf(tmp_path: Path) -> None:
    code, modules, out = run_plugin(tmp_path, "--help")
    assert code == 0
    assert "usage: kubectl devenv" in out
    assert heavy(modules, also=("pydantic",)) == set()


def test_version_does_not_import_the_kubernetes_client_or_kopf(tmp_path: Path) -> None:
    code, modules, out = run_plugin(tmp_path, "--version")
    assert code == 0
    assert out.startswith("kubectl devenv ")
    assert heavy(modules, also=("pydantic",)) == set()


def test_an_offline_render_does_not_import_the_kubernetes_client_or_kopf(
        tmp_path: Path, template_file: Path) -> None:
    code, modules, out = run_plugin(tmp_path, "render", "pr-1", "-f", str(template_file),
                                    "--set", "apiImage=registry.example.com/api:1")
    assert code == 0
    assert yaml.safe_load(out)["spec"]["services"][0]["image"] == "registry.example.com/api:1"
    assert heavy(modules) == set()
    assert "pydantic" in modules  # the probe sees what a command loads


def test_a_command_that_connects_does_import_the_client_so_the_probe_sees_it(
        tmp_path: Path) -> None:
    code, modules, _ = run_plugin(tmp_path, "list")  # no kubeconfig: exit 4 after trying
    assert code == 4
    assert {"kubernetes", "urllib3"} <= {m.split(".")[0] for m in heavy(modules)}


def test_the_completion_script_needs_neither_the_client_nor_the_models(tmp_path: Path) -> None:
    code, modules, out = run_plugin(tmp_path, "completion", "bash")
    assert code == 0
    assert "kubectl_complete-devenv" in out
    assert heavy(modules, also=("pydantic",)) == set()


def test_completing_a_command_name_does_not_import_the_client(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "PYTHONPATH")}
    env |= {"HOME": str(tmp_path), "PYTHONPATH": str(ROOT / "operator")}
    listing = tmp_path / "modules.json"
    probe = PROBE.replace("from devenv_cli.app import main", "from devenv_cli.complete import main")
    done = subprocess.run([sys.executable, "-c", probe, str(listing), "lo"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.startswith("logs\t"), done.stderr
    assert heavy(set(json.loads(listing.read_text())["modules"])) == set()
