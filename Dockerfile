# syntax=docker/dockerfile:1
# The devenv-operator image. Two stages: the builder resolves the locked dependencies
# (uv.lock, --frozen: the lock is never re-resolved) into a virtualenv; the runtime stage
# copies only that virtualenv onto a clean slim Python, runs as a numeric non-root user and
# has no uv, pip caches or compilers. Settings come from DEVENV_* environment variables.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv
# uv comes from the package index like any other tool; keep its version in step with the lock.
RUN pip install uv==0.13.9
WORKDIR /src
# Dependencies first (cached until the lock changes), then the operator itself.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY operator/ operator/
RUN uv sync --frozen --no-dev --no-editable

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="devenv-operator" \
      org.opencontainers.image.description="Kubernetes operator for on-demand development environments" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /opt/venv /opt/venv
# Two malloc arenas instead of eight per core: the operator's threads otherwise each grow
# an arena that is never given back, and RSS ratchets up after every burst.
# USER: Kopf names the operator after getpass.getuser(), which reads $USER before the
# passwd file; uid 65532 has no passwd entry, and without it the operator crash-looped.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2 \
    USER=devenv-operator
# Numeric, so that runAsNonRoot can verify it without an /etc/passwd lookup.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["devenv-operator"]
