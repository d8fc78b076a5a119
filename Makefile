# devenv-operator: every developer and CI entry point. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv: use the one on PATH, else bootstrap a private copy with pip (no other prerequisite).
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(CURDIR)/.tools/venv/bin/uv
endif
PY := $(UV) run --frozen
PYTEST_ARGS ?=

.PHONY: help sync lint fmt manifests unit e2e test soak image test-real fuzz cluster-build cluster-up \
        cluster-down cluster-status run bench clean real-up real-down

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[1m%-15s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(CURDIR)/.tools/venv/bin/uv:
	@echo ">> bootstrapping uv with pip into .tools/"
	python3 -m venv .tools/venv
	.tools/venv/bin/pip install --quiet uv

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

sync: .venv/.synced ## Install Python dependencies (locked) into .venv

lint: sync ## Run ruff (complexity <= 10), mypy --strict, the import contracts, the size limits
	$(PY) ruff check operator localcluster tests $(wildcard bench)
	$(PY) mypy
	PYTHONPATH=operator $(PY) lint-imports --no-cache
	$(PY) python -m tests.limits operator

fmt: sync ## Fix what ruff can fix
	$(PY) ruff check --fix operator localcluster tests $(wildcard bench)

manifests: sync ## Regenerate crds/ from the pydantic models
	PYTHONPATH=operator $(PY) python -m devenv_operator.crdgen crds
	cp crds/*.yaml deploy/crds/
	$(PY) python tests/unit/test_user_docs.py
	PYTHONPATH=operator:. $(PY) python tests/unit/test_architecture.py

unit: sync ## Unit tests (pure code, no cluster)
	$(PY) pytest tests/unit $(PYTEST_ARGS)

e2e: sync ## End-to-end tests on the local control plane (built and started for the run)
	$(PY) pytest tests/e2e -m "not soak" $(PYTEST_ARGS)

test: lint unit e2e ## Everything CI runs: lint, unit and e2e tests

soak: sync ## Chaos and churn on the local control plane (~30 min; not part of make test)
	$(PY) pytest tests/e2e -m soak -s $(PYTEST_ARGS)

image: sync ## Build the operator image from the Dockerfile with buildah (root; see docs/real-nodes.md)
	$(PY) python -m localcluster image

test-real: sync ## Real-node tier: containerd + kubelet, deploy/ in-cluster, real pods (root; not in make test)
	$(PY) pytest tests/real $(PYTEST_ARGS)

real-up: sync ## Real-node cluster to try by hand: operator from deploy/, lookalike images (root; .localcluster/real/kubeconfig)
	$(PY) python -m localcluster.realnode up

real-build: sync ## Build (or reuse from cache) the real node's binaries: kubelet, kube-router, Traefik
	$(PY) python -m localcluster.realnode build

real-down: sync ## Stop the real-node cluster and clean the host
	$(PY) python -m localcluster.realnode down

fuzz: sync ## The property-based spec test with 2,000 examples (not part of make test)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-2000} FUZZ_STATUS_BOUND=$${FUZZ_STATUS_BOUND:-600} \
		$(PY) pytest tests/e2e/test_fuzz.py -s $(PYTEST_ARGS)

cluster-build: sync ## Build (or reuse from cache) the control-plane binaries
	$(PY) python -m localcluster build

cluster-up: sync ## Start the local control plane (kubeconfig in .localcluster/kubeconfig)
	$(PY) python -m localcluster up

cluster-down: sync ## Stop the local control plane and remove its state
	$(PY) python -m localcluster down

cluster-status: sync ## Show whether the local control plane is running
	$(PY) python -m localcluster status

run: sync ## Run the operator: on the KUBECONFIG cluster if reachable, else on a local one
	$(PY) python -m localcluster.devrun

bench: sync ## Benchmarks on the local control plane (not part of `make test`)
	$(PY) python -m bench

clean: cluster-down ## Stop the local cluster and remove build artefacts (not the binary cache)
	rm -rf .venv .tools .pytest_cache .mypy_cache .ruff_cache
