#!/usr/bin/env bash
# Installs or upgrades the operator from the chart repository into a staging namespace, rolling
# back by itself on failure (--atomic), then applies the staging plant and waits until Ready.
# Usage: deploy.sh NAMESPACE CHART_REPO REGISTRY VERSION
set -euo pipefail
ns=${1:?usage: deploy.sh NAMESPACE CHART_REPO REGISTRY VERSION}
chart_repo=${2:?chart repo}
registry=${3:?registry}
version=${4:?version}
cd "$(dirname "$0")/../.."
helm upgrade --install mes-operator "$chart_repo/mes-operator" --version "$version" \
  --namespace "$ns" --create-namespace --atomic --wait --timeout 10m \
  --set image.repository="$registry/mes-operator" --set image.tag="$version" \
  --set watchNamespaces="{$ns}"
# The staging plant: the embedded example, in the staging namespace, on this version's images.
sed -e "s/namespace: plant-kr/namespace: $ns/" -e "s|imageRegistry: .*|imageRegistry: $registry|" \
    -e "s/^  version: .*/  version: $version/" k8s/examples/mesplant-embedded.yaml \
  | awk 'BEGIN{RS="---\n"} !/kind: Namespace/ {printf "---\n%s", $0}' \
  | kubectl apply --server-side -f -
kubectl -n "$ns" wait mesplant/kr --for=condition=Ready --timeout=15m
