// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Accept-only BPF netfilter programs. User space attaches them at several priorities of
 * a hook point: at the lowest, and right behind each hook registered there by anything
 * else. On a packet they only note how far it got (the per-CPU sentinel trail the drop
 * probe reads). Run by user space through BPF_PROG_TEST_RUN, the first one instead copies
 * the kernel's hook table of that point, so user space can name what sits between two sentinels.
 *
 * It always returns NF_ACCEPT: Tracer observes; it never changes a packet's fate.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "netfilter_hooks.h"
#include "sentinel_trail_map.h"

#define NF_ACCEPT 1
#define NFPROTO_IPV4 2
#define NF_INET_NUMHOOKS 5

const volatile struct sentinel_config sentinel_config SEC(".rodata.config");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct hook_point);
	__type(value, struct hook_table);
} hook_tables SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024 * 8);
	__type(key, struct hook_entry_key);
	__type(value, struct hook_entry);
} hook_entries SEC(".maps");

static __always_inline __u32 classify(__u64 function)
{
	if (function && function == sentinel_config.bpf_function)
		return HOOK_ENTRY_BPF;
	for (int i = 0; i < 3; i++)
		if (function && function == sentinel_config.nft_functions[i])
			return HOOK_ENTRY_NFTABLES;
	return HOOK_ENTRY_FUNCTION;
}

static __always_inline void copy_hook_table(struct net *net, const struct hook_point *point)
{
	struct hook_table table = {};
	struct nf_hook_entries *entries = 0;
	struct nf_hook_entries **slots;
	struct hook_entry_key key = { .point = *point };
	__u64 hooks_offset, entry_size, ops_base;
	__u16 count = 0;

	if (point->hooknum >= NF_INET_NUMHOOKS)
		return;
	/* Field addresses only (CO-RE relocated); the memory is read with probe reads. */
	slots = point->pf == NFPROTO_IPV4 ? net->nf.hooks_ipv4 : net->nf.hooks_ipv6;
	bpf_probe_read_kernel(&entries, sizeof(entries), &slots[point->hooknum]);
	if (!entries)
		return;
	bpf_core_read(&count, sizeof(count), &entries->num_hook_entries);

	hooks_offset = bpf_core_field_offset(struct nf_hook_entries, hooks);
	entry_size = bpf_core_type_size(struct nf_hook_entry);
	ops_base = (__u64)entries + hooks_offset + count * entry_size; /* orig_ops[] follows hooks[] */

	for (__u32 i = 0; i < TRACER_MAX_HOOK_ENTRIES && i < count; i++) {
		struct nf_hook_entry *slot = (void *)((__u64)entries + hooks_offset + i * entry_size);
		struct nf_hook_ops *ops = 0;
		struct hook_entry entry = {};

		entry.function = (__u64)BPF_CORE_READ(slot, hook);
		entry.priv = (__u64)BPF_CORE_READ(slot, priv);
		bpf_probe_read_kernel(&ops, sizeof(ops), (void *)(ops_base + i * sizeof(void *)));
		if (ops)
			entry.priority = BPF_CORE_READ(ops, priority);
		entry.kind = classify(entry.function);
		if (entry.kind == HOOK_ENTRY_BPF && entry.priv) {
			struct bpf_prog *prog = (void *)entry.priv;
			struct bpf_prog_aux *aux = BPF_CORE_READ(prog, aux);

			entry.bpf_prog_id = BPF_CORE_READ(aux, id);
			bpf_core_read_str(entry.name, sizeof(entry.name), &aux->name);
		} else if (entry.kind == HOOK_ENTRY_NFTABLES && entry.priv) {
			struct nft_chain *chain = (void *)entry.priv;

			bpf_probe_read_kernel_str(entry.name, sizeof(entry.name), BPF_CORE_READ(chain, name));
			bpf_probe_read_kernel_str(entry.table, sizeof(entry.table), BPF_CORE_READ(chain, table, name));
		}
		key.index = i;
		bpf_map_update_elem(&hook_entries, &key, &entry, BPF_ANY);
	}
	table.count = count;
	table.read_ns = bpf_ktime_get_boot_ns();
	bpf_map_update_elem(&hook_tables, point, &table, BPF_ANY);
}

static __always_inline int pass(struct bpf_nf_ctx *ctx, bool first)
{
	const struct nf_hook_state *state = ctx->state;
	struct sentinel_trail *trail;
	struct hook_point point = {};
	struct net *net = state->net;
	__u32 zero = 0;

	point.pf = state->pf;
	point.hooknum = state->hook;
	if (!net) {
		/*
		 * BPF_PROG_TEST_RUN from user space passes no namespace: this run only copies the hook
		 * table of the caller's namespace. Packets never pay for it.
		 */
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();

		net = BPF_CORE_READ(task, nsproxy, net_ns);
		point.netns = BPF_CORE_READ(net, ns.inum);
		copy_hook_table(net, &point);
		return NF_ACCEPT;
	}

	trail = bpf_map_lookup_elem(&sentinel_trail, &zero);
	if (!trail)
		return NF_ACCEPT;
	point.netns = net->ns.inum;
	if (!first) {
		if (trail->skb == (__u64)ctx->skb && trail->netns == point.netns &&
		    trail->pf == point.pf && trail->hooknum == point.hooknum)
			trail->passed++;
		return NF_ACCEPT;
	}
	/* An skb's address is reused as soon as it is freed: only the lowest sentinel may start a trail. */
	trail->skb = (__u64)ctx->skb;
	trail->netns = point.netns;
	trail->pf = point.pf;
	trail->hooknum = point.hooknum;
	trail->passed = 1;
	return NF_ACCEPT;
}

/* Attached at the lowest priority of every hook point: starts the trail; copies the hook table when test-run. */
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
