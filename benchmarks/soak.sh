#!/usr/bin/env bash
# soak.sh: does `tracer daemon` stay flat (memory, fds, threads, BPF objects) over a long run of pod
# churn, drops, on-demand sessions and a collector that comes and goes — and leave nothing behind?
#
# Builds a throw-away Calico-style node namespace and, for DURATION, churns pod namespaces behind it
# while the daemon (run inside the node namespace, --kubernetes off: pods from routes) traces them:
#   - pod churn: CHURN pod namespaces a minute created and deleted (each a veth calisk* with a /32 route
#     in the node namespace, what route discovery watches), POOL of them alive at once;
#   - a trickle of drops: every 2 s, 10 UDP datagrams to one of the live pods (a different one each
#     time; only pods old enough to have been discovered), dropped by an nftables output rule of the
#     node namespace; each refused sendto is one kernel drop;
#   - an OTLP collector (benchmarks/otlp_sink.py, OTLP/HTTP) that is up half the time, down (connection
#     refused) a quarter, and a black hole (accepts, never answers) a quarter, in segments of up to a
#     minute; it is up for the last two segments, so that the daemon's final export on SIGTERM arrives;
#   - port-scan bursts during black-hole segments: every 8 s, 100,000 drops to one pod over 6,000-13,000
#     ports (the workload that grew `trace`'s memory against a black hole);
#   - two on-demand sessions (`tracer session start --ip … --duration 20s`) opened every minute to
#     young pods, each sent 10 drops while it runs.
# Every 30 s it samples the daemon's RSS, open fds, threads, BPF maps and programs (distinct map_id /
# prog_id in /proc/PID/fdinfo), the nftables tables of the node namespace, this run's network
# namespaces, the watched prefixes (/readyz) and drops sent vs counted. Drops counted = the daemon's
# cumulative OTLP counters tracer.drops + tracer.aggregate_overflow, as the collector last received them.
# The daemon's RSS is also polled every 2 s, for its highest in each collector mode.
# Then it stops the daemon with SIGTERM and checks that nothing is left: no tracer_* nftables table in
# any of its namespaces, none of the daemon's BPF programs, the control socket gone.
# Last, a black-hole phase for `tracer trace`: BH_SECONDS of scan bursts every 8 s with
# `--otlp-endpoint` (gRPC) pointed at the black hole, RSS sampled every 5 s.
# Writes its section ("## soak") of benchmarks/results.md.
#
# Usage: sudo benchmarks/soak.sh   (env: DURATION=seconds or 30m/90s [30m], CHURN=pods a minute [150],
#        POOL=pods alive at once [100], BH_SECONDS=the trace black-hole phase [90], DAEMON_LOG=a file to
#        keep the daemon's log in,
#        RESULTS_MD=the results file to write instead of benchmarks/results.md)
# Everything it creates (namespaces, processes, the control socket's directory) is removed on exit.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# DURATION: plain seconds, or with an s/m/h suffix.
duration_seconds() {
    case $1 in
        *h) echo $((${1%h} * 3600)) ;;
        *m) echo $((${1%m} * 60)) ;;
        *s) echo "${1%s}" ;;
        *) echo "$1" ;;
    esac
}
DURATION=${DURATION:-30m}
[[ $DURATION =~ ^[1-9][0-9]*[smh]?$ ]] || die "DURATION must be seconds or 30s/30m/1h (got '$DURATION')"
SECONDS_TOTAL=$(duration_seconds "$DURATION")
CHURN=${CHURN:-150}
POOL=${POOL:-100}
BH_SECONDS=${BH_SECONDS:-90}
bench_require_count SECONDS_TOTAL CHURN POOL BH_SECONDS
((SECONDS_TOTAL >= 120)) || die "DURATION must be at least 2 minutes"
((POOL <= 900)) || die "POOL must be at most 900 (pod addresses are reused after 1000)"

SAMPLE_EVERY=30           # seconds between samples
TRICKLE_EVERY=2           # seconds between drop trickles
TRICKLE_N=10              # drops per trickle
SCAN_EVERY=8              # seconds between scan bursts (black-hole segments)
SCAN_N=100000             # drops per scan burst
SESSION_SECONDS=20
DISCOVERED_AGE=8          # a pod this old (s) is surely watched: routes are re-read every 5 s
# Memory settles in the first minutes (warm-up); growth is measured from then on.
WARMUP=$((SECONDS_TOTAL >= 1500 ? 300 : SECONDS_TOTAL / 5))
# Collector segments: DURATION/30, between 15 s and 60 s.
SEGMENT=$((SECONDS_TOTAL / 30))
((SEGMENT < 15)) && SEGMENT=15
((SEGMENT > 60)) && SEGMENT=60

TAG=soak-$$
NODE_NS=$TAG-node
POD_PREFIX=$TAG-pod-
NODE_IP=10.250.136.1
SCAN_IP=10.250.139.2      # the scan bursts' pod, alive throughout
SINK_PORT=4318
HEALTH_PORT=19487
CONTROL_DIR=/run/tracer-soak-$$
SOCKET=$CONTROL_DIR/tracer.sock

# Pod i's address: 10.250.140.2 … 10.250.143.251, reused after 1000 pods.
pod_ip() {
    local slot=$(($1 % 1000))
    echo "10.250.$((140 + slot / 250)).$((slot % 250 + 2))"
}

# Root, Tracer built, the tools; then the lock shared by all benchmarks.
bench_start "it creates network namespaces and runs the daemon (BPF)" ip nft bpftool gcc python3 curl flock

# Besides what common.sh undoes: every namespace of this run (by its prefix, also half-made ones),
# the session clients, the control socket's directory.
SESSION_PIDS=()
soak_cleanup() {
    local rc=$? ns pid
    set +e
    for pid in "${SESSION_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    bench_stop_all
    for ns in $(ip netns list | awk -v p="$TAG-" 'index($1, p) == 1 {print $1}'); do
        # shellcheck disable=SC2046
        kill -KILL $(ip netns pids "$ns") 2>/dev/null
        ip netns del "$ns"
    done
    rm -rf "$CONTROL_DIR"
    [[ -n ${DAEMON_LOG:-} && -f ${WORK:-}/daemon.err ]] && cp "$WORK/daemon.err" "$DAEMON_LOG"
    (exit "$rc")
    bench_cleanup
}
trap soak_cleanup EXIT
# A command that fails stops the run: say which (in functions too; not the expected failures inside $(…)).
set -E
trap 'rc=$?; ((BASH_SUBSHELL == 0)) && log "exit $rc at line $LINENO: $BASH_COMMAND"' ERR

# --- namespaces -------------------------------------------------------------------------------
# pod_add NAME VETH IP: a pod namespace behind a veth of the node (Calico style, as bench_add_pod,
# without proxy ARP: nothing is ever delivered), in four commands.
pod_add() {
    local ns=$1 veth=$2 ip=$3
    ip netns add "$ns"
    ip -n "$NODE_NS" link add "$veth" type veth peer name eth0 netns "$ns"
    ip -n "$ns" -b - <<EOF
addr add $ip/32 dev eth0
link set lo up
link set eth0 up
route add 169.254.1.1 dev eth0 scope link
route add default via 169.254.1.1 dev eth0
EOF
    ip -n "$NODE_NS" -b - <<EOF
link set $veth up
route add $ip/32 dev $veth
EOF
}

log "compiling the sender"
bench_compile udp_send
log "creating $NODE_NS, the scan pod and $POOL pods"
bench_add_node "$NODE_NS" "$NODE_IP"
pod_add "${TAG}-scan" caliskscan "$SCAN_IP"
ip netns exec "$NODE_NS" nft -f - <<EOF
table inet soak {
    chain output {
        type filter hook output priority 0;
        ip daddr 10.250.136.0/21 meta l4proto udp drop
    }
}
EOF

declare -A BORN=()    # pod index -> creation time (s since the run started; negative: before it)
CREATED=0             # pods created so far (the next index)
OLDEST=0              # the oldest live pod's index
T0=0
now_s() { local t=$EPOCHREALTIME; echo $(( ${t%.*} - T0 )); }

churn_one() {
    local i=$CREATED
    pod_add "$POD_PREFIX$i" "calisk$i" "$(pod_ip "$i")"
    BORN[$i]=$(now_s)
    CREATED=$((CREATED + 1))
    if ((CREATED - OLDEST > POOL)); then
        ip netns del "$POD_PREFIX$OLDEST"
        unset "BORN[$OLDEST]"
        OLDEST=$((OLDEST + 1))
    fi
}

T0=${EPOCHREALTIME%.*}
for ((k = 0; k < POOL; k++)); do churn_one; done
T0=${EPOCHREALTIME%.*}
for i in "${!BORN[@]}"; do BORN[$i]=-60; done   # made before the run: all discovered by the time it starts

# --- collector and daemon ---------------------------------------------------------------------
MODE_FILE=$WORK/sink.mode
SINK_STATE=$WORK/sink.json
echo up >"$MODE_FILE"
bench_start_bg "$WORK/sink.out" "$WORK/sink.err" ip netns exec "$NODE_NS" python3 "$BENCH_DIR/otlp_sink.py" "$SINK_PORT" "$MODE_FILE" "$SINK_STATE"
mkdir -m 0700 "$CONTROL_DIR"
bench_start_bg "$WORK/daemon.out" "$WORK/daemon.err" ip netns exec "$NODE_NS" "$TRACER" daemon --kubernetes off \
    --control-socket "$SOCKET" --health-port "$HEALTH_PORT" \
    --otlp-endpoint "http://127.0.0.1:$SINK_PORT" --otlp-protocol http/protobuf
DAEMON=$BENCH_LAST_PID
bench_wait_tracing "$DAEMON" 60 "$SCAN_IP" "$WORK/daemon.err" "$WORK/daemon.out"
log "daemon $DAEMON traces: ${BENCH_TRACING:0:160}…"
T0=${EPOCHREALTIME%.*}
for i in "${!BORN[@]}"; do BORN[$i]=-60; done

# --- sampling -----------------------------------------------------------------------------------
SAMPLES=$WORK/samples.txt
: >"$SAMPLES"
SENT=0                # drops sent (refused sendto) to watched pods, all kinds
SCAN_SENT=0
TRICKLES=0
SCANS=0
MODE=up

distinct_ids() { grep -h "^$1:" "/proc/$2"/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -u | wc -l; }
sink_field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], 0))' "$SINK_STATE" "$1" 2>/dev/null || echo 0; }

sample() {
    local t rss fds threads maps progs tables tracer_tables ours all watched counted series
    t=$(now_s)
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$DAEMON/status")
    threads=$(awk '/^Threads:/ {print $2}' "/proc/$DAEMON/status")
    fds=$(find "/proc/$DAEMON/fd" -mindepth 1 -maxdepth 1 | wc -l)
    maps=$(distinct_ids map_id "$DAEMON")
    progs=$(distinct_ids prog_id "$DAEMON")
    tables=$(ip netns exec "$NODE_NS" nft list tables | wc -l)
    tracer_tables=$(ip netns exec "$NODE_NS" nft list tables | grep -c ' tracer_' || true)
    ours=$(ip netns list | awk -v p="$TAG-" 'index($1, p) == 1' | wc -l)
    all=$(ip netns list | wc -l)
    watched=$(ip netns exec "$NODE_NS" curl -s --max-time 2 "http://127.0.0.1:$HEALTH_PORT/readyz" |
        sed -n 's/.*watching \([0-9]*\) prefixes.*/\1/p' | head -n1)
    counted=$(( $(sink_field drops) + $(sink_field overflow) ))
    # Scraped as Prometheus would: the series the daemon serves.
    series=$(ip netns exec "$NODE_NS" curl -s --max-time 5 "http://127.0.0.1:$HEALTH_PORT/metrics" |
        awk '/^tracer_drop_series[ {]/ {print $NF}' | head -n1)
    echo "t=$t mode=$MODE rss_kb=$rss fds=$fds threads=$threads maps=$maps progs=$progs nft_tables=$tables" \
        "tracer_tables=$tracer_tables netns=$ours netns_all=$all watched=${watched:-?} live_pods=$((CREATED - OLDEST))" \
        "created=$CREATED sent=$SENT counted=$counted series=${series:-?} trickles=$TRICKLES scans=$SCANS" >>"$SAMPLES"
    log "$(tail -n1 "$SAMPLES")"
}

# A live pod old enough to be watched, not about to be deleted, and in no session (whose drops are
# counted against what was sent to it); nothing when there is none.
pick_pod() {
    local now tries i
    now=$(now_s)
    for ((tries = 0; tries < 50; tries++)); do
        i=$((OLDEST + 5 + RANDOM % (CREATED - OLDEST - 5)))
        if [[ -n ${BORN[$i]:-} ]] && ((now - BORN[$i] >= DISCOVERED_AGE)) && [[ " ${SESSION_IP[*]} " != *" $(pod_ip "$i") "* ]]; then
            echo "$i"
            return
        fi
    done
}

# send_drops IP PORT N: N drops; adds them to SENT, and to SENT_TO[IP]; notes when (LAST_SENT[IP]). Not in a subshell.
declare -A SENT_TO=() LAST_SENT=()
send_drops() {
    local res refused
    res=$(bench_send "$NODE_NS" flood "$1" "$2" "$3")
    refused=$(sed -n 's/.*refused=\([0-9]*\).*/\1/p' <<<"$res")
    SENT=$((SENT + refused))
    SENT_TO[$1]=$(( ${SENT_TO[$1]:-0} + refused ))
    LAST_SENT[$1]=$(now_s)
}

# --- sessions -----------------------------------------------------------------------------------
SESSIONS=$WORK/sessions.txt   # "n=… ip=… sent=… rc=…" once each has ended
: >"$SESSIONS"
declare -A SESSION_IP=() SESSION_START=() SESSION_SENT=()
SESSION_N=0

start_session() {
    local i=$1 n=$SESSION_N
    SESSION_N=$((SESSION_N + 1))
    "$TRACER" session start --socket "$SOCKET" --ip "$(pod_ip "$i")" --duration "${SESSION_SECONDS}s" --output json \
        >"$WORK/session-$n.out" 2>"$WORK/session-$n.err" 9<&- &
    SESSION_PIDS+=("$!")
    SESSION_IP[$!]=$(pod_ip "$i")
    SESSION_START[$!]=$(now_s)
    SESSION_SENT[$!]=0
    echo "$n" >"$WORK/session-pid-$!"
}

# Sends each running session's pod its 10 drops once the client says the session is tracing (10 s at most:
# a session that never says so still gets them, and fails), reaps those that ended.
tend_sessions() {
    local pid rc keep=() now n ip before
    now=$(now_s)
    for pid in "${SESSION_PIDS[@]}"; do
        n=$(<"$WORK/session-pid-$pid")
        if kill -0 "$pid" 2>/dev/null; then
            if ((SESSION_SENT[$pid] == 0)) && { grep -q 'in detail' "$WORK/session-$n.err" || ((now - SESSION_START[$pid] >= 10)); }; then
                ip=${SESSION_IP[$pid]}
                before=${SENT_TO[$ip]:-0}
                send_drops "$ip" 7000 "$TRICKLE_N"
                SESSION_SENT[$pid]=$((SENT_TO[$ip] - before))
            fi
            keep+=("$pid")
        else
            rc=0
            wait "$pid" || rc=$?
            echo "n=$n ip=${SESSION_IP[$pid]} sent=${SESSION_SENT[$pid]} rc=$rc" >>"$SESSIONS"
            unset "SESSION_IP[$pid]" "SESSION_START[$pid]" "SESSION_SENT[$pid]"
        fi
    done
    SESSION_PIDS=("${keep[@]}")
}

# --- the run ------------------------------------------------------------------------------------
log "soak: ${SECONDS_TOTAL} s, $CHURN pods a minute ($POOL alive), collector segments of $SEGMENT s, warm-up $WARMUP s"
next_sample=0 next_trickle=0 next_scan=0 next_sessions=5 next_poll=0 end_sends=$((SECONDS_TOTAL - 5))
declare -A MODE_MAX=()
segments=$((SECONDS_TOTAL / SEGMENT))
while true; do
    now=$(now_s)
    ((now >= SECONDS_TOTAL)) && break
    # Collector mode: up, up, down, black hole, …; up for the last two segments.
    seg=$((now / SEGMENT))
    if ((seg >= segments - 2)); then want=up; else
        case $((seg % 4)) in 0 | 1) want=up ;; 2) want=down ;; 3) want=blackhole ;; esac
    fi
    if [[ $want != "$MODE" ]]; then
        MODE=$want
        echo "$MODE" >"$MODE_FILE"
        log "t=$now collector: $MODE"
    fi
    # Churn: CHURN a minute, on schedule.
    due=$((POOL + now * CHURN / 60))
    while ((CREATED < due)); do churn_one; done
    if ((now < end_sends)); then
        if ((now >= next_trickle)); then
            i=$(pick_pod)
            if [[ -n $i ]]; then
                send_drops "$(pod_ip "$i")" $((1000 + RANDOM % 1000)) "$TRICKLE_N"
                TRICKLES=$((TRICKLES + 1))
            fi
            next_trickle=$((now + TRICKLE_EVERY))
        fi
        if [[ $MODE == blackhole ]] && ((now >= next_scan)); then
            res=$(bench_send "$NODE_NS" scan "$SCAN_IP" 1024 "$SCAN_N" $((6000 + RANDOM % 7001)))
            refused=$(sed -n 's/.*refused=\([0-9]*\).*/\1/p' <<<"$res")
            SENT=$((SENT + refused))
            SCAN_SENT=$((SCAN_SENT + refused))
            SCANS=$((SCANS + 1))
            next_scan=$((now + SCAN_EVERY))
        fi
        if ((now >= next_sessions && now + SESSION_SECONDS + 5 < SECONDS_TOTAL)); then
            # The two newest pods that are watched: they outlive the session. Not one sent drops in the last
            # 3 s: a session takes its pod's drops from the interval it starts in.
            picked=0
            for ((i = CREATED - 1; i >= OLDEST && picked < 2; i--)); do
                if ((now - BORN[$i] >= DISCOVERED_AGE && now - ${LAST_SENT[$(pod_ip "$i")]:--100} >= 3)); then
                    start_session "$i"
                    picked=$((picked + 1))
                fi
            done
            next_sessions=$((next_sessions + 60))
        fi
        tend_sessions
    fi
    if ((now >= next_sample)); then
        sample
        next_sample=$((next_sample + SAMPLE_EVERY))
    fi
    # The highest RSS of each collector mode, polled every 2 s (samples may miss a short mode).
    if ((now >= next_poll)); then
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$DAEMON/status")
        ((rss > ${MODE_MAX[$MODE]:-0})) && MODE_MAX[$MODE]=$rss
        next_poll=$((now + 2))
    fi
    sleep 0.2
done
for m in "${!MODE_MAX[@]}"; do echo "mode=$m max_kb=${MODE_MAX[$m]}"; done >"$WORK/modes.txt"
# Sessions still running end by their duration; wait for them (25 s at most).
for ((k = 0; k < 125 && ${#SESSION_PIDS[@]} > 0; k++)); do tend_sessions; sleep 0.2; done
sleep 3   # the last drops drained and exported once more
sample
hwm=$(bench_vm_hwm_kb "$DAEMON")

# --- SIGTERM, and what is left ---------------------------------------------------------------------
progs_held=$(bench_prog_ids_of_pid "$DAEMON")
log "stopping the daemon with SIGTERM"
t_stop=${EPOCHREALTIME}
kill -TERM "$DAEMON"
for ((k = 0; k < 300; k++)); do kill -0 "$DAEMON" 2>/dev/null || break; sleep 0.1; done
exited=1
kill -0 "$DAEMON" 2>/dev/null && exited=0
stop_s=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$t_stop" "$EPOCHREALTIME")
bench_stop_pid "$DAEMON"
rc=$(grep -c 'Unhandled exception' "$WORK/daemon.err" || true)
left_progs=0
for id in $progs_held; do bpftool prog show id "$id" >/dev/null 2>&1 && left_progs=$((left_progs + 1)); done
left_tables=0
for ns in $(ip netns list | awk -v p="$TAG-" 'index($1, p) == 1 {print $1}'); do
    n=$(ip netns exec "$ns" nft list tables 2>/dev/null | grep -c ' tracer_' || true)
    left_tables=$((left_tables + n))
done
left_socket=0
[[ -e $SOCKET ]] && left_socket=1
sleep 1   # the collector has the final export
final_counted=$(( $(sink_field drops) + $(sink_field overflow) ))
echo "hwm_kb=$hwm exited=$exited stop_s=$stop_s unhandled=$rc progs_held=$(wc -w <<<"$progs_held") left_progs=$left_progs" \
    "left_tables=$left_tables left_socket=$left_socket sent=$SENT scan_sent=$SCAN_SENT counted=$final_counted" \
    "drops=$(sink_field drops) overflow=$(sink_field overflow) metric_exports=$(sink_field metric_exports)" \
    "span_exports=$(sink_field span_exports) spans=$(sink_field spans) export_failures=$(sink_field export_failures)" \
    "blackhole_connections=$(sink_field blackhole_connections) created=$CREATED trickles=$TRICKLES scans=$SCANS" >"$WORK/end.txt"
log "$(cat "$WORK/end.txt")"
[[ -n ${DAEMON_LOG:-} ]] && cp "$WORK/daemon.err" "$DAEMON_LOG"
grep -ciE 'warn|fail|crit' "$WORK/daemon.err" >/dev/null && log "daemon warnings: $(grep -iE 'warn|fail|crit' "$WORK/daemon.err" | sort | uniq -c | sort -rn | head -n 5)"

# Session drops counted by their clients (sum of "count" of their JSON lines).
SESSION_RESULTS=$WORK/session-results.txt
: >"$SESSION_RESULTS"
while read -r line; do
    n=$(sed -n 's/^n=\([0-9]*\).*/\1/p' <<<"$line")
    got=$(python3 -c '
import json, sys
total = 0
for l in open(sys.argv[1]):
    l = l.strip()
    if l.startswith("{") and "count" in l:
        total += int(json.loads(l).get("count", 0))
print(total)' "$WORK/session-$n.out" 2>/dev/null || echo "?")
    echo "$line got=$got" >>"$SESSION_RESULTS"
done <"$SESSIONS"

# --- the trace black-hole phase ---------------------------------------------------------------
log "trace phase: ${BH_SECONDS} s of scan bursts with --otlp-endpoint (gRPC) at a black hole"
echo blackhole >"$MODE_FILE"
TRACE_SAMPLES=$WORK/trace-samples.txt
: >"$TRACE_SAMPLES"
bench_start_bg "$WORK/trace.json" "$WORK/trace.err" ip netns exec "$NODE_NS" "$TRACER" trace --output json \
    --otlp-endpoint "http://127.0.0.1:$SINK_PORT" --otlp-protocol grpc
TRACE=$BENCH_LAST_PID
bench_wait_tracing "$TRACE" 60 "$SCAN_IP" "$WORK/trace.err"
t1=${EPOCHREALTIME%.*}
trace_sent=0 next_scan=0 next_sample=0
while true; do
    now=$(( ${EPOCHREALTIME%.*} - t1 ))
    ((now >= BH_SECONDS)) && break
    if ((now >= next_scan)); then
        res=$(bench_send "$NODE_NS" scan "$SCAN_IP" 1024 "$SCAN_N" $((6000 + RANDOM % 7001)))
        trace_sent=$((trace_sent + $(sed -n 's/.*refused=\([0-9]*\).*/\1/p' <<<"$res")))
        next_scan=$((now + SCAN_EVERY))
    fi
    if ((now >= next_sample)); then
        echo "t=$now rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$TRACE/status") fds=$(find "/proc/$TRACE/fd" -mindepth 1 -maxdepth 1 | wc -l)" \
            "threads=$(awk '/^Threads:/ {print $2}' "/proc/$TRACE/status") sent=$trace_sent" >>"$TRACE_SAMPLES"
        next_sample=$((next_sample + 5))
    fi
    sleep 0.2
done
sleep 2
trace_hwm=$(bench_vm_hwm_kb "$TRACE")
bench_stop_trace "$TRACE" "$WORK/trace.err"
trace_counts=$(bench_count_drops "$WORK/trace.json" "$(bench_netns_inode "$NODE_NS")" "$SCAN_IP")
echo "hwm_kb=$trace_hwm sent=$trace_sent lost=${BENCH_LOST:-?} $trace_counts" >"$WORK/trace-end.txt"
log "trace phase: $(cat "$WORK/trace-end.txt")"
rm -f "$WORK/trace.json"

# --- nothing left: namespaces --------------------------------------------------------------------
bench_stop_all
for ns in $(ip netns list | awk -v p="$TAG-" 'index($1, p) == 1 {print $1}'); do ip netns del "$ns"; done
BENCH_NETNS=()   # all deleted: nothing left for bench_cleanup
left_netns=$(ip netns list | awk -v p="$TAG-" 'index($1, p) == 1' | wc -l)
echo "left_netns=$left_netns" >>"$WORK/end.txt"

# --- report -------------------------------------------------------------------------------------
bench_report "$SAMPLES" "$WORK/end.txt" "$SESSION_RESULTS" "$TRACE_SAMPLES" "$WORK/trace-end.txt" "$WORK/modes.txt" \
    "$SECONDS_TOTAL" "$CHURN" "$POOL" "$WARMUP" "$SEGMENT" "$BH_SECONDS" <<'PY'
import sys
from report import read_kv, report, verdict

(samples_file, end_file, sessions_file, trace_samples_file, trace_end_file, modes_file,
 seconds, churn, pool, warmup, segment, bh_seconds) = sys.argv[1:]
seconds, warmup = int(seconds), int(warmup)
samples = read_kv(samples_file)
end = {k: v for row in read_kv(end_file) for k, v in row.items()}
sessions = read_kv(sessions_file)
trace_samples = read_kv(trace_samples_file)
trace_end = read_kv(trace_end_file)[0]

def mb(kb):
    return int(kb) / 1024

# The warm-up ends at the first sample at or after WARMUP; growth is measured from it to the end.
after = [s for s in samples if int(s["t"]) >= warmup]
base = after[0]
thirds = max(1, len(after) // 3)
first, last = after[:thirds], after[-thirds:]

def growth(key):
    return int(last[-1][key]) - int(base[key])

def trend(key):
    """Highest value of the last third of the samples after the warm-up minus that of the first third."""
    return max(int(s[key]) for s in last) - max(int(s[key]) for s in first)

rss_growth = mb(after[-1]["rss_kb"]) - mb(base["rss_kb"])
modes = {r["mode"]: mb(r["max_kb"]) for r in read_kv(modes_file)}
hwm, trace_hwm = mb(end["hwm_kb"]), mb(trace_end["hwm_kb"])
sent, counted = int(end["sent"]), int(end["counted"])
sess_ok = [s for s in sessions if s["rc"] == "0"]
sess_match = [s for s in sess_ok if s["got"] == s["sent"]]
trace_sent, trace_counted = int(trace_end["sent"]), int(trace_end["counted"])

def span(key):
    vals = [int(s[key]) for s in after]
    return f"{min(vals)}–{max(vals)}"

table = [
    ("metric", "measured", "target", "result"),
    (f"RSS growth from {warmup // 60} min {warmup % 60} s to the end (MB)",
     f"{mb(base['rss_kb']):.1f} → {mb(after[-1]['rss_kb']):.1f} ({rss_growth:+.1f})", "< 5 MB", verdict(rss_growth < 5)),
    ("RSS, highest per collector mode (polled every 2 s, MB)",
     ", ".join(f"{m} {v:.1f}" for m, v in sorted(modes.items())), "<= 80 MB", verdict(all(v <= 80 for v in modes.values()))),
    ("peak RSS of the daemon over the run (VmHWM, MB)", f"{hwm:.1f}", "<= 80 MB", verdict(hwm <= 80)),
    ("peak RSS of `trace` in the black-hole phase (VmHWM, MB)", f"{trace_hwm:.1f}", "<= 80 MB", verdict(trace_hwm <= 80)),
]
for key, name, tol in (("fds", "open fds", 2), ("threads", "threads", 2), ("maps", "BPF maps", 0), ("progs", "BPF programs", 0)):
    t = trend(key)
    table.append((f"{name} after the warm-up: range; highest of the last third − of the first third", f"{span(key)}; {t:+d}",
                  f"flat (<= +{tol})", verdict(t <= tol)))
table += [
    ("drops counted / sent (OTLP tracer.drops + tracer.aggregate_overflow)", f"{counted:,} / {sent:,}", "counted == sent",
     verdict(counted == sent)),
    ("on-demand sessions: ended cleanly; drops streamed == sent to their pod",
     f"{len(sess_ok)} of {len(sessions)}; {len(sess_match)} of {len(sess_ok)}", "all", verdict(len(sess_ok) == len(sessions) and len(sess_match) == len(sess_ok))),
    ("after SIGTERM: exited; tracer_* nftables tables; BPF programs of the daemon; control socket",
     f"{'yes' if end['exited'] == '1' else 'no'} ({end['stop_s']} s); {end['left_tables']}; {end['left_progs']} of {end['progs_held']}; "
     f"{'present' if end['left_socket'] == '1' else 'removed'}",
     "exited; 0; 0; removed", verdict(end["exited"] == "1" and end["left_tables"] == "0" and end["left_progs"] == "0" and end["left_socket"] == "0")),
    ("network namespaces of this run left after the cleanup", end["left_netns"], "0", verdict(end["left_netns"] == "0")),
    ("`trace` black-hole phase: drops counted / sent", f"{trace_counted:,} / {trace_sent:,}", "counted == sent", verdict(trace_counted == trace_sent)),
    ("tracer.drops series served at /metrics (scraped every 30 s): after the warm-up – highest",
     f"{min(int(s['series']) for s in after if s['series'] != '?')}–{max(int(s['series']) for s in samples if s['series'] != '?')}",
     "bounded (pods that left are forgotten)", "-"),
    ("pods created (and deleted)", f"{int(end['created']):,}", "-", "-"),
    ("drop trickles; scan bursts (drops in them)", f"{end['trickles']}; {end['scans']} ({int(end['scan_sent']):,})", "-", "-"),
    ("collector: metric exports; span exports (spans); connections held by the black hole",
     f"{end['metric_exports']}; {end['span_exports']} ({int(end['spans']):,}); {end['blackhole_connections']}", "-", "-"),
    ("export failures the daemon counted (tracer.export_failures, last received)", end["export_failures"], "-", "-"),
]
notes = []
if end["unhandled"] != "0":
    notes.append("FAIL: the daemon logged an unhandled exception")
for s in sessions:
    if s["rc"] != "0" or s["got"] != s["sent"]:
        notes.append(f'NOTE: session {s["n"]} ({s["ip"]}): exit code {s["rc"]}, {s["got"]} drops streamed of {s["sent"]} sent')
about = [
    f"- Run: {seconds // 60} min {seconds % 60} s of `tracer daemon --kubernetes off` in a node namespace: {churn} pod namespaces a minute",
    f"  created and deleted ({pool} alive; each a `calisk*` veth with a /32 route), 10 drops every 2 s to a different pod",
    "  (nftables output rule of the node), two `tracer session start --ip … --duration 20s` a minute (each sent 10 drops)",
    f"- Collector (`benchmarks/otlp_sink.py`, OTLP/HTTP): segments of {segment} s, up, up, down (refused), black hole (accepts, never",
    "  answers), …, up for the last two; during black-hole segments a scan burst every 8 s (100,000 drops over 6,000–13,000 ports)",
    "- Samples every 30 s (each with a scrape of /metrics, as Prometheus would): VmRSS, fds, threads, distinct map_id / prog_id in /proc/PID/fdinfo, nft tables of the node namespace,",
    f"  this run's namespaces; warm-up: the first {warmup} s. Drops counted: the daemon's cumulative OTLP counters as last received",
    f"- Then `tracer trace --otlp-endpoint` (gRPC) at the black hole for {bh_seconds} s with a scan burst every 8 s",
]
runs_header = ["t s", "collector", "RSS MB", "fds", "threads", "maps", "progs", "nft tables (tracer_*)",
               "namespaces (machine)", "watched", "pods created", "drops sent", "counted (as received)", "/metrics series"]
runs_rows = [[s["t"], s["mode"], f"{mb(s['rss_kb']):.1f}", s["fds"], s["threads"], s["maps"], s["progs"],
              f"{s['nft_tables']} ({s['tracer_tables']})", f"{s['netns']} ({s['netns_all']})", s["watched"],
              s["created"], s["sent"], s["counted"], s["series"]] for s in samples]
runs_rows.append(["trace phase", "black hole", ", ".join(f"{mb(s['rss_kb']):.0f}" for s in trace_samples),
                  "", "", "", "", "", "", "", "", f"{trace_sent:,}", f"{trace_counted:,}", ""])
report("soak", f"{seconds} s, {churn} pods a minute", about, table, notes, runs_header, runs_rows)
PY
