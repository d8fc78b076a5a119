"""Build the control-plane binaries from the pinned Go tools modules, cached by version.

The cache lives in ``cache_root()/<key>/bin`` where the key covers the pinned versions,
the go.mod files and ``go env GOVERSION``. A build goes to a temporary sibling directory
that is renamed into place only when every binary is there, so an interrupted build never
leaves a half-filled cache entry. A file lock serialises concurrent builds.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .config import (
    BINARIES,
    TOOLS_DIR,
    LocalClusterError,
    cache_key,
    cache_root,
    kube_minor,
    read_pins,
)

PROGRESS_EVERY_S = 20.0
COMPLETE_MARKER = "complete"


@dataclass(frozen=True)
class BuildStep:
    """One ``go build`` invocation, run in a tools module directory."""

    module_dir: str
    outputs: tuple[str, ...]
    packages: tuple[str, ...]
    ldflags: str


def kube_ldflags(version: str) -> str:
    major, minor = kube_minor(version)
    parts = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        parts += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return " ".join(parts)


def build_steps(kube_version: str) -> list[BuildStep]:
    return [
        BuildStep(
            "kube",
            ("kube-apiserver", "kube-controller-manager", "kube-scheduler"),
            (
                "k8s.io/kubernetes/cmd/kube-apiserver",
                "k8s.io/kubernetes/cmd/kube-controller-manager",
                "k8s.io/kubernetes/cmd/kube-scheduler",
            ),
            kube_ldflags(kube_version),
        ),
        BuildStep("etcd", ("etcd",), ("go.etcd.io/etcd/server/v3",), "-s -w"),
        BuildStep("kwok", ("kwok",), ("sigs.k8s.io/kwok/cmd/kwok",), "-s -w"),
    ]


def go_command(step: BuildStep, out_dir: Path) -> list[str]:
    # A directory output ("-o DIR/") is needed to build several mains at once; a single
    # package gets an explicit file name because etcd's package path ends in "v3".
    output = f"{out_dir}/" if len(step.packages) > 1 else str(out_dir / step.outputs[0])
    return ["go", "build", "-trimpath", "-ldflags", step.ldflags, "-o", output, *step.packages]


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CGO_ENABLED"] = "0"
    env["GOTOOLCHAIN"] = "local"
    # The repository may have no commits yet; VCS stamping would then fail.
    flags = env.get("GOFLAGS", "").split()
    if not any(f.startswith("-buildvcs") for f in flags):
        flags.append("-buildvcs=false")
    env["GOFLAGS"] = " ".join(flags)
    return env


def download_module(module: str, version: str, timeout: float = 900.0) -> Path:
    """``go mod download -json MODULE@VERSION`` (the module proxy, checked against the
    checksum database) from outside any module; the read-only directory of its source."""
    go_version()  # says clearly when Go is missing
    with tempfile.TemporaryDirectory(prefix="localcluster-download-") as tmp:
        env = go_env()
        env["GOFLAGS"] = " ".join(f for f in env["GOFLAGS"].split() if not f.startswith("-mod="))
        try:
            out = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"],
                                 capture_output=True, text=True, check=False, env=env,
                                 cwd=tmp, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise LocalClusterError(f"downloading {module}@{version} took over "
                                    f"{timeout:.0f}s") from e
    try:
        info = json.loads(out.stdout) if out.stdout.strip() else {}
    except json.JSONDecodeError:
        info = {}
    if out.returncode != 0 or not info.get("Dir"):
        why = info.get("Error") or out.stderr.strip()[-800:]
        raise LocalClusterError(f"go mod download {module}@{version} failed: {why}")
    return Path(info["Dir"])


def go_version() -> str:
    if shutil.which("go") is None:
        raise LocalClusterError(
            "the Go toolchain ('go') is not on PATH; it is needed to build the local "
            "control plane (install Go >= 1.26, e.g. from https://go.dev/dl/)"
        )
    try:
        out = subprocess.run(
            ["go", "env", "GOVERSION"],
            capture_output=True,
            text=True,
            check=True,
            env=go_env(),
            timeout=60,
        )
    except subprocess.CalledProcessError as e:
        raise LocalClusterError(f"'go env GOVERSION' failed: {e.stderr.strip()}") from e
    return out.stdout.strip()


def current_key() -> str:
    pins = read_pins()
    texts = tuple((TOOLS_DIR / sub / "go.mod").read_text() for sub in ("kube", "etcd", "kwok"))
    return cache_key(pins, go_version(), texts)


def bin_dir_for(key: str) -> Path:
    return cache_root() / key / "bin"


def is_complete(entry: Path, binaries: Sequence[str] = BINARIES) -> bool:
    return (entry / COMPLETE_MARKER).is_file() and all(
        (entry / "bin" / b).is_file() for b in binaries
    )


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _say(f"another build holds {path}; waiting for it")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _say(msg: str) -> None:
    print(f"[localcluster] {msg}", file=sys.stderr, flush=True)


def _fmt(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


def run_go_build(cmd: list[str], cwd: Path, log_path: Path, what: str,
                 say: Callable[[str], None] | None = None) -> None:
    """Run a ``go build`` with its output in ``log_path``, saying it is still going.

    Raises LocalClusterError with the log's tail when it fails; an interrupt stops it.
    """
    say = say or _say
    start = time.monotonic()
    with log_path.open("a") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        proc = subprocess.Popen(cmd, cwd=cwd, env=go_env(), stdout=log, stderr=log)
        try:
            next_note = start + PROGRESS_EVERY_S
            while proc.poll() is None:
                time.sleep(0.5)
                if time.monotonic() >= next_note:
                    say(f"still building {what}… {_fmt(time.monotonic() - start)} elapsed")
                    next_note += PROGRESS_EVERY_S
        except BaseException:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise
    if proc.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
        raise LocalClusterError(f"building {what} failed (exit {proc.returncode}):\n{tail}")
    say(f"built {what} in {_fmt(time.monotonic() - start)}")


def _run_step(step: BuildStep, out_dir: Path, log_path: Path) -> None:
    names = ", ".join(step.outputs)
    _say(f"building {names} (go build in tools/{step.module_dir}; log {log_path})")
    run_go_build(go_command(step, out_dir), TOOLS_DIR / step.module_dir, log_path, names)


def cached_build(key: str, binaries: Sequence[str], what: str,
                 build_into: Callable[[Path], None], force: bool = False) -> Path:
    """The directory holding ``binaries``, built once per ``key`` into the cache.

    ``build_into(tmp)`` writes them to ``tmp / "bin"`` (and may log to ``tmp``); one process
    builds at a time (a lock file), and the entry appears complete or not at all (built in
    a temporary directory, then renamed)."""
    root = cache_root()
    entry = root / key
    if not force and is_complete(entry, binaries):
        return entry / "bin"
    with _locked(root / f"{key}.lock"):
        if not force and is_complete(entry, binaries):  # built by someone else meanwhile
            return entry / "bin"
        for stale in root.glob(f".{key}.tmp-*"):  # left by a killed build
            shutil.rmtree(stale, ignore_errors=True)
        start = time.monotonic()
        _say(f"cold build of {what} into {entry} (this takes a while)")
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.tmp-", dir=root))
        try:
            (tmp / "bin").mkdir()
            build_into(tmp)
            missing = [b for b in binaries if not (tmp / "bin" / b).is_file()]
            if missing:
                raise LocalClusterError(f"build finished but binaries are missing: {missing}")
            (tmp / COMPLETE_MARKER).write_text(f"{key}\n")
            tmp.chmod(0o755)
            if entry.exists():
                shutil.rmtree(entry)
            tmp.rename(entry)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        _say(f"{what}: build complete in {_fmt(time.monotonic() - start)}: {entry / 'bin'}")
    return entry / "bin"


def build(force: bool = False) -> Path:
    """Make sure the binaries for the pinned versions exist; return their directory."""
    def build_into(tmp: Path) -> None:
        for step in build_steps(read_pins().kubernetes):
            _run_step(step, tmp / "bin", tmp / "build.log")

    return cached_build(current_key(), BINARIES, "the local control plane", build_into, force)
