"""``kubectl devenv``: the command-line plugin for people and CI pipelines.

Installed with the operator's distribution as the console script ``kubectl-devenv``, so
kubectl finds it on PATH as ``kubectl devenv``. A package of its own beside
``devenv_operator``: it shares the operator's pure modules (``models``, ``templates``,
``errors``, ``kinds``, ``reasons``, ``owners``) and reaches the API through ``kube``, and
never imports Kopf. It imports the ``kubernetes`` client only when it connects to a
cluster, so ``--help``, ``--version`` and an offline ``render -f`` start without it.

Modules, from the top:

- ``app``: the console script: argument parsing, and errors mapped onto exit codes;
- ``commands``: one function per command;
- ``waiting`` (watch an environment until Ready, Failed, deleted or the deadline) and
  ``diagnose`` (collect the evidence: conditions, Events, pods, logs);
- ``api`` (the only module here that touches the ``kubernetes`` client and ``kube``:
  configuration, impersonation, the calls the commands make), ``report`` (PURE: tables,
  the failure report, the Markdown summary) and ``inputs`` (flag values and manifest
  files, checked);
- ``naming`` (PURE: names and provenance from the CI's environment variables) and
  ``state`` (PURE: what a status means to someone waiting);
- ``exits`` (PURE: exit codes and ``UsageError``).
"""
