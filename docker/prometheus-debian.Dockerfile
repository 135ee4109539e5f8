# Test stand-in for the prom/prometheus and prom/alertmanager images, which cannot be pulled
# offline: Debian's packages of both (and wget, as in those busybox-based images) on the local
# Debian base. tests/test_compose_stack.py runs compose.yaml's `prometheus` and `alertmanager`
# services with it (tests/compose.offline.yaml), with the same mounts, flags and healthchecks.
ARG DEBIAN_IMAGE=local/debian:bookworm
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends prometheus prometheus-alertmanager wget \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*
