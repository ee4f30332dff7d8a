#!/usr/bin/env bash
# Installs crane (go-containerregistry: builds, pushes and inspects OCI
# images without a container runtime) into target/tools/bin through the Go
# module proxy. Idempotent.
set -euo pipefail
CRANE_VERSION="${CRANE_VERSION:-v0.22.1}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$ROOT/target/tools/bin"
STAMP="$BIN/.crane-version"
if [[ -x "$BIN/crane" && -f "$STAMP" && "$(cat "$STAMP")" == "$CRANE_VERSION" ]]; then
  exit 0
fi
command -v go >/dev/null || { echo "Go is required to install crane (https://go.dev/dl)" >&2; exit 1; }
mkdir -p "$BIN"
echo "installing crane $CRANE_VERSION into $BIN"
GOBIN="$BIN" CGO_ENABLED=0 go install -ldflags "-s -w" \
  "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION"
echo "$CRANE_VERSION" > "$STAMP"
