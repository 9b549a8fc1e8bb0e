// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Copies the kernel's netfilter hook tables (struct nf_hook_entries of one network namespace
 * and hook point) into maps user space reads: function, priv and priority of every hook, with
 * nftables base chains and BPF netfilter links decoded from priv. Never attached: user space
 * runs it with BPF_PROG_TEST_RUN (raw_tp test runs exist since 5.10), args[0] = protocol family,
 * args[1] = hook number, in the namespace of the calling thread. So the tables are known before
 * any packet flows, on kernels with or without BPF netfilter programs.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "netfilter_hooks.h"

#define NFPROTO_IPV4 2
#define NF_INET_NUMHOOKS 5

const volatile struct hook_table_config hook_table_config SEC(".rodata.config");

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
	if (function && function == hook_table_config.bpf_function)
		return HOOK_ENTRY_BPF;
	for (int i = 0; i < 3; i++)
		if (function && function == hook_table_config.nft_functions[i])
			return HOOK_ENTRY_NFTABLES;
	return HOOK_ENTRY_FUNCTION;
}

SEC("raw_tp")
int copy_hook_table(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct net *net = BPF_CORE_READ(task, nsproxy, net_ns);
	struct hook_point point = { .pf = ctx->args[0], .hooknum = ctx->args[1] };
	struct hook_table table = {};
	struct nf_hook_entries *entries = 0;
	struct nf_hook_entries **slots;
	struct hook_entry_key key;
	__u64 hooks_offset, entry_size, ops_base;
	__u16 count = 0;

	if (point.hooknum >= NF_INET_NUMHOOKS)
		return 0;
	point.netns = BPF_CORE_READ(net, ns.inum);
	key.point = point;
	/* Field addresses only (CO-RE relocated); the memory is read with probe reads. */
	slots = point.pf == NFPROTO_IPV4 ? net->nf.hooks_ipv4 : net->nf.hooks_ipv6;
	bpf_probe_read_kernel(&entries, sizeof(entries), &slots[point.hooknum]);
	if (entries)
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
		} else if (entry.kind == HOOK_ENTRY_NFTABLES && entry.priv && bpf_core_type_exists(struct nft_chain)) {
			/* nft_chain is nf_tables' own type: absent where modules carry no BTF (before 5.11). */
			struct nft_chain *chain = (void *)entry.priv;

			bpf_probe_read_kernel_str(entry.name, sizeof(entry.name), BPF_CORE_READ(chain, name));
			bpf_probe_read_kernel_str(entry.table, sizeof(entry.table), BPF_CORE_READ(chain, table, name));
		}
		key.index = i;
		bpf_map_update_elem(&hook_entries, &key, &entry, BPF_ANY);
	}
	table.count = count;
	bpf_map_update_elem(&hook_tables, &point, &table, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
