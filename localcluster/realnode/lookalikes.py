"""Stock-image lookalikes for the real node: the images README.md and examples/ name.

No registry can be reached here, so ``docker.io/library/postgres:16``, ``redis:7``,
``nginx:1.27`` and the examples' own app images (``registry.example.com/shop/...``) are built
on this machine from Debian bookworm's packages, with the recipes in ``lookalikes/``
(one Containerfile, a stage per image, and entrypoints written after the official images'
behaviour). Every stage starts from the operator image's debootstrap base and one shared
layer above it (``gosu``), so the node stores the base once.

buildah keeps them under ``localhost/devenv-lookalike/...`` (so that a ``podman run
postgres:16`` on this machine never gets a lookalike); the exact names kubelet asks for
exist only in the node's containerd, given by an OCI archive per lookalike whose index
names the image once per name with ``io.containerd.image.name``.
"""

from __future__ import annotations

import json
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import LocalClusterError
from .host import _say, require_root, run, run_with_progress

RECIPES = Path(__file__).with_name("lookalikes")
LOCAL_REPO = "localhost/devenv-lookalike"
COMMON_TAG = f"{LOCAL_REPO}/common:dev"
# On every image these builds make, so that only their own leftovers are ever removed.
BUILD_LABEL = "dev.shipit.localcluster.build=lookalike"
ARCHIVE_PREFIX = "lookalike-"
# The operator image (``localcluster.local/devenv-operator:dev``) also answers to the name
# deploy/ and the README give it, so that deploy/ applied as it is runs on the node too.
OPERATOR_ALIASES = ("ghcr.io/shipit-dev/devenv-operator:0.1.0",)
# The examples name their pull-request images with a placeholder their comments fill in
# (`sed "s/PR_NUMBER/1234/"`); the lookalikes carry that number.
PR_NUMBER = "1234"


@dataclass(frozen=True)
class Lookalike:
    """One stage of the Containerfile and the exact names it is given in containerd."""

    target: str
    names: tuple[str, ...]
    user: str
    uid: int
    port: int

    @property
    def local_tag(self) -> str:
        return f"{LOCAL_REPO}/{self.target}:dev"


SHOP = "registry.example.com/shop"
LOOKALIKES = (
    Lookalike("postgres", ("docker.io/library/postgres:16",), "postgres", 999, 5432),
    Lookalike("redis", ("docker.io/library/redis:7",), "redis", 999, 6379),
    Lookalike("nginx", ("docker.io/library/nginx:1.27",), "nginx", 101, 80),
    Lookalike("shop-app", (
        f"{SHOP}/api:main", f"{SHOP}/api:pr-{PR_NUMBER}", f"{SHOP}/api:pr-7",
        f"{SHOP}/api:pr-42", f"{SHOP}/worker:pr-{PR_NUMBER}",
    ), "app", 10001, 8080),
)


def lookalike(target: str) -> Lookalike:
    return next(x for x in LOOKALIKES if x.target == target)


def normalize(ref: str) -> str:
    """A reference as containerd's CRI names it: ``postgres:16`` ->
    ``docker.io/library/postgres:16``, a missing tag -> ``:latest``."""
    name, _, digest = ref.partition("@")
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        name = f"docker.io/{name}"
    domain, _, path = name.partition("/")
    if domain == "docker.io" and "/" not in path:
        path = f"library/{path}"
    if ":" not in path.rsplit("/", 1)[-1] and not digest:
        path += ":latest"
    return f"{domain}/{path}" + (f"@{digest}" if digest else "")


def all_names() -> set[str]:
    return {n for x in LOOKALIKES for n in x.names} | set(OPERATOR_ALIASES)


def named_index(index: dict[str, Any], names: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """An OCI index whose manifests (by ``org.opencontainers.image.ref.name``) each appear
    once per name in ``names``, annotated ``io.containerd.image.name`` (what ctr import
    names an image by)."""
    manifests = []
    for desc in index["manifests"]:
        ref = desc.get("annotations", {}).get("org.opencontainers.image.ref.name", "")
        if ref not in names:
            raise LocalClusterError(f"unexpected image {ref!r} in the lookalikes' layout")
        for name in names[ref]:
            manifests.append({**desc, "annotations": {
                "io.containerd.image.name": name,
                "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}})
    return {**index, "manifests": manifests}


def build_args(base: str) -> list[str]:
    return ["buildah", "build", "--pull=never", "--layers", "--network=host",
            "--isolation=chroot", "--build-arg", f"BASE={base}", "--label", BUILD_LABEL,
            "-f", str(RECIPES / "Containerfile")]


def _image_id(image: str) -> str:
    inspect = json.loads(run(["buildah", "inspect", "--type", "image", image]).stdout)
    return str(inspect.get("FromImageID") or inspect.get("FromImageDigest", ""))


def _sizes() -> dict[str, str]:
    """buildah's sizes of its images by name (as it prints them: "196 MB")."""
    out = run(["buildah", "images", "--json"], check=False).stdout or "[]"
    return {name: str(image.get("size", "")) for image in json.loads(out)
            for name in image.get("names") or []}


def _remove_superseded() -> None:
    stale = run(["buildah", "images", "-q", "--filter", "dangling=true", "--filter",
                 f"label={BUILD_LABEL}"], check=False).stdout.split()
    for image in dict.fromkeys(stale):
        run(["buildah", "rmi", image], check=False, timeout=300)


def write_archive(x: Lookalike, path: Path) -> None:
    """Push one lookalike into an OCI layout, name it as ``x.names`` say, tar it as ``path``."""
    write_named_archive(x.local_tag, x.target, x.names, path)


def write_named_archive(local_tag: str, ref: str, names: tuple[str, ...], path: Path) -> None:
    """Push a buildah image into an OCI layout (as ``ref``), name it ``names`` there
    (``io.containerd.image.name``), tar the layout as ``path``."""
    with tempfile.TemporaryDirectory(prefix="localcluster-lookalike-") as tmp:
        layout = Path(tmp) / "layout"
        run(["buildah", "push", local_tag, f"oci:{layout}:{ref}"], timeout=900)
        index_path = layout / "index.json"
        index = json.loads(index_path.read_text())
        index_path.write_text(json.dumps(named_index(index, {ref: names})))
        part = path.with_name(path.name + ".tmp")
        with tarfile.open(part, mode="w") as tar:
            for f in sorted(p for p in layout.rglob("*") if p.is_file()):
                tar.add(f, arcname=str(f.relative_to(layout)))
        part.replace(path)


def archive_path(images_dir: Path, x: Lookalike) -> Path:
    return images_dir / f"{ARCHIVE_PREFIX}{x.target}.tar"


def archives(images_dir: Path) -> list[Path]:
    return [archive_path(images_dir, x) for x in LOOKALIKES]


def build_lookalikes(base: str, images_dir: Path, log: Path) -> tuple[list[Path], dict[str, Any]]:
    """Build every lookalike with buildah (layer cache) and write the archive of each one
    that changed (one push is ~10-20 s: the shared base is in every archive); return the
    archives and figures."""
    require_root("building the lookalike images with buildah")
    start = time.monotonic()
    common = build_args(base)
    run_with_progress([*common, "--target", "common", "-t", COMMON_TAG, str(RECIPES)],
                      "building the lookalikes' shared layer", log)
    for x in LOOKALIKES:
        run_with_progress([*common, "--target", x.target, "-t", x.local_tag, str(RECIPES)],
                          f"building the {x.target} lookalike", log)
    stats: dict[str, Any] = {"build_seconds": round(time.monotonic() - start, 1)}
    _remove_superseded()
    push = time.monotonic()
    images_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for x in LOOKALIKES:
        path, stamp = archive_path(images_dir, x), images_dir / f"{ARCHIVE_PREFIX}{x.target}.id"
        image_id = _image_id(x.local_tag)
        if not (path.is_file() and stamp.is_file() and stamp.read_text() == image_id):
            path.unlink(missing_ok=True)
            write_archive(x, path)
            stamp.write_text(image_id)
            written.append(x.target)
    if written:
        _say(f"wrote the archives of {', '.join(written)} in {time.monotonic() - push:.0f}s")
        stats["archive_seconds"] = round(time.monotonic() - push, 1)
    sizes = _sizes()
    stats["sizes"] = {x.target: sizes.get(x.local_tag, "") for x in LOOKALIKES}
    stats["total_seconds"] = round(time.monotonic() - start, 1)
    return archives(images_dir), stats


def tag_operator_aliases(ctr: list[str], operator_image: str) -> None:
    for alias in OPERATOR_ALIASES:
        run([*ctr, "images", "tag", "--force", operator_image, alias])

