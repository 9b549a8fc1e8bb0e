// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Test stand-in for an XDP filter on a pod's host-side veth: drops IPv4 UDP to one port
 * arriving from the pod. Attached by the tests with iproute2 (generic XDP).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_HLEN 14

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = (void *)data;
	struct iphdr *ip = (void *)(data + ETH_HLEN);
	__be16 *ports = (void *)(data + ETH_HLEN + sizeof(*ip));

	if ((void *)(ports + 2) > (void *)end || eth->h_proto != bpf_htons(0x0800) ||
	    ip->protocol != 17 || ip->ihl_version != 0x45)
		return XDP_PASS;
	return bpf_ntohs(ports[1]) == 8885 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
