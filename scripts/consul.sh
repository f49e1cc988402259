#!/usr/bin/env bash
# Builds a real Consul agent into bin/consul from tools/consul (a separate module),
# skipping the build when bin/consul already reports the pinned version.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# The pinned version, whether go.mod lists it on a require line or in a block.
want=$(awk '$1=="require" && $2=="github.com/hashicorp/consul" {print $3; exit}
            $1=="github.com/hashicorp/consul" {print $2; exit}' "$root/tools/consul/go.mod")
if [ -z "$want" ]; then
  echo "consul.sh: no github.com/hashicorp/consul version in tools/consul/go.mod" >&2
  exit 1
fi
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
