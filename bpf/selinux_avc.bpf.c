// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * SELinux's own verdict on a packet: every enforced denial the access vector cache audits
 * (avc:selinux_audited) is noted for this CPU, and the drop probe takes it into the sample of the
 * drop that follows (see avc_denial.h). Loaded only where SELinux is active; it runs only when
 * SELinux audits something, which on a working node is rare.
 * raw_tp rather than tp_btf: it loads on every kernel that has the tracepoint (5.10 included).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "avc_denial_map.h"

const volatile struct avc_config avc_config SEC(".rodata.config");

/*
 * The kernel's own name of the lowest denied permission, from its class map: permission bits are
 * numbered by the kernel's build, not by the policy, so neither BTF nor selinuxfs can name them.
 */
static __always_inline void name_permission(struct avc_denial *denial)
{
	__u64 entry, name = 0;
	__u32 bit;

	denial->permission[0] = 0;
	if (!avc_config.secclass_map || !denial->tclass)
		return;
	for (bit = 0; bit < 31; bit++)
		if (denial->denied & (1U << bit))
			break;
	entry = avc_config.secclass_map + (__u64)(denial->tclass - 1) * bpf_core_type_size(struct security_class_mapping);
	entry += bpf_core_field_offset(struct security_class_mapping, perms) + bit * sizeof(__u64);
	if (!bpf_probe_read_kernel(&name, sizeof(name), (void *)entry) && name)
		bpf_probe_read_kernel_str(denial->permission, sizeof(denial->permission), (void *)name);
}

/* void trace_selinux_audited(struct selinux_audit_data *sad, char *scontext, char *tcontext, const char *tclass) */
SEC("raw_tp/selinux_audited")
int BPF_PROG(avc_audited, struct selinux_audit_data *sad, char *scontext, char *tcontext, const char *tclass)
{
	__u32 zero = 0, denied = BPF_CORE_READ(sad, denied);
	int result = BPF_CORE_READ(sad, result);
	struct avc_denial *denial;

	/* Audited grants (auditallow) and permissive denials let the packet through: not a verdict. */
	if (!denied || !result)
		return 0;
	denial = bpf_map_lookup_elem(&avc_last, &zero);
	if (!denial)
		return 0;
	denial->pid_tgid = bpf_get_current_pid_tgid();
	denial->denied = denied;
	denial->tclass = BPF_CORE_READ(sad, tclass);
	bpf_probe_read_kernel_str(denial->scontext, sizeof(denial->scontext), scontext);
	bpf_probe_read_kernel_str(denial->tcontext, sizeof(denial->tcontext), tcontext);
	bpf_probe_read_kernel_str(denial->tclass_name, sizeof(denial->tclass_name), tclass);
	name_permission(denial);
	denial->timestamp_ns = bpf_ktime_get_boot_ns();
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
