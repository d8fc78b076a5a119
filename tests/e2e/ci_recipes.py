"""Run the CI recipes in examples/ci/ the way their CI systems would, against the local cluster.

Each runner reads the recipe file itself and runs its shell steps with bash, with the
variables and files that CI system provides (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, CI_* for
GitLab, $(params.*) and $(results.*.path) for Tekton). Only what the recipes use is
supported, and anything else is an error rather than silently skipped: a recipe that grows
a feature the runner does not know fails its test until the runner learns it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.helpers import ROOT, kubectl_path

RECIPES = ROOT / "examples" / "ci"
GITHUB_ACTION = RECIPES / "github" / "action.yml"
GITLAB_TEMPLATE = RECIPES / "gitlab" / "devenv.gitlab-ci.yml"
TEKTON_TASK = RECIPES / "tekton" / "devenv-task.yaml"
SHELL_SCRIPT = RECIPES / "shell" / "devenv-ci.sh"


@dataclass
class StepRun:
    name: str
    returncode: int
    output: str


@dataclass
class RecipeRun:
    """What a run of a recipe left: its steps, outputs, and the files CI would keep."""

    steps: list[StepRun] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    workdir: Path = Path()

    @property
    def ok(self) -> bool:
        return all(s.returncode == 0 for s in self.steps if not s.name.startswith("(skipped)"))

    @property
    def log(self) -> str:
        return "\n".join(f"--- {s.name} (exit {s.returncode})\n{s.output}" for s in self.steps)


def _bash(script: str, env: Mapping[str, str], cwd: Path, timeout: float,
          argv: list[str] | None = None) -> tuple[int, str]:
    """Run a script as GitHub (shell: bash) and GitLab do: bash -eo pipefail; or ``argv``."""
    proc = subprocess.run(argv or ["bash", "-eo", "pipefail", "-c", script], env=dict(env),
                          cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, check=False)
    return proc.returncode, proc.stdout


def _base_env(kubeconfig: str, extra: Mapping[str, str]) -> dict[str, str]:
    """A CI job's environment: no CI variables of ours, kubectl and kubectl-devenv (the
    installed package's) on PATH, as the recipes' install step would leave them."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "CI_", "GITLAB_", "DEVENV_"))}
    tools = {str(Path(kubectl_path()).parent), str(Path(sys.prefix) / "bin")}
    env["PATH"] = os.pathsep.join([*sorted(tools), env.get("PATH", "")])
    env.update(KUBECONFIG=kubeconfig, CI="true", **extra)
    return env


# -- GitHub composite action ----------------------------------------------------------------

_GH_EXPR = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


def _gh_eval(expr: str, ctx: Mapping[str, Any]) -> str:
    m = re.fullmatch(r"inputs\.([\w-]+)", expr)
    if m:
        return str(ctx["inputs"].get(m.group(1), ""))
    m = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr)
    if m:
        return str(ctx["steps"].get(m.group(1), {}).get(m.group(2), ""))
    if expr == "github.action_path":
        return str(ctx["action_path"])
    raise AssertionError(f"the GitHub runner does not know the expression {expr!r}")


def _gh_sub(text: str, ctx: Mapping[str, Any]) -> str:
    return _GH_EXPR.sub(lambda m: _gh_eval(m.group(1), ctx), text)


def _gh_condition(expr: str | None, failed: bool) -> bool:
    if expr is None:
        return not failed
    inner = _GH_EXPR.fullmatch(expr.strip())
    text = inner.group(1) if inner else expr.strip()
    known = {"always()": True, "failure()": failed, "success()": not failed,
             "!cancelled()": True}
    if text not in known:
        raise AssertionError(f"the GitHub runner does not know the condition {text!r}")
    return known[text]


def _outputs(path: Path) -> dict[str, str]:
    """Parse a GITHUB_OUTPUT file (name=value lines and name<<DELIM heredocs)."""
    found: dict[str, str] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            end = lines.index(delim, i + 1)
            found[key] = "\n".join(lines[i + 1:end])
            i = end + 1
            continue
        if "=" in line:
            key, value = line.split("=", 1)
            found[key] = value
        i += 1
    return found


def run_github_action(workdir: Path, kubeconfig: str, inputs: Mapping[str, str],
                      github_env: Mapping[str, str], timeout: float = 300) -> RecipeRun:
    """Run action.yml's steps as a runner would for `uses: .../examples/ci/github`."""
    action = yaml.safe_load(GITHUB_ACTION.read_text())
    assert action["runs"]["using"] == "composite"
    defaults = {k: str(v.get("default", "")) for k, v in action.get("inputs", {}).items()}
    unknown = set(inputs) - set(defaults)
    assert not unknown, f"inputs the action does not declare: {unknown}"
    ctx: dict[str, Any] = {"inputs": {**defaults, **inputs}, "steps": {},
                           "action_path": GITHUB_ACTION.parent}
    summary = workdir / "step-summary.md"
    path_file = workdir / "github-path"
    run = RecipeRun(workdir=workdir)
    failed = False
    extra_path: list[str] = []
    for i, step in enumerate(action["runs"]["steps"]):
        name = step.get("name", f"step {i}")
        if "uses" in step:  # another action (e.g. upload-artifact): not run here
            run.steps.append(StepRun(f"(skipped) {name}: uses {step['uses']}", 0, ""))
            continue
        if not _gh_condition(step.get("if"), failed):
            run.steps.append(StepRun(f"(skipped) {name}", 0, ""))
            continue
        assert step.get("shell") == "bash", f"{name}: composite steps need shell: bash"
        output_file = workdir / f"output-{i}"
        output_file.write_text("")
        env = _base_env(kubeconfig, github_env)
        env.update({k: _gh_sub(str(v), ctx) for k, v in (step.get("env") or {}).items()})
        env.update(GITHUB_OUTPUT=str(output_file), GITHUB_STEP_SUMMARY=str(summary),
                   GITHUB_PATH=str(path_file), GITHUB_ACTION_PATH=str(GITHUB_ACTION.parent),
                   RUNNER_TEMP=str(workdir), GITHUB_WORKSPACE=str(workdir))
        env["PATH"] = os.pathsep.join([*extra_path, env["PATH"]])
        code, out = _bash(_gh_sub(step["run"], ctx), env, workdir, timeout)
        run.steps.append(StepRun(name, code, out))
        if step.get("id"):
            ctx["steps"][step["id"]] = _outputs(output_file)
        if path_file.exists():
            extra_path = [p for p in path_file.read_text().splitlines() if p]
        failed = failed or code != 0
    run.outputs = {k: _gh_sub(str(v["value"]), ctx)
                   for k, v in (action.get("outputs") or {}).items()}
    run.summary = summary.read_text() if summary.exists() else ""
    return run


# -- GitLab CI template ---------------------------------------------------------------------


def run_gitlab_job(workdir: Path, kubeconfig: str, job: str, variables: Mapping[str, str],
                   timeout: float = 300) -> RecipeRun:
    """Run one job of the template as a GitLab runner would: before_script and script in
    one shell (stopping at the first failure), then after_script in a new shell with
    CI_JOB_STATUS; the job's and the template's variables are the environment."""
    doc = yaml.safe_load(GITLAB_TEMPLATE.read_text())
    spec = doc[job]
    extends = spec.get("extends")
    if extends:
        for parent in [extends] if isinstance(extends, str) else extends:
            spec = {**doc[parent], **spec}
    env = _base_env(kubeconfig, {})
    for source in (doc.get("variables") or {}, spec.get("variables") or {}, variables):
        for key, value in source.items():
            text = value["value"] if isinstance(value, dict) else str(value)
            # GitLab expands $VAR and ${VAR} in variable values; $$ is a literal $.
            env[key] = re.sub(r"\$\$|\$\{?(\w+)\}?",
                              lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), ""),
                              text)
    env.update(CI_PROJECT_DIR=str(workdir), CI_BUILDS_DIR=str(workdir))
    run = RecipeRun(workdir=workdir)
    main = "\n".join([*spec.get("before_script", []), *spec["script"]])
    code, out = _bash(main, env, workdir, timeout)
    run.steps.append(StepRun(f"{job}: script", code, out))
    if spec.get("after_script"):
        env["CI_JOB_STATUS"] = "success" if code == 0 else "failed"
        after_code, after_out = _bash("\n".join(spec["after_script"]), env, workdir, timeout)
        run.steps.append(StepRun(f"{job}: after_script", after_code, after_out))
    dotenv = (spec.get("artifacts") or {}).get("reports", {}).get("dotenv")
    if dotenv and (workdir / dotenv).exists():
        run.outputs = dict(line.split("=", 1) for line in
                           (workdir / dotenv).read_text().splitlines() if "=" in line)
    return run


# -- Tekton Task ----------------------------------------------------------------------------


def run_tekton_task(workdir: Path, kubeconfig: str, task_name: str, params: Mapping[str, str],
                    diagnostics: bool = False, timeout: float = 300) -> RecipeRun:
    """Run a Task's steps in order as a TaskRun would: $(params.X), $(results.X.path) and
    $(workspaces.diagnostics.*) substituted, each step's script run by bash (scripts need
    a shebang), a failing step ending the run; results read back from their files."""
    tasks = {d["metadata"]["name"]: d for d in yaml.safe_load_all(TEKTON_TASK.read_text())}
    task = tasks[task_name]
    assert task["kind"] == "Task"
    spec = task["spec"]
    declared = {p["name"]: p for p in spec.get("params", [])}
    unknown = set(params) - set(declared)
    assert not unknown, f"params the Task does not declare: {unknown}"
    values: dict[str, str] = {}
    for name, p in declared.items():
        if name in params:
            values[name] = params[name]
        elif "default" in p:
            values[name] = str(p["default"])
        else:
            raise AssertionError(f"param {name} is required")
    results_dir = workdir / "results"
    results_dir.mkdir(exist_ok=True)
    workspace = workdir / "workspace-diagnostics"
    if diagnostics:
        workspace.mkdir(exist_ok=True)

    def sub(text: str) -> str:
        text = re.sub(r"\$\(params\.([\w-]+)\)", lambda m: values[m.group(1)], text)
        text = re.sub(r"\$\(results\.([\w-]+)\.path\)",
                      lambda m: str(results_dir / m.group(1)), text)
        text = text.replace("$(workspaces.diagnostics.bound)", str(diagnostics).lower())
        text = text.replace("$(workspaces.diagnostics.path)",
                            str(workspace) if diagnostics else "")
        leftover = re.search(r"\$\((?:params|results|workspaces|context)\.[^)]*\)", text)
        assert leftover is None, f"the Tekton runner does not know {leftover.group(0)}"
        return text

    run = RecipeRun(workdir=workdir)
    for step in spec["steps"]:
        sub(step["image"])
        env = _base_env(kubeconfig, {e["name"]: sub(str(e["value"]))
                                     for e in step.get("env", []) if "value" in e})
        script = sub(step["script"])
        assert script.startswith("#!/"), f"step {step['name']}: a script needs a shebang"
        path = workdir / f"step-{step['name']}"
        path.write_text(script)
        path.chmod(0o755)
        code, out = _bash(script, env, workdir, timeout, argv=[str(path)])  # by its shebang
        run.steps.append(StepRun(step["name"], code, out))
        if code != 0 and step.get("onError") != "continue":
            break
    run.outputs = {p.name: p.read_text().strip() for p in results_dir.iterdir()}
    return run


# -- the plain shell recipe -----------------------------------------------------------------


def run_shell(workdir: Path, kubeconfig: str, args: list[str], env: Mapping[str, str],
              timeout: float = 300) -> RecipeRun:
    full = _base_env(kubeconfig, env)
    proc = subprocess.run(["bash", str(SHELL_SCRIPT), *args], env=full, cwd=workdir,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, check=False)
    return RecipeRun(steps=[StepRun("devenv-ci.sh", proc.returncode, proc.stdout)],
                     workdir=workdir)
