#!/usr/bin/env bash
# Installs Gitea (a Git forge: the ApplicationSet SCM provider and pull
# request generator tests run against it) into target/tools/bin through the
# Go module proxy. Idempotent.
#
# A release build of Gitea embeds its templates, locales and schemas
# ("bindata"), generated from files of its source tree, which `go install`
# cannot do: we download the module's source, generate them, and build with
# SQLite (cgo), as Gitea's own Makefile does.
set -euo pipefail
GITEA_VERSION="v1.27.3"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$ROOT/target/tools/bin"
STAMP="$BIN/.gitea-version"
if [[ -x "$BIN/gitea" && -f "$STAMP" && "$(cat "$STAMP")" == "$GITEA_VERSION" ]]; then
  exit 0
fi
command -v go >/dev/null || { echo "Go is required to install Gitea (https://go.dev/dl)" >&2; exit 1; }
command -v gcc >/dev/null || { echo "gcc is required to build Gitea (apt-get install gcc)" >&2; exit 1; }
mkdir -p "$BIN"
echo "installing gitea $GITEA_VERSION into $BIN"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
dir="$(go mod download -json "code.gitea.io/gitea@$GITEA_VERSION" | sed -n -E 's/^[[:space:]]*"Dir": "(.*)",?$/\1/p')"
[[ -d "$dir" ]] || { echo "go mod download gave no source directory for gitea $GITEA_VERSION" >&2; exit 1; }
cp -r "$dir" src
chmod -R u+w src
cd src
for assets in options templates public; do
  go run build/generate-bindata.go "$assets" "modules/$assets/bindata.dat"
done
go run build/generate-bindata.go modules/migration/schemas modules/migration/bindata.dat
CGO_ENABLED=1 go build -tags "bindata sqlite sqlite_unlock_notify" -ldflags "-s -w -X main.Version=${GITEA_VERSION#v}" -o "$BIN/gitea" .
echo "$GITEA_VERSION" >"$STAMP"
