#!/usr/bin/env bash
# Installs crane (go-containerregistry: builds, pushes and inspects OCI
# images without a container runtime) into target/tools/bin through the Go
# module proxy. Idempotent.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/go-install.sh" crane "${CRANE_VERSION:-v0.22.1}" \
  github.com/google/go-containerregistry/cmd/crane
