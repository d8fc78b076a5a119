"""Step: stop an invalid spec, or one its class refuses, before anything is written.

Nothing is created or changed for a refused environment: the status says why, and the
namespace's standing is only read. An admitted environment is filed under its class and
owner (``records``), which is how the class's per-owner limit counts environments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from devenv_operator import builders, classes, kube, records, status
from devenv_operator.owners import GROUP_PREFIX
from devenv_operator.reasons import Reason
from devenv_operator.records import EnvRecord
from devenv_operator.steps.context import Context, Parts, Stop

# Who created the environment, set by deploy/admission/owner-default.yaml (and kept by it).
CREATED_BY_ANNOTATION = "shipit.dev/created-by"


@dataclass
class Admission:
    """The admit step's slice of a record: when the environment was created (its owner's
    oldest environments count first against the class's limit)."""

    created: str = ""


def admit(parts: Parts, ctx: Context) -> Stop | None:
    checked, template = ctx.checked, ctx.obs.template
    ctx.record.part(Admission).created = ctx.meta.get("creationTimestamp") or ""
    if checked.spec is None or checked.namespace is None or not checked.ok:
        # It counts against its owner's limit all the same (it is an object they keep).
        raw_owner = ctx.raw.get("owner")
        parts.records.tag(ctx.record, records.OWNER, [counted_as(
            raw_owner if isinstance(raw_owner, str) else None, ctx.meta)])
        reason = template.reason if template and not template.ok else Reason.INVALID_SPEC
        parts.records.tag(ctx.record, records.CLASS, [None])  # any class may fit it now
        ctx.obs = replace(ctx.obs, invalid=checked.problem, invalid_reason=reason,
                          namespace_state=namespace_state(parts.api, checked.namespace,
                                                          ctx.meta))
        return Stop("invalid")
    spec, resolved = checked.spec, ctx.resolved
    parts.records.tag(ctx.record, records.CLASS, [resolved.name])
    limits = resolved.policy.limits if resolved.policy else None
    counted = counted_as(spec.owner, ctx.meta, by_group=bool(
        limits and limits.group_environments_count_for == "group"))
    parts.records.tag(ctx.record, records.OWNER, [counted])
    refused = classes.refusal(resolved, spec, namespace=checked.namespace,
                              operator_prefix=parts.settings.namespace_prefix,
                              counted_as=counted,
                              owner_count=owned_before(parts.records, ctx.record,
                                                       counted))
    if refused is not None:  # the class says no: nothing is created or changed
        ctx.obs = replace(ctx.obs, invalid=refused[1], invalid_reason=refused[0],
                          namespace_state=namespace_state(parts.api, checked.namespace,
                                                          ctx.meta))
        return Stop("refused")
    ctx.env = builders.Env(name=ctx.meta["name"], uid=ctx.meta["uid"], spec=spec,
                           namespace=checked.namespace, class_name=resolved.name,
                           policy=resolved.policy or builders.UNCLASSED,
                           reruns=builders.reruns_of(ctx.meta.get("annotations") or {}))
    return None


def counted_as(owner: str | None, meta: Mapping[str, Any], *, by_group: bool = False
               ) -> str | None:
    """Whom an environment counts against for the per-owner limit: its owner, except that
    one owned by a group counts against the member who created it (the annotation the
    admission policy sets), so that each group of a user does not add another limit; or,
    ``by_group`` (the class's limits.groupEnvironmentsCountFor: group), against the group."""
    creator = (meta.get("annotations") or {}).get(CREATED_BY_ANNOTATION)
    if owner is not None and owner.startswith(GROUP_PREFIX) and creator and not by_group:
        return str(creator)
    return owner


def owned_before(live: records.Records, record: EnvRecord, owner: str | None) -> int:
    """How many environments of the same owner, of any class, refused or invalid ones too,
    were created before this one."""
    mine = (record.part(Admission).created, record.name)
    return sum(1 for other in live.tagged(records.OWNER, owner)
               if other is not record and (other.part(Admission).created, other.name) < mine)


def namespace_state(api: kube.Kube, namespace: str | None, meta: Mapping[str, Any]
                    ) -> status.NamespaceState:
    """Where the namespace of a refused spec stands (read only: nothing is created)."""
    observed = api.get(kube.NAMESPACE, namespace) if namespace else None
    if observed is None:
        return "missing"
    return status.namespace_state(
        builders.namespace_ownership(observed, meta["name"], meta["uid"]))
