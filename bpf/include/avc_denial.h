/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Wire format between selinux_avc.bpf.c, drop_tracer.bpf.c and user space: an SELinux AVC denial
 * as the avc:selinux_audited tracepoint reports it. Read by native/BindingGenerator like drop_event.h.
 *
 * SELinux decides on a packet (packet send/recv, peer recv, netif, node) in the same call chain
 * that then frees it: the denial is noted per CPU with the task it ran in, and the drop probe takes
 * it into the sample of the drop that follows on that CPU, in that task, within TRACER_AVC_WINDOW_NS.
 */
#ifndef TRACER_AVC_DENIAL_H
#define TRACER_AVC_DENIAL_H

#define TRACER_SECCTX_LEN 128
#define TRACER_AVC_NAME_LEN 32

/*
 * How long after a denial a drop in the same task on the same CPU is taken to be its consequence:
 * microseconds on hardware, but a virtual CPU the host deschedules sees milliseconds pass in between.
 */
#define TRACER_AVC_WINDOW_NS 50000000ULL

/* Load-time setting of selinux_avc.bpf.c: where the kernel keeps its class map (kallsyms), to name permissions. */
struct avc_config {
	__u64 secclass_map;   /* address of secclass_map[], 0 if unknown: permissions stay a bit mask */
};

/* One enforced denial. Strings are NUL-terminated, cut to their buffer. */
struct avc_denial {
	__u64 timestamp_ns;   /* CLOCK_BOOTTIME; 0: taken by a drop, or none yet */
	__u64 pid_tgid;       /* the task the denial ran in (bpf_get_current_pid_tgid) */
	__u32 denied;         /* permission bits of the class, as this kernel numbers them */
	__u16 tclass;         /* this kernel's class number */
	__u16 pad0;
	char scontext[TRACER_SECCTX_LEN];
	char tcontext[TRACER_SECCTX_LEN];
	char tclass_name[TRACER_AVC_NAME_LEN];
	char permission[TRACER_AVC_NAME_LEN];   /* name of the lowest denied permission, "" if unknown */
};

#endif /* TRACER_AVC_DENIAL_H */
