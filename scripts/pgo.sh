#!/usr/bin/env bash
# A profile-guided (PGO) release build of the driftless binary, trained on the
# controller's own cold start: the peers bench (driftless only, fewer apps) run
# against an instrumented build, its profile merged, and the binary built again
# with it (docs/performance.md, "A PGO build").
#
# The profile tells LLVM which code runs: that code is laid out together
# (`.text.hot`, `.text`), the rest apart (`.text.unlikely`), so the pages of
# code a controller keeps resident are the ones it uses; and the hot paths are
# inlined and laid out for the branches they take.
#
#   scripts/pgo.sh                  writes target/pgo/driftless
#   PGO_APPS=300 scripts/pgo.sh     apps in the training run (300)
#   PGO_TARGET=x86_64-unknown-linux-musl scripts/pgo.sh
#                                   for another Rust target that runs here
#                                   (the image's static binary, scripts/image.sh):
#                                   writes target/pgo/<target>/driftless
#
# The path of the binary is the last line it prints on stdout.
#
# Needs what `make bench-peers` needs (the devcluster, kubectl, git) and
# rustup's llvm-tools component (llvm-profdata), added when missing. Three
# release builds: the bench's own (`cargo bench` reuses it), the instrumented
# one and the final one, each in its own target directory so that none of
# them spoils the others' caches.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Absolute: the bench runs in crates/driftless.
TARGET_DIR="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
APPS="${PGO_APPS:-300}"

sysroot="$(rustc --print sysroot)"
host="$(rustc -vV | sed -n 's/^host: //p')"
target="${PGO_TARGET:-$host}"
if [[ "$target" == "$host" ]]; then
  OUT="$TARGET_DIR/pgo"
  # keep-text-section-prefix: LLD (the host's linker) groups the hot and the
  # never-run code apart only when asked to; GNU ld's default script always
  # does, and warns that it ignores the flag.
  link_args=(-Clink-arg=-Wl,-z,keep-text-section-prefix)
else
  OUT="$TARGET_DIR/pgo/$target"
  link_args=()
  rustup target add "$target" >&2
fi
profdata="$sysroot/lib/rustlib/$host/bin/llvm-profdata"
if [[ ! -x "$profdata" ]]; then
  command -v rustup >/dev/null || { echo "pgo: llvm-profdata is missing and rustup is not on PATH to add it (rustup component add llvm-tools)" >&2; exit 1; }
  echo "pgo: adding rustup's llvm-tools component (llvm-profdata)" >&2
  rustup component add llvm-tools
fi

echo "pgo: 1/3 the instrumented build ($OUT/gen)" >&2
# --target always: RUSTFLAGS then reach the binary, not the build scripts.
RUSTFLAGS="-Cprofile-generate=$OUT/raw" CARGO_TARGET_DIR="$OUT/gen" \
  cargo build --release --locked -p driftless --bin driftless --target "$target" >&2

echo "pgo: 2/3 training: the peers bench, driftless only, $APPS apps" >&2
rm -rf "$OUT/raw"
mkdir -p "$OUT/raw"
# The bench stops the controller with SIGTERM; it writes its profile as it exits.
LLVM_PROFILE_FILE="$OUT/raw/driftless-%p.profraw" PEERS_DRIFTLESS_BIN="$OUT/gen/$target/release/driftless" \
  PEERS_ONLY=driftless PEERS_APPS="$APPS" PEERS_DRIFT_TRIALS=3 PEERS_JSON="$OUT/training.json" \
  PATH="$TARGET_DIR/tools/bin:$PATH" DEVCLUSTER_BIN="${DEVCLUSTER_BIN:-$TARGET_DIR/devcluster/devcluster}" \
  cargo bench -p driftless --bench peers >&2
shopt -s nullglob
raw=("$OUT"/raw/driftless-*.profraw)
[[ ${#raw[@]} -gt 0 && -s "${raw[0]}" ]] || { echo "pgo: the training run left no profile in $OUT/raw (did the controller exit cleanly?)" >&2; exit 1; }
"$profdata" merge -o "$OUT/driftless.profdata" "${raw[@]}"

echo "pgo: 3/3 the build with the profile ($OUT/use)" >&2
RUSTFLAGS="-Cprofile-use=$OUT/driftless.profdata ${link_args[*]}" CARGO_TARGET_DIR="$OUT/use" \
  cargo build --release --locked -p driftless --bin driftless --target "$target" >&2
cp "$OUT/use/$target/release/driftless" "$OUT/driftless"
echo "$OUT/driftless"
