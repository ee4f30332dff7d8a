#!/usr/bin/env bash
# Installs the sops CLI (getsops/sops) into target/tools/bin through the Go
# module proxy: the SOPS tests encrypt their fixtures with the real binary.
# Its version is a constant in its source, so no ldflags are needed. Idempotent.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/go-install.sh" sops "${SOPS_VERSION:-v3.13.3}" \
  github.com/getsops/sops/v3/cmd/sops
