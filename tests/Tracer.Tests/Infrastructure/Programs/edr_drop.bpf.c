// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Test stand-in for an EDR agent's netfilter hook: a BPF netfilter program that drops UDP
 * and TCP packets to one destination port, as port-scan protection blocking kubelet's
 * probes would. Loaded and attached by the tests, only inside namespaces they create.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#define NF_DROP 0
#define NF_ACCEPT 1

const volatile __u16 blocked_port = 8885;

SEC("netfilter")
int edr_drop(struct bpf_nf_ctx *ctx)
{
	struct sk_buff *skb = ctx->skb;
	unsigned char *l3 = skb->head + skb->network_header;
	__u8 version_ihl, protocol;
	__be16 ports[2];
	__u32 l4_offset;

	if (bpf_probe_read_kernel(&version_ihl, 1, l3))
		return NF_ACCEPT;
	if (version_ihl >> 4 == 4) {
		bpf_probe_read_kernel(&protocol, 1, l3 + 9);
		l4_offset = (version_ihl & 0x0F) * 4;
	} else {
		bpf_probe_read_kernel(&protocol, 1, l3 + 6);
		l4_offset = 40;
	}
	if (protocol != 6 && protocol != 17)
		return NF_ACCEPT;
	if (bpf_probe_read_kernel(ports, sizeof(ports), l3 + l4_offset))
		return NF_ACCEPT;
	return bpf_ntohs(ports[1]) == blocked_port ? NF_DROP : NF_ACCEPT;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
