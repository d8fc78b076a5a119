"""Namespaces left behind by environments that are gone, found and deleted.

A DevEnvironment's namespace normally goes with it: its teardown deletes it, and its
ownerReference lets the garbage collector do so too. An owner can defeat both: delete with
``--cascade=orphan`` (the ownerReference is stripped) and then remove the teardown
finalizer. The namespace would run for ever. Once per resync interval the operator lists the
namespaces it labels as its own (one LIST, label-selected) and deletes each one that

- carries both our labels and the creator's UID annotation (what the operator writes on the
  namespaces it creates: a namespace we did not create is never touched),
- has no ownerReference to that creator (while it has one, the garbage collector and the
  teardown take care of it), and
- whose creator is gone: no DevEnvironment of that name, or one with another UID (checked
  with a GET of the very object, never from the operator's own index, which may be cold).

The deletion is conditioned on the namespace's UID. Reserved namespaces are never deleted.
"""

from __future__ import annotations

import logging

from devenv_operator import builders, kube, metrics

log = logging.getLogger("devenv_operator.orphans")

MANAGED = f"{builders.MANAGED_BY_LABEL}={builders.MANAGED_BY_VALUE}"


def sweep(api: kube.Kube) -> list[str]:
    """Delete the namespaces whose creating environment is gone; their names."""
    deleted = []
    for namespace in api.list(kube.NAMESPACE, label_selector=MANAGED):
        found = builders.orphan_creator(namespace)
        if found is None:
            continue
        env = api.get(kube.DEVENV, found[0])
        if env is not None and (env.get("metadata") or {}).get("uid") == found[1]:
            continue  # still there (its teardown deletes the namespace)
        meta = namespace["metadata"]
        if api.delete(kube.NAMESPACE, meta["name"], uid=meta.get("uid")):
            log.warning("Namespace %s was left behind by DevEnvironment %s (uid %s), which is "
                        "gone; deleting it", meta["name"], found[0], found[1])
            metrics.ORPHANS_DELETED.inc()
            deleted.append(meta["name"])
    return deleted
