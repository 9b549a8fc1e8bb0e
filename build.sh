#!/usr/bin/env bash
# Builds everything into out/ (the executable is out/tracer), installing what is missing first.
#   ./build.sh          install dependencies, compile the BPF programs, publish out/tracer (NativeAOT)
#   ./build.sh test     the same, then run every test (as root: the tests use the real kernel)
#   ./build.sh test unit|kernel|matrix [DOTNET TEST ARGUMENTS...]
#                       the same, then one category of tests (unit needs no root once the packages are installed)
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages the build and the tests need.
scripts/install-packages.sh clang-19 llvm-19 libbpf-dev libbpf1 bpftool libelf-dev zlib1g-dev make gcc \
    libnftables-dev libnftables1 libmnl-dev libmnl0 libnftnl-dev libnftnl11 \
    iproute2 nftables iptables iputils-ping bpftrace openssl python3-grpcio
command -v dotnet >/dev/null || { echo "build.sh: the .NET 10 SDK is required (dotnet not on PATH)" >&2; exit 1; }

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet publish src/Tracer/Tracer.csproj -c Release -o out --nologo -v:q
rm -f out/*.dbg out/*.pdb
echo "build.sh: built out/tracer"

if [[ "${1:-}" == "test" ]]; then
    shift
    exec tests/run.sh "$@"
fi
