#!/usr/bin/env bash
# Runs the tests against a built out/tracer: use ./build.sh test, which installs, builds and then calls this.
#   tests/run.sh [unit|kernel|matrix] [DOTNET TEST ARGUMENTS...]
# Without a category, every test. unit needs no root; kernel (namespaces, nftables, BPF) and matrix (QEMU) do.
# A --filter is combined with the category's: tests/run.sh kernel --filter FullyQualifiedName~Doctor
set -euo pipefail
cd "$(dirname "$0")/.."
category=
case ${1:-} in
    unit | kernel | matrix) category=$1; shift ;;
esac
if [[ $category != unit && $EUID -ne 0 ]]; then
    case $category in
        kernel) why="the kernel tests load BPF programs and create network namespaces" ;;
        matrix) why="the kernel matrix installs packages and boots kernels in QEMU" ;;
        *) why="the kernel tests load BPF programs and create network namespaces; the kernel matrix boots kernels in QEMU" ;;
    esac
    echo "tests/run.sh: $why: run as root (the unit tests need no root: ./build.sh test unit)" >&2
    exit 3
fi
# dotnet test takes one --filter: the category's and the caller's become one.
arguments=()
filter=
while (($#)); do
    case $1 in
        --filter) (($# >= 2)) || { echo "tests/run.sh: --filter needs an expression" >&2; exit 2; }
                  filter=$2; shift 2 ;;
        --filter=*) filter=${1#--filter=}; shift ;;
        *) arguments+=("$1"); shift ;;
    esac
done
if [[ -n $category ]]; then
    filter="Category=$category${filter:+&($filter)}"
fi
[[ -z $filter ]] || arguments+=(--filter "$filter")

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 TRACER_EXE="$PWD/out/tracer"
# The kernel tests of deploy/ check PromQL with promtool; without it they fail saying so, the other tests still run.
if [[ $category == "" || $category == kernel ]]; then
    TRACER_PROMTOOL=$(scripts/install-promtool.sh) || echo "tests/run.sh: promtool could not be fetched: the dashboard tests will fail" >&2
    export TRACER_PROMTOOL
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
dotnet test tests/Tracer.Tests/Tracer.Tests.csproj -c Release --nologo --logger "console;verbosity=normal" "${arguments[@]}" 2>&1 | tee "$log" || status=$?
# One plain summary line that any CI reader understands, from the runner's closing totals.
count() { grep -E "^ +$1: +[0-9]+" "$log" | tail -1 | grep -oE '[0-9]+' || echo 0; }
if grep -qE '^Total tests: +[0-9]+' "$log"; then
    echo "tests${category:+ ($category)}: $(count Passed) passed, $(count Failed) failed, $(count Skipped) skipped"
fi
exit $status
