#!/usr/bin/env bash
# Installs the Debian packages named on the command line that are not installed yet (as root; any other user
# only gets told what is missing).
# Mirrors come from the machine's own apt sources. Used by build.sh, native/generate-bindings.sh and tests/kernel-matrix/matrix.sh.
set -euo pipefail
missing=()
for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    if [[ $EUID -ne 0 ]]; then
        echo "install-packages.sh: ${missing[*]} not installed, and only root can install them: apt-get install ${missing[*]}" >&2
        exit 1
    fi
    echo "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
