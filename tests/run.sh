#!/usr/bin/env bash
# Runs every test against the real kernel. Needs root (namespaces, nftables, BPF) and a built out/tracer:
# use ./build.sh test, which installs, builds and then calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $EUID -ne 0 ]]; then
    echo "tests/run.sh: the tests load BPF programs and create network namespaces: run as root" >&2
    exit 3
fi
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 TRACER_EXE="$PWD/out/tracer"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
dotnet test tests/Tracer.Tests/Tracer.Tests.csproj -c Release --nologo --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log" || status=$?
# One plain summary line that any CI reader understands, from the runner's closing totals.
count() { grep -E "^ +$1: +[0-9]+" "$log" | tail -1 | grep -oE '[0-9]+' || echo 0; }
if grep -qE '^Total tests: +[0-9]+' "$log"; then
    echo "tests: $(count Passed) passed, $(count Failed) failed, $(count Skipped) skipped"
fi
exit $status
