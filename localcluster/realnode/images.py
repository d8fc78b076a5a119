"""Images for the real node, all made on this machine: nothing is pulled from a registry.

- ``pause`` and ``busybox``: one ~2 MB layer of Debian's static busybox (sh, sleep, httpd,
  ...), written here as OCI image layouts (an uncompressed layer, its config, a manifest
  and an ``index.json`` naming the image).
- the operator: the project's Dockerfile built with buildah, on a base (``PYTHON_IMAGE``)
  that is a Debian bookworm root filesystem with python3, made with debootstrap from
  Debian's packages. The base is kept in buildah's storage under a tag that names its
  recipe, so it is made once; buildah's layer cache makes rebuilds quick.

- the stock-image lookalikes (``postgres:16``, ``redis:7``, ``nginx:1.27``, the examples'
  app images): built with buildah on the same base, see :mod:`.lookalikes`.

Every image is saved as an OCI archive in the cache and imported into the node's
containerd (namespace ``k8s.io``) when the node starts.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import re
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import PROJECT_ROOT, LocalClusterError, cache_root
from . import gateway, lookalikes
from .config import OPERATOR_IMAGE, PAUSE_IMAGE, ROOT_TEST_IMAGE, TEST_IMAGE, NodeLayout
from .host import _say, install_packages, require_root, run, run_with_progress

BUSYBOX = Path("/bin/busybox")
APPLETS = (
    "sh", "sleep", "httpd", "cat", "echo", "env", "ls", "mkdir", "touch", "test", "[",
    "true", "false", "nc", "ps", "kill", "id", "date", "rm", "printf", "grep",
    "sed", "head", "tail", "seq", "hostname", "wc", "tr", "cut", "ln", "chmod",
)
NOBODY = 65534
DEBIAN_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-pip", "ca-certificates")
BASE_REPO = "localhost/devenv-python-base"
BUILDER_IMAGE = "localhost/devenv-operator-builder:dev"
# On every image these builds make, so that only their leftovers are ever removed.
BUILD_LABEL = "dev.shipit.localcluster.build=operator"
# The base trusts what this machine trusts: where the package index is reached through a
# TLS-inspecting proxy, pip and uv inside the build need that proxy's CA.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def images_dir() -> Path:
    return cache_root() / "realnode" / "images"


def go_arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


# -- OCI image layouts written from Python -----------------------------------------------


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data),
                **extra}


def _json_blob(media_type: str, obj: Any) -> Blob:
    return Blob(media_type, json.dumps(obj, sort_keys=True, separators=(",", ":")).encode())


def busybox_layer(busybox: Path = BUSYBOX) -> bytes:
    """An uncompressed layer tar: busybox, its applet links, /tmp, a passwd with nobody."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add_dir(name: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)

        def add_file(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))

        for d in ("bin", "etc", "www"):
            add_dir(d)
        add_dir("tmp", 0o1777)
        add_file("bin/busybox", busybox.read_bytes(), 0o755)
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname, link.mode = tarfile.SYMTYPE, "busybox", 0o777
            tar.addfile(link)
        add_file("etc/passwd", f"root:x:0:0:root:/:/bin/sh\nnobody:x:{NOBODY}:{NOBODY}:"
                               "nobody:/:/bin/sh\n".encode())
        add_file("etc/group", f"root:x:0:\nnogroup:x:{NOBODY}:\n".encode())
    return out.getvalue()


def oci_archive(path: Path, name: str, layers: list[bytes], config: dict[str, Any]) -> str:
    """Write an OCI image layout tar naming ``name``; return the manifest digest."""
    layer_blobs = [Blob("application/vnd.oci.image.layer.v1.tar", data) for data in layers]
    image_config = _json_blob("application/vnd.oci.image.config.v1+json", {
        "architecture": go_arch(),
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [b.digest for b in layer_blobs]},
        "history": [{"created_by": "localcluster.realnode.images"} for _ in layer_blobs],
    })
    manifest = _json_blob("application/vnd.oci.image.manifest.v1+json", {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": image_config.descriptor(),
        "layers": [b.descriptor() for b in layer_blobs],
    })
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [manifest.descriptor(
            platform={"architecture": go_arch(), "os": "linux"},
            annotations={"io.containerd.image.name": name,
                         "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]})],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tarfile.open(tmp, mode="w") as tar:
        def add(member: str, data: bytes) -> None:
            info = tarfile.TarInfo(member)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))

        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", json.dumps(index).encode())
        for blob in {b.digest: b for b in [*layer_blobs, image_config, manifest]}.values():
            add("blobs/sha256/" + blob.digest.split(":", 1)[1], blob.data)
    tmp.replace(path)
    return manifest.digest


def small_images() -> list[Path]:
    """The pause (sandbox) image and the busybox test images, written once per busybox."""
    install_packages(images_dir() / "packages.log")
    layer = busybox_layer()
    key = hashlib.sha256(layer).hexdigest()[:12]
    out = []
    for name, config in (
        (PAUSE_IMAGE, {"Entrypoint": ["/bin/sleep", "2147483647"], "User": f"{NOBODY}"}),
        (TEST_IMAGE, {"Cmd": ["/bin/sh"], "WorkingDir": "/",
                      "Env": ["PATH=/bin"], "User": f"{NOBODY}:{NOBODY}"}),
        # Like the many images that start as root (and chown, bind low ports, switch user).
        (ROOT_TEST_IMAGE, {"Cmd": ["/bin/sh"], "WorkingDir": "/", "Env": ["PATH=/bin"],
                           "User": "0:0"}),
    ):
        short = name.split("/", 1)[1].replace(":", "-")
        path = images_dir() / f"{short}-{key}.tar"
        if not path.is_file():
            oci_archive(path, name, [layer], config)
        out.append(path)
    return out


# -- the operator image: debootstrap base + buildah --------------------------------------


def apt_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's apt uses (deb822 or one-line sources)."""
    texts = [p.read_text() for p in sorted(sources_dir.glob("sources.list.d/*.sources"))]
    for text in texts:
        for stanza in text.split("\n\n"):
            if re.search(r"^Suites:.*\b" + DEBIAN_SUITE + r"\b(?!-)", stanza, re.M):
                m = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
                if m:
                    return m.group(1)
    lists = [sources_dir / "sources.list", *sorted(sources_dir.glob("sources.list.d/*.list"))]
    for path in lists:
        if path.is_file():
            for line in path.read_text().splitlines():
                parts = line.split()
                uris = [i for i, p in enumerate(parts) if "://" in p]
                if parts[:1] == ["deb"] and uris and parts[uris[0] + 1:][:1] == [DEBIAN_SUITE]:
                    return parts[uris[0]]
    raise LocalClusterError(
        f"no Debian {DEBIAN_SUITE} mirror found in {sources_dir}; the base image is made "
        "with debootstrap from the same mirror apt uses"
    )


def base_tag() -> str:
    ca = HOST_CA_BUNDLE.read_bytes() if HOST_CA_BUNDLE.is_file() else b""
    recipe = f"{DEBIAN_SUITE} {' '.join(BASE_PACKAGES)} 2 {hashlib.sha256(ca).hexdigest()}"
    return f"{BASE_REPO}:{DEBIAN_SUITE}-{hashlib.sha256(recipe.encode()).hexdigest()[:10]}"


def _buildah_has(image: str) -> bool:
    return run(["buildah", "inspect", "--type", "image", image], check=False).returncode == 0


def ensure_base_image(log: Path) -> str:
    """A bookworm root filesystem with python3 as a buildah image; made once."""
    tag = base_tag()
    if _buildah_has(tag):
        return tag
    require_root("making the base image with debootstrap")
    debs = cache_root() / "realnode" / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="localcluster-base-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        _say(f"making the base image {tag} with debootstrap (packages cached in {debs})")
        run_with_progress(
            ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
             f"--cache-dir={debs}", DEBIAN_SUITE, str(rootfs), apt_mirror()],
            "debootstrapping the base image", log)
        # Like the official python images, pip may install into this interpreter.
        for marker in rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
            marker.unlink()
        if HOST_CA_BUNDLE.is_file():
            shutil.copyfile(HOST_CA_BUNDLE, rootfs / str(HOST_CA_BUNDLE).lstrip("/"))
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(rootfs / junk, ignore_errors=True)
            (rootfs / junk).mkdir(parents=True)
        archive = Path(tmp) / "rootfs.tar"
        run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(archive), "."],
            timeout=600)
        ctr = run(["buildah", "from", "scratch"]).stdout.strip()
        try:
            run(["buildah", "add", ctr, str(archive), "/"], timeout=600)
            run(["buildah", "config", "--env", "LANG=C.UTF-8", "--env",
                 f"SSL_CERT_FILE={HOST_CA_BUNDLE}", "--cmd", "python3", ctr])
            run(["buildah", "commit", "--rm", ctr, tag], timeout=600)
        except BaseException:
            run(["buildah", "rm", ctr], check=False)
            raise
    _say(f"base image {tag} made in {time.monotonic() - start:.0f}s")
    return tag


def build_operator_image(log: Path) -> tuple[Path, dict[str, Any]]:
    """Build the Dockerfile with buildah and save it as an OCI archive; return it and stats."""
    require_root("building the operator image with buildah")
    install_packages(images_dir() / "packages.log")
    stats: dict[str, Any] = {}
    start = time.monotonic()
    base = ensure_base_image(log)
    stats["base_seconds"] = round(time.monotonic() - start, 1)
    build_start = time.monotonic()
    _say(f"building {OPERATOR_IMAGE} from the Dockerfile with buildah (base {base})")
    common = ["buildah", "build", "--pull=never", "--layers", "--network=host",
              "--isolation=chroot", "--build-arg", f"PYTHON_IMAGE={base}",
              "--label", BUILD_LABEL, "-f", str(PROJECT_ROOT / "Dockerfile")]
    # The builder stage tagged too, so that it is not "dangling": what is dangling after the
    # build is only what earlier builds left, and can go (each edit of operator/ left ~0.9 GB).
    run_with_progress([*common, "--target", "builder", "-t", BUILDER_IMAGE, str(PROJECT_ROOT)],
                      "building the operator image (builder stage)", log)
    run_with_progress([*common, "-t", OPERATOR_IMAGE, str(PROJECT_ROOT)],
                      "building the operator image", log)
    stats["build_seconds"] = round(time.monotonic() - build_start, 1)
    stale = run(["buildah", "images", "-q", "--filter", "dangling=true", "--filter",
                 f"label={BUILD_LABEL}"], check=False).stdout.split()
    for image in dict.fromkeys(stale):
        run(["buildah", "rmi", image], check=False, timeout=300)
    inspect = json.loads(run(["buildah", "inspect", "--type", "image", OPERATOR_IMAGE]).stdout)
    image_id = str(inspect.get("FromImageID") or inspect.get("FromImageDigest", ""))
    path = images_dir() / "devenv-operator.tar"
    stamp = images_dir() / "devenv-operator.id"
    if not (path.is_file() and stamp.is_file() and stamp.read_text() == image_id):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        run(["buildah", "push", OPERATOR_IMAGE, f"oci-archive:{path}:{OPERATOR_IMAGE}"],
            timeout=600)
        stamp.write_text(image_id)
    stats["size_bytes"] = image_size(path)
    stats["total_seconds"] = round(time.monotonic() - start, 1)
    return path, stats


def image_size(archive: Path) -> int:
    """Uncompressed size of an image: the sum of its layers as they unpack."""
    total = 0
    with tarfile.open(archive) as tar:
        index = json.load(_member(tar, "index.json"))
        digest = index["manifests"][0]["digest"].split(":", 1)[1]
        manifest = json.load(_member(tar, f"blobs/sha256/{digest}"))
        for layer in manifest["layers"]:
            member = _member(tar, "blobs/sha256/" + layer["digest"].split(":", 1)[1])
            if layer["mediaType"].endswith("gzip"):
                import gzip

                with gzip.open(member) as fh:
                    while chunk := fh.read(1 << 20):
                        total += len(chunk)
            else:
                total += layer["size"]
    return total


def _member(tar: tarfile.TarFile, name: str) -> io.BufferedReader:
    fh = tar.extractfile(name)
    if fh is None:
        raise LocalClusterError(f"{name} missing from image archive")
    return fh  # type: ignore[return-value]


def make_images(state_dir: Path | None = None) -> dict[str, Any]:
    """``make image``: every image, built or found in the cache, and imported into the real
    node's containerd when a cluster with one runs in ``state_dir``; returns figures."""
    from ..components import Layout
    from ..config import settings_from_env

    layout = Layout(settings_from_env(state_dir=state_dir).state_dir)
    archives = small_images()
    built, stats = build_images(images_dir() / "build.log")
    archives += built
    socket = NodeLayout(layout.root / "node").containerd_socket
    if socket.exists():
        import_images(socket, archives)
        stats["imported_into"] = str(socket)
    stats["archives"] = [str(p) for p in archives]
    return stats


def build_images(log: Path) -> tuple[list[Path], dict[str, Any]]:
    """The operator image and the lookalikes (built, or found in buildah's cache) as
    archives; figures for both."""
    operator, stats = build_operator_image(log)
    start = time.monotonic()
    built, stats["lookalikes"] = lookalikes.build_lookalikes(ensure_base_image(log),
                                                            images_dir(), log)
    stats["total_seconds"] = round(stats["total_seconds"] + time.monotonic() - start, 1)
    return [operator, *built], stats


def archives_built() -> list[Path]:
    """The operator's, the lookalikes' and the gateway's archives that a build has left in
    the cache."""
    found = [images_dir() / "devenv-operator.tar", *lookalikes.archives(images_dir()),
             images_dir() / gateway.ARCHIVE]
    return [p for p in found if p.is_file()]


def import_images(socket: Path, archives: list[Path]) -> None:
    """Import OCI archives into containerd's ``k8s.io`` namespace (what kubelet sees)."""
    ctr = ["ctr", f"--address={socket}", "-n", "k8s.io"]
    # What this containerd (fresh with each cluster) has imported: an unchanged archive is
    # not read again when a running cluster is reused.
    stamp = socket.parent / "imported.json"
    done: dict[str, str] = json.loads(stamp.read_text()) if stamp.is_file() else {}
    for archive in archives:
        st = archive.stat()
        if done.get(str(archive)) == f"{st.st_mtime_ns}:{st.st_size}":
            continue
        # Those written here name their images (io.containerd.image.name); buildah's
        # archive of the operator gives a tag that ctr completes with the base name.
        operator = not archive.name.startswith(
            ("pause", "busybox", lookalikes.ARCHIVE_PREFIX, gateway.ARCHIVE))
        extra = ["--base-name", OPERATOR_IMAGE.rsplit(":", 1)[0]] if operator else []
        run([*ctr, "images", "import", *extra, str(archive)], timeout=900)
        if operator:
            lookalikes.tag_operator_aliases(ctr, OPERATOR_IMAGE)
        done[str(archive)] = f"{st.st_mtime_ns}:{st.st_size}"
        stamp.write_text(json.dumps(done, indent=1))

