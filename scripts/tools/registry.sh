#!/usr/bin/env bash
# Installs the CNCF distribution registry (an OCI registry for tests) into
# target/tools/bin through the Go module proxy. Idempotent.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/go-install.sh" registry "${REGISTRY_VERSION:-v3.1.2}" \
  github.com/distribution/distribution/v3/cmd/registry
