#!/usr/bin/env bash
# drop-flood.sh: what does tracing a flood of kernel packet drops cost?
#
# Builds a throw-away Calico-style node/pod pair of network namespaces, makes the node's
# nftables output chain drop UDP to the pod, and floods it with N datagrams (each refused
# sendto = one kfree_skb drop, reason NETFILTER_DROP). Each round floods once under Tracer
# and once under a minimal bpftrace counter, alternating, and reports medians:
#   - BPF ns per drop (kernel.bpf_stats_enabled run_time_ns / run_cnt over the flood),
#   - for Tracer: drops counted vs sent, samples lost, process CPU, peak RSS,
#   - the flood rate.
# Writes the table to benchmarks/results.md as well.
#
# Usage: sudo benchmarks/drop-flood.sh        (env: N=drops per flood, RUNS=rounds,
#        TRACER_ARGS=extra arguments for tracer trace, e.g. "--otlp-endpoint http://127.0.0.1:4317")
# Everything it creates (namespaces, processes, tracefs mount, sysctl) is undone on exit.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TRACER=${TRACER:-$REPO/out/tracer}
N=${N:-2000000}
RUNS=${RUNS:-3}
RESULTS_MD=$REPO/benchmarks/results.md
FLOOD_SRC=$REPO/benchmarks/udp_flood.c

NODE_NS=bench-node-$$
POD_NS=bench-pod-$$
POD_IP=10.250.0.2   # must match DEST_ADDR in udp_flood.c

die() { echo "drop-flood: error: $*" >&2; exit 1; }
log() { echo "drop-flood: $*" >&2; }

# --- preconditions ---------------------------------------------------------------------
[[ $EUID -eq 0 ]] || die "must run as root (it creates network namespaces and loads BPF programs)"
[[ -x $TRACER ]] || die "$TRACER is missing or not executable: run ./build.sh first"
[[ -f $FLOOD_SRC ]] || die "$FLOOD_SRC is missing"
[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer (got '$N')"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer (got '$RUNS')"
for tool in ip nft bpftool bpftrace gcc python3 getconf sysctl flock; do
    command -v "$tool" >/dev/null || die "'$tool' is not installed"
done
CLK_TCK=$(getconf CLK_TCK)

# One run at a time: two runs would share the CPU, and since both floods go to the same pod
# address, each Tracer would also count the other run's drops. Lock this script file itself.
exec 9<"${BASH_SOURCE[0]}"
if ! flock -n 9; then
    log "another drop-flood.sh is running; waiting up to 15 min for it to finish"
    flock -w 900 9 || die "gave up waiting for the other drop-flood.sh run"
fi

# --- cleanup: runs on any exit, including failures and Ctrl-C --------------------------
WORK=""
CREATED_NODE_NS=0
CREATED_POD_NS=0
MOUNTED_TRACEFS=0
OLD_BPF_STATS=""
BG_PID=""   # the tracer or bpftrace currently running, if any

# Stop one background process we started: SIGINT first (both tools print on it), then KILL.
stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -INT "$pid" 2>/dev/null || true
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    [[ -n $BG_PID ]] && stop_pid "$BG_PID"
    # Deleting the node namespace also deletes the veth pair and its nftables table.
    ((CREATED_NODE_NS)) && ip netns del "$NODE_NS" 2>/dev/null
    ((CREATED_POD_NS)) && ip netns del "$POD_NS" 2>/dev/null
    [[ -n $OLD_BPF_STATS ]] && sysctl -qw kernel.bpf_stats_enabled="$OLD_BPF_STATS"
    ((MOUNTED_TRACEFS)) && umount /sys/kernel/tracing 2>/dev/null
    [[ -n $WORK ]] && rm -rf "$WORK"
    ((rc != 0)) && log "failed (exit $rc); cleaned up"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

WORK=$(mktemp -d /tmp/drop-flood.XXXXXX)

# Start a command in the background with SIGINT at its default action. Bash starts background
# jobs with SIGINT ignored (and a script that was itself started in the background inherits
# that), and Tracer (.NET) and bpftrace would then ignore the SIGINT this script uses to stop
# them cleanly. Python, then exec, resets it; the pid stays the same through every exec.
start_bg() {
    local out=$1 err=$2; shift 2
    python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' "$@" >"$out" 2>"$err" 9<&- &
    BG_PID=$!
}

# --- small helpers (python3 parses JSON; jq is not required) ----------------------------

# "run_time_ns run_cnt" of one BPF program (bpftool omits both while they are 0).
prog_stats() {
    bpftool prog show id "$1" --json | python3 -c '
import json, sys
p = json.load(sys.stdin)
print(p.get("run_time_ns", 0), p.get("run_cnt", 0))'
}

# "run_time_ns run_cnt" summed over BPF programs (programs attached during the flood start at 0).
prog_stats_sum() {
    local ns=0 runs=0 id t c
    for id in "$@"; do
        read -r t c < <(prog_stats "$id")
        ns=$((ns + t)); runs=$((runs + c))
    done
    echo "$ns $runs"
}

# utime+stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat; the command
# name in field 2 may contain spaces, so split after its closing parenthesis).
cpu_ticks() {
    local stat rest f
    stat=$(<"/proc/$1/stat")
    rest=${stat##*) }
    read -r -a f <<<"$rest"
    echo $((f[11] + f[12]))
}

# Ids of the BPF programs a process holds (its fds' fdinfo has prog_id for programs and links).
prog_ids_of_pid() {
    grep -h '^prog_id:' "/proc/$1"/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -un
}

# Id of the one program among the given ids matching a field=value in bpftool's JSON.
pick_prog() {
    local field=$1 value=$2; shift 2
    bpftool prog show --json | python3 -c '
import json, sys
field, value, ids = sys.argv[1], sys.argv[2], {int(i) for i in sys.argv[3:]}
hits = [p["id"] for p in json.load(sys.stdin) if p["id"] in ids and str(p.get(field)) == value]
print(hits[0] if len(hits) == 1 else "")' "$field" "$value" "$@"
}

# How many other BPF programs are attached to kfree_skb right now (not prog $1): each one runs
# on every drop of the flood too, slowing it, so the report flags rounds that had any.
other_kfree_skb_progs() {
    bpftool perf show --json | python3 -c '
import json, sys
print(len({e["prog_id"] for e in json.load(sys.stdin)
           if e.get("tracepoint") == "kfree_skb" and e["prog_id"] != int(sys.argv[1])}))' "$1"
}

# Runs the flooder in the node namespace; prints its "key=value ..." line.
flood() {
    # Re-assert: anything else on the machine that switches BPF stats off would zero our deltas.
    sysctl -qw kernel.bpf_stats_enabled=1
    ip netns exec "$NODE_NS" "$WORK/udp_flood" "$N"
}

# --- setup ------------------------------------------------------------------------------
log "compiling the flooder"
gcc -O2 -Wall -o "$WORK/udp_flood" "$FLOOD_SRC"

log "creating namespaces $NODE_NS and $POD_NS"
ip netns add "$NODE_NS" && CREATED_NODE_NS=1
ip netns add "$POD_NS" && CREATED_POD_NS=1
# Created inside the node namespace directly, so nothing ever appears in the root namespace.
ip -n "$NODE_NS" link add calibench type veth peer name eth0 netns "$POD_NS"
ip -n "$POD_NS" addr add "$POD_IP/32" dev eth0
ip -n "$POD_NS" link set lo up
ip -n "$POD_NS" link set eth0 up
ip -n "$NODE_NS" link set lo up
ip -n "$NODE_NS" link set calibench up
# The /32 route on a cali* interface is what makes Tracer watch the pod's address.
ip -n "$NODE_NS" route add "$POD_IP/32" dev calibench
NODE_NETNS=$(stat -L -c %i "/run/netns/$NODE_NS")   # its inode: the netns field of Tracer's JSON
ip netns exec "$NODE_NS" nft -f - <<EOF
table inet bench {
    chain output {
        type filter hook output priority 0;
        ip daddr $POD_IP udp dport 9 drop
    }
}
EOF

# Per-program run time and count are only kept while this is on.
OLD_BPF_STATS=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1

# bpftrace reads tracepoint formats from tracefs; mount it only if nobody has.
if [[ ! -d /sys/kernel/tracing/events ]]; then
    mount -t tracefs tracefs /sys/kernel/tracing
    MOUNTED_TRACEFS=1
fi

RUNS_FILE=$WORK/runs.txt
: >"$RUNS_FILE"

# --- one flood under Tracer -------------------------------------------------------------
run_tracer() {
    local round=$1 out=$WORK/tracer-$1.json err=$WORK/tracer-$1.err i prog
    # shellcheck disable=SC2086  # TRACER_ARGS is a list of arguments
    start_bg "$out" "$err" ip netns exec "$NODE_NS" "$TRACER" trace --output json ${TRACER_ARGS:-}
    local pid=$BG_PID   # python3 and ip netns exec both exec, so this is Tracer's own pid
    for i in $(seq 300); do
        grep -q '^tracing:' "$err" && break
        kill -0 "$pid" 2>/dev/null || die "tracer exited before attaching: $(cat "$err")"
        sleep 0.1
    done
    grep -q '^tracing:' "$err" || die "tracer did not attach within 30 s: $(cat "$err")"
    grep -q "$POD_IP/32" "$err" || die "tracer is not watching $POD_IP: $(grep '^tracing:' "$err")"
    [[ $(<"/proc/$pid/comm") == tracer ]] || die "pid $pid is $(<"/proc/$pid/comm"), not the tracer"

    # shellcheck disable=SC2046  # word splitting of the id list is intended
    prog=$(pick_prog name kfree_skb_btf $(prog_ids_of_pid "$pid"))
    [[ -n $prog ]] || die "no single BPF program named kfree_skb_btf held by tracer pid $pid"

    local bpf0 ticks0 res bpf1 ticks1 hwm others all0 all1
    others=$(other_kfree_skb_progs "$prog")
    # shellcheck disable=SC2046
    all0=$(prog_stats_sum $(prog_ids_of_pid "$pid"))
    bpf0=$(prog_stats "$prog")
    ticks0=$(cpu_ticks "$pid")
    res=$(flood)
    sleep 1.5   # let Tracer drain the interval that holds the flood's end
    ticks1=$(cpu_ticks "$pid")
    bpf1=$(prog_stats "$prog")
    # shellcheck disable=SC2046
    all1=$(prog_stats_sum $(prog_ids_of_pid "$pid"))
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")

    stop_pid "$pid"
    BG_PID=""
    local summary lost
    summary=$(grep '^summary:' "$err" || true)
    [[ -n $summary ]] || die "tracer printed no summary line: $(cat "$err")"
    lost=$(sed -n 's/.*samples lost \([0-9]*\).*/\1/p' <<<"$summary")
    # Tracer watches addresses, not namespaces: a flood to the same address from any other
    # namespace on this machine (another benchmark, a test) is reported too, with its own
    # netns. Count only our node namespace's drops (and overflow lines, which carry no netns;
    # there should be none) and report the rest as foreign.
    local counts counted foreign
    counts=$(python3 -c '
import json, sys
ours = foreign = 0
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    r = json.loads(line)
    if r.get("overflow") or r.get("netns") == int(sys.argv[2]):
        ours += r["count"]
    else:
        foreign += r["count"]
print(ours, foreign)' "$out" "$NODE_NETNS")
    read -r counted foreign <<<"$counts"

    # shellcheck disable=SC2086
    set -- $bpf0 $bpf1 $all0 $all1
    echo "tool=tracer round=$round $res counted=$counted foreign=$foreign others=$others lost=${lost:-?} ticks=$((ticks1 - ticks0)) hwm_kb=$hwm bpf_ns=$(($3 - $1)) bpf_runs=$(($4 - $2)) all_ns=$(($7 - $5))" >>"$RUNS_FILE"
    log "round $round tracer: $(tail -n1 "$RUNS_FILE")"
    log "round $round tracer: $summary"
}

# --- one flood under bpftrace -----------------------------------------------------------
run_bpftrace() {
    local round=$1 out=$WORK/bpftrace-$1.out err=$WORK/bpftrace-$1.err i prog="" before
    before=$(bpftool prog show --json | python3 -c '
import json, sys
print(" ".join(str(p["id"]) for p in json.load(sys.stdin)))')
    # Runs in the root namespace: it only needs tracefs (which `ip netns exec` would hide by
    # remounting /sys), and a tracepoint program sees drops of every namespace anyway.
    start_bg "$out" "$err" bpftrace -e 'tracepoint:skb:kfree_skb { @[args->reason, args->location] = count(); }'
    local pid=$BG_PID
    # Attached = the kernel lists bpftrace's pid with a perf event on the kfree_skb tracepoint.
    for i in $(seq 300); do
        prog=$(bpftool perf show --json | python3 -c '
import json, sys
pid = int(sys.argv[1])
hits = [e["prog_id"] for e in json.load(sys.stdin) if e.get("pid") == pid and e.get("tracepoint") == "kfree_skb"]
print(hits[0] if hits else "")' "$pid")
        [[ -n $prog ]] && break
        kill -0 "$pid" 2>/dev/null || die "bpftrace exited before attaching: $(cat "$out" "$err")"
        sleep 0.1
    done
    [[ -n $prog ]] || die "bpftrace did not attach within 30 s: $(cat "$out" "$err")"
    # It must be a new tracepoint program, not one that was loaded before bpftrace started.
    [[ " $before " != *" $prog "* ]] || die "program $prog existed before bpftrace started"
    [[ $(pick_prog type tracepoint "$prog") == "$prog" ]] || die "program $prog is not a tracepoint program"

    local bpf0 bpf1 res others
    others=$(other_kfree_skb_progs "$prog")
    bpf0=$(prog_stats "$prog")
    res=$(flood)
    bpf1=$(prog_stats "$prog")
    stop_pid "$pid"
    BG_PID=""

    # shellcheck disable=SC2086
    set -- $bpf0 $bpf1
    echo "tool=bpftrace round=$round $res others=$others bpf_ns=$(($3 - $1)) bpf_runs=$(($4 - $2))" >>"$RUNS_FILE"
    log "round $round bpftrace: $(tail -n1 "$RUNS_FILE")"
}

# --- measure: alternate the tools so machine-wide swings hit both alike -------------------
log "$RUNS rounds of $N drops each (Tracer, then bpftrace)"
for round in $(seq "$RUNS"); do
    run_tracer "$round"
    run_bpftrace "$round"
done

# --- report -------------------------------------------------------------------------------
# Which Tracer was measured: the binary's build time and the checkout it most likely came from.
BUILD="$TRACER, built $(date -u -r "$TRACER" '+%Y-%m-%d %H:%M UTC')"
if HEAD=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null); then
    [[ -n $(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null) ]] && HEAD+=" + uncommitted changes"
    BUILD+="; repository at $HEAD"
fi
python3 - "$RUNS_FILE" "$RESULTS_MD" "$CLK_TCK" "$(uname -r)" "$(date -u '+%Y-%m-%d %H:%M UTC')" "$N" "$RUNS" "${BUILD#"$REPO/"}" <<'PY'
import statistics, sys

runs_file, md_path, clk_tck, kernel, date, n, rounds, build = sys.argv[1:]
clk_tck = int(clk_tck)
runs = []
for line in open(runs_file):
    r = dict(kv.split("=", 1) for kv in line.split())
    runs.append(r)

def med(values):
    return statistics.median(values) if values else float("nan")

def rows_of(tool):
    return [r for r in runs if r["tool"] == tool]

def ns_per_drop(r):
    return int(r["bpf_ns"]) / int(r["bpf_runs"]) if int(r["bpf_runs"]) else float("nan")

tr, bt = rows_of("tracer"), rows_of("bpftrace")

# Per-run Tracer figures. CPU is read over the flood plus the 1.5 s drain, and divided by
# the flood's time alone, so the CPU % errs high rather than low.
for r in tr:
    cpu_s = int(r["ticks"]) / clk_tck
    r["cpu_s"] = cpu_s
    r["cpu_s_per_m"] = cpu_s / int(r["sent"]) * 1e6
    r["cpu_pct"] = cpu_s / float(r["elapsed"]) * 100
    r["rss_mb"] = int(r["hwm_kb"]) / 1024

mismatches = [r for r in tr if r["counted"] != r["sent"]]
refused_short = [r for r in runs if r["refused"] != r["sent"]]
tr_ns, bt_ns = med([ns_per_drop(r) for r in tr]), med([ns_per_drop(r) for r in bt])
# Every program Tracer holds (drop probe, sentinels, …) per drop; the foundation's drop probe alone was 147.
all_ns = med([int(r["all_ns"]) / int(r["counted"]) for r in tr if int(r["counted"])])
cpu_per_m = med([r["cpu_s_per_m"] for r in tr])
cpu_pct = med([r["cpu_pct"] for r in tr])
rss = med([r["rss_mb"] for r in tr])
lost = [r["lost"] for r in tr]
tr_rate, bt_rate = med([float(r["rate"]) for r in tr]), med([float(r["rate"]) for r in bt])

def verdict(ok):
    return "PASS" if ok else "FAIL"

counted_cell = ", ".join(f'{r["counted"]}/{r["sent"]}' for r in tr)
table = [
    ("metric", "Tracer", "bpftrace", "target", "result"),
    ("drops counted / sent (each run)", counted_cell, "-", "counted == sent",
     verdict(not mismatches) if not mismatches else "MISMATCH"),
    ("samples lost (each run)", ", ".join(lost), "-", "-", "-"),
    ("drops from other namespaces, not counted (each run)", ", ".join(r["foreign"] for r in tr), "-", "-", "-"),
    ("BPF ns per drop (median)", f"{tr_ns:.0f}", f"{bt_ns:.0f}", "Tracer <= bpftrace", verdict(tr_ns <= bt_ns)),
    ("BPF ns per drop, all of Tracer's programs incl. sentinels (median)", f"{all_ns:.0f}", "-",
     "<= 1.5 x 147 (the foundation's drop probe) = 220", verdict(all_ns <= 220)),
    ("process CPU s per 1M drops (median)", f"{cpu_per_m:.3f}", "-", "<= 0.050 (5% of a core at 1M drops/s)",
     verdict(cpu_per_m <= 0.05)),
    ("CPU % of one core at the flood's rate (median)", f"{cpu_pct:.1f}", "-", "-", "-"),
    ("peak RSS MB (VmHWM, median)", f"{rss:.1f}", "-", "<= 80", verdict(rss <= 80)),
    ("flood rate, drops/s (median)", f"{tr_rate:,.0f}", f"{bt_rate:,.0f}", "-", "-"),
]

# Plain table for the terminal.
widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
print()
print(f"drop-flood: {n} drops per flood, {rounds} rounds, kernel {kernel}, {date}")
print(f"tracer: {build}")
for i, row in enumerate(table):
    print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    if i == 0:
        print("  ".join("-" * w for w in widths))
notes = []
for r in tr:
    if r["foreign"] != "0":
        notes.append(f'NOTE: round {r["round"]}: Tracer also saw {r["foreign"]} drops to the same address from other namespaces (something else on this machine was flooding it); not counted, and that round\'s timings are suspect')
for r in mismatches:
    notes.append(f'MISMATCH: round {r["round"]}: Tracer counted {r["counted"]} drops, flooder sent {r["sent"]}')
for r in refused_short:
    notes.append(f'WARNING: round {r["round"]} ({r["tool"]}): only {r["refused"]} of {r["sent"]} sends were refused by the firewall')
for r in runs:
    if int(r["bpf_runs"]) < int(r["sent"]):
        notes.append(f'WARNING: round {r["round"]} ({r["tool"]}): the program ran {r["bpf_runs"]} times for {r["sent"]} drops (BPF stats switched off meanwhile?); its BPF ns/drop is not valid')
    extra = int(r["bpf_runs"]) - int(r["sent"])
    if extra > int(r["sent"]) // 100:
        notes.append(f'NOTE: round {r["round"]} ({r["tool"]}): {extra} other kfree_skb events during the flood (other activity on the machine); its BPF ns/drop and timings are less clean')
busy = [f'{r["round"]}/{r["tool"]}' for r in runs if r["others"] != "0"]
if busy:
    most = max(int(r["others"]) for r in runs)
    notes.append(f'NOTE: up to {most} other BPF program(s), not started by this script, were attached to kfree_skb during {"every flood" if len(busy) == len(runs) else "the floods of " + ", ".join(busy)}; they run on every drop too, so flood rates are lower than on a quiet machine (per-program BPF ns/drop is unaffected)')
for note in notes:
    print(note)

# Markdown, with the per-run numbers behind the medians.
def md_row(cells):
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

md = [
    "# drop-flood benchmark",
    "",
    "Generated by `benchmarks/drop-flood.sh`; overwritten on every run.",
    "",
    f"- Date: {date}",
    f"- Kernel: {kernel}",
    f"- Tracer: {build}",
    f"- Flood: {n} UDP datagrams per run, each refused by an nftables output rule in the node",
    "  namespace (one `kfree_skb` drop, reason NETFILTER_DROP, per datagram)",
    f"- Rounds: {rounds}, alternating Tracer and bpftrace (`tracepoint:skb:kfree_skb {{ @[args->reason, args->location] = count(); }}`); medians reported",
    "- BPF ns per drop: `run_time_ns` / `run_cnt` deltas over the flood (`kernel.bpf_stats_enabled=1`)",
    "- Tracer CPU: utime+stime of the whole process from just before the flood to 1.5 s after it",
    f"  ({clk_tck} ticks/s resolution), divided by the flood's duration for the CPU %",
    "",
    md_row(table[0]),
    md_row(["---"] * len(table[0])),
    *[md_row(row) for row in table[1:]],
    "",
]
if notes:
    md += [f"- **{note.split(':', 1)[0]}**:{note.split(':', 1)[1]}" for note in notes] + [""]
md += [
    "## Runs",
    "",
    md_row(["round", "tool", "sent", "counted", "samples lost", "flood s", "drops/s", "BPF ns/drop", "CPU s (ticks)", "peak RSS MB"]),
    md_row(["---"] * 10),
]
for r in sorted(runs, key=lambda r: (int(r["round"]), r["tool"] != "tracer")):
    is_tr = r["tool"] == "tracer"
    md.append(md_row([
        r["round"], r["tool"], r["sent"],
        r["counted"] if is_tr else "-",
        r["lost"] if is_tr else "-",
        f'{float(r["elapsed"]):.2f}', f'{float(r["rate"]):,.0f}', f"{ns_per_drop(r):.0f}",
        f'{r["cpu_s"]:.2f} ({r["ticks"]})' if is_tr else "-",
        f'{r["rss_mb"]:.1f}' if is_tr else "-",
    ]))
open(md_path, "w").write("\n".join(md) + "\n")
print(f"\nwrote {md_path}")
PY
