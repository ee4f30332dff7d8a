#!/usr/bin/env bash
# go-install.sh NAME VERSION PACKAGE: installs a static Go command into
# target/tools/bin through the Go module proxy, once per VERSION (a stamp
# file remembers it). What registry.sh and crane.sh share.
set -euo pipefail
NAME="$1" VERSION="$2" PACKAGE="$3"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$ROOT/target/tools/bin"
STAMP="$BIN/.$NAME-version"
if [[ -x "$BIN/$NAME" && -f "$STAMP" && "$(cat "$STAMP")" == "$VERSION" ]]; then
  exit 0
fi
command -v go >/dev/null || { echo "Go is required to install $NAME (https://go.dev/dl)" >&2; exit 1; }
mkdir -p "$BIN"
echo "installing $NAME $VERSION into $BIN"
GOBIN="$BIN" CGO_ENABLED=0 go install -ldflags "-s -w" "$PACKAGE@$VERSION"
echo "$VERSION" > "$STAMP"
