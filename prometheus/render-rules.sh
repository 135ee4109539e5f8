#!/bin/sh
# Render the alert rules with this deployment's runbook base URL:
#   RUNBOOK_BASE_URL=https://wiki.example/runbook sh render-rules.sh SOURCE_DIR TARGET_DIR
# Prometheus annotations cannot read the environment, so compose's prometheus runs this at
# start (busybox sh + sed in the Prometheus image). It replaces the rules' default base,
# http://localhost:9095/runbook, literally, exactly as devstack's render_rules does
# (tests/test_observability_alerts.py runs both and compares). The URL must not contain `|`.
set -eu
source_dir=$1
target_dir=$2
base=${RUNBOOK_BASE_URL:-http://localhost:9095/runbook}
base=${base%/}
mkdir -p "$target_dir"
for rules in "$source_dir"/*.yml; do
  sed "s|http://localhost:9095/runbook|$base|g" "$rules" > "$target_dir/${rules##*/}"
done
