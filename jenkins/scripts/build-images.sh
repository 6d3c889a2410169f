#!/usr/bin/env bash
# Packages prebuilt static binaries (build-binaries.sh) into FROM-scratch images with buildah,
# without a Docker daemon. Usage: build-images.sh BIN_DIR REGISTRY VERSION [BINARY...]
set -euo pipefail
bin_dir=${1:?usage: build-images.sh BIN_DIR REGISTRY VERSION [BINARY...]}
registry=${2:?registry}
version=${3:?version}
shift 3
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=(mes-operator mes-api infra-api dashboard station-agent)
cd "$(dirname "$0")/../.."
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
# What a scratch image needs besides the binary: CA roots, time zones, a non-root user.
mkdir -p "$ctx/rootfs/etc/ssl/certs" "$ctx/rootfs/usr/share" "$ctx/rootfs/tmp"
cp /etc/ssl/certs/ca-certificates.crt "$ctx/rootfs/etc/ssl/certs/"
cp -r /usr/share/zoneinfo "$ctx/rootfs/usr/share/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$ctx/rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$ctx/rootfs/etc/group"
chmod 1777 "$ctx/rootfs/tmp"
for b in "${bins[@]}"; do
  install -D -m 0755 "$bin_dir/$b" "$ctx/bin/$b"
  buildah ${BUILDAH_FLAGS:-} build --quiet \
    -f jenkins/images/Containerfile \
    --build-arg "BINARY=$b" \
    --label "org.opencontainers.image.title=$b" \
    --label "org.opencontainers.image.version=$version" \
    --label "org.opencontainers.image.revision=$revision" \
    --label "org.opencontainers.image.created=$created" \
    --label "org.opencontainers.image.source=https://example.invalid/smartfactory/mes" \
    --label "org.opencontainers.image.licenses=Apache-2.0" \
    -t "$registry/$b:$version" "$ctx"
  echo "image $registry/$b:$version"
done
