#!/usr/bin/env bash
# Builds the shipped binaries once, statically linked (glibc +crt-static), into OUT_DIR.
# Usage: build-binaries.sh OUT_DIR [BINARY...]   (default: every shipped binary)
set -euo pipefail
out=${1:?usage: build-binaries.sh OUT_DIR [BINARY...]}
shift
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=(mes-operator mes-api infra-api dashboard station-agent)
cd "$(dirname "$0")/../.."
target=x86_64-unknown-linux-gnu
args=()
for b in "${bins[@]}"; do args+=(--bin "$b"); done
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target "$target" "${args[@]}"
mkdir -p "$out"
for b in "${bins[@]}"; do
  cp "${CARGO_TARGET_DIR:-target}/$target/release/$b" "$out/$b"
done
echo "built ${bins[*]} into $out"
