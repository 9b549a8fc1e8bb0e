#!/usr/bin/env bash
# scan.sh: does Tracer keep up with, and name, the drops of a port scan?
#
# Builds a throw-away Calico-style node/pod pair of network namespaces, makes the node's nftables
# output chain drop all UDP to the pod, and "scans" it: N datagrams spread over PORTS destination
# ports (N / PORTS per port, as fast as possible: udp_send scan). Each refused sendto is one kfree_skb
# drop (reason NETFILTER_DROP), and the drops are PORTS distinct flows. Each round scans once under
# `tracer trace --output json` and once under bpftrace's minimal counter, alternating, and reports:
#   - drops counted by Tracer (sum of "count" over its JSON lines for the node namespace, plus
#     overflow lines) vs sent;
#   - the share of the dropped packets whose record carries the pod's address (as "src" or "dst"),
#     a "reason" and a "culprit" with a "kind" (overflow lines carry none of them);
#   - BPF ns per drop: the run_time_ns deltas (kernel.bpf_stats_enabled=1) of ALL the programs
#     Tracer holds (re-read after the scan: programs may be attached during it; one attached and
#     released again during the scan would be missed), divided by the drops sent; bpftrace's
#     program likewise;
#   - samples lost (Tracer's summary line) and peak RSS, informational.
# Writes its section ("## scan") of benchmarks/results.md.
#
# Usage: sudo benchmarks/scan.sh   (env: N=drops per scan, PORTS=destination ports, ROUNDS=rounds,
#        TRACER_ARGS=extra arguments for tracer trace,
#        RESULTS_MD=the results file to write instead of benchmarks/results.md)
# Everything it creates (namespaces, processes, tracefs mount, sysctl) is undone on exit.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

N=${N:-600000}
PORTS=${PORTS:-60000}
ROUNDS=${ROUNDS:-3}

NODE_NS=bscan-node-$$
POD_NS=bscan-pod-$$
NODE_IP=10.250.3.1
POD_IP=10.250.3.2
FIRST_PORT=1024

# --- preconditions ---------------------------------------------------------------------
bench_require_count N PORTS ROUNDS
((PORTS <= 65536 - FIRST_PORT)) || die "PORTS must be 1..$((65536 - FIRST_PORT)) (got '$PORTS')"

# Root, Tracer built, the tools; then the lock shared by all benchmarks (one at a time: they share
# the CPU). From here on, all the script creates is removed on any exit.
bench_start "it creates network namespaces and loads BPF programs" \
    ip nft bpftool bpftrace gcc python3 sysctl flock

# Runs the scanner in the node namespace; prints its "key=value ..." line.
scan() {
    bench_send "$NODE_NS" scan "$POD_IP" "$FIRST_PORT" "$N" "$PORTS"
}

# --- setup ------------------------------------------------------------------------------
bench_drop_setup "$NODE_NS" "$NODE_IP" "$POD_NS" calibenchscan "$POD_IP" "ip daddr $POD_IP udp dport 1-65535 drop"

# --- one scan under Tracer -----------------------------------------------------------------
run_tracer() {
    local round=$1 out=$WORK/tracer-$1.json err=$WORK/tracer-$1.err
    bench_start_trace "$out" "$err" "$NODE_NS" "$POD_IP"
    local pid=$BENCH_LAST_PID

    local ids0 ids1 stats0 stats1 others res hwm
    ids0=$(bench_prog_ids_of_pid "$pid")
    [[ -n $ids0 ]] || die "tracer pid $pid holds no BPF program"
    # shellcheck disable=SC2086  # word splitting of the id lists is intended
    others=$(bench_other_kfree_skb_progs $ids0)
    # shellcheck disable=SC2086
    stats0=$(bench_prog_stats_each $ids0)
    res=$(scan)
    sleep 2   # let Tracer drain the interval that holds the scan's end
    ids1=$(bench_prog_ids_of_pid "$pid")
    # shellcheck disable=SC2046
    stats1=$(bench_prog_stats_each $(sort -un <<<"$ids0"$'\n'"$ids1"))
    hwm=$(bench_vm_hwm_kb "$pid")
    bench_stop_trace "$pid" "$err"

    # Program run time over the scan, summed over everything Tracer held before or after it
    # (a program first seen after the scan started at 0; one gone by then is left out and flagged).
    local bpf
    bpf=$(python3 -c '
import sys
def parse(text):
    return {int(i): (int(t), int(c)) for i, t, c in (l.split() for l in text.splitlines() if l.strip())}
s0, s1 = parse(sys.argv[1]), parse(sys.argv[2])
ns = runs = gone = 0
for i, (t1, c1) in s1.items():
    t0, c0 = s0.get(i, (0, 0))
    if (t1, c1) == (0, 0) and i in s0 and s0[i] != (0, 0):
        gone += 1
        continue
    ns += t1 - t0
    runs += c1 - c0
print(f"all_ns={ns} all_runs={runs} progs_gone={gone}")' "$stats0" "$stats1")
    bpf+=" progs_before=$(wc -w <<<"$ids0") progs_after=$(wc -w <<<"$ids1")"

    # Only our node namespace's drops (and overflow lines) are counted; the rest are foreign.
    local counts
    counts=$(bench_count_drops "$out" "$NODE_NETNS" "$POD_IP")

    echo "tool=tracer round=$round $res $counts $bpf others=$others lost=${BENCH_LOST:-?} hwm_kb=$hwm" >>"$RUNS_FILE"
    log "round $round tracer: $(tail -n1 "$RUNS_FILE")"
    log "round $round tracer: $BENCH_SUMMARY"
    rm -f "$out"   # can be tens of MB
}

# --- measure: alternate the tools so machine-wide swings hit both alike -------------------
log "$ROUNDS rounds of $N drops over $PORTS ports each (Tracer, then bpftrace)"
bench_alternate "$ROUNDS" run_tracer scan all_ns all_runs

# --- report -------------------------------------------------------------------------------
bench_report "$RUNS_FILE" "$N" "$PORTS" "$ROUNDS" <<'PY'
import sys
from report import BPFTRACE, med, read_kv, report, verdict

runs_file, n, ports, rounds = sys.argv[1:]
runs = read_kv(runs_file)
tr = [r for r in runs if r["tool"] == "tracer"]
bt = [r for r in runs if r["tool"] == "bpftrace"]

def ns_per_drop(r):
    return int(r["all_ns"]) / int(r["sent"])

mismatches = [r for r in tr if r["counted"] != r["sent"]]
complete_pct = [100 * int(r["complete"]) / int(r["sent"]) for r in tr]
tr_ns, bt_ns = med([ns_per_drop(r) for r in tr]), med([ns_per_drop(r) for r in bt])
rss = med([int(r["hwm_kb"]) / 1024 for r in tr])
kinds = {}
for r in tr:
    for kv in filter(None, r["kinds"].split(",")):
        k, v = kv.rsplit(":", 1)
        kinds[k] = kinds.get(k, 0) + int(v)

def each(key, fmt=str):
    return ", ".join(fmt(r[key]) for r in tr)

table = [
    ("metric", "Tracer", "bpftrace", "target", "result"),
    ("drops counted / sent (each run)", ", ".join(f'{r["counted"]}/{r["sent"]}' for r in tr), "-",
     "counted == sent", verdict(not mismatches) if not mismatches else "MISMATCH"),
    ("drops whose record has the pod's address, a reason and a culprit kind (% of sent, lowest run)",
     f"{min(complete_pct):.3f} %", "-", ">= 99.9 %", verdict(min(complete_pct) >= 99.9)),
    ("BPF ns per drop, all of Tracer's programs (median)", f"{tr_ns:.0f}", f"{bt_ns:.0f}",
     "Tracer <= bpftrace", verdict(tr_ns <= bt_ns)),
    ("drops in overflow lines, without address or culprit (each run)", each("overflow"), "-", "-", "-"),
    ("drops with the address | a reason | a culprit kind (each run)",
     ", ".join(f'{r["with_addr"]} | {r["with_reason"]} | {r["with_culprit"]}' for r in tr), "-", "-", "-"),
    ("culprit kinds (drops, all runs)", ", ".join(f"{k} {v:,}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])),
     "-", "-", "-"),
    ("JSON records (each run)", each("records"), "-", "-", "-"),
    ("BPF programs held by Tracer: before → after the scan (each run)",
     ", ".join(f'{r["progs_before"]} → {r["progs_after"]}' for r in tr), "-", "-", "-"),
    ("samples lost (each run)", each("lost"), "-", "-", "-"),
    ("drops from other namespaces, not counted (each run)", each("foreign"), "-", "-", "-"),
    ("peak RSS MB (VmHWM, median)", f"{rss:.1f}", "-", "-", "-"),
    ("scan rate, drops/s (median)", f'{med([float(r["rate"]) for r in tr]):,.0f}',
     f'{med([float(r["rate"]) for r in bt]):,.0f}', "-", "-"),
]

notes = []
for r in tr:
    if r["foreign"] != "0":
        notes.append(f'NOTE: round {r["round"]}: Tracer also saw {r["foreign"]} drops to the same address from other namespaces; not counted, and that round\'s timings are suspect')
    if r["progs_gone"] != "0":
        notes.append(f'NOTE: round {r["round"]}: {r["progs_gone"]} of Tracer\'s BPF programs were gone after the scan; their run time is not in the figure')
for r in mismatches:
    notes.append(f'MISMATCH: round {r["round"]}: Tracer counted {r["counted"]} drops, the scanner sent {r["sent"]}')
for r in runs:
    if r["refused"] != r["sent"]:
        notes.append(f'WARNING: round {r["round"]} ({r["tool"]}): only {r["refused"]} of {r["sent"]} sends were refused by the firewall')
for r in bt:
    extra = int(r["all_runs"]) - int(r["sent"])
    if extra < 0:
        notes.append(f'WARNING: round {r["round"]} (bpftrace): the program ran {r["all_runs"]} times for {r["sent"]} drops (BPF stats switched off meanwhile?); its BPF ns/drop is not valid')
    elif extra > int(r["sent"]) // 100:
        notes.append(f'NOTE: round {r["round"]} (bpftrace): {extra} other kfree_skb events during the scan (other activity on the machine); both tools\' BPF ns/drop include such events')
busy = [f'{r["round"]}/{r["tool"]}' for r in runs if r["others"] != "0"]
if busy:
    notes.append(f'NOTE: other BPF programs, not started by this script, were attached to kfree_skb during {"every scan" if len(busy) == len(runs) else "the scans of " + ", ".join(busy)}; scan rates are lower than on a quiet machine')

about = [
    f"- Scan: {n} UDP datagrams per run to one watched pod, over {ports} destination ports ({int(n) // int(ports)} per port),",
    "  each refused by an nftables output rule in the node namespace (one `kfree_skb` drop, reason NETFILTER_DROP)",
    f"- Rounds: {rounds}, alternating `tracer trace --output json` and bpftrace (`{BPFTRACE}`)",
    "- Counted: sum of `count` over Tracer's JSON lines of the node namespace plus overflow lines; a drop \"has\" the address,",
    "  reason and culprit when its record has the pod's address as `src` or `dst`, a `reason`, and a `culprit` with a `kind`",
    "- BPF ns per drop: `run_time_ns` deltas over the scan (`kernel.bpf_stats_enabled=1`) of every program Tracer held",
    "  before or after it (ids from /proc/PID/fdinfo), divided by the drops sent; bpftrace's one program likewise",
]
runs_rows = []
for r in sorted(runs, key=lambda r: (int(r["round"]), r["tool"] != "tracer")):
    is_tr = r["tool"] == "tracer"
    runs_rows.append([
        r["round"], r["tool"], r["sent"],
        r["counted"] if is_tr else "-",
        r["complete"] if is_tr else "-",
        r["overflow"] if is_tr else "-",
        r["lost"] if is_tr else "-",
        f'{float(r["elapsed"]):.2f}', f'{float(r["rate"]):,.0f}', f"{ns_per_drop(r):.0f}",
        f'{int(r["hwm_kb"]) / 1024:.1f}' if is_tr else "-",
    ])
report("scan", f"{n} drops over {ports} ports per scan, {rounds} rounds", about, table, notes,
       ["round", "tool", "sent", "counted", "with address, reason, culprit", "overflow", "samples lost",
        "scan s", "drops/s", "BPF ns/drop", "peak RSS MB"], runs_rows)
PY
