# Python 3.11 on a local Debian root file system (no registry needed): the offline BASE_IMAGE of
# docker/Dockerfile. Debian's python3 is 3.11 on bookworm, the version the project supports.
# Build: docker/build-images.sh (it imports the debootstrap tree as local/debian:bookworm first).
ARG DEBIAN_IMAGE=local/debian:bookworm
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*
