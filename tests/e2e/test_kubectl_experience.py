"""What a user sees with plain kubectl: printer columns, short names, the category,
describe (conditions and events), explain (field descriptions) and wait."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.e2e.helpers import Kubectl, Operator, apply, delete_env, manifest, wait_for

pytestmark = pytest.mark.e2e

NAME = "h6-kubectl"


@pytest.fixture(scope="module")
def ready_env(kubectl: Kubectl, operator: Operator) -> Iterator[str]:
    if operator.proc is None or operator.proc.poll() is not None:
        operator.proc = None
        operator.start()
    apply(kubectl, manifest(NAME, ttl="2h", services=[
        {"name": "web", "image": "nginx:1.27", "ports": [{"port": 80}]}]))
    proc = kubectl("wait", f"devenv/{NAME}", "--for=condition=Ready", "--timeout=90s")
    assert "condition met" in proc.stdout
    yield NAME
    delete_env(kubectl, NAME, wait=True)


def table(output: str) -> tuple[list[str], list[list[str]]]:
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[0].split(), [line.split() for line in lines[1:]]


def test_get_devenv_shows_the_printer_columns(kubectl: Kubectl, ready_env: str) -> None:
    header, rows = table(kubectl("get", "devenv").stdout)
    assert header == ["NAME", "NAMESPACE", "PHASE", "READY", "EXPIRES", "AGE", "URL"]
    row = next(r for r in rows if r[0] == ready_env)
    assert row[1:4] == [f"dev-{ready_env}", "Ready", "1/1"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[4]), row[4]
    wide_header, _ = table(kubectl("get", "devenv", "-o", "wide").stdout)
    assert wide_header[-1] == "MESSAGE"


@pytest.mark.parametrize("name", ["denv", "devenvironment", "devenvironments.shipit.dev",
                                  "shipit"])
def test_short_names_and_the_category_find_it(kubectl: Kubectl, ready_env: str,
                                              name: str) -> None:
    output = kubectl("get", name).stdout
    assert ready_env in output, output


def test_describe_shows_conditions_and_the_namespace_the_events(kubectl: Kubectl,
                                                                ready_env: str) -> None:
    output = kubectl("describe", "devenv", ready_env).stdout
    assert "Conditions:" in output
    for ctype in ("Ready", "NamespaceReady", "ConfigSeeded", "ServicesReady"):
        assert re.search(rf"Type:\s+{ctype}\b", output), ctype
    # Its Events are in its namespace, where its owner reads them, and not in `default`
    # (where anyone who reads Events there would read every environment's).
    selector = f"involvedObject.kind=DevEnvironment,involvedObject.name={ready_env}"
    events = kubectl("get", "events", "-n", f"dev-{ready_env}", "--field-selector",
                     selector).stdout
    assert "NamespaceCreated" in events, events
    assert re.search(r"\bReady\b", events), events
    uid = kubectl("get", "devenv", ready_env, "-o", "jsonpath={.metadata.uid}").stdout
    elsewhere = kubectl("get", "events", "-n", "default", "--field-selector",
                        f"{selector},involvedObject.uid={uid}", "-o", "name").stdout
    assert elsewhere.strip() == "", elsewhere


def test_explain_prints_field_descriptions(kubectl: Kubectl, ready_env: str) -> None:
    output = kubectl("explain", "devenvironment.spec.services").stdout
    assert "FIELDS:" in output
    for field in ("name", "image", "ports", "replicas", "dependsOn", "readinessProbe"):
        assert re.search(rf"^\s+{field}\s", output, re.M), field
    assert "Container image." in output
    deeper = kubectl("explain", "devenvironment.spec.config.secrets.copyFrom").stdout
    assert "namespace" in deeper
    assert "Source Secret name." in deeper


def test_wait_for_ready_and_for_deletion(kubectl: Kubectl, operator: Operator) -> None:
    if operator.proc is None or operator.proc.poll() is not None:
        operator.proc = None
        operator.start()
    apply(kubectl, manifest("h6-wait"))
    proc = kubectl("wait", "devenv/h6-wait", "--for=condition=Ready", "--timeout=90s")
    assert proc.stdout.strip() == "devenvironment.shipit.dev/h6-wait condition met"
    jsonpath = kubectl("wait", "devenv/h6-wait", "--for=jsonpath={.status.phase}=Ready",
                       "--timeout=10s")
    assert "condition met" in jsonpath.stdout
    kubectl("delete", "devenv", "h6-wait", "--wait=false")
    gone = kubectl("wait", "devenv/h6-wait", "--for=delete", "--timeout=90s")
    assert gone.stdout.strip() in ("devenvironment.shipit.dev/h6-wait condition met", "")
    wait_for(lambda: kubectl("get", "namespace", "dev-h6-wait", check=False).returncode != 0,
             timeout=5, what="namespace to be gone once the DevEnvironment is")
