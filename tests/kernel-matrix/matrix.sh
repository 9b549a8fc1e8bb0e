#!/usr/bin/env bash
# The kernel matrix: runs Tracer's scenarios on Debian's cloud kernels under QEMU.
#   tests/kernel-matrix/matrix.sh [SUITE...]      (default: bullseye bookworm trixie; needs root, out/tracer)
# Environment: TRACER_KERNEL_CACHE, TRACER_MATRIX_OUTPUT (default out/kernel-matrix), TRACER_GUEST_TIMEOUT.
# For each suite: fetch the kernel and its headers (cached in $TRACER_KERNEL_CACHE, default
# ~/.cache/tracer/kernels), build the EDR stand-in module against those headers, sign it and install it under
# /lib/modules/ABI/extra as a vendor's package would (with its modules.dep line), pack an initramfs
# (busybox, out/tracer, ip/tc/nft, the test programs, the libraries ldd names, the kernel modules
# the scenarios need), boot it (KVM when a guest really runs with it, software emulation otherwise) and collect:
#   out/kernel-matrix/SUITE/results.jsonl   the guest's JSON lines (second serial port)
#   out/kernel-matrix/SUITE/console.log     the serial console
#   out/kernel-matrix/SUITE/run.json        kernel, outcome, wall time (boot and suite times: the done line)
#   out/kernel-matrix/SUITE/selinux/*       the same from a second boot with SELinux on (the selinux scenario)
#   docs/kernel-matrix.md                   the support matrix, after a full run (support-matrix.cs)
# Exit status: 0 when every guest ran its scenarios to the end (whether they pass is for the tests),
# 3 when one did not (its console is printed), anything else when the harness itself failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
suites=("$@"); ((${#suites[@]})) || suites=(bullseye bookworm trixie)
cache=${TRACER_KERNEL_CACHE:-$HOME/.cache/tracer/kernels}
results=${TRACER_MATRIX_OUTPUT:-$repo/out/kernel-matrix}
guest_timeout=${TRACER_GUEST_TIMEOUT:-900}   # seconds a guest may take from boot to power-off
[[ -x out/tracer ]] || { echo "matrix.sh: build first (./build.sh): out/tracer is missing" >&2; exit 1; }

scripts/install-packages.sh qemu-system-x86 busybox-static cpio xz-utils zstd lz4 kmod dwarves secilc

work=$(mktemp -d /tmp/tracer-matrix.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Guest tools that do not depend on the kernel.
gcc -O2 -Wall -o "$work/udp_send" tests/kernel-matrix/guest/udp_send.c
gcc -O2 -Wall -o "$work/udp_sink" tests/kernel-matrix/guest/udp_sink.c
gcc -O2 -Wall -o "$work/bpf_load" tests/tools/bpf_load.c -lbpf
secilc --policyvers=31 -o "$work/selinux_policy.bin" -f /dev/null tests/kernel-matrix/guest/selinux_policy.cil
# The EDR vendor's module signing key: a throwaway one, which the guests' kernels do not trust (taint E).
openssl req -new -x509 -nodes -newkey rsa:2048 -days 1 -subj "/O=Example EDR Inc./CN=Example EDR Inc. signing key" \
    -keyout "$work/signing_key.pem" -out "$work/signing_key.x509" 2>/dev/null
for program in tests/kernel-matrix/guest/lsm_deny.bpf.c tests/Tracer.Tests/Infrastructure/Programs/edr_drop.bpf.c; do
    clang-19 -target bpf -g -O2 -D__TARGET_ARCH_x86 -Ibpf/include -idirafter /usr/include/x86_64-linux-gnu \
        -c "$program" -o "$work/$(basename "${program%.c}").o"
done

# copy_with_libraries STAGE FILE...: each file and every library ldd names, at the same paths.
copy_with_libraries() {
    local stage=$1 file library; shift
    for file in "$@"; do
        mkdir -p "$stage$(dirname "$file")"
        cp -L "$file" "$stage$file"
        for library in $(ldd "$file" 2>/dev/null | grep -oE '/[^ ]+'); do
            [[ -e $stage$library ]] && continue
            mkdir -p "$stage$(dirname "$library")"
            cp -L "$library" "$stage$library"
        done
    done
}

# add_modules STAGE MODULES_DIR NAME...: the named modules and what they depend on, uncompressed,
# with the order to insmod them (dependencies first) in lib/modules/load-order.
add_modules() {
    local stage=$1 modules=$2 name path; shift 2
    local -a order=()
    local -A seen=()
    visit() {
        local line=$(grep -E "(^|/)$1\.ko(\.[a-z]+)?:" "$modules/modules.dep" | head -n1) dep
        [[ -n $line ]] || return 0   # built into this kernel
        for dep in ${line#*:}; do visit "$(basename "${dep%%.ko*}")"; done
        [[ -n ${seen[$1]:-} ]] && return 0
        seen[$1]=1
        order+=("${line%%:*}")
    }
    for name in "$@"; do visit "$name"; done
    mkdir -p "$stage/lib/modules"
    : > "$stage/lib/modules/load-order"
    for path in "${order[@]}"; do
        local target=$stage/lib/modules/$(basename "${path%%.ko*}").ko
        case $path in
            *.ko.xz) xz -dc "$modules/$path" > "$target" ;;
            *.ko.zst) zstd -qdc "$modules/$path" > "$target" ;;
            *) cp "$modules/$path" "$target" ;;
        esac
        basename "$target" >> "$stage/lib/modules/load-order"
    done
}

# choose_accelerator KERNEL: sets accel to kvm when a KVM guest really runs here, else tcg. /dev/kvm can be
# there and still hang its guests without a word (seen on a nested VM whose CPU flags hide vmx): the kernel
# alone, with no root to mount, must panic and say so within 30 s. Decided once, on the first kernel booted.
accel=
choose_accelerator() {
    if [[ -z $accel ]]; then
        local console=
        [[ -w /dev/kvm ]] && console=$(timeout --kill-after=5 30 qemu-system-x86_64 -accel kvm -m 256 -kernel "$1" \
            -append "console=ttyS0 panic=-1" -display none -monitor none -no-reboot -nic none -serial stdio 2>/dev/null || true)
        [[ $console == *"Kernel panic"* ]] && accel=kvm || accel=tcg
        echo "matrix.sh: guests run with $accel"
    fi
}

# boot_guest SUITE ABI ROOT INITRAMFS OUT [KERNEL_ARGS]: boots the guest, collects its output in OUT (see above),
# returns non-zero when it did not run its scenarios to the end (its console is printed).
boot_guest() {
    local suite=$1 abi=$2 root=$3 initramfs=$4 out=$5 args=${6:-lsm=lockdown,capability,landlock,bpf} attempt status start elapsed outcome
    choose_accelerator "$root/boot/vmlinuz-$abi"
    for attempt in 1 2; do
        echo "matrix.sh: booting $abi ($args)"
        start=$(date +%s%N)
        status=0
        timeout --kill-after=10 "$guest_timeout" qemu-system-x86_64 -accel "$accel" -m 1536 -smp 2 \
            -kernel "$root/boot/vmlinuz-$abi" -initrd "$initramfs" \
            -append "console=ttyS0 panic=-1 quiet loglevel=3 $args" \
            -display none -monitor none -no-reboot -nic none \
            -serial "file:$out/console.log" -serial "file:$out/results.jsonl" || status=$?
        elapsed=$((($(date +%s%N) - start) / 1000000000))
        # A kernel that died before /init reported anything (an early-boot oops under TCG emulation, seen once
        # on 6.12) gets one more boot; a guest that hung, or failed once scenarios ran, is reported as it is.
        if [[ -s $out/results.jsonl ]] || ((status == 124 || status == 137 || attempt == 2)); then
            break
        fi
        echo "matrix.sh: $abi died before its first result (console: $(grep -m1 -o 'Kernel panic.*' "$out/console.log")); booting it once more"
    done
    if grep -q '"kind":"done"' "$out/results.jsonl" 2>/dev/null; then
        outcome=completed
    elif ((status == 124 || status == 137)); then
        outcome="hung: no end within ${guest_timeout}s"
    else
        outcome="failed: qemu exit $status before the scenarios ended"
    fi
    printf '{"suite":"%s","kernel":"%s","outcome":"%s","wall_seconds":%d}\n' \
        "$suite" "$abi" "$outcome" "$elapsed" > "$out/run.json"
    echo "matrix.sh: $abi: $outcome (${elapsed} s)"
    if [[ $outcome != completed ]]; then
        echo "---- console of $abi (last 60 lines) ----" >&2
        tail -n 60 "$out/console.log" >&2
        return 1
    fi
}

overall=0
for suite in "${suites[@]}"; do
    out=$results/$suite
    rm -rf "$out" && mkdir -p "$out"
    root=$(tests/kernel-matrix/fetch-kernel.sh "$suite" "$cache")
    abi=$(cat "$root/.ready")
    modules=$(ls -d "$root"/lib/modules/"$abi" "$root"/usr/lib/modules/"$abi" 2>/dev/null | head -n1 || true)
    [[ -f $modules/modules.dep ]] || { echo "matrix.sh: no modules.dep for $abi in $root" >&2; exit 1; }

    # The EDR stand-in, built twice with this machine's gcc against the suite's headers: without BTF,
    # as out-of-tree modules usually come (only kprobes can observe it), and with BTF (fexit can; another
    # MODULE_VERSION, so that the installed file, the plain build, is not taken for it).
    # The overrides drop what this gcc lacks (gcc 14's -fmin-function-alignment) and resolve_btfids,
    # which bookworm's kbuild lacks and the module (no BTF ids) does not need; pahole's flags are
    # chosen for this machine's pahole, not the one the kernel was built with.
    for variant in plain btf; do
        build=$work/edr-$suite-$variant
        cp -r tests/kernel-matrix/edr_agent "$build"
        if [[ $variant == btf ]]; then
            btf=(RESOLVE_BTFIDS=true "CONFIG_PAHOLE_VERSION=$(pahole --version | tr -dc 0-9)" 'KCFLAGS=-DEDR_AGENT_VERSION=\"7.1.3-btf\"')
        else
            btf=(CONFIG_DEBUG_INFO_BTF_MODULES=)
        fi
        make -s -C "$root/usr/src/linux-headers-$abi" M="$build" CC=gcc CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT= "${btf[@]}" \
            modules >"$build.log" 2>&1 || { cat "$build.log" >&2; echo "matrix.sh: the EDR module does not build for $abi" >&2; exit 1; }
    done
    # Signed as the kernel build signs modules: the suite's own scripts/sign-file, where it runs on this machine
    # (bullseye's wants OpenSSL 1.1), else tests/tools/sign-module.sh, which writes the same layout.
    plain=$work/edr-$suite-plain/edr_agent.ko
    sign_file=$(ls "$root"/usr/lib/linux-kbuild-*/scripts/sign-file 2>/dev/null | head -n1 || true)
    if [[ -n $sign_file ]] && "$sign_file" sha256 "$work/signing_key.pem" "$work/signing_key.x509" "$plain" 2>/dev/null; then
        echo "matrix.sh: edr_agent.ko signed by $abi's scripts/sign-file"
    else
        tests/tools/sign-module.sh sha256 "$work/signing_key.pem" "$work/signing_key.x509" "$plain"
        echo "matrix.sh: edr_agent.ko signed by tests/tools/sign-module.sh"
    fi

    stage=$work/stage-$suite
    mkdir -p "$stage"/{bin,sbin,usr/bin,proc,sys,dev,tmp,run,etc,matrix,var/run}
    cp /bin/busybox "$stage/bin/busybox"
    copy_with_libraries "$stage" "$repo/out/tracer" "$work/udp_send" "$work/udp_sink" "$work/bpf_load" \
        "$(command -v ip)" "$(command -v tc)" "$(command -v nft)" \
        /lib/x86_64-linux-gnu/libbpf.so.1 /lib/x86_64-linux-gnu/libnftables.so.1 \
        /lib/x86_64-linux-gnu/libmnl.so.0 /lib/x86_64-linux-gnu/libnftnl.so.11   # dlopen'ed by out/tracer
    mv "$stage$repo/out/tracer" "$stage/usr/bin/tracer"
    mv "$stage$work/udp_send" "$stage$work/udp_sink" "$stage$work/bpf_load" "$stage/usr/bin/"
    cp "$work"/*.bpf.o "$stage/matrix/"
    # Installed as a vendor's package installs it, with the line depmod writes for it.
    mkdir -p "$stage/lib/modules/$abi/extra"
    cp "$plain" "$stage/lib/modules/$abi/extra/edr_agent.ko"
    echo "extra/edr_agent.ko:" > "$stage/lib/modules/$abi/modules.dep"
    cp "$work/edr-$suite-btf/edr_agent.ko" "$stage/matrix/edr_agent_btf.ko"
    cp tests/kernel-matrix/guest/init "$stage/init"
    cp tests/kernel-matrix/guest/scenarios.sh "$work/selinux_policy.bin" "$stage/matrix/"
    add_modules "$stage" "$modules" veth nf_tables nft_limit nft_counter nft_objref
    (cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initramfs-$suite.gz"

    boot_guest "$suite" "$abi" "$root" "$work/initramfs-$suite.gz" "$out" || overall=3
    mkdir -p "$out/selinux"
    boot_guest "$suite" "$abi" "$root" "$work/initramfs-$suite.gz" "$out/selinux" "lsm=lockdown,capability,landlock,selinux,bpf tracer.matrix=selinux" || overall=3
done

# The support matrix in docs/ is generated from a full run, never written by hand.
if ((overall == 0)) && [[ "${suites[*]}" == "bullseye bookworm trixie" && $results == "$repo/out/kernel-matrix" ]]; then
    dotnet run tests/kernel-matrix/support-matrix.cs -- "$results" docs/kernel-matrix.md "${suites[@]}"
fi
exit $overall
