#!/usr/bin/env bash
# The demo: a real Kubernetes control plane (devcluster), driftless' CRDs,
# the controller, and the Applications of examples/ syncing a Git repository
# made here from examples/apps.
# Ctrl-C stops everything.
set -euo pipefail

DIR=${DEMO_DIR:-.demo}
PORT=${DEMO_PORT:-6443}
DEVCLUSTER=${DEVCLUSTER:-target/devcluster/devcluster}
DRIFTLESS=${DRIFTLESS:-target/debug/driftless}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
pids=()
cleanup() {
  echo; echo "stopping the demo"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

echo "starting devcluster (Kubernetes control plane on 127.0.0.1:$PORT)..."
"$DEVCLUSTER" --dir "$DIR" --port "$PORT" >"$DIR/devcluster.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 180); do
  grep -q "devcluster ready" "$DIR/devcluster.out" 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$DIR/devcluster.out" >&2; exit 1; }
  sleep 1
done
cat "$DIR/devcluster.out"
export KUBECONFIG=$DIR/kubeconfig

"$DRIFTLESS" crds | kubectl apply --server-side -f - >/dev/null
kubectl create namespace argocd --dry-run=client -o yaml | kubectl apply -f - >/dev/null

# A Git repository made from examples/, as a team would keep its config repo.
REPO=$DIR/repo
if [ ! -d "$REPO/.git" ]; then
  mkdir -p "$REPO"
  cp -R examples/apps "$REPO/"
  git -C "$REPO" init --quiet --initial-branch main
  git -C "$REPO" add --all
  git -C "$REPO" -c user.name=demo -c user.email=demo@driftless.invalid commit --quiet -m "config repo from examples/"
fi

UI=${DEMO_UI:-127.0.0.1:8080}
# The controller and the API server with the web UI, in one process.
"$DRIFTLESS" run --namespace argocd --app-resync 5 --cache-dir "$DIR/cache" --listen "$UI" \
  >"$DIR/controller.log" 2>&1 &
pids+=($!)

for f in examples/applications/*.yaml; do
  sed "s|REPO_URL|file://$REPO|" "$f" | kubectl apply -f - >/dev/null
done

echo "waiting for every app to be Synced and Healthy..."
for app in guestbook-staging guestbook-production config-only orders helm-web-staging; do
  "$DRIFTLESS" app wait "argocd/$app" --timeout 180
done
"$DRIFTLESS" app list -N argocd
echo
"$DRIFTLESS" app get argocd/orders

PASSWORD=$(kubectl -n argocd get secret argocd-initial-admin-secret -o jsonpath='{.data.password}' | base64 -d)
cat <<TXT

driftless is running. The web UI: http://$UI  (user admin, password $PASSWORD)
In another terminal:
  export KUBECONFIG=$KUBECONFIG
  $DRIFTLESS app list -N argocd
  kubectl -n guestbook-production get deploy,svc,pods

Commit a change and watch it sync (the controller looks at Git every 5 s here):
  sed -i 's/count: 3/count: 5/' $REPO/apps/guestbook/overlays/production/kustomization.yaml
  git -C $REPO commit -qam "production: 5 replicas"
  $DRIFTLESS app get argocd/guestbook-production

Scale something by hand and watch it reverted within a second (selfHeal):
  kubectl -n guestbook-production scale deployment prod-guestbook-ui --replicas 1
  kubectl -n guestbook-production get deployment prod-guestbook-ui

Logs: $DIR/controller.log, $DIR/devcluster.log. Ctrl-C stops the demo.
TXT
wait "${pids[0]}"
