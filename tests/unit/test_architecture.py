"""The shape the code promises in docs/architecture.md and pyproject.toml holds."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "devenv_operator"
DOC_PATH = ROOT / "docs" / "architecture.md"
DOC = DOC_PATH.read_text()
MAX_CLASS_LINES = 200
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


def test_no_class_in_the_operator_is_over_200_lines() -> None:
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                assert size <= MAX_CLASS_LINES, f"{path.name}:{node.name} has {size} lines"


def test_per_environment_state_lives_only_in_records() -> None:
    """No operator class keeps a dict attribute of its own besides the cache and records:
    per-environment maps elsewhere are how state outlived deletions before."""
    allowed = {("cache.py", "_objects"), ("cache.py", "_gone"), ("records.py", "_by_uid"),
               ("records.py", "_index"), ("records.py", "_tags"), ("records.py", "_slices"),
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


# -- the generated tables of docs/architecture.md (``make manifests`` rewrites them) -------


def steps_table() -> str:
    from devenv_operator.steps import STEPS

    lines = ["| # | step | function | what it does |", "|---|---|---|---|"]
    for i, (name, step) in enumerate(STEPS, 1):
        module = sys.modules[step.__module__]
        doc = (step.__doc__ or module.__doc__ or "").strip().split("\n\n")[0]
        text = " ".join(doc.split()).removeprefix("Step: ")
        where = f"{step.__module__.removeprefix('devenv_operator.')}.{step.__name__}"
        lines.append(f"| {i} | {name} | `{where}` | {text} |")
    return "\n".join(lines)


def kinds_table() -> str:
    from devenv_operator.childkinds import TABLE

    lines = ["| kind | API | applied by step | watched | pruned | ready when |",
             "|---|---|---|---|---|---|"]
    for row in TABLE:
        ready = " ".join((row.ready.__doc__ or row.ready.__name__).split())
        lines.append(f"| {row.name} | `{row.kind.api_version}` `{row.kind.plural}` | "
                     f"{row.step} | {'yes' if row.watched else 'no'} | "
                     f"{'yes' if row.pruned else 'no'} | {ready} |")
    return "\n".join(lines)


TABLES = {"steps": steps_table, "kinds": kinds_table}


def _block(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- BEGIN {name} \(generated\) -->\n)(.*?)(\n?<!-- END {name} -->)",
                      re.S)


def regenerate() -> None:
    text = DOC_PATH.read_text()
    for name, make in TABLES.items():
        match = _block(name).search(text)
        assert match, f"architecture.md: no generated block {name!r}"
        text = text[:match.start(2)] + make() + "\n" + text[match.start(3):].lstrip("\n")
    DOC_PATH.write_text(text)


def test_the_steps_and_kinds_tables_in_the_doc_match_the_code() -> None:
    for name, make in TABLES.items():
        match = _block(name).search(DOC)
        assert match, f"docs/architecture.md has no generated {name} table"
        assert match.group(2).rstrip("\n") == make(), (
            f"docs/architecture.md: the {name} table is stale; run `make manifests`")


if __name__ == "__main__":  # `make manifests`
    regenerate()
