// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Test stand-in for a security agent's tc program: on the egress of a pod's host-side veth,
 * drops IPv4 UDP to one port (TC_ACT_SHOT). Attached by the tests with iproute2's tc. Another stand-in
 * includes it with its own program name (TC_DROP_NAME).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define TC_ACT_UNSPEC (-1)
#define TC_ACT_SHOT 2
#define ETH_HLEN 14

#ifndef TC_DROP_NAME
#define TC_DROP_NAME tc_drop
#endif

SEC("tc")
int TC_DROP_NAME(struct __sk_buff *skb)
{
	__u8 protocol;
	__be16 port;

	if (skb->protocol != bpf_htons(0x0800) || bpf_skb_load_bytes(skb, ETH_HLEN + 9, &protocol, 1) || protocol != 17)
		return TC_ACT_UNSPEC;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + 20 + 2, &port, sizeof(port)))
		return TC_ACT_UNSPEC;
	return bpf_ntohs(port) == 8885 ? TC_ACT_SHOT : TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
