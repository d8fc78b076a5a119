"""The generated parts of the user docs match the code they describe.

docs/configuration.md lists every setting from ``settings.describe()``; docs/reference.md
lists every DevEnvironment field from the CRD schema (itself generated from the models);
docs/install.md's tables come from deploy/ (``deploy_tables``). When a test fails,
regenerate the blocks with::

    uv run python tests/unit/test_user_docs.py
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
if __name__ == "__main__":  # run as a script: same import paths as under pytest
    sys.path[:0] = [str(ROOT / "operator"), str(ROOT)]

import deploy_tables  # noqa: E402  (tests/unit: beside this file)

from devenv_operator import crdgen, models  # noqa: E402
from devenv_operator.settings import describe  # noqa: E402

CONFIGURATION = ROOT / "docs" / "configuration.md"
REFERENCE = ROOT / "docs" / "reference.md"
INSTALL = ROOT / "docs" / "install.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def settings_table() -> str:
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{name}` | `{default}` | {_cell(text)} |" for name, default, text in describe()]
    return "\n".join(lines)


def _type(schema: dict[str, Any]) -> str:
    if schema.get("x-kubernetes-int-or-string"):
        return "int or string"
    kind = schema.get("type", "")
    if kind == "array":
        return "[]" + _type(schema.get("items", {}))
    if kind == "object" and "additionalProperties" in schema:
        return "map[string]" + _type(schema["additionalProperties"])
    if kind == "object" and "properties" not in schema:
        return "object"
    if schema.get("format"):
        return f"{kind} ({schema['format']})"
    if "enum" in schema:
        return f"{kind} (" + ", ".join(str(v) for v in schema["enum"]) + ")"
    return str(kind)


def field_rows(schema: dict[str, Any], path: str) -> Iterator[tuple[str, str, str, str]]:
    """(path, type, default or required, description) for every field below ``schema``."""
    required = set(schema.get("required") or [])
    for name, sub in (schema.get("properties") or {}).items():
        here = f"{path}.{name}"
        default = ("required" if name in required
                   else f"`{sub['default']}`" if "default" in sub else "")
        yield here, _type(sub), default, sub.get("description", "")
        items = sub.get("items") or {}
        if sub.get("type") == "array" and "properties" in items:
            yield from field_rows(items, here + "[]")
        elif "properties" in sub:
            yield from field_rows(sub, here)


def reference_table(part: str) -> str:
    root = crdgen.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    lines = ["| field | type | default | description |", "|---|---|---|---|"]
    lines += [f"| `{p}` | {_cell(t)} | {d} | {_cell(text)} |"
              for p, t, d, text in field_rows(root["properties"][part], part)]
    return "\n".join(lines)


BLOCKS = {
    CONFIGURATION: {"settings": settings_table},
    REFERENCE: {"spec": lambda: reference_table("spec"),
                "status": lambda: reference_table("status")},
    INSTALL: deploy_tables.BLOCKS,  # checked in test_install_docs.py
}


def _pattern(block: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- BEGIN {block} \(generated\) -->\n)(.*?)(\n<!-- END {block} -->)",
                      re.S)


def rendered(path: Path, block: str) -> str:
    match = _pattern(block).search(path.read_text())
    assert match, f"{path.name}: no generated block {block!r}"
    return match.group(2)


def regenerate() -> None:
    for path, blocks in BLOCKS.items():
        text = path.read_text()
        for block, make in blocks.items():
            match = _pattern(block).search(text)
            assert match, f"{path.name}: no generated block {block!r}"
            text = text[:match.start(2)] + make() + text[match.end(2):]
        path.write_text(text)


def test_configuration_lists_every_setting_with_its_default() -> None:
    assert rendered(CONFIGURATION, "settings") == settings_table(), (
        "docs/configuration.md is stale: uv run python tests/unit/test_user_docs.py")


def test_reference_lists_every_field_of_the_crd() -> None:
    for part in ("spec", "status"):
        assert rendered(REFERENCE, part) == reference_table(part), (
            "docs/reference.md is stale: uv run python tests/unit/test_user_docs.py")


def test_reference_covers_every_model_field() -> None:
    text = REFERENCE.read_text()

    def nested(annotation: Any, here: str) -> Iterator[str]:
        """Fields of the models inside a type: Optional[X], list[X] (as ``here[]``) or X."""
        if getattr(annotation, "__origin__", None) is list:
            yield from nested(annotation.__args__[0], here + "[]")
        elif isinstance(annotation, type) and issubclass(annotation, models.Model):
            yield from paths(annotation, here)
        else:
            for arg in getattr(annotation, "__args__", ()):  # unions
                if arg is not type(None):
                    yield from nested(arg, here)

    def paths(model: Any, prefix: str) -> Iterator[str]:
        for name, info in model.model_fields.items():
            here = f"{prefix}.{info.alias or name}"
            yield here
            yield from nested(info.annotation, here)

    expected = [*paths(models.DevEnvironmentSpec, "spec"),
                *paths(models.DevEnvironmentStatus, "status")]
    assert len(expected) > 40
    missing = [p for p in expected if f"`{p}`" not in text]
    assert not missing, missing


# A DEVENV_* name in prose: letters, digits and underscores, not the `DEVENV_*` wildcard.
_DEVENV_NAME = re.compile(r"\bDEVENV_[A-Z0-9_]*[A-Z0-9]\b")
CI_DOC = ROOT / "docs" / "ci.md"
CI_RECIPES = ROOT / "examples" / "ci"


def devenv_names(text: str) -> set[str]:
    return set(_DEVENV_NAME.findall(text))


def recipe_variables() -> set[str]:
    """The DEVENV_* variables the CI recipes in examples/ci/ read or set: the recipes' own
    interface (a CI job's environment), never the operator's."""
    return {name for path in sorted(CI_RECIPES.rglob("*")) if path.is_file()
            for name in devenv_names(path.read_text())}


def test_every_devenv_variable_the_docs_name_is_a_setting() -> None:
    """An unknown DEVENV_* name stops the operator, so a documented one that is no setting
    (DEVENV_KUBECONFIG was) breaks whoever follows the docs. docs/ci.md may also name the
    CI recipes' variables, which never reach the operator."""
    settings = {name for name, _, _ in describe()}
    recipes = recipe_variables()
    assert {"DEVENV_NAME", "DEVENV_TEMPLATE"} <= recipes  # the scan found the recipes'
    assert not recipes & settings, "a recipe variable that looks like an operator setting"
    unknown = {}
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        allowed = settings | recipes if path == CI_DOC else settings
        extra = devenv_names(path.read_text()) - allowed
        if extra:
            unknown[path.name] = sorted(extra)
    assert not unknown, f"DEVENV_* names that are no setting: {unknown}"


DEFAULT_CLASS = ROOT / "deploy" / "classes" / "default.yaml"
LIFECYCLE = ROOT / "docs" / "lifecycle.md"


def test_the_docs_give_the_shipped_default_class_s_lifetime() -> None:
    """Environments without a ttl do not live until deleted: the default class, which
    applies to every environment naming no class, sets a default and a maximum."""
    (shipped,) = [d for d in yaml.safe_load_all(DEFAULT_CLASS.read_text()) if d]
    assert shipped["metadata"]["annotations"]["shipit.dev/is-default-class"] == "true"
    lifetime = shipped["spec"]["lifetime"]
    stated = f"`lifetime: {{defaultTTL: {lifetime['defaultTTL']}, maxTTL: {lifetime['maxTTL']}}}`"
    for path in (LIFECYCLE, ROOT / "README.md"):
        assert stated in path.read_text(), f"{path.name} does not state {stated}"


# A name the plugin derives for a pull (GitHub) or merge (GitLab) request: slug-pr-N-hash.
_CI_NAME = re.compile(r"`([a-z0-9][-a-z0-9]*)-(pr|mr)-([0-9]+)-([0-9a-f]{6})`")
_REPOSITORY = re.compile(r"`([-\w.]+(?:/[-\w.]+)+)`")


def _naming() -> Any:
    """The plugin's naming module, wherever the plugin package lives."""
    try:
        return importlib.import_module("devenv_cli.naming")
    except ModuleNotFoundError:
        return importlib.import_module("devenv_operator.cli.naming")


def test_ci_name_examples_are_what_the_plugin_derives() -> None:
    """Every example name in the docs is the one `kubectl devenv create` gives for the
    repository named in the same paragraph."""
    naming = _naming()
    checked = 0
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for paragraph in re.split(r"\n\s*\n", path.read_text()):
            for match in _CI_NAME.finditer(paragraph):
                kind, number = match.group(2), match.group(3)
                repositories = _REPOSITORY.findall(paragraph)
                assert repositories, f"{path.name}: {match.group(0)} names no repository"
                derived = set()
                for repository in repositories:
                    environ = ({"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": repository,
                                "GITHUB_REF": f"refs/pull/{number}/merge"} if kind == "pr" else
                               {"GITLAB_CI": "true", "CI_PROJECT_PATH": repository,
                                "CI_MERGE_REQUEST_IID": number})
                    derived.add(naming.derive(environ)[0])
                assert match.group(0).strip("`") in derived, (
                    f"{path.name}: {match.group(0)} is none of {sorted(derived)}")
                checked += 1
    assert checked >= 2  # README.md and docs/ci.md each give one


ARCHITECTURE = ROOT / "docs" / "architecture.md"


def modules_importing(package: str) -> set[str]:
    """Short names of the modules under operator/ that import ``package`` anywhere (at
    module level, under TYPE_CHECKING or inside a function)."""
    found = set()
    for path in sorted((ROOT / "operator").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom)
                     and not node.level else [])
            if any(n == package or n.startswith(package + ".") for n in names):
                found.add(path.parent.name if path.stem == "__init__" else path.stem)
    return found


def test_architecture_names_every_module_that_imports_the_client() -> None:
    text = " ".join(ARCHITECTURE.read_text().split())
    match = re.search(r"Only ([^.]*?) import the official client", text)
    assert match, "docs/architecture.md no longer says which modules import the client"
    assert set(re.findall(r"`(\w+)`", match.group(1))) == modules_importing("kubernetes")


OBSERVABILITY = ROOT / "docs" / "observability.md"
# Which labelled metrics have series before anything happened, in a fresh interpreter (the
# other tests of this process increment counters). A metric without samples is one with
# labels and no children yet; one whose samples carry labels (other than a histogram's
# ``le``) has children. Counters are exposed with ``_total``.
_FRESH_SERIES = """
import json
from devenv_operator import metrics
found = {}
for family in metrics.REGISTRY.collect():
    name = family.name + ("_total" if family.type == "counter" else "")
    labelled = not family.samples or any(set(s.labels) - {"le"} for s in family.samples)
    if labelled:
        found[name] = bool(family.samples)
print(json.dumps(found))
"""


def labelled_metrics() -> dict[str, bool]:
    """Every labelled metric and whether its series exist at start-up."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "operator"), str(ROOT)])}
    out = subprocess.run([sys.executable, "-c", _FRESH_SERIES], capture_output=True,
                         text=True, env=env, check=True).stdout
    found: dict[str, bool] = json.loads(out)
    return found


def test_observability_says_which_labelled_series_start_at_zero() -> None:
    found = labelled_metrics()
    assert len(found) >= 5
    text = " ".join(OBSERVABILITY.read_text().split())
    match = re.search(r"The labelled series of (.*?) exist at zero from start-up", text)
    assert match, "docs/observability.md no longer says which series start at zero"
    assert set(re.findall(r"`(devenv_\w+)`", match.group(1))) == {
        name for name, ahead in found.items() if ahead}
    for name in (name for name, ahead in found.items() if not ahead):
        assert f"`{name}` has a series for" in text, f"say when {name} gets its series"


def _enclosing_functions(call: str) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """The functions in operator/devenv_operator that call ``.call(`` or ``call(``."""
    found = []
    for path in sorted((ROOT / "operator" / "devenv_operator").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Call) and call in (
                        getattr(node.func, "attr", None), getattr(node.func, "id", None)):
                    found.append(fn)
                    break
    return found


def test_readiness_is_what_observability_md_says() -> None:
    """/readyz turns ready from the heartbeat, which the startup handler starts: before
    Kopf logs in and watches. If readiness comes to mean more, say so in the docs."""
    text = " ".join(OBSERVABILITY.read_text().split())
    assert "until Kopf has run the operator's startup handler" in text
    assert "does **not** wait for Kopf to log in and open its watch streams" in text
    marking = _enclosing_functions("mark_ready")
    assert [fn.name for fn in marking] == ["heartbeat"], (
        "readiness is marked elsewhere now: update docs/observability.md's /readyz row")
    starters = _enclosing_functions("heartbeat")
    assert starters, "nothing starts the heartbeat"
    for fn in starters:
        decorators = [ast.unparse(d) for d in fn.decorator_list]
        assert any(d.startswith("kopf.on.startup") for d in decorators), (
            f"the heartbeat is started from {fn.name}, not the startup handler: update "
            "docs/observability.md's /readyz row")


def test_docs_name_no_local_paths() -> None:
    for path in sorted((ROOT / "docs").glob("*.md")):
        text = path.read_text()
        for bad in ("/work/", "/root/", "/tmp/"):
            assert bad not in text, f"{path.name} names {bad}"


if __name__ == "__main__":
    regenerate()
