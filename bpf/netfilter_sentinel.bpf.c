// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Accept-only BPF netfilter programs. User space attaches them at several priorities of
 * a hook point: at the lowest, and right behind each hook registered there by anything
 * else. On a packet they only note how far it got (the per-CPU sentinel trail the drop
 * probe reads); netfilter_hook_tables.bpf.c tells user space what sits between two sentinels.
 *
 * It always returns NF_ACCEPT: Tracer observes; it never changes a packet's fate.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "netfilter_hooks.h"
#include "sentinel_trail_map.h"

#define NF_ACCEPT 1

static __always_inline int pass(struct bpf_nf_ctx *ctx, bool first)
{
	const struct nf_hook_state *state = ctx->state;
	struct sentinel_trail *trail;
	__u32 zero = 0, netns;

	trail = bpf_map_lookup_elem(&sentinel_trail, &zero);
	if (!trail)
		return NF_ACCEPT;
	netns = state->net->ns.inum;
	if (!first) {
		if (trail->skb == (__u64)ctx->skb && trail->netns == netns &&
		    trail->pf == state->pf && trail->hooknum == state->hook)
			trail->passed++;
		return NF_ACCEPT;
	}
	/* An skb's address is reused as soon as it is freed: only the lowest sentinel may start a trail. */
	trail->skb = (__u64)ctx->skb;
	trail->netns = netns;
	trail->pf = state->pf;
	trail->hooknum = state->hook;
	trail->passed = 1;
	return NF_ACCEPT;
}

/* Attached at the lowest priority of every hook point: starts the trail. */
SEC("netfilter")
int sentinel_first(struct bpf_nf_ctx *ctx)
{
	return pass(ctx, true);
}

/* Attached right behind each foreign hook: counts itself on the trail. */
SEC("netfilter")
int sentinel(struct bpf_nf_ctx *ctx)
{
	return pass(ctx, false);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
