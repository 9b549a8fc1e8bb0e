#!/usr/bin/env bash
# Downloads Debian's cloud kernel of one suite (image, headers, kbuild) and unpacks it:
#   fetch-kernel.sh SUITE CACHE_DIR      e.g. fetch-kernel.sh trixie ~/.cache/tracer/kernels
# Prints the unpacked root (CACHE_DIR/SUITE/root) on stdout. A private apt configuration
# (state, cache and sources under CACHE_DIR/SUITE/apt) leaves the machine's apt untouched;
# the mirror is the one the machine's own sources already use.
set -euo pipefail
suite=$1
dir=$2/$suite
mkdir -p "$dir/apt/lists/partial" "$dir/apt/archives/partial" "$dir/debs"

# The first Debian mirror in the machine's sources (deb822 "URIs:" or one-line "deb URL suite …").
mirror_of() { # $1: debian | debian-security
    local sources
    sources=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    { awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' <<<"$sources"
      sed -nE 's/^deb (\[[^]]*\] )?([^ ]+) .*/\2/p' <<<"$sources"
    } | grep -E "/$1/?\$" | head -n1 || true
}
main=$(mirror_of debian)
security=$(mirror_of debian-security)
[[ -n $main ]] || { echo "fetch-kernel.sh: no Debian mirror found in the machine's apt sources" >&2; exit 1; }
security=${security:-${main%/debian}/debian-security}

cat > "$dir/apt/sources.list" <<SOURCES
deb $main $suite main
deb $main $suite-updates main
deb $security $suite-security main
SOURCES
apt_options=(-o "Dir::Etc::SourceList=$dir/apt/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
             -o "Dir::State::Lists=$dir/apt/lists" -o "Dir::Cache::Archives=$dir/apt/archives"
             -o "Dir::State::status=/dev/null" -o "APT::Architecture=amd64" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")

# Kbuild tools of a newer suite may need a newer glibc than this machine's: run those through
# that suite's own loader and libc (unpacked beside them), so the test module still builds here.
wrap_newer_tools() {
    local tool libc_root=$dir/libc
    for tool in $(find "$dir/root/usr/lib/linux-kbuild-"* -type f -perm -u+x); do
        [[ $(head -c4 "$tool") == $'\x7fELF' ]] || continue
        /lib64/ld-linux-x86-64.so.2 --list "$tool" 2>&1 | grep -q "version .GLIBC_.* not found" || continue
        if [[ ! -d $libc_root ]]; then
            (cd "$dir/debs" && apt-get "${apt_options[@]}" download -qq libc6 >&2)
            dpkg-deb -x "$dir"/debs/libc6_*.deb "$libc_root"
        fi
        mv "$tool" "$tool.glibc"
        printf '#!/bin/sh\nexec %s --library-path %s "$0.glibc" "$@"\n' \
            "$(ls "$libc_root"/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$libc_root"/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 2>/dev/null | head -n1)" \
            "$libc_root/usr/lib/x86_64-linux-gnu:$libc_root/lib/x86_64-linux-gnu" > "$tool"
        chmod +x "$tool"
    done
}

# The kernel image's ELF (vmlinux) from its compressed payload, as the kernel's extract-vmlinux does:
# the headers need it as the BTF base of modules built with BTF.
extract_vmlinux() { # $1: vmlinuz, $2: output
    local pair tool magic offset
    for pair in 'lz4 -dc:\x02\x21\x4c\x18' 'zstd -dcq:\x28\xb5\x2f\xfd' 'xz -dc:\xfd7zXZ\x00' 'gzip -dc:\x1f\x8b\x08'; do
        tool=${pair%%:*}; magic=${pair#*:}
        for offset in $(LC_ALL=C grep -aboP "$magic" "$1" | cut -d: -f1 | head -n5); do
            tail -c +$((offset + 1)) "$1" | $tool > "$2" 2>/dev/null || true
            [[ $(head -c4 "$2") == $'\x7fELF' ]] && return 0
        done
    done
    echo "fetch-kernel.sh: could not extract vmlinux from $1" >&2
    return 1
}

stamp=$dir/root/.ready   # written last: an unpack without it is redone
if [[ ! -f $stamp ]]; then
    apt-get "${apt_options[@]}" update -qq >&2
    # The cloud flavour's meta package names the current ABI: linux-image-<abi>-cloud-amd64[-unsigned].
    image=$(apt-cache "${apt_options[@]}" depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    abi=${image#linux-image-}
    [[ $abi == *-cloud-amd64 ]] || { echo "fetch-kernel.sh: cannot resolve the cloud kernel of $suite" >&2; exit 1; }
    common=$(apt-cache "${apt_options[@]}" depends "linux-headers-$abi" | awk '/Depends: linux-headers-.*-common/ {print $2; exit}')
    kbuild=$(apt-cache "${apt_options[@]}" depends "linux-headers-$abi" | awk '/Depends: linux-kbuild-/ {print $2; exit}')
    (cd "$dir/debs" && rm -f ./*.deb && apt-get "${apt_options[@]}" download -qq "$image" "linux-headers-$abi" "$common" "$kbuild" >&2)
    rm -rf "$dir/root" "$dir/libc" && mkdir -p "$dir/root"
    for deb in "$dir"/debs/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
    # The headers include their common half by absolute path: point it at the unpacked copy.
    sed -i "s|^include /usr/src/|include $dir/root/usr/src/|" "$dir/root/usr/src/linux-headers-$abi/Makefile"
    # Module dependencies are computed at install time, which a plain unpack skips.
    [[ -e $dir/root/lib ]] || ln -s usr/lib "$dir/root/lib"
    depmod -b "$dir/root" "$abi"
    wrap_newer_tools
    extract_vmlinux "$dir/root/boot/vmlinuz-$abi" "$dir/root/usr/src/linux-headers-$abi/vmlinux"
    echo "$abi" > "$stamp"
fi
echo "$dir/root"
