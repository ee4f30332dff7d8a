#!/usr/bin/env bash
# The demo: a real Kubernetes control plane (devcluster), driftless' CRDs,
# the controller, and an Application that syncs a Git repository made here.
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

"$DRIFTLESS" crds | kubectl apply -f - >/dev/null
kubectl create namespace argocd --dry-run=client -o yaml | kubectl apply -f - >/dev/null

# A Git repository with one app, as a team would keep it.
REPO=$DIR/repo
if [ ! -d "$REPO/.git" ]; then
  mkdir -p "$REPO/apps/guestbook"
  cat >"$REPO/apps/guestbook/deployment.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: guestbook-ui
spec:
  replicas: 2
  selector:
    matchLabels: {app: guestbook-ui}
  template:
    metadata:
      labels: {app: guestbook-ui}
    spec:
      containers:
      - name: guestbook-ui
        image: gcr.io/heptio-images/ks-guestbook-demo:0.2
        ports:
        - containerPort: 80
YAML
  cat >"$REPO/apps/guestbook/service.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata:
  name: guestbook-ui
spec:
  ports:
  - port: 80
    targetPort: 80
  selector:
    app: guestbook-ui
YAML
  git -C "$REPO" init --quiet --initial-branch main
  git -C "$REPO" add --all
  git -C "$REPO" -c user.name=demo -c user.email=demo@driftless.invalid commit --quiet -m "guestbook"
fi

"$DRIFTLESS" controller --namespace argocd --app-resync 5 --cache-dir "$DIR/cache" >"$DIR/controller.log" 2>&1 &
pids+=($!)

kubectl apply -f - >/dev/null <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: guestbook
  namespace: argocd
  finalizers: [resources-finalizer.argocd.argoproj.io]
spec:
  project: default
  source:
    repoURL: file://$REPO
    targetRevision: main
    path: apps/guestbook
  destination:
    server: https://kubernetes.default.svc
    namespace: guestbook
  syncPolicy:
    automated: {prune: true, selfHeal: true}
    syncOptions: [CreateNamespace=true]
YAML

echo "waiting for the guestbook app to be Synced and Healthy..."
"$DRIFTLESS" app wait argocd/guestbook --timeout 120
"$DRIFTLESS" app get argocd/guestbook

cat <<TXT

driftless is running. In another terminal:
  export KUBECONFIG=$KUBECONFIG
  $DRIFTLESS app list -N argocd
  kubectl -n guestbook get deploy,svc,pods

Change Git and watch it sync (the controller compares every 5 s here):
  sed -i 's/replicas: 2/replicas: 3/' $REPO/apps/guestbook/deployment.yaml
  git -C $REPO commit -qam "scale to 3"
  $DRIFTLESS app get argocd/guestbook

Logs: $DIR/controller.log, $DIR/devcluster.log. Ctrl-C stops the demo.
TXT
wait "${pids[0]}"
