"""The volumes of a service: a PersistentVolumeClaim per persistent volume, or an emptyDir.

These models are ``spec.services[].volumes`` of the DevEnvironment CRD; ``workloads``
attaches them to ``Service``. A persistent volume (``size``) is a PVC named
``<service>-<volume>`` in the environment's namespace, whose StorageClass and size limits
come from the environment's class (``storage``); it outlives its pods and goes with the
environment. An ``emptyDir`` lives as long as the pod (it survives container restarts).

Pure: no Kubernetes client, no clock, no environment.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from devenv_operator.fields import (
    DNS_LABEL,
    QUANTITY_RE,
    Model,
    cel_rules,
    map_list,
)

MAX_VOLUMES = 16
# A quantity the API server checks at apply, like the service's resources.
Size = Annotated[int | str, Field(json_schema_extra={
    "maxLength": 64, **cel_rules(("isQuantity(string(self))",
                                  "must be a quantity such as 512Mi or 1Gi"))})]
# Where nothing may be mounted over: the container would lose its own files or the
# kernel's (the API server allows it; the container then fails in ways hard to read).
RESERVED_PATHS = ("/", "/proc", "/sys", "/dev")


class EmptyDir(Model):
    """A scratch directory that lives as long as the pod (survives container restarts)."""

    size_limit: Size | None = Field(
        None, description="Most the directory may hold, e.g. 64Mi; the pod is evicted past "
        "it. Absent: no limit beyond the node's.")
    medium: Literal["Memory"] | None = Field(
        None, description="Memory: a tmpfs (counts against the container's memory limit). Absent: "
        "the node's disk.")

    @field_validator("size_limit")
    @classmethod
    def _quantity(cls, value: Size | None) -> Size | None:
        return _checked_quantity(value, "emptyDir.sizeLimit")


class Volume(Model):
    """A volume mounted into the service's container: persistent (size) or emptyDir."""

    model_config = ConfigDict(json_schema_extra=cel_rules(
        ("has(self.size) != has(self.emptyDir)",
         "set exactly one of size (a PersistentVolumeClaim) or emptyDir"),
        ("!(self.mountPath in ['/', '/proc', '/sys', '/dev'])",
         "mountPath may not be /, /proc, /sys or /dev"),
    ))

    name: str = Field(
        max_length=63, pattern=DNS_LABEL, description="Volume name (DNS label), unique in the "
        "service; a persistent volume's claim is named <service>-<name>.")
    mount_path: str = Field(
        min_length=2, max_length=1024, pattern=r"^/[^:]*$",
        description="Absolute path in the container where the volume is mounted.")
    read_only: bool | None = Field(None, description="Mount read-only (default false).")
    size: Size | None = Field(
        None, description="A persistent volume of this size, e.g. 1Gi: a PersistentVolume"
        "Claim (ReadWriteOnce) of the class's storage.storageClassName, kept across pod "
        "restarts and deletions, removed with the environment.")
    empty_dir: EmptyDir | None = Field(
        None, description="A scratch directory that lives as long as the pod.")

    @field_validator("size")
    @classmethod
    def _size(cls, value: Size | None) -> Size | None:
        return _checked_quantity(value, "size")

    @model_validator(mode="after")
    def _one_kind(self) -> Volume:
        if (self.size is None) == (self.empty_dir is None):
            raise ValueError("set exactly one of size (a PersistentVolumeClaim) or emptyDir")
        if self.mount_path.rstrip("/") in ("", *RESERVED_PATHS[1:]):
            raise ValueError("mountPath may not be /, /proc, /sys or /dev")
        return self

    @property
    def persistent(self) -> bool:
        return self.size is not None


def _checked_quantity(value: int | str | None, where: str) -> int | str | None:
    if isinstance(value, str) and not QUANTITY_RE.fullmatch(value):
        raise ValueError(f"{where}: {value!r} is not a quantity such as 512Mi or 1Gi")
    if value is not None and parse_quantity(value) <= 0:
        raise ValueError(f"{where}: must be more than 0")
    return value


VOLUME_LIST = {
    **map_list("name"),
    **cel_rules(("self.all(v, self.exists_one(w, w.mountPath == v.mountPath))",
                 "every volume needs its own mountPath")),
}


def claim_name(service: str, volume: str) -> str:
    """The PersistentVolumeClaim of a service's (or a job's) persistent volume."""
    return f"{service}-{volume}"


def distinct(value: list[Volume] | None) -> list[Volume] | None:
    """A workload's volumes validator: names and mount paths unique."""
    names = [v.name for v in value or []]
    paths = [v.mount_path.rstrip("/") for v in value or []]
    if len(set(names)) != len(names):
        raise ValueError("volumes: names must be unique")
    if len(set(paths)) != len(paths):
        raise ValueError("volumes: every volume needs its own mountPath")
    return value


def claims_of(owner: str, volumes: list[Volume] | None) -> list[tuple[str, Volume]]:
    """(claim name, volume) of each persistent volume of the workload ``owner``."""
    return [(claim_name(owner, v.name), v) for v in volumes or [] if v.persistent]


_SUFFIXES = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": 10**-9, "u": 10**-6, "m": 10**-3, "": 1, "k": 10**3, "M": 10**6, "G": 10**9,
    "T": 10**12, "P": 10**15, "E": 10**18,
}


def parse_quantity(value: int | str) -> float:
    """A Kubernetes quantity (``1Gi``, ``500M``, ``1e3``, ``2``) as a number of units."""
    text = str(value).strip()
    match = QUANTITY_RE.fullmatch(text)
    if not match:
        raise ValueError(f"{value!r} is not a quantity")
    suffix = match.group(3) or ""
    number = text[:len(text) - len(suffix)] if suffix else text
    if suffix[:1] in ("e", "E") and suffix not in _SUFFIXES:
        return float(text)
    return float(number) * _SUFFIXES[suffix]
