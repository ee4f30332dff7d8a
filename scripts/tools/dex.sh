#!/usr/bin/env bash
# Installs Dex (an OpenID Connect provider, used by the OIDC tests) into
# target/tools/bin through the Go module proxy. Idempotent.
#
# Dex's go.mod replaces its own gRPC API module with ./api/v2, so
# `go install pkg@version` refuses it; we build it from a throwaway module that
# requires the pinned commit and the API module of the same commit. Dex's v2
# tags are not valid Go module versions (its module path has no /v2), so both
# pins are pseudo-versions of Dex v2.41.1's commit.
set -euo pipefail
DEX_VERSION="v0.0.0-20240807174518-43956db7fd75"
DEX_API_VERSION="v2.1.1-0.20240807174518-43956db7fd75"
# The checksum database has no record of this API pseudo-version, so its hashes
# are pinned here (go verifies the download against go.sum).
DEX_API_SUMS="github.com/dexidp/dex/api/v2 $DEX_API_VERSION h1:+6yv8pY6NPzvEExj/rWp8xu9LZNNUQImWofqpcaW+Og=
github.com/dexidp/dex/api/v2 $DEX_API_VERSION/go.mod h1:wW7pJO4K9SxAgwjTWGv9jzBS6sbKcItdtbC25uJoZvg="
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$ROOT/target/tools/bin"
STAMP="$BIN/.dex-version"
if [[ -x "$BIN/dex" && -f "$STAMP" && "$(cat "$STAMP")" == "$DEX_VERSION" ]]; then
  exit 0
fi
command -v go >/dev/null || { echo "Go is required to install Dex (https://go.dev/dl)" >&2; exit 1; }
# Dex's command links its SQLite storage, which needs cgo.
command -v gcc >/dev/null || { echo "gcc is required to build Dex (apt-get install gcc)" >&2; exit 1; }
mkdir -p "$BIN"
echo "installing dex $DEX_VERSION into $BIN"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
printf 'module driftless.local/dex-build\n\ngo 1.22\n' >go.mod
echo "$DEX_API_SUMS" >go.sum
go get "github.com/dexidp/dex/cmd/dex@$DEX_VERSION" "github.com/dexidp/dex/api/v2@$DEX_API_VERSION"
CGO_ENABLED=1 go build -ldflags "-s -w -X main.version=v2.41.1" -o "$BIN/dex" github.com/dexidp/dex/cmd/dex
echo "$DEX_VERSION" >"$STAMP"
