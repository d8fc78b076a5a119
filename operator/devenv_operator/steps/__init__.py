"""The steps of one reconcile, in order, over one run context (``steps.context``).

A step is a function ``step(parts, ctx)`` that reads and fills the run's ``Context`` and
returns None to go on, or a ``Stop`` to end the run there (the spec is invalid, the class
refuses it, the namespace is not ours...). Whatever ends the run, its status is computed
and written once, by ``reconcile.Reconciler``, from ``ctx.obs``; a step never writes status.

``STEPS`` is the order of the API contract. Adding a behaviour is one module here and one
entry in that list. Blocking: steps run on a reconcile (``kube``) thread.
"""

from __future__ import annotations

from devenv_operator.steps import (
    admit,
    children,
    config,
    expire,
    expose,
    namespace,
    prune,
    render,
    storage,
    tenancy,
    workloads,
)
from devenv_operator.steps.context import Context, Parts, Step, Stop

STEPS: tuple[tuple[str, Step], ...] = (
    ("render", render.render),  # validate and render; class; expiry
    ("expire", expire.expire),  # delete it when due (whatever its spec)
    ("admit", admit.admit),  # an invalid spec or a refusing class stops here
    ("hostnames", expose.hostnames),  # of the exposed ports (the namespace lists them)
    ("namespace", namespace.namespace),  # create it, or check that it is ours
    ("children", children.observe),  # what is there (cache; LIST when due)
    ("config", config.config),  # ConfigMaps, Secrets (started)
    ("tenancy", tenancy.tenancy),  # the class's quota, limits, policy, binding (started)
    ("storage", storage.storage),  # the persistent volumes' claims (started)
    ("workloads", workloads.workloads),  # Deployments and Services, wave by wave
    ("expose", expose.expose),  # HTTPRoutes or the Ingress of the exposed ports
    ("settle", config.settle),  # the config, tenancy and storage applies done
    ("prune", prune.prune),  # what the spec no longer wants
)

__all__ = ["STEPS", "Context", "Parts", "Step", "Stop"]
