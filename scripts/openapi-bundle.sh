#!/usr/bin/env bash
# Writes the Kubernetes OpenAPI v3 schemas `driftless validate` bundles:
# starts the devcluster, fetches /openapi/v3 and every group-version document
# it lists, and reduces them (descriptions and all a validator does not read
# dropped, only schemas a kind reaches kept) into
# crates/validate/schemas/kubernetes-<minor>.json.gz. The test
# `bundled_schemas_are_what_the_devcluster_serves` checks the committed file
# against a devcluster, so a Kubernetes upgrade fails until this is re-run.
# Needs kubectl and jq.
set -euo pipefail

DEVCLUSTER=${DEVCLUSTER:-target/devcluster/devcluster}
DIR=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$DIR"
}
trap cleanup EXIT

"$DEVCLUSTER" --dir "$DIR" --port 0 >"$DIR/devcluster.out" 2>&1 &
pid=$!
for _ in $(seq 1 180); do
  grep -q "devcluster ready" "$DIR/devcluster.out" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$DIR/devcluster.out" >&2; exit 1; }
  sleep 1
done
export KUBECONFIG=$DIR/kubeconfig

minor=$(kubectl get --raw /version | jq -r '"\(.major).\(.minor)"' | tr -d +)
mkdir "$DIR/docs"
for p in $(kubectl get --raw /openapi/v3 | jq -r '.paths | keys[]'); do
  kubectl get --raw "/openapi/v3/$p" >"$DIR/docs/$(echo "$p" | tr / _).json"
done
out=crates/validate/schemas/kubernetes-$minor.json.gz
cargo run --quiet -p driftless-validate --example openapi-bundle -- "$DIR/docs" "$out"
echo "wrote $out (Kubernetes $minor); if the minor changed, update BUNDLED_VERSION in crates/validate/src/schema/mod.rs"
