#!/usr/bin/env bash
# Installs Argo CD's application controller and repo server (the peer that
# `make bench-peers` measures driftless against) into target/tools/bin through
# the Go module proxy, its CRDs and the stock argocd-cm / argocd-secret that
# its install manifests create into target/tools/share/argocd, and Debian's
# redis-server (Argo CD's cache). Idempotent.
#
# Argo CD ships one multi-call binary, `argocd`, that acts as the component
# named by its argv[0]: we build it once and link the two names to it.
# v3.2.11 is the newest release that builds from the module proxy: from v3.3
# on, go.mod replaces gitops-engine with ./gitops-engine, a nested module that
# the module zip leaves out (v3.6 also needs Go 1.27), and v3.2.12's zip calls
# a function it does not contain (settings.ValidateExternalURL). We build
# inside the downloaded module so its replace directives apply (`go install
# mod@version` ignores them).
set -euo pipefail
ARGOCD_VERSION="v3.2.11"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$ROOT/target/tools/bin"
SHARE="$ROOT/target/tools/share/argocd"
STAMP="$BIN/.argocd-version"

fail() { echo "argocd.sh: $*" >&2; exit 1; }

install_redis() {
  if dpkg -s redis-server >/dev/null 2>&1; then
    return
  fi
  echo "installing Debian's redis-server"
  # The bench starts its own redis on a free loopback port: keep the package's
  # service from starting now (policy-rc.d exit 101 = "not allowed") and at boot.
  local policy=/usr/sbin/policy-rc.d created_policy=""
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    created_policy=1
  fi
  local installed=""
  # A fresh machine may have no package lists yet.
  if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }; then
    installed=1
  fi
  if [[ -n "$created_policy" ]]; then
    rm -f "$policy"
  fi
  [[ -n "$installed" ]] || fail "apt-get install redis-server failed"
  if command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now redis-server >/dev/null 2>&1 || true
  fi
}

install_redis
command -v redis-server >/dev/null || fail "redis-server is not on PATH after installing it"

if [[ -x "$BIN/argocd" && -f "$STAMP" && "$(cat "$STAMP")" == "$ARGOCD_VERSION" &&
  -f "$SHARE/crds/appproject-crd.yaml" && -f "$SHARE/config/argocd-secret.yaml" ]]; then
  exit 0
fi
command -v go >/dev/null || fail "Go is required to build Argo CD (https://go.dev/dl)"
mkdir -p "$BIN" "$SHARE/crds" "$SHARE/config"
echo "installing argocd $ARGOCD_VERSION into $BIN (a build of several minutes)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
echo "argocd: downloading the module"
dir="$(go mod download -json "github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION" | sed -n -E 's/^[[:space:]]*"Dir": "(.*)",?$/\1/p')" ||
  fail "go mod download of github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION failed"
[[ -d "$dir" ]] || fail "go mod download gave no source directory for argo-cd $ARGOCD_VERSION"
cp -r "$dir" src
chmod -R u+w src
cd src
# ui/embed.go embeds ui/dist/app; the controller and repo server serve no UI,
# so the placeholder that Argo CD's own tree keeps there is enough.
mkdir -p ui/dist/app
[[ -n "$(ls -A ui/dist/app)" ]] || touch ui/dist/app/gitkeep
echo "argocd: downloading its dependencies"
go mod download || fail "go mod download of argo-cd $ARGOCD_VERSION's dependencies failed"
echo "argocd: compiling ./cmd"
CGO_ENABLED=0 go build -ldflags "-s -w -X github.com/argoproj/argo-cd/v3/common.version=${ARGOCD_VERSION#v}" \
  -o "$BIN/argocd" ./cmd || fail "go build of argo-cd $ARGOCD_VERSION ./cmd failed"
for name in argocd-application-controller argocd-repo-server; do
  ln -sf argocd "$BIN/$name"
done
cp manifests/crds/application-crd.yaml manifests/crds/appproject-crd.yaml "$SHARE/crds/"
# The controller reads its settings from these two (argocd-cm holds the
# stock resource exclusions and ignored updates, which shape its load).
cp manifests/base/config/argocd-cm.yaml manifests/base/config/argocd-secret.yaml "$SHARE/config/"
echo "$ARGOCD_VERSION" >"$STAMP"
echo "argocd $ARGOCD_VERSION installed"
