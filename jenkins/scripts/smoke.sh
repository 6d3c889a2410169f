#!/usr/bin/env bash
# After a deploy: the chart's test hook (the operator's /readyz), then, from inside the cluster,
# mes-api's /readyz and a mes-api route served through the dashboard's proxy.
# Usage: smoke.sh NAMESPACE
set -euo pipefail
ns=${1:?usage: smoke.sh NAMESPACE}
helm test mes-operator --namespace "$ns" --timeout 5m
api=$(kubectl -n "$ns" get mesplant kr -o jsonpath='{.status.endpoints.api}')
dashboard=$(kubectl -n "$ns" get mesplant kr -o jsonpath='{.status.endpoints.dashboard}')
[ -n "$api" ] && [ -n "$dashboard" ] || { echo "MesPlant kr reports no endpoints" >&2; exit 1; }
image=$(kubectl -n "$ns" get deploy mes-operator -o jsonpath='{.spec.template.spec.containers[0].image}')
# The operator image's --probe-url mode: GET the URL, exit 0 on a 2xx answer.
probe() {
  local name=$1 url=$2
  local overrides
  overrides=$(printf '{"spec":{"securityContext":{"runAsNonRoot":true,"runAsUser":65532,"seccompProfile":{"type":"RuntimeDefault"}},"containers":[{"name":"%s","image":"%s","args":["--probe-url","%s"],"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}]}}' "$name" "$image" "$url")
  kubectl -n "$ns" run "$name-$(date +%s)" --rm -i --restart=Never --quiet \
    --image="$image" --overrides="$overrides"
}
probe smoke-api "$api/readyz"
probe smoke-dashboard "$dashboard/api/v1/openapi.json"
echo "smoke test passed"
