/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * UAPI that Debian 12's <linux/bpf.h> (6.1) and libbpf 1.1 predate: BPF netfilter
 * programs and links arrived in Linux 6.4. The numbers are kernel ABI, fixed once
 * released; they are declared here so the bindings generator emits them.
 */
#ifndef TRACER_BPF_NETFILTER_LINK_H
#define TRACER_BPF_NETFILTER_LINK_H

#define TRACER_BPF_PROG_TYPE_NETFILTER 32
#define TRACER_BPF_NETFILTER 45

/* The prefix of union bpf_attr that BPF_LINK_CREATE reads for a netfilter link. */
struct bpf_netfilter_link_attr {
	__u32 prog_fd;
	__u32 target_fd;
	__u32 attach_type;
	__u32 flags;
	__u32 pf;
	__u32 hooknum;
	__s32 priority;
	__u32 netfilter_flags;
};

#endif /* TRACER_BPF_NETFILTER_LINK_H */
