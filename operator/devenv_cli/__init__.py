"""``kubectl devenv``: the command-line plugin for people and CI pipelines.

Installed with the package as the console script ``kubectl-devenv``, so kubectl finds it on
PATH as ``kubectl devenv``. It sits at the top of the package, beside ``main`` (the
operator): it may use the models, templates and ``kube`` plumbing, never Kopf.

Modules, from the top:

- ``app``: the console script: argument parsing, and errors mapped onto exit codes;
- ``commands``: one function per command;
- ``waiting`` (watch an environment until Ready, Failed, deleted or the deadline) and
  ``diagnose`` (collect the evidence: conditions, Events, pods, logs);
- ``api`` (the only module here that touches the ``kubernetes`` client: configuration,
  impersonation, and the few calls ``kube.Kube`` lacks), ``report`` (PURE: tables, the
  failure report, the Markdown summary) and ``naming`` (PURE: names and provenance from the
  CI's environment variables).
"""
