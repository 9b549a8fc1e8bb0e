// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * A BPF-LSM program that denies delivery to sockets bound to one port: the kernel matrix's
 * `lsm` culprit. Loaded only in the QEMU guests (this machine's kernel refuses BPF-LSM).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define EPERM 1

const volatile __u16 denied_port = 8886;

SEC("lsm/socket_sock_rcv_skb")
int BPF_PROG(deny_rcv, struct sock *sk, struct sk_buff *skb)
{
	return BPF_CORE_READ(sk, __sk_common.skc_num) == denied_port ? -EPERM : 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
