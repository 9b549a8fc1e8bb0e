#!/usr/bin/env bash
# delivered-tax.sh: what does Tracer cost packets that are NOT dropped?
#
# Builds two identical, independent Calico-style node/pod pairs of network namespaces:
#   pair W: node-W + pod-W (10.250.1.2), watched by a Tracer daemon running inside node-W
#           (it watches the pods of its own namespace's cali* /32 routes);
#   pair U: node-U + pod-U (10.250.2.2), never watched.
# A receiving socket drains each pod (udp_sink). Per round, a 64-byte UDP sender in each node
# namespace sends N datagrams to its pod in a tight loop (udp_send timed; on a veth the pod's
# receive path runs in softirq on the sending CPU, so the time per sendto is the end-to-end cost
# of a delivered packet), U and W in alternating order. Reported per variant: median ns per
# packet of W and U, and the median over rounds of the ratio W/U.
#   baseline   no Tracer at all: the ratio shows the noise between the two pairs;
#   no drops   Tracer daemon watching pod-W, nothing dropped anywhere (target ratio <= 1.02);
#   drops elsewhere  each node also gets a second pod (pod-W2 10.250.1.3 / pod-U2 10.250.2.3),
#              an nftables output rule dropping UDP to its port 9, and a background sender
#              dropping BG_PPS datagrams/s there during the whole measurement; W is watched
#              (and so is pod-W2, whose drops Tracer sees), U is the identical unwatched twin
#              (target ratio <= 1.05).
# Also recorded (informational): Tracer's nftables tables in node-W and the BPF netfilter links
# it holds, after each Tracer variant.
# Writes its section ("## delivered-traffic tax") of benchmarks/results.md.
#
# Usage: sudo benchmarks/delivered-tax.sh   (env: N=datagrams per send, ROUNDS=rounds per variant,
#        BG_PPS=background drops/s in "drops elsewhere", DAEMON_ARGS=extra tracer daemon arguments,
#        RESULTS_MD=the results file to write instead of benchmarks/results.md)
# Everything it creates (namespaces, processes, nftables rules inside them) is removed on exit.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

N=${N:-200000}
ROUNDS=${ROUNDS:-10}
BG_PPS=${BG_PPS:-2000}
SETTLE=${SETTLE:-15}       # seconds between starting the background drops and measuring: past Tracer's 10 s arming window

NODE_W=btax-node-w-$$ POD_W=btax-pod-w-$$ POD_W2=btax-pod-w2-$$
NODE_U=btax-node-u-$$ POD_U=btax-pod-u-$$ POD_U2=btax-pod-u2-$$
NODE_W_IP=10.250.1.1 POD_W_IP=10.250.1.2 POD_W2_IP=10.250.1.3
NODE_U_IP=10.250.2.1 POD_U_IP=10.250.2.2 POD_U2_IP=10.250.2.3
SINK_PORT=7000
DROP_PORT=9

# --- preconditions ---------------------------------------------------------------------
bench_require_count N ROUNDS BG_PPS
[[ $SETTLE =~ ^[0-9]+$ ]] || die "SETTLE must be a whole number of seconds (got '$SETTLE')"

# Root, Tracer built, the tools; then the lock shared by all benchmarks (one at a time: they share
# the CPU). From here on, all the script creates is removed on any exit.
bench_start "it creates network namespaces and runs Tracer" \
    ip nft gcc python3 sysctl flock bpftool

# $RUNS_FILE: one line per timed send.
FACTS_FILE=$WORK/facts.txt     # one line per variant: receive counters, daemon CPU, background drops
FOOT_FILE=$WORK/footprint.txt  # Tracer's nftables tables and netfilter links: at the start, after each round
: >"$FACTS_FILE"
: >"$FOOT_FILE"

# --- helpers ----------------------------------------------------------------------------

node_of() { [[ $1 == W ]] && echo "$NODE_W" || echo "$NODE_U"; }
pod_of() { [[ $1 == W ]] && echo "$POD_W" || echo "$POD_U"; }
pod_ip_of() { [[ $1 == W ]] && echo "$POD_W_IP" || echo "$POD_U_IP"; }

# "InDatagrams RcvbufErrors InErrors NoPorts" of a namespace's UDP counters.
udp_counters() {
    ip netns exec "$1" cat /proc/net/snmp | python3 -c '
import sys
rows = [l.split() for l in sys.stdin if l.startswith("Udp:")]
u = dict(zip(rows[0][1:], map(int, rows[1][1:])))
print(u["InDatagrams"], u["RcvbufErrors"], u["InErrors"], u["NoPorts"])'
}

# Packets counted by the counters of a node's "inet bench" table (0 if it has none).
node_drop_count() {
    ip netns exec "$1" nft -j list table inet bench 2>/dev/null | python3 -c '
import json, sys
def walk(o):
    if isinstance(o, dict):
        if "counter" in o and isinstance(o["counter"], dict):
            yield o["counter"].get("packets", 0)
        for v in o.values():
            yield from walk(v)
    elif isinstance(o, list):
        for v in o:
            yield from walk(v)
try:
    print(sum(walk(json.load(sys.stdin))))
except ValueError:
    print(0)'
}

# nftables tables in a namespace other than the benchmark's own "inet bench" ("none" if none), as
# one word: "inet+tracer,ip+filter" (the report turns + back into spaces).
other_tables() {
    local t
    t=$(ip netns exec "$1" nft list tables | grep -v '^table inet bench$' | sed 's/^table //; s/ /+/g' | paste -sd, -)
    echo "${t:-none}"
}

# send_timed PAIR N: one timed send of N datagrams from a pair's node to its pod; prints udp_send's line.
send_timed() {
    bench_send "$(node_of "$1")" timed "$(pod_ip_of "$1")" "$SINK_PORT" "$2"
}

# --- setup ------------------------------------------------------------------------------
log "compiling the sender and the sink"
bench_compile udp_send udp_sink

log "creating pair W ($NODE_W, $POD_W) and pair U ($NODE_U, $POD_U)"
bench_add_node "$NODE_W" "$NODE_W_IP"
bench_add_pod "$NODE_W" "$POD_W" calibenchw "$POD_W_IP"
bench_add_node "$NODE_U" "$NODE_U_IP"
bench_add_pod "$NODE_U" "$POD_U" calibenchu "$POD_U_IP"

for pair in W U; do
    bench_start_bg "$WORK/sink-$pair.out" "$WORK/sink-$pair.err" \
        ip netns exec "$(pod_of "$pair")" "$WORK/udp_sink" "$SINK_PORT"
done
# The sinks are listening once their socket shows in the pod's UDP table.
for pair in W U; do
    for _ in $(seq 100); do
        ip netns exec "$(pod_of "$pair")" cat /proc/net/udp | grep -qi ":$(printf '%04X' "$SINK_PORT") " && break
        sleep 0.1
    done
    ip netns exec "$(pod_of "$pair")" cat /proc/net/udp | grep -qi ":$(printf '%04X' "$SINK_PORT") " \
        || die "the sink in pod $pair is not listening: $(cat "$WORK/sink-$pair.err")"
done

# An empty settings file: a machine's /etc/tracer/appsettings.json must not change what is measured.
echo '{}' >"$WORK/appsettings.json"

DAEMON_PID=""
start_daemon() {
    local tag=$1
    # shellcheck disable=SC2086  # DAEMON_ARGS is a list of arguments
    bench_start_bg "$WORK/daemon-$tag.out" "$WORK/daemon-$tag.err" \
        ip netns exec "$NODE_W" "$TRACER" daemon --kubernetes off --health-port 0 \
        --control-socket "$WORK/tracer-$tag.sock" --settings "$WORK/appsettings.json" ${DAEMON_ARGS:-}
    DAEMON_PID=$BENCH_LAST_PID
    bench_wait_tracing "$DAEMON_PID" 60 "$POD_W_IP" "$WORK/daemon-$tag.out" "$WORK/daemon-$tag.err"
    log "tracer daemon (pid $DAEMON_PID): ${BENCH_TRACING#*tracing: }"
}

stop_daemon() {
    bench_stop_pid "$DAEMON_PID"
    DAEMON_PID=""
}

# measure VARIANT: ROUNDS rounds of one timed send per pair, U and W in alternating order.
measure() {
    local variant=$1 round pair order res
    # Warm-up (ARP, route and socket caches, the sink's wakeups), not timed.
    for pair in W U; do send_timed "$pair" $((N < 20000 ? N : 20000)) >/dev/null; done
    declare -A before
    for pair in W U; do before[$pair]=$(udp_counters "$(pod_of "$pair")"); done
    for round in $(seq "$ROUNDS"); do
        if ((round % 2)); then order="U W"; else order="W U"; fi
        for pair in $order; do
            res=$(send_timed "$pair" "$N")
            echo "variant=$variant round=$round pair=$pair order=${order// /} $res" >>"$RUNS_FILE"
        done
        log "$variant, round $round: $(grep "^variant=$variant round=$round " "$RUNS_FILE" |
            sed -n 's/.*pair=\([WU]\).*ns_per_packet=\([0-9.]*\).*/\1 \2 ns/p' | paste -sd' ' -)"
        if [[ -n $DAEMON_PID ]]; then
            echo "variant=$variant when=$round $(tracer_footprint)" >>"$FOOT_FILE"
        fi
    done
    local facts="variant=$variant"
    for pair in W U; do
        # shellcheck disable=SC2086,SC2046  # word splitting of the counter lists is intended
        set -- ${before[$pair]} $(udp_counters "$(pod_of "$pair")")
        facts+=" in_$pair=$(($5 - $1)) rcvbuf_$pair=$(($6 - $2)) inerr_$pair=$(($7 - $3)) noport_$pair=$(($8 - $4))"
    done
    MEASURE_FACTS=$facts
}

# What Tracer has in node-W right now (informational; node-U, never watched, for comparison).
tracer_footprint() {
    echo "tables=$(other_tables "$NODE_W") tables_U=$(other_tables "$NODE_U") nf_links_pid=$(bench_netfilter_links_of_pid "$DAEMON_PID") nf_links_all=$(bench_netfilter_links_total)"
}

log "$ROUNDS rounds per variant of $N datagrams per pair"

# --- baseline: no Tracer at all ----------------------------------------------------------
log "variant baseline: no Tracer"
measure base
echo "$MEASURE_FACTS" >>"$FACTS_FILE"

# --- (a) no drops: Tracer watching pod-W ------------------------------------------------
log "variant no-drops: Tracer daemon in $NODE_W"
start_daemon a
sleep 2
echo "variant=a when=start $(tracer_footprint)" >>"$FOOT_FILE"
t0=$(bench_cpu_ticks "$DAEMON_PID")
measure a
t1=$(bench_cpu_ticks "$DAEMON_PID")
echo "$MEASURE_FACTS ticks=$((t1 - t0))" >>"$FACTS_FILE"
stop_daemon

# --- (b) drops elsewhere: second pods, nftables drop rules, background drops ---------------
log "variant drops-elsewhere: second pods $POD_W2 / $POD_U2, nftables drop rules, $BG_PPS drops/s each"
bench_add_pod "$NODE_W" "$POD_W2" calibenchw2 "$POD_W2_IP"
bench_add_pod "$NODE_U" "$POD_U2" calibenchu2 "$POD_U2_IP"
bench_drop_rule "$NODE_W" "ip daddr $POD_W2_IP udp dport $DROP_PORT counter drop"
bench_drop_rule "$NODE_U" "ip daddr $POD_U2_IP udp dport $DROP_PORT counter drop"
start_daemon b
grep -qh "$POD_W2_IP/32" "$WORK/daemon-b.out" "$WORK/daemon-b.err" ||
    log "warning: the tracer daemon's status line does not name $POD_W2_IP/32"

# The background senders stop by themselves: they run for at most a generous bound on the
# measurement's length (3 x the baseline's slowest per-packet time, plus a minute), and are
# stopped right after it (and in the cleanup).
BG_SECONDS=$(python3 -c '
import sys
ns = [float(l.split("ns_per_packet=")[1].split()[0]) for l in open(sys.argv[1]) if l.startswith("variant=base ")]
rounds, n, settle = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
packets = rounds * 2 * n + 2 * min(n, 20000)   # the timed sends and the warm-up
print(int(packets * max(ns) * 3 / 1e9) + settle + 60)' \
    "$RUNS_FILE" "$ROUNDS" "$N" "$SETTLE")
BG_N=$((BG_SECONDS * BG_PPS))
declare -A BG_PID
for pair in W U; do
    if [[ $pair == W ]]; then ip2=$POD_W2_IP; else ip2=$POD_U2_IP; fi
    bench_start_bg "$WORK/bg-$pair.out" "$WORK/bg-$pair.err" \
        ip netns exec "$(node_of "$pair")" "$WORK/udp_send" paced "$ip2" "$DROP_PORT" "$BG_N" "$BG_PPS"
    BG_PID[$pair]=$BENCH_LAST_PID
done
log "background drops for at most $BG_SECONDS s; letting Tracer react for $SETTLE s"
sleep "$SETTLE"
for pair in W U; do
    kill -0 "${BG_PID[$pair]}" 2>/dev/null || die "background sender $pair exited early: $(cat "$WORK/bg-$pair.out" "$WORK/bg-$pair.err")"
done
echo "variant=b when=start $(tracer_footprint)" >>"$FOOT_FILE"
# The drop counters are read inside the timed window (m0..m1), so the rate errs low, never high.
m0=$(date +%s.%N)
d0_W=$(node_drop_count "$NODE_W"); d0_U=$(node_drop_count "$NODE_U")
t0=$(bench_cpu_ticks "$DAEMON_PID")
measure b
t1=$(bench_cpu_ticks "$DAEMON_PID")
d1_W=$(node_drop_count "$NODE_W"); d1_U=$(node_drop_count "$NODE_U")
m1=$(date +%s.%N)
alive=1
for pair in W U; do kill -0 "${BG_PID[$pair]}" 2>/dev/null || alive=0; done
echo "$MEASURE_FACTS ticks=$((t1 - t0)) bg_alive=$alive bg_drops_W=$((d1_W - d0_W)) bg_drops_U=$((d1_U - d0_U)) seconds=$(python3 -c "print(round($m1 - $m0, 3))")" >>"$FACTS_FILE"
for pair in W U; do bench_stop_pid "${BG_PID[$pair]}"; done
stop_daemon

# --- report -------------------------------------------------------------------------------
bench_report "$RUNS_FILE" "$FACTS_FILE" "$FOOT_FILE" "$N" "$ROUNDS" "$BG_PPS" "$SETTLE" <<'PY'
import os, sys
from report import med, read_kv, report, verdict

runs_file, facts_file, foot_file, n, rounds, bg_pps, settle = sys.argv[1:]
clk_tck = os.sysconf("SC_CLK_TCK")
runs = read_kv(runs_file)
facts = {f["variant"]: f for f in read_kv(facts_file, unplus=True)}
foot = {}   # variant -> [state at the start, after round 1, …]
for f in read_kv(foot_file, unplus=True):
    foot.setdefault(f["variant"], []).append(f)

VARIANTS = [("base", "no Tracer at all"), ("a", "no drops"), ("b", "drops elsewhere")]
TARGETS = {"a": 1.02, "b": 1.05}

stats = {}
for v, _ in VARIANTS:
    by_round = {}
    for r in runs:
        if r["variant"] == v:
            by_round.setdefault(int(r["round"]), {})[r["pair"]] = float(r["ns_per_packet"])
    ratios = [p["W"] / p["U"] for p in by_round.values() if "W" in p and "U" in p]
    stats[v] = {
        "W": med([p["W"] for p in by_round.values() if "W" in p]),
        "U": med([p["U"] for p in by_round.values() if "U" in p]),
        "ratio": med(ratios),
        "ratios": ratios,
        "rounds": by_round,
    }

noise = stats["base"]["ratio"]
table = [("metric", "Tracer", "baseline (no Tracer)", "target", "result")]
table.append(("ns per delivered packet, no Tracer at all: pair W | pair U (median)",
              f'{stats["base"]["W"]:,.0f}', f'{stats["base"]["U"]:,.0f}', "-", "-"))
table.append(("W/U time ratio, no Tracer at all (median of rounds: the noise)",
              "-", f"{noise:.3f}", "≈ 1.00", "-"))
for v, label in VARIANTS[1:]:
    s = stats[v]
    table.append((f"ns per delivered packet, {label}: pod-W watched | pod-U unwatched (median)",
                  f'{s["W"]:,.0f}', f'{s["U"]:,.0f}', "-", "-"))
    table.append((f"W/U time ratio, {label} (median of rounds)",
                  f'{s["ratio"]:.3f}', f"{noise:.3f}", f"<= {TARGETS[v]:.2f}", verdict(s["ratio"] <= TARGETS[v])))
fa, fb = facts["a"], facts["b"]
# Tracer's footprint in node-W over each Tracer variant: at its start, then after each round, as runs
# ("none → inet tracer_123_4026531836 ×3 → none ×7").
def footprint(variant, key):
    states = [f[key] for f in foot.get(variant, [])]
    runs_ = []
    for st in states:
        if runs_ and runs_[-1][0] == st:
            runs_[-1][1] += 1
        else:
            runs_.append([st, 1])
    return " → ".join(st if k == 1 else f"{st} ×{k}" for st, k in runs_) or "?"
def footprints(key):
    return f'no drops: {footprint("a", key)}; drops elsewhere: {footprint("b", key)}'
table.append(("Tracer's nftables tables in node-W (at the start, then after each round)",
              footprints("tables"), "-", "-", "-"))
table.append(("BPF netfilter links held by Tracer (at the start, then after each round)",
              footprints("nf_links_pid"), "-", "-", "-"))
table.append(("BPF netfilter links on the machine, all namespaces (at the start, then after each round)",
              footprints("nf_links_all"), "-", "-", "-"))
table.append(("Tracer daemon CPU s over the measurement: no drops | drops elsewhere",
              f'{int(fa["ticks"]) / clk_tck:.2f} | {int(fb["ticks"]) / clk_tck:.2f}', "-", "-", "-"))
secs = float(fb["seconds"])
table.append(("background drops/s during the measurement (nftables counter), drops elsewhere",
              f'{int(fb["bg_drops_W"]) / secs:,.0f} ({int(fb["bg_drops_W"]):,} in {secs:.0f} s)',
              f'{int(fb["bg_drops_U"]) / secs:,.0f} ({int(fb["bg_drops_U"]):,})', f"≈ {bg_pps}", "-"))
recv_errs = {v: {p: int(facts[v][f"rcvbuf_{p}"]) + int(facts[v][f"inerr_{p}"]) + int(facts[v][f"noport_{p}"])
                 for p in "WU"} for v, _ in VARIANTS}
table.append(("pod receive errors (UDP RcvbufErrors + InErrors + NoPorts): no Tracer | no drops | drops elsewhere",
              " | ".join(str(recv_errs[v]["W"]) for v, _ in VARIANTS),
              " | ".join(str(recv_errs[v]["U"]) for v, _ in VARIANTS), "0", "-"))

notes = []
for r in runs:
    if r["accepted"] != r["sent"]:
        notes.append(f'WARNING: {r["variant"]} round {r["round"]} pair {r["pair"]}: only {r["accepted"]} of {r["sent"]} sends accepted')
for v, label in VARIANTS:
    for p in "WU":
        if recv_errs[v][p]:
            notes.append(f"WARNING: {label}: pod-{p} lost {recv_errs[v][p]} datagrams at its socket (receive errors); those are drops, and Tracer sees pod-W's")
        delivered, expected = int(facts[v][f"in_{p}"]), int(rounds) * int(n)
        if delivered != expected:
            notes.append(f"WARNING: {label}: pod-{p} received {delivered} datagrams, {expected} were sent")
for f in foot.get("a", []) + foot.get("b", []):
    if f["tables_U"] != "none":
        notes.append(f'WARNING: node-U, never watched, had nftables tables besides the benchmark\'s: {f["tables_U"]}')
        break
if fb.get("bg_alive") != "1":
    notes.append("WARNING: drops elsewhere: a background sender had stopped before the measurement ended")

about = [
    "- Two identical, independent Calico-style node/pod namespace pairs: W (pod-W watched by a `tracer daemon`",
    "  running in node-W; it watches its own namespace's cali* /32 routes) and U (never watched).",
    f"- Per round, {n} UDP datagrams (64-byte payload) sent in a tight loop from each node to a socket in its pod",
    "  (`udp_send timed` to `udp_sink`), U and W in alternating order; time per sendto includes the pod's receive",
    f"  path (softirq on the sending CPU). {rounds} rounds per variant; medians, and the median of per-round W/U ratios.",
    "- Variants: no Tracer at all (the noise); no drops (Tracer watching pod-W); drops elsewhere (each node also",
    f"  has a second pod, an nftables output rule dropping UDP to its port 9, and a background sender at {bg_pps}",
    f"  drops/s there throughout, from {settle} s before the measurement on; node-W's second pod is watched too).",
    "  Tracer arms nftables' trace marking for those drops as they start and disarms it 10 s after they are",
    "  explained, so this measures the steady state; the footprint rows show what Tracer had in node-W.",
    "- Tracer column: pair W; baseline column: pair U (for ratios: the no-Tracer ratio).",
]
runs_rows = []
for v, label in VARIANTS:
    for rnd, p in sorted(stats[v]["rounds"].items()):
        order = next(r["order"] for r in runs if r["variant"] == v and int(r["round"]) == rnd)
        runs_rows.append([label, str(rnd), f"{order[0]}, then {order[1]}", f'{p["W"]:,.0f}', f'{p["U"]:,.0f}',
                          f'{p["W"] / p["U"]:.3f}'])
report("delivered-traffic tax", f"{n} datagrams per send, {rounds} rounds per variant", about, table, notes,
       ["variant", "round", "order", "pod-W ns/packet", "pod-U ns/packet", "W/U"], runs_rows)
PY
