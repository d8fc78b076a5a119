"""docs/install.md (and the README's install lines) tell the truth about deploy/: its tables
are the ones generated from it, each install builds, the minimum Kubernetes version stated
is the one its objects need, and the commands work as written, from the repository's root.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import deploy_tables
import pytest
import yaml
from deploy_tables import INSTALLS, ROOT, built, kustomize, requirements

INSTALL = ROOT / "docs" / "install.md"
README = ROOT / "README.md"
CONFIGURATION = ROOT / "docs" / "configuration.md"
WITHOUT = "deploy-without-mutating-policy"


def _block(path: Path, name: str) -> str:
    match = re.search(rf"<!-- BEGIN {name} \(generated\) -->\n(.*?)\n<!-- END {name} -->",
                      path.read_text(), re.S)
    assert match, f"{path.name}: no generated block {name!r}"
    return match.group(1)


def _keys(docs: tuple[dict[str, Any], ...]) -> set[tuple[str, str, str]]:
    return {(d["apiVersion"], d["kind"], d["metadata"]["name"]) for d in docs}


def _deployment_image(docs: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> str:
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return str(container["image"])


def _shell_blocks(text: str) -> list[str]:
    return re.findall(r"```(?:sh|console)\n(.*?)```", text, re.S)


def _repository_copy(tmp_path: Path) -> Path:
    """deploy/ and its sibling installs in a scratch directory, for overlays beside them."""
    for install in ("deploy", WITHOUT):
        shutil.copytree(ROOT / install, tmp_path / install)
    return tmp_path


@pytest.mark.parametrize("block", sorted(deploy_tables.BLOCKS))
def test_install_md_tables_are_generated_from_deploy(block: str) -> None:
    assert _block(INSTALL, block) == deploy_tables.BLOCKS[block](), (
        "docs/install.md is stale: uv run python tests/unit/test_user_docs.py")


@pytest.mark.parametrize("install", sorted(INSTALLS))
def test_every_install_builds(install: str) -> None:
    assert built(install), f"kubectl kustomize {install} builds nothing"
    assert f"kubectl apply -k {install}/" in INSTALL.read_text()


def test_the_install_without_the_mutating_policy_is_deploy_less_that_policy() -> None:
    full, reduced = built("deploy"), built(WITHOUT)
    left_out = _keys(full) - _keys(reduced)
    assert left_out == {
        ("admissionregistration.k8s.io/v1", kind, name)
        for kind in ("MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding")
        for name in ("devenv-owner-default", "devenv-creator")}
    assert _keys(reduced) <= _keys(full)
    assert [d for d in full if d["kind"] not in ("MutatingAdmissionPolicy",
                                                  "MutatingAdmissionPolicyBinding")] == list(
        reduced), "the objects it keeps are deploy/'s, unchanged"
    # It is the install for the versions between the two minimums.
    deploy_needs, reduced_needs = requirements(full), requirements(reduced)
    assert deploy_needs
    assert reduced_needs
    assert reduced_needs[0] < deploy_needs[0]


def test_the_docs_state_the_minimum_kubernetes_of_each_install() -> None:
    full, reduced = requirements(built("deploy")), requirements(built(WITHOUT))
    assert full
    assert reduced
    text = " ".join(INSTALL.read_text().split())
    assert f"**Kubernetes 1.{full[0]} or later** for `deploy/`" in text
    assert f"On **1.{reduced[0]} to 1.{full[0] - 1}** install `{WITHOUT}/`" in text
    assert f"### Kubernetes 1.{reduced[0]} to 1.{full[0] - 1}" in INSTALL.read_text()
    readme = " ".join(README.read_text().split())
    assert f"Kubernetes 1.{full[0]} or later" in readme
    assert f"1.{reduced[0]} to 1.{full[0] - 1}" in readme
    assert f"`{WITHOUT}/`" in readme


def test_the_older_server_error_quoted_names_what_deploy_has_beyond_the_reduced_install(
) -> None:
    text = INSTALL.read_text()
    for api_version, kind, name in _keys(built("deploy")) - _keys(built(WITHOUT)):
        assert (f'resource mapping not found for name: "{name}" namespace: "" from "deploy/": '
                f'no matches for kind "{kind}" in version "{api_version}"') in text


def test_the_readme_and_install_md_build_the_image_deploy_names() -> None:
    image = _deployment_image(built("deploy"))
    for path in (README, INSTALL):
        built_tags = re.findall(r"docker build -t (\S+) \.", path.read_text())
        assert image in built_tags, f"{path.name} never builds {image}: {built_tags}"
        loaded = re.findall(r"kind load docker-image (\S+)", path.read_text())
        assert loaded, f"{path.name} loads no image into a kind cluster"
        assert set(loaded) == {image}, f"{path.name} loads {loaded}"
    assert f"`{image}`" in README.read_text()


def test_the_documented_overlay_sets_the_image(tmp_path: Path) -> None:
    text = INSTALL.read_text()
    match = re.search(r"mkdir -p (\S+)\ncat > (\S+)/kustomization\.yaml <<'YAML'\n(.*?)\nYAML\n",
                      text, re.S)
    assert match, "docs/install.md: the overlay's heredoc is gone"
    directory, again, kustomization = match.groups()
    assert directory == again == "my-install"
    overlay = yaml.safe_load(kustomization)
    (entry,) = overlay["images"]
    wanted = f"{entry['newName']}:{entry['newTag']}"
    root = _repository_copy(tmp_path)
    (root / directory).mkdir()
    (root / directory / "kustomization.yaml").write_text(kustomization)
    assert _deployment_image(kustomize(root / directory)) == wanted
    # ... and over the install for older servers, as its comment offers.
    assert WITHOUT in kustomization
    (root / directory / "kustomization.yaml").write_text(
        kustomization.replace("- ../deploy ", f"- ../{WITHOUT} ", 1))
    assert _deployment_image(kustomize(root / directory)) == wanted
    # The check the doc gives finds that image; the kustomize CLI line writes that entry.
    check = re.search(r"kubectl kustomize my-install/ \| grep '(image: [^']+)'", text)
    assert check
    assert check.group(1) in f"image: {wanted}"
    edit = re.search(r"kustomize edit set image (\S+)=(\S+)\)", text)
    assert edit
    assert edit.groups() == (entry["name"], wanted)


def test_install_commands_work_from_the_repository_root() -> None:
    """No `cd` that would move the later commands (a subshell's is fine), and every
    directory given to `kubectl apply -k` exists or is the one the doc creates."""
    for path in (INSTALL, README, CONFIGURATION, ROOT / "docs" / "ci.md"):
        for block in _shell_blocks(path.read_text()):
            for line in block.splitlines():
                assert not re.search(r"(^|&&|;)\s*cd\s", line), f"{path.name}: {line}"
                for target in re.findall(r"kubectl (?:apply|delete) -k (\S+)", line):
                    if target.rstrip("/") in ("my-install", "my-overlay"):
                        continue
                    assert (ROOT / target).is_dir(), f"{path.name}: {line}"


def test_the_configuration_overlay_builds_and_sets_the_settings(tmp_path: Path) -> None:
    text = CONFIGURATION.read_text()
    match = re.search(r"```yaml\n# my-overlay/kustomization\.yaml\n(.*?)```", text, re.S)
    assert match, "docs/configuration.md: the overlay example is gone"
    root = _repository_copy(tmp_path)
    (root / "my-overlay").mkdir()
    (root / "my-overlay" / "kustomization.yaml").write_text(match.group(1))
    (deployment,) = [d for d in kustomize(root / "my-overlay") if d["kind"] == "Deployment"]
    env = {e["name"]: e.get("value") for e in
           deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DEVENV_DEFAULT_TTL"] == "3d"
    assert env["DEVENV_MAX_TTL"] == "14d"
