// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * One do-nothing program per program type or attach method Tracer may use.
 * `tracer doctor` loads (and where harmless attaches) each alone, to learn what
 * this kernel really allows instead of guessing from its version.
 * Every program leaves packets and calls exactly as they were.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define NF_ACCEPT 1
#define TC_ACT_UNSPEC (-1)

SEC("tracepoint/skb/kfree_skb")
int probe_tracepoint(void *ctx)
{
	return 0;
}

SEC("tp_btf/kfree_skb")
int probe_tp_btf(void *ctx)
{
	return 0;
}

SEC("raw_tp/kfree_skb")
int probe_raw_tp(void *ctx)
{
	return 0;
}

SEC("fentry/nf_hook_slow")
int probe_fentry(void *ctx)
{
	return 0;
}

SEC("fexit/nf_hook_slow")
int probe_fexit(void *ctx)
{
	return 0;
}

SEC("kprobe/nf_hook_slow")
int probe_kprobe(void *ctx)
{
	return 0;
}

SEC("lsm/socket_sock_rcv_skb")
int probe_lsm(void *ctx)
{
	return 0; /* allow */
}

/* libbpf 1.1 has no "netfilter" section: user space sets the program type. */
SEC("netfilter")
int probe_netfilter(struct bpf_nf_ctx *ctx)
{
	return NF_ACCEPT;
}

SEC("tc")
int probe_tc(void *ctx)
{
	return TC_ACT_UNSPEC;
}

SEC("cgroup_skb/egress")
int probe_cgroup_skb(void *ctx)
{
	return 1; /* allow */
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
