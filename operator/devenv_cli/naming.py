"""PURE: a DevEnvironment name and CI provenance from a CI system's environment variables.

A name made for a pull request must not collide with the same pull request number of
another repository sharing the cluster, so it carries a short hash of the full repository
path as well as a readable slug of its last part: ``shop-pr-1234-3fa9c1``. Names are
DNS-1123 labels of at most ``MAX_GENERATED`` characters, which leaves room for the
namespace prefix (``dev-`` + name must fit the 63 of a namespace name).

Detection (first match wins):

- GitHub Actions (``GITHUB_ACTIONS=true``): ``GITHUB_REPOSITORY``; the pull request number
  from ``GITHUB_REF`` (``refs/pull/N/merge``), else the run ``GITHUB_RUN_ID``;
- GitLab CI (``GITLAB_CI=true``): ``CI_PROJECT_PATH``; ``CI_MERGE_REQUEST_IID``, else
  ``CI_PIPELINE_ID``;
- Tekton and anything else: nothing is detected; ``--name-prefix`` (and ``--name-id``, e.g.
  the PipelineRun name or a PR number) make the name.

No clock, no environment reads: the variables are passed in.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

# 63 (a namespace name) - 23: room for a namespace prefix of up to 23 characters.
MAX_GENERATED = 40
HASH_LENGTH = 6
LABEL_PREFIX = "shipit.dev/"
PROVIDER_LABEL = "shipit.dev/ci-provider"
REPOSITORY_LABEL = "shipit.dev/ci-repository"
CHANGE_LABEL = "shipit.dev/ci-change"  # pull/merge request number
PIPELINE_LABEL = "shipit.dev/ci-pipeline"  # run/pipeline id
REPOSITORY_ANNOTATION = "shipit.dev/ci-repository"
COMMIT_ANNOTATION = "shipit.dev/ci-commit"
RUN_URL_ANNOTATION = "shipit.dev/ci-run-url"

_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_LABEL_BAD = re.compile(r"[^-_.a-zA-Z0-9]")
_GITHUB_PR_REF = re.compile(r"^refs/pull/([0-9]+)/(merge|head)$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class NamingError(ValueError):
    """Raised when no name can be derived (no NAME, no CI detected, no --name-prefix)."""


@dataclass(frozen=True)
class Provenance:
    """Where a CI-made environment comes from; recorded as labels and annotations."""

    provider: str  # github | gitlab | generic
    repository: str | None = None  # full path, e.g. acme/shop or group/sub/shop
    change: str | None = None  # pull request / merge request number
    pipeline: str | None = None  # run / pipeline id
    commit: str | None = None
    run_url: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def labels(self) -> dict[str, str]:
        values = {PROVIDER_LABEL: self.provider, REPOSITORY_LABEL: self.repository,
                  CHANGE_LABEL: self.change, PIPELINE_LABEL: self.pipeline}
        return {k: label_value(v) for k, v in values.items() if v and label_value(v)}

    def annotations(self) -> dict[str, str]:
        values = {REPOSITORY_ANNOTATION: self.repository, COMMIT_ANNOTATION: self.commit,
                  RUN_URL_ANNOTATION: self.run_url}
        return {k: v for k, v in values.items() if v}


def label_value(text: str) -> str:
    """A label-safe form of ``text`` (``acme/shop`` -> ``acme.shop``), at most 63 chars."""
    value = _LABEL_BAD.sub("-", text.replace("/", "."))[:63]
    return value.strip("-_.")


def detect(environ: Mapping[str, str]) -> Provenance | None:
    """The CI system running us, from its variables; None when none is recognised."""
    if environ.get("GITHUB_ACTIONS") == "true" and environ.get("GITHUB_REPOSITORY"):
        repo = environ["GITHUB_REPOSITORY"]
        match = _GITHUB_PR_REF.match(environ.get("GITHUB_REF", ""))
        run_id = environ.get("GITHUB_RUN_ID") or None
        server = environ.get("GITHUB_SERVER_URL", "").rstrip("/")
        url = f"{server}/{repo}/actions/runs/{run_id}" if server and run_id else None
        return Provenance("github", repo, match.group(1) if match else None, run_id,
                          environ.get("GITHUB_SHA") or None, url)
    if environ.get("GITLAB_CI") == "true" and environ.get("CI_PROJECT_PATH"):
        return Provenance("gitlab", environ["CI_PROJECT_PATH"],
                          environ.get("CI_MERGE_REQUEST_IID") or None,
                          environ.get("CI_PIPELINE_ID") or None,
                          environ.get("CI_COMMIT_SHA") or None,
                          environ.get("CI_PIPELINE_URL") or None)
    return None


def slug(text: str) -> str:
    """``text`` as lower-case letters, digits and single dashes."""
    return re.sub(r"-{2,}", "-", _NOT_DNS.sub("-", text.lower())).strip("-")


def short_hash(text: str, length: int = HASH_LENGTH) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def fit(parts: list[str], tail: str, limit: int = MAX_GENERATED) -> str:
    """``parts`` joined with dashes then ``-tail``, shortened to ``limit`` characters.

    The first part (the repository's slug) gives way first, then the rest from its end;
    the tail (the hash that makes the name unique) is always kept whole.
    """
    head = [p for p in (slug(p) for p in parts) if p]
    room = limit - len(tail) - 1
    if head:
        first, rest = head[0], "-".join(head[1:])
        first_room = room - len(rest) - (1 if rest else 0)
        if first_room >= 1:
            first = first[:first_room].rstrip("-")
            joined = "-".join(p for p in (first, rest) if p)
        else:
            joined = rest[:room].strip("-")
        if joined:
            return f"{joined}-{tail}"
    return tail

def derive(environ: Mapping[str, str], *, prefix: str | None = None,
           ident: str | None = None) -> tuple[str, Provenance]:
    """A collision-free name for this CI run, and its provenance.

    The same run (same repository and pull request, or same pipeline) always gets the same
    name, so re-running a job finds its environment again.
    """
    found = detect(environ)
    if found is not None and found.repository:
        kind, number = (("pr" if found.provider == "github" else "mr"), found.change) \
            if found.change else (("run" if found.provider == "github" else "pipeline"),
                                  found.pipeline)
        if ident:
            kind, number = "", ident
        if not number:
            raise NamingError(f"{found.provider}: no pull request or run id in the environment; "
                              "give a NAME or --name-id")
        head = prefix if prefix else found.repository.rsplit("/", 1)[-1]
        identity = f"{found.provider}:{found.repository}:{kind}:{number}"
        return fit([head, kind, number], short_hash(identity)), found
    if not prefix:
        raise NamingError("no NAME given and no CI system recognised (GitHub Actions, GitLab "
                          "CI); give a NAME, or --name-prefix (with --name-id for a stable "
                          "name, e.g. a PipelineRun name)")
    if ident:
        identity = f"generic:{prefix}:{ident}"
        return fit([prefix, ident], short_hash(identity)), Provenance("generic", change=None,
                                                                       pipeline=ident)
    return fit([prefix], secrets.token_hex(HASH_LENGTH // 2)), Provenance("generic")


def check_name(name: str, limit: int = 63) -> str | None:
    """Why ``name`` cannot be a DevEnvironment name (a DNS-1123 label), or None."""
    if len(name) > limit:
        return f"{name!r} is longer than {limit} characters"
    if not DNS_LABEL.match(name):
        return (f"{name!r} is not a DNS-1123 label (lower-case letters, digits and '-', "
                "starting and ending with a letter or digit)")
    return None
