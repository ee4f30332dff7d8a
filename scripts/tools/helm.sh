#!/usr/bin/env bash
# Installs the helm CLI into target/tools/bin through the Go module proxy.
# Idempotent: does nothing when the pinned version is already there.
set -euo pipefail
HELM_VERSION="${HELM_VERSION:-v3.19.5}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$ROOT/target/tools/bin"
if [[ -x "$BIN/helm" ]] && "$BIN/helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "$HELM_VERSION"; then
  exit 0
fi
command -v go >/dev/null || { echo "Go is required to install helm (https://go.dev/dl)" >&2; exit 1; }
mkdir -p "$BIN"
echo "installing helm $HELM_VERSION into $BIN"
# helm reads its version from ldflags; without them `helm version` says v3.x-dev.
GOBIN="$BIN" CGO_ENABLED=0 go install \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
  "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
