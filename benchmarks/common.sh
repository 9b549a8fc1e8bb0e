# common.sh: helpers shared by the benchmarks in this directory (sourced, not run).
#
# Every helper is prefixed bench_ (besides log and die). A script sources this file, checks its
# settings (bench_require_count) and calls bench_start, which checks the preconditions, takes the
# lock shared by all benchmarks, makes the work directory $WORK and installs bench_cleanup to run
# on any exit, including failures and Ctrl-C. The helpers record what they create or change
# (namespaces, background processes, the BPF stats sysctl, a tracefs mount) so that bench_cleanup
# can undo all of it.
#
# Environment, for every benchmark: TRACER (default out/tracer), RESULTS_MD (the results file whose
# section the benchmark replaces; default benchmarks/results.md), TRACER_ARGS (extra arguments for
# `tracer trace`, where a benchmark runs it).
# shellcheck shell=bash

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
TRACER=${TRACER:-$REPO/out/tracer}
RESULTS_MD=${RESULTS_MD:-$BENCH_DIR/results.md}
BENCH_NAME=${0##*/}
BENCH_NAME=${BENCH_NAME%.sh}   # in messages, the work directory and the report: drop-flood, scan, …
WORK=""                        # the work directory (bench_start)
RUNS_FILE=""                   # $WORK/runs.txt: the measurements, one "key=value ..." line each
BUILD=""                       # which Tracer is measured (bench_use_tracer_copy)

log() { echo "$BENCH_NAME: $*" >&2; }
die() { echo "$BENCH_NAME: error: $*" >&2; exit 1; }

# --- preconditions --------------------------------------------------------------------------

# bench_require_count VAR...: each named variable holds a positive integer.
bench_require_count() {
    local var
    for var in "$@"; do
        [[ ${!var} =~ ^[1-9][0-9]*$ ]] || die "$var must be a positive integer (got '${!var}')"
    done
}

# --- the shared lock, the work directory and the cleanup ------------------------------------

# One benchmark at a time, whichever it is: they share the CPU, and Tracer watches addresses
# machine-wide. Every benchmark takes this lock on fd 9 (closed in the background processes they start).
BENCH_LOCK=/run/tracer-bench.lock

# bench_lock: take the shared lock, waiting up to 15 min for another benchmark to finish.
bench_lock() {
    exec 9>>"$BENCH_LOCK"
    if ! flock -n 9; then
        log "another benchmark holds $BENCH_LOCK; waiting up to 15 min for it to finish"
        flock -w 900 9 || die "gave up waiting for $BENCH_LOCK"
    fi
}

BENCH_OLD_BPF_STATS=""   # kernel.bpf_stats_enabled before bench_bpf_stats_on, to restore
BENCH_MOUNTED_TRACEFS=0

# bench_start WHY TOOL...: check that this runs as root (WHY it must), that Tracer is built and the
# TOOLs are installed; take the shared lock; install the cleanup (on any exit, including failures
# and Ctrl-C); make $WORK and an empty $RUNS_FILE; and measure a copy of Tracer (bench_use_tracer_copy).
bench_start() {
    local tool
    [[ $EUID -eq 0 ]] || die "must run as root ($1)"
    shift
    [[ -x $TRACER ]] || die "$TRACER is missing or not executable: run ./build.sh first"
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "'$tool' is not installed"
    done
    bench_lock
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    WORK=$(mktemp -d "/tmp/$BENCH_NAME.XXXXXX")
    RUNS_FILE=$WORK/runs.txt
    : >"$RUNS_FILE"
    bench_use_tracer_copy
}

# Undoes everything the helpers recorded, then exits with the script's status.
bench_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    bench_stop_all         # Tracer, bpftrace, senders, sinks still running
    bench_delete_netns     # the veths and nftables tables go with the namespaces
    [[ -n $BENCH_OLD_BPF_STATS ]] && sysctl -qw kernel.bpf_stats_enabled="$BENCH_OLD_BPF_STATS"
    ((BENCH_MOUNTED_TRACEFS)) && umount /sys/kernel/tracing 2>/dev/null
    [[ -n $WORK ]] && rm -rf "$WORK"
    ((rc != 0)) && log "failed (exit $rc); cleaned up"
    exit "$rc"
}

# bench_bpf_stats_on: per-program run time and count (bpftool's run_time_ns, run_cnt) are only kept
# while kernel.bpf_stats_enabled is 1; the old value is restored on exit.
bench_bpf_stats_on() {
    BENCH_OLD_BPF_STATS=$(sysctl -n kernel.bpf_stats_enabled)
    sysctl -qw kernel.bpf_stats_enabled=1
}

# bench_mount_tracefs: bpftrace reads tracepoint formats from tracefs; mount it only if nobody has
# (unmounted on exit).
bench_mount_tracefs() {
    if [[ ! -d /sys/kernel/tracing/events ]]; then
        mount -t tracefs tracefs /sys/kernel/tracing
        BENCH_MOUNTED_TRACEFS=1
    fi
}

# bench_use_tracer_copy: measure one binary throughout, even if out/tracer is rebuilt meanwhile:
# TRACER becomes a copy in $WORK, and BUILD says which binary it is (build time and the checkout).
bench_use_tracer_copy() {
    local head
    BUILD="${TRACER#"$REPO/"}, built $(date -u -r "$TRACER" '+%Y-%m-%d %H:%M UTC')"
    if head=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null); then
        [[ -n $(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null) ]] && head+=" + uncommitted changes"
        BUILD+="; repository at $head"
    fi
    cp "$TRACER" "$WORK/tracer"
    TRACER=$WORK/tracer
}

# bench_compile NAME...: build benchmarks/NAME.c into $WORK/NAME.
bench_compile() {
    local name
    for name in "$@"; do
        [[ -f $BENCH_DIR/$name.c ]] || die "benchmarks/$name.c is missing"
        gcc -O2 -Wall -o "$WORK/$name" "$BENCH_DIR/$name.c"
    done
}

# --- background processes ---------------------------------------------------------------
BENCH_BG_PIDS=()
BENCH_LAST_PID=""

# bench_start_bg OUT ERR CMD...: start CMD in the background with SIGINT at its default action.
# Bash starts background jobs with SIGINT ignored (and a script started in the background
# inherits that), and Tracer (.NET) and bpftrace would then ignore the SIGINT used to stop them
# cleanly. Python, then exec, resets it; the pid stays the same through every exec (ip netns exec
# execs too), so BENCH_LAST_PID is the command's own pid. fd 9 (the lock) is not inherited.
bench_start_bg() {
    local out=$1 err=$2; shift 2
    python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.signal(signal.SIGTERM, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' "$@" >"$out" 2>"$err" 9<&- &
    BENCH_LAST_PID=$!
    BENCH_BG_PIDS+=("$BENCH_LAST_PID")
}

# bench_stop_pid PID: SIGINT first (Tracer and bpftrace print their summary on it), KILL after 10 s.
bench_stop_pid() {
    local pid=$1 i p keep=()
    if kill -0 "$pid" 2>/dev/null; then
        kill -INT "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null || true
    for p in "${BENCH_BG_PIDS[@]}"; do
        [[ $p == "$pid" ]] || keep+=("$p")
    done
    BENCH_BG_PIDS=("${keep[@]}")
}

# Stops every background process still running, newest first.
bench_stop_all() {
    local i
    for ((i = ${#BENCH_BG_PIDS[@]} - 1; i >= 0; i--)); do
        bench_stop_pid "${BENCH_BG_PIDS[i]}"
    done
}

# bench_cpu_ticks PID: utime+stime of a process, in clock ticks (fields 14 and 15 of
# /proc/PID/stat; the command name in field 2 may contain spaces, so split after its ")").
bench_cpu_ticks() {
    local stat rest f
    stat=$(<"/proc/$1/stat")
    rest=${stat##*) }
    read -r -a f <<<"$rest"
    echo $((f[11] + f[12]))
}

# bench_vm_hwm_kb PID: a process's peak RSS (VmHWM), in kB.
bench_vm_hwm_kb() {
    awk '/^VmHWM:/ {print $2}' "/proc/$1/status"
}

# --- namespaces (Calico-style node and pods) ------------------------------------------------
BENCH_NETNS=()   # created by this run, in creation order

# bench_add_node NS NODE_IP: a "node" namespace with the node's address on lo (the source of what
# it sends; not on a cali* interface, so Tracer does not watch it).
bench_add_node() {
    local ns=$1 ip=$2
    ip netns add "$ns"
    BENCH_NETNS+=("$ns")
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$ip/32" dev lo
}

# bench_add_pod NODE_NS POD_NS VETH POD_IP: a pod namespace joined to the node by a veth created
# inside the node namespace directly (nothing ever appears in the root namespace). Calico style:
# /32 on the pod's eth0, default route via 169.254.1.1 (answered by proxy ARP on the node side),
# and a /32 route to the pod on the node's cali* side, which is what makes Tracer watch the pod.
bench_add_pod() {
    local node=$1 pod=$2 veth=$3 ip=$4
    ip netns add "$pod"
    BENCH_NETNS+=("$pod")
    ip -n "$node" link add "$veth" type veth peer name eth0 netns "$pod"
    ip -n "$pod" addr add "$ip/32" dev eth0
    ip -n "$pod" link set lo up
    ip -n "$pod" link set eth0 up
    ip -n "$pod" route add 169.254.1.1 dev eth0 scope link
    ip -n "$pod" route add default via 169.254.1.1 dev eth0
    ip -n "$node" link set "$veth" up
    ip netns exec "$node" sysctl -qw "net.ipv4.conf.$veth.proxy_arp=1"
    ip -n "$node" route add "$ip/32" dev "$veth"
}

# bench_drop_rule NODE_NS RULE: the table "inet bench" in NODE_NS, whose output chain holds one
# nftables RULE (e.g. "ip daddr 10.250.0.2 udp dport 9 drop"); it goes with the namespace.
bench_drop_rule() {
    ip netns exec "$1" nft -f - <<EOF
table inet bench {
    chain output {
        type filter hook output priority 0;
        $2
    }
}
EOF
}

# bench_netns_inode NS: the namespace's inode, the netns field of Tracer's JSON.
bench_netns_inode() {
    stat -L -c %i "/run/netns/$1"
}

# Deletes the namespaces this run created, newest first (a node's veths and nftables tables go
# with it). Anything still running inside one was started by this run: it is killed first.
bench_delete_netns() {
    local i ns pids
    for ((i = ${#BENCH_NETNS[@]} - 1; i >= 0; i--)); do
        ns=${BENCH_NETNS[i]}
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        # shellcheck disable=SC2086
        [[ -n $pids ]] && kill -KILL $pids 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
    BENCH_NETNS=()
}

# bench_send NS MODE ADDR PORT N [ARG]: run the sender (udp_send.c, built by bench_compile udp_send)
# in namespace NS; prints its "key=value ..." line. While this run keeps BPF stats on, re-asserts
# them first: anything else on the machine that switches them off would zero the deltas.
bench_send() {
    local ns=$1; shift
    if [[ -n $BENCH_OLD_BPF_STATS ]]; then sysctl -qw kernel.bpf_stats_enabled=1; fi
    ip netns exec "$ns" "$WORK/udp_send" "$@"
}

# bench_drop_setup NODE_NS NODE_IP POD_NS VETH POD_IP RULE: what the drop benchmarks (drop-flood.sh,
# scan.sh) measure in: the sender built, a node and a pod namespace, the nftables RULE in the node's
# output chain, BPF stats on, and tracefs for bpftrace. Sets NODE_NETNS, the node's netns inode.
# shellcheck disable=SC2034  # NODE_NETNS is read by the benchmark scripts
bench_drop_setup() {
    local node=$1 node_ip=$2 pod=$3 veth=$4 pod_ip=$5 rule=$6
    log "compiling the sender"
    bench_compile udp_send
    log "creating namespaces $node and $pod"
    bench_add_node "$node" "$node_ip"
    bench_add_pod "$node" "$pod" "$veth" "$pod_ip"
    NODE_NETNS=$(bench_netns_inode "$node")
    bench_drop_rule "$node" "$rule"
    bench_bpf_stats_on
    bench_mount_tracefs
}

# --- Tracer -------------------------------------------------------------------------------------

# bench_wait_tracing PID SECONDS POD_IP FILE...: wait until Tracer (PID) has printed its "tracing:"
# status line into one of FILEs, and check that it watches POD_IP/32 and that PID is Tracer's;
# dies otherwise. The line is left in BENCH_TRACING.
bench_wait_tracing() {
    local pid=$1 seconds=$2 ip=$3 i; shift 3
    BENCH_TRACING=""
    for ((i = 0; i < seconds * 10; i++)); do
        BENCH_TRACING=$(grep -hE '(^|[[:space:]])tracing:' "$@" 2>/dev/null | head -n1 || true)
        [[ -n $BENCH_TRACING ]] && break
        kill -0 "$pid" 2>/dev/null || die "tracer exited before tracing: $(cat "$@")"
        sleep 0.1
    done
    [[ -n $BENCH_TRACING ]] || die "tracer did not start tracing within $seconds s: $(cat "$@")"
    [[ $BENCH_TRACING == *"$ip/32"* ]] || die "tracer is not watching $ip: $BENCH_TRACING"
    [[ $(<"/proc/$pid/comm") == tracer ]] || die "pid $pid is $(<"/proc/$pid/comm"), not the tracer"
}

# bench_start_trace OUT ERR NODE_NS POD_IP: start `tracer trace --output json $TRACER_ARGS` in
# NODE_NS and wait (30 s at most) until it traces, watching POD_IP. BENCH_LAST_PID is Tracer's own
# pid (python3 and ip netns exec both exec).
bench_start_trace() {
    local out=$1 err=$2 ns=$3 ip=$4
    # shellcheck disable=SC2086  # TRACER_ARGS is a list of arguments
    bench_start_bg "$out" "$err" ip netns exec "$ns" "$TRACER" trace --output json ${TRACER_ARGS:-}
    bench_wait_tracing "$BENCH_LAST_PID" 30 "$ip" "$err"
}

# bench_stop_trace PID ERR: stop `tracer trace`; BENCH_SUMMARY is its summary line, BENCH_LOST
# its samples lost.
# shellcheck disable=SC2034  # BENCH_* results are read by the benchmark scripts
bench_stop_trace() {
    bench_stop_pid "$1"
    BENCH_SUMMARY=$(grep '^summary:' "$2" || true)
    [[ -n $BENCH_SUMMARY ]] || die "tracer printed no summary line: $(cat "$2")"
    BENCH_LOST=$(sed -n 's/.*samples lost \([0-9]*\).*/\1/p' <<<"$BENCH_SUMMARY")
}

# bench_count_drops TRACER_JSON NETNS POD_IP: "counted=… foreign=… overflow=… records=… complete=…
# with_addr=… with_reason=… with_culprit=… kinds=…" of Tracer's JSON lines (report.py count_drops).
bench_count_drops() {
    PYTHONDONTWRITEBYTECODE=1 python3 "$BENCH_DIR/report.py" count-drops "$@"
}

# --- BPF program statistics (kernel.bpf_stats_enabled=1) --------------------------------------

# "run_time_ns run_cnt" of one BPF program (bpftool omits both while they are 0; a program that
# is gone counts 0 0).
bench_prog_stats() {
    bpftool prog show id "$1" --json 2>/dev/null | python3 -c '
import json, sys
try:
    p = json.load(sys.stdin)
except ValueError:
    p = {}
print(p.get("run_time_ns", 0), p.get("run_cnt", 0))'
}

# "id run_time_ns run_cnt" lines for the given program ids.
bench_prog_stats_each() {
    local id t c
    for id in "$@"; do
        read -r t c < <(bench_prog_stats "$id")
        echo "$id $t $c"
    done
}

# "run_time_ns run_cnt" summed over the given program ids.
bench_prog_stats_sum() {
    bench_prog_stats_each "$@" | awk '{ns += $2; runs += $3} END {print ns + 0, runs + 0}'
}

# Ids of the BPF programs a process holds (its fds' fdinfo has prog_id for programs and links).
bench_prog_ids_of_pid() {
    grep -h '^prog_id:' "/proc/$1"/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -un
}

# bench_pick_prog FIELD VALUE ID...: the one program among the ids whose FIELD in bpftool's JSON
# is VALUE (nothing if none or several).
bench_pick_prog() {
    local field=$1 value=$2; shift 2
    bpftool prog show --json | python3 -c '
import json, sys
field, value, ids = sys.argv[1], sys.argv[2], {int(i) for i in sys.argv[3:]}
hits = [p["id"] for p in json.load(sys.stdin) if p["id"] in ids and str(p.get(field)) == value]
print(hits[0] if len(hits) == 1 else "")' "$field" "$value" "$@"
}

# bench_other_kfree_skb_progs ID...: how many BPF programs not among the ids are attached to
# kfree_skb as tracepoints right now (bpftrace, another Tracer, …): each one runs on every drop
# too, slowing the senders.
bench_other_kfree_skb_progs() {
    bpftool perf show --json | python3 -c '
import json, sys
mine = {int(i) for i in sys.argv[1:]}
print(len({e["prog_id"] for e in json.load(sys.stdin)
           if e.get("tracepoint") == "kfree_skb" and e["prog_id"] not in mine}))' "$@"
}

# How many BPF netfilter links a process holds (fdinfo of a link fd: "link_type:	netfilter").
bench_netfilter_links_of_pid() {
    grep -l '^link_type:[[:space:]]*netfilter' "/proc/$1"/fdinfo/* 2>/dev/null | wc -l
}

# How many BPF netfilter links exist on the machine (all namespaces; bpftool 7.1 may print the
# link type as its number, 10).
bench_netfilter_links_total() {
    bpftool link list --json 2>/dev/null | python3 -c '
import json, sys
try:
    links = json.load(sys.stdin) or []
except ValueError:
    links = []
print(sum(1 for l in links if str(l.get("type")) in ("netfilter", "10")))'
}

# --- the baseline: bpftrace's minimal drop counter --------------------------------------------
BENCH_BPFTRACE_PROGRAM='tracepoint:skb:kfree_skb { @[args->reason, args->location] = count(); }'

# bench_bpftrace_run OUT ERR CMD...: run CMD (the workload, which prints its "key=value ..." line)
# under bpftrace's counter. Sets BENCH_RES (CMD's line), BENCH_OTHERS (other programs on kfree_skb
# just before), BENCH_NS and BENCH_RUNS (the counter program's run_time_ns and run_cnt over CMD).
# shellcheck disable=SC2034  # BENCH_* results are read by the benchmark scripts
bench_bpftrace_run() {
    local out=$1 err=$2 before pid prog="" i bpf0 bpf1; shift 2
    before=$(bpftool prog show --json | python3 -c '
import json, sys
print(" ".join(str(p["id"]) for p in json.load(sys.stdin)))')
    # Runs in the root namespace: it only needs tracefs (which `ip netns exec` would hide by
    # remounting /sys), and a tracepoint program sees drops of every namespace anyway.
    bench_start_bg "$out" "$err" bpftrace -e "$BENCH_BPFTRACE_PROGRAM"
    pid=$BENCH_LAST_PID
    # Attached = the kernel lists bpftrace's pid with a perf event on the kfree_skb tracepoint.
    for ((i = 0; i < 300; i++)); do
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
    [[ $(bench_pick_prog type tracepoint "$prog") == "$prog" ]] || die "program $prog is not a tracepoint program"

    BENCH_OTHERS=$(bench_other_kfree_skb_progs "$prog")
    bpf0=$(bench_prog_stats "$prog")
    BENCH_RES=$("$@")
    bpf1=$(bench_prog_stats "$prog")
    bench_stop_pid "$pid"
    # shellcheck disable=SC2086  # "run_time_ns run_cnt" twice
    set -- $bpf0 $bpf1
    BENCH_NS=$(($3 - $1))
    BENCH_RUNS=$(($4 - $2))
}

# bench_alternate ROUNDS RUN_TRACER WORKLOAD NS_KEY RUNS_KEY: ROUNDS rounds, alternating the tools so
# that machine-wide swings hit both alike: each runs `RUN_TRACER ROUND` (the script's own function,
# WORKLOAD under Tracer), then WORKLOAD under bpftrace's counter, whose line goes to $RUNS_FILE:
#   tool=bpftrace round=R <WORKLOAD's line> others=K NS_KEY=<run_time_ns> RUNS_KEY=<run_cnt>
bench_alternate() {
    local rounds=$1 run_tracer=$2 workload=$3 ns_key=$4 runs_key=$5 round
    for ((round = 1; round <= rounds; round++)); do
        "$run_tracer" "$round"
        bench_bpftrace_run "$WORK/bpftrace-$round.out" "$WORK/bpftrace-$round.err" "$workload"
        echo "tool=bpftrace round=$round $BENCH_RES others=$BENCH_OTHERS $ns_key=$BENCH_NS $runs_key=$BENCH_RUNS" >>"$RUNS_FILE"
        log "round $round bpftrace: $(tail -n1 "$RUNS_FILE")"
    done
}

# --- the report -------------------------------------------------------------------------------

# bench_report ARG... <<'PY' … PY: run the script's report code (python on stdin, with ARGs) with
# report.py importable; it prints the table and replaces the script's section of $RESULTS_MD.
bench_report() {
    BENCH_NAME=$BENCH_NAME BENCH_RESULTS_MD=$RESULTS_MD BENCH_BUILD=$BUILD BENCH_BPFTRACE=$BENCH_BPFTRACE_PROGRAM \
        PYTHONPATH=$BENCH_DIR PYTHONDONTWRITEBYTECODE=1 python3 - "$@"
    echo
    log "wrote its section of $RESULTS_MD"
}
