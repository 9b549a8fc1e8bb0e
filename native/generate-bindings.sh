#!/usr/bin/env bash
# Regenerates src/Tracer/Native/Generated/*.g.cs from the C headers named in native/bindings.json, and
# BpfObjects.g.cs from the BPF objects compiled from bpf/*.bpf.c.
set -euo pipefail
cd "$(dirname "$0")/.."
# The headers read and the compilers asked for their include directories (Debian packages).
scripts/install-packages.sh clang-19 gcc make libc6-dev linux-libc-dev libbpf-dev libnftables-dev libmnl-dev libnftnl-dev
command -v dotnet >/dev/null || { echo "generate-bindings.sh: the .NET 10 SDK is required (dotnet not on PATH)" >&2; exit 1; }
clang_resource_dir=$(clang-19 -print-resource-dir)
multiarch=$(gcc -print-multiarch)
objects=$(mktemp -d)
trap 'rm -rf "$objects"' EXIT
make -s -C bpf OUTPUT="$objects"
dotnet run --project native/BindingGenerator -c Release -- native/bindings.json . "$objects" \
    -D_GNU_SOURCE -Ibpf/include -Inative/include -isystem "$clang_resource_dir/include" -idirafter "/usr/include/$multiarch"
