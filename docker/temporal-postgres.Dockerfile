# Temporal server on PostgreSQL (compose.postgres.yaml): Temporal's auto-setup image, which
# creates the schema and the `default` namespace on first start. Built (re-tagged) rather than
# referenced directly so the override replaces the dev server's `build:` of compose.yaml.
ARG TEMPORAL_SERVER_IMAGE=temporalio/auto-setup:1.29.1
FROM ${TEMPORAL_SERVER_IMAGE}
ARG TEMPORAL_SERVER_IMAGE
LABEL org.opencontainers.image.title="temporal server (PostgreSQL)" \
      org.opencontainers.image.base.name="${TEMPORAL_SERVER_IMAGE}"
