#!/usr/bin/env bash
# Prints the workspace version (Cargo.toml), which images and the chart are tagged with.
set -euo pipefail
cd "$(dirname "$0")/../.."
sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml
