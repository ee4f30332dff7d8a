#!/usr/bin/env bash
# Installs what the browser tests need, idempotently:
#  - Debian's chromium at /usr/bin/chromium (apt-get), unless it is already there;
#  - playwright-core, pinned by tests/browser/package-lock.json (npm ci), unless
#    node_modules already matches the lock file.
# playwright-core never downloads a browser: the tests drive Debian's chromium.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

if [ ! -x /usr/bin/chromium ]; then
  echo "browser.sh: installing Debian's chromium"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

command -v npm >/dev/null || { echo "browser.sh: npm (Node.js 18+) is required and not on PATH" >&2; exit 1; }

cd "$root/tests/browser"
# A copy of the lock file that node_modules was installed from: equal means nothing to do.
stamp=node_modules/.driftless-installed-lock.json
if ! cmp -s package-lock.json "$stamp" 2>/dev/null; then
  echo "browser.sh: npm ci in tests/browser"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
