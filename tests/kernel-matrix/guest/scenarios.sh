#!/bin/sh
# The kernel matrix's scenarios, run inside each QEMU guest by /init. The guest's root namespace is
# the node (it is a throwaway VM); one pod sits in namespace pod1 behind a Calico-style veth, as in
# the host tests (tests/Tracer.Tests/Infrastructure/CalicoNetwork.cs). Every scenario traces with
# out/tracer while it makes one kind of drop happen, and reports on /dev/ttyS1 as JSON lines:
#   {"scenario":S,"kind":"record","data":<a line of tracer --output json>}
#   {"scenario":S,"kind":"status","data":{"setup":"ok"|"unsupported: …","tracer_exit":N,"sent":N,"refused":N}}
#   {"scenario":"doctor","kind":"doctor","data":<tracer doctor --json>}
#   {"scenario":"diagnose","kind":"diagnose","data":{"exit":N,"report":<tracer diagnose --output json>}}
#   {"scenario":"guest","kind":"done","data":{"kernel":"…","boot_seconds":N,"suite_seconds":N}}
# A guest booted with tracer.matrix=selinux on its command line runs only the SELinux scenario.
NODE_IP=192.168.100.10
EDR_MODULE=/lib/modules/$(uname -r)/extra/edr_agent.ko   # installed as its vendor's package would (matrix.sh)
POD_IP=10.244.0.5
exec 3>/dev/ttyS1
# Busybox's shell prefers its own applets to PATH: the real iproute2 by full path.
ip() { /usr/sbin/ip "$@"; }
started=$(cut -d' ' -f1 /proc/uptime)

json_string() { printf '"%s"' "$(printf '%s' "$1" | tr -d '\r' | tr '\n' ' ' | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

setup_network() {
	ip link set lo up
	ip link add eth0 type veth peer name eth0peer
	ip addr add "$NODE_IP/24" dev eth0
	ip link set eth0 up && ip link set eth0peer up
	ip route add default dev eth0   # as on a node; proxy ARP answers pods only for routable addresses
	ip netns add pod1
	ip link add cali1 type veth peer name eth0 netns pod1
	ip -n pod1 link set lo up
	ip -n pod1 addr add "$POD_IP/32" dev eth0
	ip -n pod1 link set eth0 up
	ip -n pod1 route add 169.254.1.1 dev eth0
	ip -n pod1 route add default via 169.254.1.1 dev eth0
	ip link set cali1 up
	echo 1 > /proc/sys/net/ipv4/conf/cali1/proxy_arp
	echo 0 > /proc/sys/net/ipv4/neigh/cali1/proxy_delay   # as Calico sets it
	echo 1 > /proc/sys/net/ipv4/ip_forward   # as on every node; proxy ARP answers only when forwarding
	ip route add "$POD_IP/32" dev cali1
}

# start_tracer NAME [ARM]: traces the pod's address; returns once Tracer says it is tracing (or has died).
# Armed from the start unless ARM says otherwise: most scenarios assert their drops from the first (on
# demand, the first drops of a culprit are inferred; the edr-module-on-demand scenario shows that).
start_tracer() {
	/usr/bin/tracer trace --output json --ip "$POD_IP" --arm "${2:-always}" > "/tmp/$1.json" 2> "/tmp/$1.err" &
	tracer_pid=$!
	for _ in $(seq 600); do
		grep -q '^tracing:' "/tmp/$1.err" 2>/dev/null && return 0
		kill -0 "$tracer_pid" 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}

# finish NAME SETUP SENT_LINE: lets two intervals pass, stops Tracer (SIGTERM: a background job of a
# script ignores SIGINT), reports.
finish() {
	sleep 3
	kill -TERM "$tracer_pid" 2>/dev/null
	wait "$tracer_pid"
	exit_code=$?
	echo "== $1: tracer exit $exit_code; $3"
	cat "/tmp/$1.err"
	while read -r line; do
		printf '{"scenario":"%s","kind":"record","data":%s}\n' "$1" "$line" >&3
	done < "/tmp/$1.json"
	sent=$(echo "$3" | grep -o 'sent=[0-9]*' | head -n1 | cut -d= -f2)       # the first sender's
	refused=$(echo "$3" | grep -o 'refused=[0-9]*' | head -n1 | cut -d= -f2)
	refused2=$(echo "$3" | grep -o 'then sent=[0-9]* refused=[0-9]*' | grep -o 'refused=[0-9]*' | cut -d= -f2) # a second batch's, if any
	printf '{"scenario":"%s","kind":"status","data":{"setup":%s,"tracer_exit":%d,"sent":%d,"refused":%d,"refused_then":%d,"stderr":%s}}\n' \
		"$1" "$(json_string "$2")" "$exit_code" "${sent:-0}" "${refused:-0}" "${refused2:-0}" "$(json_string "$(head -c 2000 "/tmp/$1.err")")" >&3
}

unsupported() {
	echo "== $1: $2"
	printf '{"scenario":"%s","kind":"status","data":{"setup":%s,"tracer_exit":-1,"sent":0,"refused":0,"stderr":""}}\n' \
		"$1" "$(json_string "unsupported: $2")" >&3
}

# Plain stack: UDP to a port nobody listens on in the pod (NO_SOCKET where the kernel has reasons).
scenario_no_socket() {
	start_tracer no-socket || { finish no-socket "tracer did not start" ""; return; }
	finish no-socket ok "$(udp_send "$POD_IP" 7 20 1000)"
}

# nftables rule in the node's output chain.
scenario_nft_rule() {
	nft add table ip matrix
	nft add chain ip matrix out '{ type filter hook output priority 0; }'
	nft add rule ip matrix out ip daddr "$POD_IP" udp dport 8887 counter drop
	start_tracer nft-rule || { finish nft-rule "tracer did not start" ""; nft delete table ip matrix; return; }
	finish nft-rule ok "$(udp_send "$POD_IP" 8887 20 1000)"
	nft delete table ip matrix
}

# nftables base-chain policy: everything to the pod not explicitly accepted.
scenario_nft_policy() {
	nft add table ip matrix
	nft add chain ip matrix out '{ type filter hook output priority 0; policy drop; }'
	nft add rule ip matrix out ip daddr != "$POD_IP" accept
	start_tracer nft-policy || { finish nft-policy "tracer did not start" ""; nft delete table ip matrix; return; }
	finish nft-policy ok "$(udp_send "$POD_IP" 8884 20 1000)"
	nft delete table ip matrix
}

# The out-of-tree EDR stand-in: node→pod blocked at LOCAL_OUT after a burst, pod→node at PRE_ROUTING.
# scenario_edr_module NAME MODULE_FILE: without BTF (kprobes observe it) or with BTF (fexit does).
scenario_edr_module() {
	if ! insmod "$2" node_ip="$NODE_IP" pod_ip="$POD_IP" threshold=10 local_out_priority=-75 pre_routing_priority=-120; then
		unsupported "$1" "insmod $2 failed"; return
	fi
	start_tracer "$1" || { finish "$1" "tracer did not start" ""; rmmod edr_agent; return; }
	out=$(udp_send "$POD_IP" 8888 40 1000)
	back=$(ip netns exec pod1 udp_send "$NODE_IP" 8889 10 1000)
	finish "$1" ok "$out; pod->node $back"
	rmmod edr_agent
}

# The EDR module with Tracer armed on demand: the first batch arms the verdict observers at LOCAL_OUT, the
# second, sent once they observe the module's hook function, is observed exactly. Waited for, not a fixed
# time: under software emulation an interval and the attach take seconds, and the observers are released
# 10 s after the last unexplained drop. They are Tracer's only kprobe programs (BPF_PROG_TYPE_KPROBE, 2).
scenario_edr_module_on_demand() {
	if ! insmod "$EDR_MODULE" node_ip="$NODE_IP" pod_ip="$POD_IP" threshold=10 local_out_priority=-75 pre_routing_priority=-120; then
		unsupported edr-module-on-demand "insmod failed"; return
	fi
	start_tracer edr-module-on-demand on-demand || { finish edr-module-on-demand "tracer did not start" ""; rmmod edr_agent; return; }
	first=$(udp_send "$POD_IP" 8888 40 1000)
	for _ in $(seq 300); do
		grep -qs '^prog_type:[[:space:]]*2$' /proc/"$tracer_pid"/fdinfo/* && break
		sleep 0.1
	done
	sleep 0.5   # loaded, then attached
	second=$(udp_send "$POD_IP" 8888 40 1000)
	finish edr-module-on-demand ok "$first; then $second"
	rmmod edr_agent
}

# The incident, investigated: the EDR module trips on a burst, then tracer diagnose must name it.
scenario_diagnose() {
	if ! insmod "$EDR_MODULE" node_ip="$NODE_IP" pod_ip="$POD_IP" threshold=10 local_out_priority=-75 pre_routing_priority=-120; then
		unsupported diagnose "insmod failed"; return
	fi
	udp_send "$POD_IP" 8888 40 1000 > /dev/null   # the node's own traffic past the threshold: blocked from now on
	/usr/bin/tracer diagnose --ip "$POD_IP" --from pod --output json --duration 3s > /tmp/diagnose.json 2> /tmp/diagnose.err
	exit_code=$?
	echo "== diagnose: exit $exit_code"
	cat /tmp/diagnose.json /tmp/diagnose.err
	printf '{"scenario":"diagnose","kind":"diagnose","data":{"exit":%d,"stderr":%s,"report":%s}}\n' \
		"$exit_code" "$(json_string "$(head -c 2000 /tmp/diagnose.err)")" "$(tr -d '\n' < /tmp/diagnose.json | grep . || echo null)" >&3
	rmmod edr_agent
}

# A BPF-LSM program denying delivery to the pod's socket on port 8886.
scenario_bpf_lsm() {
	if ! grep -q bpf /sys/kernel/security/lsm; then
		unsupported bpf-lsm "BPF-LSM is not active (lsm=$(cat /sys/kernel/security/lsm))"; return
	fi
	ip netns exec pod1 udp_sink 8886 &
	listener=$!
	bpf_load /matrix/lsm_deny.bpf.o > /tmp/lsm.out 2>&1 &
	loader=$!
	for _ in $(seq 100); do grep -q attached /tmp/lsm.out && break; kill -0 $loader 2>/dev/null || break; sleep 0.2; done
	if ! grep -q attached /tmp/lsm.out; then
		unsupported bpf-lsm "$(cat /tmp/lsm.out)"; kill $listener; return
	fi
	start_tracer bpf-lsm || { finish bpf-lsm "tracer did not start" ""; kill $loader $listener; return; }
	finish bpf-lsm ok "$(udp_send "$POD_IP" 8886 20 1000)"
	kill $loader $listener; wait $loader
}

# A BPF netfilter program (the host tests' EDR stand-in) at LOCAL_OUT priority -75.
scenario_bpf_netfilter() {
	bpf_load /matrix/edr_drop.bpf.o netfilter 2 3 -75 > /tmp/nfbpf.out 2>&1 &
	loader=$!
	for _ in $(seq 100); do grep -q attached /tmp/nfbpf.out && break; kill -0 $loader 2>/dev/null || break; sleep 0.2; done
	if ! grep -q attached /tmp/nfbpf.out; then
		unsupported bpf-netfilter "this kernel refuses BPF netfilter programs: $(tail -n 3 /tmp/nfbpf.out)"; return
	fi
	start_tracer bpf-netfilter || { finish bpf-netfilter "tracer did not start" ""; kill $loader; return; }
	finish bpf-netfilter ok "$(udp_send "$POD_IP" 8885 20 1000)"
	kill $loader; wait $loader
}

# SELinux enforcing /matrix/selinux_policy.bin (selinux_policy.cil), which denies two packet labels that
# nftables' secmark rules put on the scenario's traffic: the pod's socket may not receive what arrives on
# port 8883 (dropped as the socket takes it), the node may not send what it sends to port 8882 (dropped by
# selinux_ip_postroute). Run in a boot of its own, with SELinux among the LSMs.
scenario_selinux() {
	mkdir -p /sys/fs/selinux
	mount -t selinuxfs selinuxfs /sys/fs/selinux
	if ! cat /matrix/selinux_policy.bin > /sys/fs/selinux/load || ! echo 1 > /sys/fs/selinux/enforce; then
		unsupported selinux "the policy did not load: $(dmesg | grep -i selinux | tail -n 3)"; return
	fi
	ip netns exec pod1 nft -f - <<-NFT || { unsupported selinux "nftables refused the pod's secmark rule"; return; }
	table inet matrix {
		secmark blocked_recv {
			"system_u:object_r:tracer_blocked_recv_t:s0"
		}
		chain in { type filter hook input priority 0; udp dport 8883 meta secmark set "blocked_recv"; }
	}
	NFT
	nft -f - <<-NFT || { unsupported selinux "nftables refused the node's secmark rule"; return; }
	table inet matrix {
		secmark blocked_send {
			"system_u:object_r:tracer_blocked_send_t:s0"
		}
		chain out { type filter hook output priority 0; ip daddr $POD_IP udp dport 8882 meta secmark set "blocked_send"; }
	}
	NFT
	ip netns exec pod1 udp_sink 8883 &
	listener=$!
	start_tracer selinux || { finish selinux "tracer did not start" ""; kill $listener; return; }
	finish selinux ok "$(udp_send "$POD_IP" 8883 20 1000); node send $(udp_send "$POD_IP" 8882 20 1000)"
	kill $listener
}

echo "== kernel $(uname -r), LSMs $(cat /sys/kernel/security/lsm)"
if grep -q tracer.matrix=selinux /proc/cmdline; then
	setup_network
	scenario_selinux
else
	/usr/bin/tracer doctor --json > /tmp/doctor.json 2> /tmp/doctor.err
	echo "== doctor exit $?"; cat /tmp/doctor.err
	printf '{"scenario":"doctor","kind":"doctor","data":%s}\n' "$(tr -d '\n' < /tmp/doctor.json)" >&3
	setup_network
	scenario_no_socket
	scenario_nft_rule
	scenario_nft_policy
	scenario_edr_module edr-module "$EDR_MODULE"
	scenario_edr_module edr-module-btf /matrix/edr_agent_btf.ko
	scenario_edr_module_on_demand
	scenario_bpf_lsm
	scenario_bpf_netfilter
	scenario_diagnose
fi
printf '{"scenario":"guest","kind":"done","data":{"kernel":"%s","boot_seconds":%s,"suite_seconds":%s}}\n' "$(uname -r)" \
	"$started" "$(awk -v s="$started" '{print $1 - s}' /proc/uptime)" >&3
