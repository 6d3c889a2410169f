#!/usr/bin/env bash
# Lints the chart strictly, renders it with its default and example values, and packages it
# into OUT_DIR (chart version = workspace version). Usage: chart.sh OUT_DIR
set -euo pipefail
out=${1:?usage: chart.sh OUT_DIR}
cd "$(dirname "$0")/../.."
helm=${HELM:-helm}
chart=charts/mes-operator
"$helm" lint --strict "$chart"
"$helm" template mes-operator "$chart" > /dev/null
for values in "$chart"/ci/*.yaml; do
  "$helm" lint --strict "$chart" -f "$values"
  "$helm" template mes-operator "$chart" -f "$values" > /dev/null
done
mkdir -p "$out"
"$helm" package "$chart" --destination "$out"
