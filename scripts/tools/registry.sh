#!/usr/bin/env bash
# Installs the CNCF distribution registry (an OCI registry for tests) into
# target/tools/bin through the Go module proxy. Idempotent.
set -euo pipefail
REGISTRY_VERSION="${REGISTRY_VERSION:-v3.1.2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$ROOT/target/tools/bin"
STAMP="$BIN/.registry-version"
if [[ -x "$BIN/registry" && -f "$STAMP" && "$(cat "$STAMP")" == "$REGISTRY_VERSION" ]]; then
  exit 0
fi
command -v go >/dev/null || { echo "Go is required to install the registry (https://go.dev/dl)" >&2; exit 1; }
mkdir -p "$BIN"
echo "installing registry $REGISTRY_VERSION into $BIN"
GOBIN="$BIN" CGO_ENABLED=0 go install -ldflags "-s -w" \
  "github.com/distribution/distribution/v3/cmd/registry@$REGISTRY_VERSION"
echo "$REGISTRY_VERSION" > "$STAMP"
