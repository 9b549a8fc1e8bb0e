#!/usr/bin/env bash
# drop-flood.sh: what does tracing a flood of kernel packet drops cost?
#
# Builds a throw-away Calico-style node/pod pair of network namespaces, makes the node's
# nftables output chain drop UDP to the pod, and floods it with N datagrams (udp_send flood: each
# refused sendto = one kfree_skb drop, reason NETFILTER_DROP). Each round floods once under Tracer
# and once under a minimal bpftrace counter, alternating, and reports medians:
#   - BPF ns per drop (kernel.bpf_stats_enabled run_time_ns / run_cnt over the flood), of Tracer's
#     drop probe and of all its programs together, each against bpftrace's,
#   - for Tracer: drops counted vs sent, samples lost, process CPU, peak RSS,
#   - the flood rate.
# Writes the table to its own section ("## drop-flood") of benchmarks/results.md as well, keeping
# the other benchmarks' sections. Takes the lock shared by all benchmarks (see common.sh).
#
# Usage: sudo benchmarks/drop-flood.sh        (env: N=drops per flood, RUNS=rounds,
#        TRACER_ARGS=extra arguments for tracer trace, e.g. "--otlp-endpoint http://127.0.0.1:4317",
#        RESULTS_MD=the results file to write instead of benchmarks/results.md)
# Everything it creates (namespaces, processes, tracefs mount, sysctl) is undone on exit.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

N=${N:-2000000}
RUNS=${RUNS:-3}

NODE_NS=bench-node-$$
POD_NS=bench-pod-$$
NODE_IP=10.250.0.1
POD_IP=10.250.0.2
DROP_PORT=9

# --- preconditions ---------------------------------------------------------------------
bench_require_count N RUNS

# Root, Tracer built, the tools; then the lock shared by all benchmarks: one at a time, as two runs
# would share the CPU, and since two floods of this script go to the same pod address, each Tracer
# would also count the other run's drops. From here on, all the script creates is removed on any exit.
bench_start "it creates network namespaces and loads BPF programs" \
    ip nft bpftool bpftrace gcc python3 sysctl flock

# Runs the flooder in the node namespace; prints its "key=value ..." line.
flood() {
    bench_send "$NODE_NS" flood "$POD_IP" "$DROP_PORT" "$N"
}

# --- setup ------------------------------------------------------------------------------
bench_drop_setup "$NODE_NS" "$NODE_IP" "$POD_NS" calibench "$POD_IP" "ip daddr $POD_IP udp dport $DROP_PORT drop"

# --- one flood under Tracer -------------------------------------------------------------
run_tracer() {
    local round=$1 out=$WORK/tracer-$1.json err=$WORK/tracer-$1.err
    bench_start_trace "$out" "$err" "$NODE_NS" "$POD_IP"
    local pid=$BENCH_LAST_PID prog
    # shellcheck disable=SC2046  # word splitting of the id list is intended
    prog=$(bench_pick_prog name kfree_skb_btf $(bench_prog_ids_of_pid "$pid"))
    [[ -n $prog ]] || die "no single BPF program named kfree_skb_btf held by tracer pid $pid"

    local bpf0 ticks0 res bpf1 ticks1 hwm others all0 all1
    others=$(bench_other_kfree_skb_progs "$prog")
    # shellcheck disable=SC2046
    all0=$(bench_prog_stats_sum $(bench_prog_ids_of_pid "$pid"))
    bpf0=$(bench_prog_stats "$prog")
    ticks0=$(bench_cpu_ticks "$pid")
    res=$(flood)
    sleep 1.5   # let Tracer drain the interval that holds the flood's end
    ticks1=$(bench_cpu_ticks "$pid")
    bpf1=$(bench_prog_stats "$prog")
    # shellcheck disable=SC2046  # programs attached during the flood start at 0
    all1=$(bench_prog_stats_sum $(bench_prog_ids_of_pid "$pid"))
    hwm=$(bench_vm_hwm_kb "$pid")
    bench_stop_trace "$pid" "$err"

    # Only our node namespace's drops (and overflow lines) are counted; the rest are foreign.
    local counts
    counts=$(bench_count_drops "$out" "$NODE_NETNS" "$POD_IP")
    # shellcheck disable=SC2086
    set -- $bpf0 $bpf1 $all0 $all1
    echo "tool=tracer round=$round $res $counts others=$others lost=${BENCH_LOST:-?} ticks=$((ticks1 - ticks0)) hwm_kb=$hwm bpf_ns=$(($3 - $1)) bpf_runs=$(($4 - $2)) all_ns=$(($7 - $5))" >>"$RUNS_FILE"
    log "round $round tracer: $(tail -n1 "$RUNS_FILE")"
    log "round $round tracer: $BENCH_SUMMARY"
}

# --- measure: alternate the tools so machine-wide swings hit both alike -------------------
log "$RUNS rounds of $N drops each (Tracer, then bpftrace)"
bench_alternate "$RUNS" run_tracer flood bpf_ns bpf_runs

# --- report -------------------------------------------------------------------------------
bench_report "$RUNS_FILE" "$N" "$RUNS" <<'PY'
import os, sys
from report import BPFTRACE, med, read_kv, report, verdict

runs_file, n, rounds = sys.argv[1:]
clk_tck = os.sysconf("SC_CLK_TCK")
runs = read_kv(runs_file)

def ns_per_drop(r):
    return int(r["bpf_ns"]) / int(r["bpf_runs"]) if int(r["bpf_runs"]) else float("nan")

tr = [r for r in runs if r["tool"] == "tracer"]
bt = [r for r in runs if r["tool"] == "bpftrace"]

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
# Every program Tracer holds (drop probe, sentinels, …) per drop, against bpftrace's one program.
all_ns = med([int(r["all_ns"]) / int(r["counted"]) for r in tr if int(r["counted"])])
cpu_per_m = med([r["cpu_s_per_m"] for r in tr])
cpu_pct = med([r["cpu_pct"] for r in tr])
rss = med([r["rss_mb"] for r in tr])
tr_rate, bt_rate = med([float(r["rate"]) for r in tr]), med([float(r["rate"]) for r in bt])

table = [
    ("metric", "Tracer", "bpftrace", "target", "result"),
    ("drops counted / sent (each run)", ", ".join(f'{r["counted"]}/{r["sent"]}' for r in tr), "-", "counted == sent",
     verdict(not mismatches) if not mismatches else "MISMATCH"),
    ("samples lost (each run)", ", ".join(r["lost"] for r in tr), "-", "-", "-"),
    ("drops from other namespaces, not counted (each run)", ", ".join(r["foreign"] for r in tr), "-", "-", "-"),
    ("BPF ns per drop (median)", f"{tr_ns:.0f}", f"{bt_ns:.0f}", "Tracer <= bpftrace", verdict(tr_ns <= bt_ns)),
    ("BPF ns per drop, all of Tracer's programs incl. sentinels (median)", f"{all_ns:.0f}", f"{bt_ns:.0f}",
     "Tracer (sum of all its programs) <= bpftrace", verdict(all_ns <= bt_ns)),
    ("process CPU s per 1M drops (median)", f"{cpu_per_m:.3f}", "-", "<= 0.050 (5% of a core at 1M drops/s)",
     verdict(cpu_per_m <= 0.05)),
    ("CPU % of one core at the flood's rate (median)", f"{cpu_pct:.1f}", "-", "-", "-"),
    ("peak RSS MB (VmHWM, median)", f"{rss:.1f}", "-", "<= 80", verdict(rss <= 80)),
    ("flood rate, drops/s (median)", f"{tr_rate:,.0f}", f"{bt_rate:,.0f}", "-", "-"),
]

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

about = [
    f"- Flood: {n} UDP datagrams per run, each refused by an nftables output rule in the node",
    "  namespace (one `kfree_skb` drop, reason NETFILTER_DROP, per datagram)",
    f"- Rounds: {rounds}, alternating Tracer and bpftrace (`{BPFTRACE}`); medians reported",
    "- BPF ns per drop: `run_time_ns` / `run_cnt` deltas over the flood (`kernel.bpf_stats_enabled=1`)",
    "- Tracer CPU: utime+stime of the whole process from just before the flood to 1.5 s after it",
    f"  ({clk_tck} ticks/s resolution), divided by the flood's duration for the CPU %",
]
runs_rows = []
for r in sorted(runs, key=lambda r: (int(r["round"]), r["tool"] != "tracer")):
    is_tr = r["tool"] == "tracer"
    runs_rows.append([
        r["round"], r["tool"], r["sent"],
        r["counted"] if is_tr else "-",
        r["lost"] if is_tr else "-",
        f'{float(r["elapsed"]):.2f}', f'{float(r["rate"]):,.0f}', f"{ns_per_drop(r):.0f}",
        f'{r["cpu_s"]:.2f} ({r["ticks"]})' if is_tr else "-",
        f'{r["rss_mb"]:.1f}' if is_tr else "-",
    ])
report("drop-flood", f"{n} drops per flood, {rounds} rounds", about, table, notes,
       ["round", "tool", "sent", "counted", "samples lost", "flood s", "drops/s", "BPF ns/drop", "CPU s (ticks)",
        "peak RSS MB"], runs_rows)
PY
