"""Benchmarks of devenv-operator on the local control plane (``make bench``).

Every scenario measures the operator against baselines in the same run on the same
cluster (the floor of applying equivalent objects directly, ``kubectl apply``, ``helm
install --wait``), so the ratios mean something even where absolute times are noisy.
Layout: ``stats`` (pure numbers and the result schema), ``cluster`` (the operator's API
client, retrying, and the watches), ``render`` (equivalent objects), ``methods`` (one way
each to bring up an environment), ``operator_run`` (the operator under benchmark, a
subprocess), ``scenarios`` and ``__main__`` (the run), ``helm`` (builds the pinned Helm),
``template_edit`` (scenario ``template``: one template edit against the same edit in every
spec), ``expiry_lateness`` (a standalone expiry measurement).
"""
