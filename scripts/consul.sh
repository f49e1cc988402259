#!/usr/bin/env bash
# Builds a real Consul agent into bin/consul from tools/consul (a separate module),
# skipping the build when bin/consul already reports the pinned version.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
want=$(awk '/^require github.com\/hashicorp\/consul /{print $3}' "$root/tools/consul/go.mod")
bin="$root/bin/consul"
if [ -x "$bin" ] && "$bin" version 2>/dev/null | head -1 | grep -q "Consul ${want}"; then
  echo "consul.sh: $bin is already ${want}"
  exit 0
fi
echo "consul.sh: building Consul ${want} into $bin (takes a few minutes the first time)"
mkdir -p "$root/bin"
cd "$root/tools/consul"
if [ ! -f go.sum ]; then
  GOFLAGS=-mod=mod go mod tidy
fi
GOFLAGS=-mod=mod go build -o "$bin" github.com/hashicorp/consul
"$bin" version | head -1
