/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Wire format between netfilter_hook_tables.bpf.c, netfilter_sentinel.bpf.c, drop_tracer.bpf.c
 * and user space: the netfilter hook tables as the kernel holds them, and the per-CPU trail
 * that sentinels leave for the drop probe. Read by native/BindingGenerator like drop_event.h.
 */
#ifndef TRACER_NETFILTER_HOOKS_H
#define TRACER_NETFILTER_HOOKS_H

#define TRACER_MAX_HOOK_ENTRIES 32
#define TRACER_NAME_LEN 32

/* Load-time settings of the hook-table reader: addresses (from kallsyms) of hook functions whose priv it decodes. */
struct hook_table_config {
	__u64 nft_functions[3];   /* nft_do_chain_inet, nft_do_chain_ipv4, nft_do_chain_ipv6 */
	__u64 bpf_function;       /* nf_hook_run_bpf */
};

/* What a registered hook is, as far as its function and priv pointer tell. */
enum hook_entry_kind {
	HOOK_ENTRY_FUNCTION = 0,   /* a kernel or module function: name it from kallsyms */
	HOOK_ENTRY_NFTABLES = 1,   /* an nftables base chain: name and table read from priv */
	HOOK_ENTRY_BPF = 2,        /* a BPF netfilter link: program id and name read from priv */
};

/* One network namespace's hook point: (netns, family, hook). */
struct hook_point {
	__u32 netns;
	__u8 pf;        /* NFPROTO_IPV4 = 2, NFPROTO_IPV6 = 10 */
	__u8 hooknum;   /* NF_INET_PRE_ROUTING .. NF_INET_POST_ROUTING */
	__u16 pad0;
};

/* A hook point's table: how many entries the kernel has there. */
struct hook_table {
	__u32 count;    /* possibly more than TRACER_MAX_HOOK_ENTRIES */
	__u32 pad0;
};

struct hook_entry_key {
	struct hook_point point;
	__u32 index;    /* position in the hook table, in the order the kernel runs them */
};

struct hook_entry {
	__u64 function;   /* the nf_hookfn the kernel calls */
	__u64 priv;
	__s32 priority;
	__u32 bpf_prog_id;
	__u32 kind;       /* enum hook_entry_kind */
	__u32 pad0;
	char name[TRACER_NAME_LEN];   /* BPF program name, or nftables chain name */
	char table[TRACER_NAME_LEN];  /* nftables table name */
};

/*
 * This CPU's most recent hook traversal: which skb, at which hook point, and how many
 * sentinels it has passed there. Sentinels run in priority order, so "passed k" means the
 * packet got past the k-th lowest sentinel; a drop right after tells what it got no further than.
 */
struct sentinel_trail {
	__u64 skb;
	__u32 netns;
	__u8 pf;
	__u8 hooknum;
	__u16 passed;
};

/*
 * The exact tier: the last hook function on this CPU that returned NF_DROP, and for which skb.
 * Only where the kernel allows fexit or kprobes on hook functions.
 */
struct hook_verdict {
	__u64 skb;
	__u64 function;   /* address of the hook function */
};

/* Load-time setting of one verdict observer: the hook function it is attached to (bpf_get_func_ip needs 5.15+). */
struct hook_verdict_config {
	__u64 function;
};

#endif /* TRACER_NETFILTER_HOOKS_H */
