#!/usr/bin/env bash
# Pushes the images built by build-images.sh and the packaged chart. Credentials come from the
# environment (REGISTRY_USER / REGISTRY_PASSWORD), never from the repository.
# Usage: publish.sh CHART_DIR REGISTRY CHART_REPO VERSION
set -euo pipefail
chart_dir=${1:?usage: publish.sh CHART_DIR REGISTRY CHART_REPO VERSION}
registry=${2:?registry}
chart_repo=${3:?chart repo}
version=${4:?version}
: "${REGISTRY_USER:?REGISTRY_USER is not set}" "${REGISTRY_PASSWORD:?REGISTRY_PASSWORD is not set}"
host=${registry%%/*}
printf '%s' "$REGISTRY_PASSWORD" | buildah login --username "$REGISTRY_USER" --password-stdin "$host"
for b in mes-operator mes-api infra-api dashboard station-agent; do
  buildah push "$registry/$b:$version"
done
printf '%s' "$REGISTRY_PASSWORD" | helm registry login --username "$REGISTRY_USER" --password-stdin "${chart_repo#oci://}"
helm push "$chart_dir/mes-operator-$version.tgz" "$chart_repo"
