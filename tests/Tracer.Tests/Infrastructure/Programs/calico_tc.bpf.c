// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Test stand-in for Calico felix's tc entry program: named as felix names it (felix/bpf-gpl/tc_preamble.c
 * cali_tc_preamble; the kernel keeps "cali_tc_preambl"), it drops IPv4 UDP to port 8885 (TC_ACT_SHOT) as a
 * Calico policy denying it would. Pinned by the tests where felix pins its attachments, and attached with tc.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define TC_ACT_UNSPEC (-1)
#define TC_ACT_SHOT 2
#define ETH_HLEN 14

SEC("tc")
int cali_tc_preamble(struct __sk_buff *skb)
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
