"""Traefik, the real node's Gateway API (and Ingress) implementation, built from source.

The version is pinned in ``tools/gateway/go.mod``. Traefik's module has replace directives
of its own, which a ``go build MODULE/cmd/traefik`` from another module would ignore (and
then fail or build something else), so the build runs in a writable copy of the module's
own source tree (``go mod download -json`` names it): ``go build ./cmd/traefik``. The
binary is cached like the control plane's, keyed by the version, the Go version and the
recipe; a cold build on 2 cores takes about 8 minutes and says it is still going.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from ..builder import cached_build, download_module, go_version, run_go_build
from ..config import BUILD_RECIPE, TOOLS_DIR, module_version

MODULE = "github.com/traefik/traefik/v3"
GOMOD = TOOLS_DIR / "gateway" / "go.mod"
BINARY = "traefik"
# Bump when the build below changes (flags, package), so an old binary is not reused.
RECIPE = "1"


def version(gomod_text: str | None = None) -> str:
    """The pinned Traefik version (``tools/gateway/go.mod``)."""
    return module_version(gomod_text if gomod_text is not None else GOMOD.read_text(), MODULE)


def traefik_key(ver: str, go: str) -> str:
    digest = hashlib.sha256("\0".join((BUILD_RECIPE, RECIPE, MODULE, ver, go)).encode())
    return f"traefik-{ver}_{go}_{digest.hexdigest()[:12]}"


def ldflags(ver: str) -> str:
    return f"-s -w -X {MODULE}/pkg/version.Version={ver}"


def build_command(ver: str, out: Path) -> list[str]:
    return ["go", "build", "-trimpath", "-ldflags", ldflags(ver), "-o", str(out),
            "./cmd/traefik"]


def writable_copy(src: Path, dst: Path) -> None:
    """Copy a module from the read-only module cache, writable, for go to build in."""
    shutil.copytree(src, dst, symlinks=True)
    for root, dirs, files in os.walk(dst):
        for name in dirs + files:
            path = Path(root) / name
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o200)
    dst.chmod(dst.stat().st_mode | 0o200)


def build_traefik() -> Path:
    """Make sure the Traefik binary exists for the pinned version; return its directory."""
    ver = version()

    def build_into(tmp: Path) -> None:
        src = tmp / "src"
        writable_copy(download_module(MODULE, ver), src)
        try:
            run_go_build(build_command(ver, tmp / "bin" / BINARY), src, tmp / "build.log",
                         f"traefik {ver} (go build ./cmd/traefik in its own module)")
        finally:
            shutil.rmtree(src, ignore_errors=True)

    return cached_build(traefik_key(ver, go_version()), (BINARY,),
                        f"traefik {ver} (the real node's gateway)", build_into)
