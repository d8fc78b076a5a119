"""The shape the code promises in docs/architecture.md and pyproject.toml holds."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
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
    for path in PACKAGE.rglob("*.py"):  # the plugin (devenv_cli) keeps no operator state
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


# -- the import contracts deny by default ----------------------------------------------

# Modules that do I/O or hold operator state, by name; every other module must be in the
# pure-modules contract of pyproject.toml. A new module is one or the other from day one.
IMPURE = {
    "devenv_operator": {"children", "controller", "crdgen", "engine", "fanout", "kube",
                        "logs", "main", "metrics", "orphans", "recorder", "reconcile", "settings",
                        "statuswriter", "steps", "teardown", "urlcheck", "__main__", "__init__"},
    "devenv_cli": {"access", "api", "app", "commands", "complete", "diagnose", "inputs",
                   "rerun", "waiting", "__init__", "__main__"},
}


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def test_every_module_is_declared_pure_or_named_as_io() -> None:
    pure_contract = next(c for c in _contracts() if str(c["name"]).startswith("Pure modules"))
    pure = set(pure_contract["source_modules"])  # type: ignore[call-overload]
    for package, impure in IMPURE.items():
        root = ROOT / "operator" / package
        found = {p.stem for p in root.glob("*.py")} | {
            p.name for p in root.iterdir() if (p / "__init__.py").exists()}
        for module in sorted(found):
            declared = f"{package}.{module}" in pure
            assert declared != (module in impure), (
                f"{package}.{module}: list it in the pure-modules contract of pyproject.toml "
                "or in IMPURE here (exactly one)")


def test_the_client_and_kopf_contracts_cover_every_module_of_both_packages() -> None:
    for forbidden in ("kubernetes", "kopf"):
        contract = next(c for c in _contracts() if c["type"] == "forbidden"
                        and forbidden in c["forbidden_modules"]  # type: ignore[operator]
                        and not str(c["name"]).startswith("Pure"))
        assert contract["source_modules"] == ["devenv_operator", "devenv_cli"]


def _scratch_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "operator", copy / "operator",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    shutil.copytree(ROOT / "tests", copy / "tests", ignore=shutil.ignore_patterns(
        "__pycache__", "e2e", "real", "unit"))
    return copy


def _lint(copy: Path, *command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{copy / 'operator'}:{copy}"}
    return subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True,
                          timeout=240, check=False)


def test_lint_fails_on_a_planted_client_import_and_an_oversized_function(
        tmp_path: Path) -> None:
    """A scratch copy with a new module that imports the client directly (a module no
    contract names) and a 60-line function: lint-imports and the limits both fail on it;
    the unplanted copy passes both."""
    copy = _scratch_copy(tmp_path)
    lint_imports = [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"]
    limits = [sys.executable, "-m", "tests.limits", "operator"]
    assert _lint(copy, *lint_imports).returncode == 0
    assert _lint(copy, *limits).returncode == 0
    body = "\n".join(f"    x{i} = {i}" for i in range(60))
    (copy / "operator" / "devenv_operator" / "planted.py").write_text(
        f'"""Planted."""\n\nimport kubernetes\n\n\ndef long() -> None:\n{body}\n')
    imports = _lint(copy, *lint_imports)
    assert imports.returncode != 0
    assert "devenv_operator.planted -> kubernetes" in imports.stdout
    sizes = _lint(copy, *limits)
    assert sizes.returncode == 1
    assert "planted.py:6: function long has 61 lines" in sizes.stdout
