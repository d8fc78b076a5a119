"""The shape the code promises in docs/architecture.md and pyproject.toml holds."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "devenv_operator"
DOC = (ROOT / "docs" / "architecture.md").read_text()
MAX_CLASS_LINES = 300
# Entry points and tools outside the runtime layering.
UNLAYERED = {"__init__", "__main__", "crdgen"}


def modules() -> set[str]:
    found = {p.stem for p in PACKAGE.glob("*.py")} | {
        p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    return found - UNLAYERED


def layered() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    return {name.removeprefix("devenv_operator.")
            for layer in layers for name in re.split(r"\s*[|:]\s*", layer)}


def test_every_module_has_a_layer_in_the_import_contract_and_the_doc() -> None:
    assert modules() == layered()
    table = DOC.split("## Modules and layers", 1)[1].split("##", 1)[0]
    for module in modules():
        assert f"`{module}`" in table, f"docs/architecture.md does not place {module}"


def test_every_thread_pool_in_the_code_is_in_the_doc_table() -> None:
    prefixes = set()
    for path in PACKAGE.rglob("*.py"):
        prefixes |= set(re.findall(r'thread_name_prefix="([a-z]+)"', path.read_text()))
    assert prefixes >= {"kube", "apply", "status", "events"}
    table = DOC.split("## Threads and pools", 1)[1]
    for prefix in prefixes:
        assert f"`{prefix}-N`" in table, f"pool {prefix} missing from docs/architecture.md"


def test_no_class_in_the_operator_is_over_300_lines() -> None:
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                assert size <= MAX_CLASS_LINES, f"{path.name}:{node.name} has {size} lines"


def test_per_environment_state_lives_only_in_records() -> None:
    """No operator class keeps a dict attribute of its own besides the cache and records:
    per-environment maps elsewhere are how state outlived deletions before."""
    allowed = {("cache.py", "_objects"), ("cache.py", "_gone"), ("records.py", "_by_uid"),
               ("metrics.py", "_routes"), ("classes.py", "_classes"),
               ("templates.py", "_templates")}
    for path in PACKAGE.rglob("*.py"):
        if "cli" in path.relative_to(PACKAGE).parts:
            continue  # the kubectl plugin: a short-lived process of its own, no operator state
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.AnnAssign | ast.Assign):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            for target in targets:
                if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                        and target.value.id == "self" and isinstance(value, ast.Dict)):
                    assert (path.name, target.attr) in allowed, (
                        f"{path.name}: self.{target.attr} = {{}}: keep it in records.EnvRecord")
