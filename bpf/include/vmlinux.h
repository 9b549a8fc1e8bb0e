/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The kernel types Tracer's BPF programs touch, and nothing else.
 *
 * Why trimmed and checked in rather than `bpftool btf dump` at build time:
 * the build must not depend on the build host's kernel (a container build stage
 * has no /sys/kernel/btf, and a CI kernel is not the node's kernel), and a 3 MB
 * generated header hides which fields the programs rely on. Every struct below
 * carries preserve_access_index, so clang emits CO-RE relocations and libbpf
 * resolves each field against the running kernel's BTF at load time; the layouts
 * written here are never trusted. Only fields that are read are declared.
 *
 * UAPI constants (map types, flags) come from <linux/bpf.h>: they are ABI.
 */
#ifndef TRACER_VMLINUX_H
#define TRACER_VMLINUX_H
/* Tells bpf_tracing.h to use the kernel's register names (di, si, ...), as with a bpftool vmlinux.h. */
#define __VMLINUX_H__

#include <linux/types.h>
#include <linux/bpf.h>
#include <stdbool.h>

/*
 * Only the names matter: bpf_core_enum_value() resolves each one against the
 * running kernel, whose numbering changes between releases.
 */
enum skb_drop_reason {
	SKB_NOT_DROPPED_YET,
	SKB_CONSUMED,
	SKB_DROP_REASON_NETFILTER_DROP,
};

#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)

struct ns_common {
	unsigned int inum;
};

struct nf_hook_entries;

struct netns_nf {
	struct nf_hook_entries *hooks_ipv4[5];
	struct nf_hook_entries *hooks_ipv6[5];
};

struct net {
	struct ns_common ns;
	struct netns_nf nf;
};

typedef struct {
	struct net *net;
} possible_net_t;

struct nsproxy {
	struct net *net_ns;
};

struct task_struct {
	struct nsproxy *nsproxy;
};

struct net_device {
	int ifindex;
	possible_net_t nd_net;
};

struct sock_common {
	possible_net_t skc_net;
	__u16 skc_num;
};

struct sock {
	struct sock_common __sk_common;
};

struct sk_buff {
	struct net_device *dev;
	struct sock *sk;
	unsigned int len;
	int skb_iif;
	__be16 protocol;
	__u16 transport_header;
	__u16 network_header;
	__u16 mac_header;
	unsigned char *head;
	unsigned char *data;
};

struct trace_entry {
	unsigned short type;
};

/* Context of the classic skb:kfree_skb tracepoint (tp/ programs). */
struct trace_event_raw_kfree_skb {
	struct trace_entry ent;
	void *skbaddr;
	void *location;
	unsigned short protocol;
	enum skb_drop_reason reason;
};

struct nf_hook_entry {
	void *hook;
	void *priv;
};

struct nf_hook_entries {
	__u16 num_hook_entries;
	struct nf_hook_entry hooks[];
	/* followed by struct nf_hook_ops *orig_ops[num_hook_entries] */
};

struct nf_hook_ops {
	void *hook;
	void *priv;
	int priority;
};

struct nft_table {
	char *name;
};

struct nft_chain {
	struct nft_table *table;
	char *name;
};

struct bpf_prog_aux {
	__u32 id;
	char name[16];
};

struct bpf_prog {
	struct bpf_prog_aux *aux;
};

struct nf_hook_state {
	__u8 hook;
	__u8 pf;
	struct net *net;
};

/* Context of BPF_PROG_TYPE_NETFILTER programs (kernel 6.4+). */
struct bpf_nf_ctx {
	const struct nf_hook_state *state;
	struct sk_buff *skb;
};

/* What avc:selinux_audited reports (security/selinux/include/avc.h). */
struct selinux_audit_data {
	__u16 tclass;
	__u32 denied;
	int result;
};

/* One entry of the kernel's secclass_map: a class and its permissions in bit order. */
struct security_class_mapping {
	const char *name;
	const char *perms[33];
};

#if defined(__TARGET_ARCH_x86)
/* The register frame kprobe programs get (x86-64). */
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};
#endif

#pragma clang attribute pop

/* On-the-wire headers: fixed by RFCs, not by the kernel, so no CO-RE. */
struct ethhdr {
	unsigned char h_dest[6];
	unsigned char h_source[6];
	__be16 h_proto;
} __attribute__((packed));

struct iphdr {
	__u8 ihl_version;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__sum16 check;
	__be32 saddr;
	__be32 daddr;
};

struct ipv6hdr {
	__u8 priority_version;
	__u8 flow_lbl[3];
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

#endif /* TRACER_VMLINUX_H */
