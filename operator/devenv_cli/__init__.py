"""``kubectl devenv``: the command-line plugin for people and CI pipelines.

Installed with the operator's distribution as the console script ``kubectl-devenv``, so
kubectl finds it on PATH as ``kubectl devenv``. A package of its own beside
``devenv_operator``: it shares the operator's pure modules (``models``, ``templates``,
``errors``, ``kinds``, ``reasons``, ``owners``) and reaches the API through ``kube``, and
never imports Kopf. It imports the ``kubernetes`` client only when it connects to a
cluster, so ``--help``, ``--version`` and an offline ``render -f`` start without it.

Modules, from the top:

- ``complete``: the console script ``kubectl_complete-devenv``, which kubectl runs to
  complete ``kubectl devenv <TAB>``;
- ``app``: the console script: argument parsing, and errors mapped onto exit codes;
- ``commands``: one function per command; ``rerun`` (``rerun-job``) and ``access``
  (``endpoints``, and ``port-forward``, ``logs``, ``exec``, which hand over to kubectl);
- ``waiting`` (watch an environment until Ready, Failed, deleted or the deadline) and
  ``diagnose`` (collect the evidence: conditions, Events, pods, logs);
- ``reach`` (PURE: a service, port or job found in the status, and the kubectl command
  line that reaches it);
- ``api`` (the only module here that touches the ``kubernetes`` client and ``kube``:
  configuration, impersonation, the calls the commands make), ``report`` (PURE: tables,
  the failure report, the Markdown summary) and ``inputs`` (flag values and manifest
  files, checked);
- ``naming`` (PURE: names and provenance from the CI's environment variables),
  ``state`` (PURE: what a status means to someone waiting) and ``shells`` (PURE: the
  completion scripts);
- ``exits`` (PURE: exit codes, ``UsageError`` and ``Unavailable``).
"""
