// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The exact tier of netfilter attribution: observe the verdict of one foreign hook function
 * (user space sets the target: a module's or the kernel's nf_hookfn found in the hook tables).
 * A drop verdict is noted per CPU with its skb; the drop probe then names the function exactly.
 * fexit where the kernel allows it; kprobe + kretprobe otherwise. Loaded once per observed
 * function, which is set at load time (bpf_get_func_ip would need 5.15).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "hook_verdict_map.h"

#define NF_DROP 0
#define NF_VERDICT_MASK 0xff

const volatile struct hook_verdict_config hook_verdict_config SEC(".rodata.config");

static __always_inline void note(__u64 skb, unsigned int verdict)
{
	__u32 zero = 0;
	struct hook_verdict *last;

	if ((verdict & NF_VERDICT_MASK) != NF_DROP)
		return;
	last = bpf_map_lookup_elem(&hook_verdict, &zero);
	if (!last)
		return;
	last->skb = skb;
	last->function = hook_verdict_config.function;
}

/* unsigned int nf_hookfn(void *priv, struct sk_buff *skb, const struct nf_hook_state *state) */
SEC("fexit")
int BPF_PROG(hook_exit, void *priv, struct sk_buff *skb, const struct nf_hook_state *state, unsigned int verdict)
{
	note((__u64)skb, verdict);
	return 0;
}

/* The kprobe pair: the entry keeps the skb for the return, on this CPU (hooks do not nest). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} entry_skb SEC(".maps");

SEC("kprobe")
int BPF_KPROBE(hook_entry, void *priv, struct sk_buff *skb)
{
	__u32 zero = 0;
	__u64 *slot = bpf_map_lookup_elem(&entry_skb, &zero);

	if (slot)
		*slot = (__u64)skb;
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(hook_return, unsigned int verdict)
{
	__u32 zero = 0;
	__u64 *slot = bpf_map_lookup_elem(&entry_skb, &zero);

	if (slot)
		note(*slot, verdict);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
