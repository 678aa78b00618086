# syntax=docker/dockerfile:1
# sonic-scaler: the KEDA external scaler for Triton fleets.
#   docker build -t REGISTRY/sonic-scaler:TAG .    (docs/deploy.md, "Build and push")
#
# Base image pinned by full version. For reproducible builds pin the digest too:
#   docker buildx imagetools inspect python:3.11.13-slim-bookworm   (prints sha256:...)
#   docker build --build-arg PYTHON_IMAGE=python:3.11.13-slim-bookworm@sha256:<digest> .
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md constraints.txt ./
COPY policies ./policies
COPY scaler ./scaler
# scaler/traces/data links here: the bundled traces go into the wheel.
COPY simulations/traces ./simulations/traces
# Build the wheel, then install it with every dependency at the version constraints.txt
# pins (`make setup` uses the same file). tests/packaging/test_wheel.py runs these exact
# steps in a fresh venv and starts the result.
RUN python -m pip install --upgrade pip \
 && python -m pip wheel --no-deps --wheel-dir dist . \
 && python -m pip install --constraint constraints.txt dist/sonic_scaler-*.whl

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="sonic-scaler" \
      org.opencontainers.image.description="KEDA external scaler for GPU inference fleets (Triton / SuperSONIC)" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 scaler \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin scaler
COPY --from=build /opt/venv /opt/venv
COPY --chmod=0755 manifests/image/healthcheck.py /usr/local/bin/sonic-scaler-healthcheck
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
# grpc (KEDA + health), metrics (/metrics).
# The dashboard (9102) listens on loopback in the shipped config: not exposed.
EXPOSE 9100 9101
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["sonic-scaler-healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["scaler"]
CMD ["serve"]
