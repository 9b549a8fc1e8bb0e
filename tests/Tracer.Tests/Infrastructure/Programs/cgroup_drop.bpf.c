// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Test stand-in for a policy agent's cgroup program: denies egress IPv4 UDP to one port for
 * the processes of the (test-created) cgroup it is attached to.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

SEC("cgroup_skb/egress")
int cgroup_drop(struct __sk_buff *skb)
{
	__u8 protocol;
	__be16 port;

	if (skb->protocol != bpf_htons(0x0800) || bpf_skb_load_bytes(skb, 9, &protocol, 1) || protocol != 17)
		return 1;
	if (bpf_skb_load_bytes(skb, 20 + 2, &port, sizeof(port)))
		return 1;
	return bpf_ntohs(port) == 8885 ? 0 : 1;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
