#!/usr/bin/env bash
# Builds driftless' container image without a container runtime and without
# pulling any base image: three layers written here, put together and pushed
# by crane (scripts/tools/crane.sh).
#
#   1. base: a non-root user (65532), /tmp, CA certificates. Nothing else:
#      no shell, no package manager.
#   2. git, git-remote-http(s) and ssh for Git sources, with exactly the
#      shared libraries they need (ldd), from this machine's Debian packages;
#      helm (static, scripts/tools/helm.sh) for Helm charts.
#   3. the static driftless binary at /usr/local/bin/driftless, the
#      entrypoint; it is git's askpass and ssh wrapper too, so that git never
#      needs a shell.
#
# The root filesystem may be read-only: driftless caches under $TMPDIR
# (/tmp; DRIFTLESS_CACHE_DIR, DRIFTLESS_SERVER_CACHE_DIR), an emptyDir.
#
#   REGISTRY=host:port scripts/image.sh   pushes REGISTRY/driftless:v<version>
#                                         (plain HTTP for 127.0.0.1/localhost)
#   scripts/image.sh                      writes the OCI layout
#                                         target/image/driftless-<version>
#   BINARY=path scripts/image.sh          an image of that linux/amd64 binary,
#                                         built by nobody here (the tests)
#
# Without BINARY, a static x86_64 release binary is built (musl, with PGO
# unless PGO=0, see build_binary; `ring` and
# mlua's Lua need musl-gcc: Debian's musl-tools). Only linux/amd64 so far:
# linux/arm64 needs an aarch64 C cross compiler for ring and Lua, and arm64
# builds of git, ssh and their libraries (Debian's arm64 packages, resolved
# without ldd); the index is ready to take a second platform.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/Cargo.toml" | head -n1)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

if command -v crane >/dev/null; then CRANE=crane; else "$ROOT/scripts/tools/crane.sh"; CRANE="$ROOT/target/tools/bin/crane"; fi

# A layer tarball of directory $1, the same bytes for the same files.
layer() {
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$1" -cf "$1.tar" .
}

base_layer() {
  local d="$WORK/base"
  mkdir -p "$d/etc/ssl/certs" "$d/tmp" "$d/home/nonroot/.ssh" "$d/usr/share/git-core/templates"
  chmod 1777 "$d/tmp"
  # ssh refuses to run for a uid without a passwd entry.
  echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$d/etc/passwd"
  echo 'nonroot:x:65532:' >"$d/etc/group"
  cp -L /etc/ssl/certs/ca-certificates.crt "$d/etc/ssl/certs/"
  layer "$d"
}

tools_layer() {
  local d="$WORK/tools" programs=(/usr/bin/git /usr/lib/git-core/git-remote-http /usr/bin/ssh)
  local f
  for f in "${programs[@]}"; do
    [[ -x "$f" ]] || { echo "$f is missing: apt-get install git openssh-client" >&2; exit 1; }
  done
  # Each library at the path the loader finds it at: `name => /path` lines,
  # and the loader itself (`/lib64/ld-linux-x86-64.so.2 (0x...)`), not the
  # `/usr/bin/git:` headers.
  for f in "${programs[@]}" $(ldd "${programs[@]}" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $2 ~ /^\(/ {print $1}' | sort -u); do
    mkdir -p "$d$(dirname "$f")"
    cp -L "$f" "$d$f"
  done
  ln -s git-remote-http "$d/usr/lib/git-core/git-remote-https"
  "$ROOT/scripts/tools/helm.sh" >&2
  cp "$ROOT/target/tools/bin/helm" "$d/usr/bin/helm"
  layer "$d"
}

# The layer of binary $1 for architecture $2 (amd64, arm64).
binary_layer() {
  local d="$WORK/bin-$2"
  mkdir -p "$d/usr/local/bin"
  cp "$1" "$d/usr/local/bin/driftless"
  chmod 0755 "$d/usr/local/bin/driftless"
  layer "$d"
}

# A static release binary for Rust target $1; its path. Built with the
# profile of the controller's own cold start (scripts/pgo.sh: a devcluster
# and about 45 minutes on 2 cores), as measured in docs/performance.md;
# PGO=0 builds it without (one release build).
build_binary() {
  if [[ "${PGO:-1}" == 0 ]]; then
    rustup target add "$1" >&2
    (cd "$ROOT" && cargo build --release --locked -p driftless --target "$1" >&2)
    echo "$TARGET_DIR/$1/release/driftless"
  else
    # pgo.sh adds the target itself.
    PGO_TARGET="$1" "$ROOT/scripts/pgo.sh" | tail -n1
  fi
}

declare -A BINARIES=()
if [[ -n "${BINARY:-}" ]]; then
  BINARIES[amd64]="$BINARY"
else
  command -v musl-gcc >/dev/null || { echo "musl-gcc is missing: apt-get install musl-tools" >&2; exit 1; }
  BINARIES[amd64]="$(build_binary x86_64-unknown-linux-musl)"
fi

if [[ -n "${REGISTRY:-}" ]]; then
  DEST="$REGISTRY"
else
  # No registry given: a throwaway one on 127.0.0.1, copied into an OCI layout.
  "$ROOT/scripts/tools/registry.sh"
  for PORT in $(shuf -i 20000-60000 -n 50); do ! (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; done
  printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: 127.0.0.1:%s}\n' \
    "$WORK/registry" "$PORT" >"$WORK/registry.yml"
  "$ROOT/target/tools/bin/registry" serve "$WORK/registry.yml" >/dev/null 2>&1 &
  REGISTRY_PID=$!
  trap 'kill "$REGISTRY_PID"; rm -rf "$WORK"' EXIT
  DEST="127.0.0.1:$PORT"
  for _ in $(seq 50); do (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
fi
INSECURE=()
case "$DEST" in 127.0.0.1:* | localhost:* | localhost) INSECURE=(--insecure) ;; esac
# Tagged as the install manifests name it (install/base: driftless:v<version>).
IMAGE="$DEST/driftless:v$VERSION"

base_layer
tools_layer
manifests=()
for arch in "${!BINARIES[@]}"; do
  binary_layer "${BINARIES[$arch]}" "$arch"
  ref="$IMAGE-$arch"
  "$CRANE" "${INSECURE[@]}" append --oci-empty-base -f "$WORK/base.tar" -f "$WORK/tools.tar" -f "$WORK/bin-$arch.tar" -t "$ref" >/dev/null
  "$CRANE" "${INSECURE[@]}" mutate "$ref" --set-platform "linux/$arch" \
    --entrypoint /usr/local/bin/driftless --user 65532:65532 --workdir /home/nonroot \
    --env PATH=/usr/local/bin:/usr/bin --env HOME=/home/nonroot --env TMPDIR=/tmp \
    --label "org.opencontainers.image.version=$VERSION" \
    --label "org.opencontainers.image.revision=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)" \
    -t "$ref" >/dev/null
  manifests+=(-m "$ref")
done
"$CRANE" "${INSECURE[@]}" index append "${manifests[@]}" -t "$IMAGE" >/dev/null
echo "pushed $IMAGE ($(IFS=,; echo "${!BINARIES[*]}"))"

if [[ -z "${REGISTRY:-}" ]]; then
  OUT="$TARGET_DIR/image/driftless-$VERSION"
  rm -rf "$OUT"
  "$CRANE" "${INSECURE[@]}" pull --format=oci "$IMAGE" "$OUT"
  echo "wrote the OCI layout $OUT (push it with: crane push $OUT REGISTRY/driftless:v$VERSION)"
fi
