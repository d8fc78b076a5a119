"""Build the pinned Helm (``bench/tools/helm``) once, cached by version like localcluster.

The binary lands in ``<user cache>/devenv-operator/bench/helm-<version>_<go>_<digest>/helm``
(next to localcluster's cache), built with ``CGO_ENABLED=0 GOTOOLCHAIN=local -trimpath``.
A build writes to a temporary name that is renamed into place when complete.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

from localcluster.builder import go_version, run_go_build
from localcluster.config import cache_root, module_version

TOOLS_DIR = Path(__file__).resolve().parent / "tools" / "helm"
MODULE = "helm.sh/helm/v3"


def _say(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def pinned_version() -> str:
    return module_version((TOOLS_DIR / "go.mod").read_text(), MODULE)


def binary_path() -> Path:
    gomod = (TOOLS_DIR / "go.mod").read_text() + (TOOLS_DIR / "go.sum").read_text()
    go = go_version()
    digest = hashlib.sha256(f"{gomod}\0{go}".encode()).hexdigest()[:12]
    return cache_root().parent / "bench" / f"helm-{pinned_version()}_{go}_{digest}" / "helm"


def build() -> Path:
    """The cached helm binary, built first if missing."""
    target = binary_path()
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    version = pinned_version()
    _say(f"building helm {version} (go build in bench/tools/helm; once, then cached)")
    fd, tmp_name = tempfile.mkstemp(prefix=".helm.tmp-", dir=target.parent)
    os.close(fd)
    ldflags = f"-s -w -X helm.sh/helm/v3/internal/version.version={version}"
    cmd = ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", tmp_name,
           "helm.sh/helm/v3/cmd/helm"]
    try:
        run_go_build(cmd, TOOLS_DIR, target.parent / "build.log", f"helm {version}", say=_say)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    Path(tmp_name).chmod(0o755)
    Path(tmp_name).rename(target)
    _say(f"built helm {version}: {target}")
    return target
