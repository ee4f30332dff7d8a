#!/usr/bin/env bash
# Builds Flux's source-controller and kustomize-controller into target/tools/bin
# through the Go module proxy, and saves their CRDs into target/tools/share/flux/crds
# (`make bench-peers` runs Flux beside driftless). Idempotent.
#
# Each controller is built inside its own downloaded module, not with `go install`:
# their go.mod files carry `replace` directives (their ./api modules, pinned
# kustomize and go-digest versions) that `go install module@version` refuses.
# A module's zip leaves out its nested ./api module: it is downloaded on its own.
# v1.9.x is the last release whose go.mod accepts Go 1.26 (v1.10 asks for 1.27).
set -euo pipefail
FLUX_VERSION="${FLUX_VERSION:-v1.9.6}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$ROOT/target/tools/bin"
CRDS="$ROOT/target/tools/share/flux/crds"
STAMP="$BIN/.flux-version"
CONTROLLERS=(source-controller kustomize-controller)
# The module proxy refuses github.com/fluxcd/pkg/artifact v0.18.3, which
# source-controller v1.9.6 requires ("403 This module version is not available");
# v0.18.1 differs from it only by dependency bumps in its go.mod.
ARTIFACT_PIN="github.com/fluxcd/pkg/artifact@v0.18.1"

fail() { echo "flux: $*" >&2; exit 1; }

# The source directory of module@version in the module cache (downloading it).
module_dir() {
  local dir
  dir="$(cd "$work" && go mod download -json "$1" | sed -n -E 's/^[[:space:]]*"Dir": "(.*)",?$/\1/p')" || fail "go mod download $1 failed"
  [[ -d "$dir" ]] || fail "go mod download gave no source directory for $1"
  echo "$dir"
}

installed() {
  [[ -f "$STAMP" && "$(cat "$STAMP")" == "$FLUX_VERSION" ]] || return 1
  for c in "${CONTROLLERS[@]}"; do [[ -x "$BIN/$c" ]] || return 1; done
  [[ -f "$CRDS/source.toolkit.fluxcd.io_gitrepositories.yaml" && -f "$CRDS/kustomize.toolkit.fluxcd.io_kustomizations.yaml" ]]
}
installed && exit 0

command -v go >/dev/null || fail "Go is required to build source-controller and kustomize-controller (https://go.dev/dl)"
mkdir -p "$BIN" "$CRDS"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rm -f "$STAMP"
for c in "${CONTROLLERS[@]}"; do
  module="github.com/fluxcd/$c"
  echo "flux: downloading $module@$FLUX_VERSION"
  src="$work/$c"
  main_dir="$(module_dir "$module@$FLUX_VERSION")"
  api_dir="$(module_dir "$module/api@$FLUX_VERSION")"
  cp -r "$main_dir" "$src"
  cp -r "$api_dir" "$src/api"
  chmod -R u+w "$src"
  if [[ "$c" == source-controller ]]; then
    (cd "$src" && go mod edit -replace "${ARTIFACT_PIN%@*}=$ARTIFACT_PIN")
  fi
  echo "flux: building $c $FLUX_VERSION (takes minutes)"
  # GOTOOLCHAIN=local: fail here rather than fetch another Go toolchain;
  # -mod=mod: record the pinned module's checksum in go.sum.
  (cd "$src" && GOTOOLCHAIN=local CGO_ENABLED=0 go build -mod=mod -trimpath -ldflags "-s -w" -o "$BIN/$c" .) ||
    fail "go build of $c $FLUX_VERSION failed (see the lines above)"
  cp "$src"/config/crd/bases/*.yaml "$CRDS/" || fail "$module@$FLUX_VERSION has no config/crd/bases/*.yaml"
done
echo "$FLUX_VERSION" >"$STAMP"
echo "flux: source-controller and kustomize-controller $FLUX_VERSION in $BIN, CRDs in $CRDS"
