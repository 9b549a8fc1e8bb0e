#!/usr/bin/env bash
# Puts promtool (from Debian's prometheus package) in a cache directory for the tests that check PromQL, without
# installing the package: that would start a Prometheus server on the machine. Prints the path of the executable.
#   scripts/install-promtool.sh [CACHE DIRECTORY]   (default /var/cache/tracer-tests/promtool; as root)
# Mirrors come from the machine's own apt sources.
set -euo pipefail
cache=${1:-/var/cache/tracer-tests/promtool}
promtool=$cache/usr/bin/promtool
if [[ ! -x $promtool ]]; then
    if [[ $EUID -ne 0 ]]; then
        echo "install-promtool.sh: $promtool is missing, and only root can fetch it" >&2
        exit 1
    fi
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    # apt-get download runs as the _apt user when it can: the directory must be theirs to write.
    chown _apt "$work" 2>/dev/null || true
    if ! (cd "$work" && apt-get download -qq prometheus >/dev/null 2>&1); then
        apt-get update -qq
        (cd "$work" && apt-get download -qq prometheus >/dev/null)
    fi
    mkdir -p "$cache"
    dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
    install -D -m 0755 "$work/root/usr/bin/promtool" "$promtool"
fi
echo "$promtool"
