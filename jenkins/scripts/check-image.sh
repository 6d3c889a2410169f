#!/usr/bin/env bash
# Checks a built image the way a cluster would run it: a non-root user, an entrypoint that exists,
# and a binary that starts (`--version`). Usage: check-image.sh IMAGE
set -euo pipefail
image=${1:?usage: check-image.sh IMAGE}
b() { buildah ${BUILDAH_FLAGS:-} "$@"; }
user=$(b inspect --format '{{.OCIv1.Config.User}}' "$image")
entrypoint=$(b inspect --format '{{index .OCIv1.Config.Entrypoint 0}}' "$image")
[ -n "$user" ] && [ "${user%%:*}" != 0 ] && [ "${user%%:*}" != root ] \
  || { echo "$image: runs as '${user:-root}', expected a non-root user" >&2; exit 1; }
container=$(b from --quiet "$image")
trap 'b rm "$container" > /dev/null' EXIT
mnt=$(b mount "$container")
[ -x "$mnt$entrypoint" ] || { echo "$image: entrypoint $entrypoint is not an executable" >&2; exit 1; }
version=$(b run --isolation chroot --user "$user" "$container" -- "$entrypoint" --version)
echo "$image: user $user, entrypoint $entrypoint, --version: $version"
