// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Test stand-in for the incident's EDR agent: "port-scan protection" as a BPF netfilter program.
 * It counts the node's TCP connection attempts (SYNs) to each local pod address; once one pod
 * gets more than `threshold` within a second, every packet from the node to that pod is dropped
 * from then on. Pods that never saw the burst stay reachable. Loaded and attached by the tests,
 * only inside namespaces they create.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define NF_DROP 0
#define NF_ACCEPT 1

/* Set by the test before load. */
struct edr_config {
	__u32 threshold;       /* SYNs per second to one pod that trip the block */
	__u32 pod_prefix;      /* the node's pod CIDR, network byte order ... */
	__u32 pod_prefix_mask; /* ... and its mask: "pods on this node only" */
};

const volatile struct edr_config config SEC(".rodata.edr") = { .threshold = 10 };

struct scan_state {
	__u64 window_start;
	__u32 syns;
	__u32 blocked;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct scan_state);
} scans SEC(".maps");

SEC("netfilter")
int edr_portscan(struct bpf_nf_ctx *ctx)
{
	struct sk_buff *skb = ctx->skb;
	unsigned char *l3 = skb->head + skb->network_header;
	struct scan_state *state, fresh = {};
	__u8 version_ihl, protocol, flags;
	__u32 daddr;
	__u64 now;

	if (bpf_probe_read_kernel(&version_ihl, 1, l3) || version_ihl >> 4 != 4)
		return NF_ACCEPT;
	bpf_probe_read_kernel(&protocol, 1, l3 + 9);
	bpf_probe_read_kernel(&daddr, 4, l3 + 16);
	if ((daddr & config.pod_prefix_mask) != config.pod_prefix)
		return NF_ACCEPT;
	state = bpf_map_lookup_elem(&scans, &daddr);
	if (state && state->blocked)
		return NF_DROP;
	if (protocol != 6)
		return NF_ACCEPT;
	if (bpf_probe_read_kernel(&flags, 1, l3 + (version_ihl & 0x0F) * 4 + 13) || (flags & 0x12) != 0x02)
		return NF_ACCEPT; /* only SYNs count as connection attempts */
	if (!state) {
		bpf_map_update_elem(&scans, &daddr, &fresh, BPF_NOEXIST);
		state = bpf_map_lookup_elem(&scans, &daddr);
		if (!state)
			return NF_ACCEPT;
	}
	now = bpf_ktime_get_ns();
	if (now - state->window_start > 1000000000ULL) {
		state->window_start = now;
		state->syns = 0;
	}
	if (++state->syns > config.threshold)
		state->blocked = 1;
	return NF_ACCEPT;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
