#!/usr/bin/env bash
# Runs every Rust test of the workspace, as `cargo test --workspace` does,
# but TEST_JOBS test binaries at a time (default 2), each from its
# package's directory. Most integration tests wait on a cluster's timers
# (a rollout, a hook, a retry), not on the CPU: one binary at a time left a
# 2-core machine half idle. Each binary starts its own devcluster, so the
# binaries share nothing. A binary's output is printed whole when it ends,
# and the failed ones are named again at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${TEST_JOBS:-2}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The test binaries and their packages, from cargo's own build messages.
cargo test --workspace --no-run --message-format=json-render-diagnostics >"$work/artifacts.json"
grep '"reason":"compiler-artifact"' "$work/artifacts.json" | grep '"profile":{[^}]*"test":true' |
  sed -n 's/.*"manifest_path":"\([^"]*\)".*"executable":"\([^"]*\)".*/\1 \2/p' >"$work/binaries"
if [ ! -s "$work/binaries" ]; then
  echo "test-rust: cargo listed no test binary" >&2
  exit 1
fi

# The binaries that wait longest start first, so that the last to end is
# not one that started late: integration tests (tests/*.rs) before unit
# tests, and among them those with the most tests.
while read -r manifest exe; do
  count=$("$exe" --list --format terse 2>/dev/null | grep -c ': test$' || true)
  case "$exe" in */deps/driftless_*) kind=0 ;; *) kind=1 ;; esac
  echo "$kind $count $manifest $exe"
done <"$work/binaries" | sort -k1,1nr -k2,2nr | cut -d' ' -f3- >"$work/ordered"

run_one() {
  local manifest=$1 exe=$2 log status start=$SECONDS
  log="$work/$(basename "$exe").log"
  if (cd "$(dirname "$manifest")" && "$exe") >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    basename "$exe" >>"$work/failed"
    # A full disk fails tests far from its cause: say how full it was.
    { echo "test-rust: free space when $(basename "$exe") failed:"; df -h "$exe" "${TMPDIR:-/tmp}"; } >>"$log" 2>&1
  fi
  {
    flock 9
    echo "=== $(basename "$exe") ($status after $((SECONDS - start)) s, in $(dirname "$manifest"))"
    cat "$log"
  } 9>"$work/print.lock"
}
export -f run_one
export work

started=$SECONDS
# shellcheck disable=SC2016 # expanded by the inner shell
xargs -P "$jobs" -L 1 bash -c 'run_one "$@"' _ <"$work/ordered" || true

# Doc tests are not binaries cargo lists: cargo runs them itself.
if ! cargo test --workspace --doc >"$work/doc.log" 2>&1; then
  echo doc-tests >>"$work/failed"
fi
cat "$work/doc.log"

echo "test-rust: $(wc -l <"$work/ordered") test binaries, $jobs at a time, in $((SECONDS - started)) s"
if [ -s "$work/failed" ]; then
  echo "test-rust: FAILED: $(tr '\n' ' ' <"$work/failed")" >&2
  exit 1
fi
