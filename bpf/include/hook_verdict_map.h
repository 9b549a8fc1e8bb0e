/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The per-CPU drop verdict of a netfilter hook function, written by netfilter_verdicts.bpf.c
 * (fexit, or kprobe + kretprobe) and read by drop_tracer.bpf.c. User space makes both objects
 * share one map.
 */
#ifndef TRACER_HOOK_VERDICT_MAP_H
#define TRACER_HOOK_VERDICT_MAP_H

#include "netfilter_hooks.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hook_verdict);
} hook_verdict SEC(".maps");

#endif /* TRACER_HOOK_VERDICT_MAP_H */
