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
# One plain summary line that any CI reader understands.
if summary=$(grep -E '^(Passed|Failed)!' "$log" | tail -1); then
    passed=$(sed -E 's/.*Passed: *([0-9]+).*/\1/' <<<"$summary")
    failed=$(sed -E 's/.*Failed: *([0-9]+),.*/\1/' <<<"$summary")
    skipped=$(sed -E 's/.*Skipped: *([0-9]+).*/\1/' <<<"$summary")
    echo "tests: $passed passed, $failed failed, $skipped skipped"
fi
exit $status
