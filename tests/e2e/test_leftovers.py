"""A failing test leaves nothing behind: a nested pytest run, on this session's cluster, of a
test that creates a DevEnvironment (provisioned by the operator), a source namespace with a
Secret, a Secret in a namespace that was already there and a Node, then fails."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.e2e.helpers import PORT_BASE, ROOT, STATE_DIR, Kubectl, Operator, get

pytestmark = pytest.mark.e2e

FAILING_TEST = '''
import os

import pytest

from tests.e2e.helpers import apply, get, manifest, wait_for

pytestmark = pytest.mark.e2e
TAG = os.environ["LEFTOVERS_TAG"]


def secret(name, namespace):
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace},
            "stringData": {"token": "t"}}


def test_fails_after_creating_things(kubectl, crds):
    kubectl("create", "namespace", f"leftovers-src-{TAG}")
    apply(kubectl, [secret("source", f"leftovers-src-{TAG}"),
                    secret(f"leftovers-{TAG}", "default")])
    apply(kubectl, {"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": f"leftovers-{TAG}"}})
    apply(kubectl, manifest(f"leftovers-{TAG}", services=[
        {"name": "web", "image": "nginx:1.27", "replicas": 0}]))
    wait_for(lambda: get(kubectl, "namespace", f"dev-leftovers-{TAG}"), 20,
             what="the operator to create the environment's namespace")
    raise AssertionError("deliberate failure, everything created")
'''


def test_a_failing_test_leaves_nothing_behind(
        kubectl: Kubectl, running_operator: Operator, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    test_file = tmp_path / "test_fails.py"
    test_file.write_text(FAILING_TEST)
    env = {**os.environ, "LEFTOVERS_TAG": tag, "E2E_REUSE_CLUSTER": "1",
           "E2E_STATE_DIR": str(STATE_DIR), "E2E_PORT_BASE": str(PORT_BASE),
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "operator")])}
    # The suite's fixtures as a plugin (the file is not under tests/e2e), its config.
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.e2e.conftest", "-p", "no:cacheprovider",
         "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "-q", str(test_file)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    output = proc.stdout + proc.stderr
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, output
    assert "AssertionError: deliberate failure, everything created" in output, output
    assert "1 failed in" in output, output  # and no error at teardown

    left = [" ".join(what) for what in [
        ("devenvironment", f"leftovers-{tag}"),
        ("namespace", f"dev-leftovers-{tag}"),
        ("namespace", f"leftovers-src-{tag}"),
        ("secret", f"leftovers-{tag}", "-n", "default"),
        ("node", f"leftovers-{tag}"),
    ] if get(kubectl, *what) is not None]
    assert not left, f"left behind by a failing test: {left}\n{output}"
