#!/usr/bin/env bash
# Regenerates src/Tracer/Native/Generated/*.g.cs from the C headers named in native/bindings.json.
set -euo pipefail
cd "$(dirname "$0")/.."
clang_resource_dir=$(clang-19 -print-resource-dir)
multiarch=$(gcc -print-multiarch)
dotnet run --project native/BindingGenerator -c Release -- native/bindings.json . \
    -D_GNU_SOURCE -Ibpf/include -Inative/include -isystem "$clang_resource_dir/include" -idirafter "/usr/include/$multiarch"
