/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The per-CPU sentinel trail, written by netfilter_sentinel.bpf.c and read by
 * drop_tracer.bpf.c. Declared once here; user space makes both objects share one map.
 */
#ifndef TRACER_SENTINEL_TRAIL_MAP_H
#define TRACER_SENTINEL_TRAIL_MAP_H

#include "netfilter_hooks.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sentinel_trail);
} sentinel_trail SEC(".maps");

#endif /* TRACER_SENTINEL_TRAIL_MAP_H */
