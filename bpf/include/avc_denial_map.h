/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * This CPU's last enforced SELinux denial, written by selinux_avc.bpf.c and taken by
 * drop_tracer.bpf.c. User space makes both objects share one map.
 */
#ifndef TRACER_AVC_DENIAL_MAP_H
#define TRACER_AVC_DENIAL_MAP_H

#include "avc_denial.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct avc_denial);
} avc_last SEC(".maps");

#endif /* TRACER_AVC_DENIAL_MAP_H */
