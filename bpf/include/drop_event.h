/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The wire format between drop_tracer.bpf.c and user space. This header is the
 * single source of truth: the BPF side includes it, and native/BindingGenerator
 * reads it with libclang to emit the C# structs in src/Tracer/Native/Generated.
 *
 * The includer provides __u8 .. __u64 (vmlinux.h on the BPF side,
 * <linux/types.h> for the generator and the layout test).
 *
 * Every struct is padded by hand: hash-map keys are compared as raw bytes, so a
 * compiler-inserted hole with stale stack contents would split one flow into many.
 */
#ifndef TRACER_DROP_EVENT_H
#define TRACER_DROP_EVENT_H

/* Addresses are 16 bytes; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d). */
#define TRACER_ADDR_LEN 16

/* drop_key.nf_passed when the dropping hook function's verdict itself was observed (fexit/kprobe). */
#define TRACER_NF_EXACT 0xFFFF

/* Samples a key may emit per CPU before the aggregate maps are swapped. */
#define TRACER_DEFAULT_SAMPLES_PER_KEY 4

/*
 * Per CPU and interval, a coarse key (one watched address, direction, protocol, reason, location and
 * netfilter context: roughly one culprit hitting one pod) gets at most tracer_config.flows_per_coarse_key
 * flows of its own in the flow map (user space sizes it so that every CPU together uses at most a
 * quarter of the map), and at most this many of them sample. Beyond, its drops are counted under the
 * coarse key itself: a port scan or a flood of many peers stays exact per pod, reason and culprit, and
 * cannot crowd out the flows and samples of other pods.
 */
#define TRACER_MAX_FLOWS_PER_COARSE_KEY 256
#define TRACER_SAMPLED_FLOWS_PER_COARSE_KEY 64

/* drop_key.scope: a flow, or the aggregate of every peer and port of one watched address. */
enum tracer_key_scope {
	TRACER_SCOPE_FLOW = 0,
	TRACER_SCOPE_DESTINATION = 1, /* daddr kept; saddr, sport and dport zero */
	TRACER_SCOPE_SOURCE = 2,      /* saddr kept; daddr, sport and dport zero */
};

/*
 * Value of both watched maps: how closely an address is watched. A detailed address (the pod of
 * an on-demand session) has every drop sampled, with its kernel stack, instead of the first few.
 */
enum tracer_watch_level {
	TRACER_WATCH_COUNTED = 1,
	TRACER_WATCH_DETAILED = 2,
};

/* Key of the watched-hosts hash map: one address. */
struct watch_addr {
	__u8 addr[TRACER_ADDR_LEN];
};

/* Key of the watched-prefix LPM trie. IPv4 prefixes are offset by 96 bits. */
struct watch_key {
	__u32 prefixlen;
	__u8 addr[TRACER_ADDR_LEN];
};

/* One aggregate bucket: a flow, where it died, and why. */
struct drop_key {
	__u8 saddr[TRACER_ADDR_LEN];
	__u8 daddr[TRACER_ADDR_LEN];
	__u64 location;     /* kernel text address that freed the skb */
	__u32 netns;        /* network namespace inode */
	__u32 ifindex;      /* device the skb was on, 0 if none */
	__u32 reason;       /* enum skb_drop_reason as numbered by this kernel */
	__u16 sport;        /* host byte order; ICMP: type */
	__u16 dport;        /* host byte order; ICMP: code */
	__u16 l3_proto;     /* ethertype, host byte order */
	__u8 l4_proto;      /* IPPROTO_* */
	/* Netfilter drops, from the sentinel trail (see netfilter_hooks.h); all 0 when unknown. */
	__u8 nf_hook;       /* NF_INET_* hook + 1 */
	__u8 nf_pf;         /* NFPROTO_* */
	__u8 scope;         /* enum tracer_key_scope */
	__u16 nf_passed;    /* sentinels the packet had passed at that hook; TRACER_NF_EXACT: verdict observed */
};

/* Per-CPU value of an aggregate bucket. */
struct drop_stats {
	__u64 packets;
	__u64 bytes;
	__u64 first_ns;     /* CLOCK_BOOTTIME of the first drop in this interval */
	__u64 last_ns;      /* CLOCK_BOOTTIME of the last drop in this interval */
	__u32 sampled;      /* samples this key emitted on this CPU this interval (a coarse key: and its flows that sample) */
	__u32 flows;        /* coarse keys: flows of their own created on this CPU this interval */
};

/*
 * Per-CPU run cache: the last watched key this CPU counted, and its drops since then that are
 * not yet in the aggregate. A burst of one flow (a flood, retries, probes) is counted here with
 * one 64-byte compare instead of a hash lookup; the next different key flushes it.
 * The same for the last saturated coarse key (its flows and samples used up for this interval):
 * a scan's later drops are counted with a compare too. User space adds both runs when it drains.
 */
struct flow_cache {
	struct drop_key key;
	__u64 packets;
	__u64 bytes;
	__u64 last_ns;
	__u32 valid;
	__u32 source_watched; /* the key's watched address is its source, not its destination */
	struct drop_key coarse_key;
	__u64 coarse_packets;
	__u64 coarse_bytes;
	__u64 coarse_last_ns;
	__u32 coarse_valid;
	__u32 pad1;
};

/*
 * A ring-buffer sample: the first packets of a key in each interval. When SELinux denied the packet
 * just before, the record is longer: a struct avc_denial (avc_denial.h) follows the sample.
 */
struct drop_sample {
	struct drop_key key;
	__u64 timestamp_ns; /* CLOCK_BOOTTIME */
	__u32 len;          /* skb->len */
	__s32 stack_id;     /* id in the stacks map, or negative if not captured */
	__u32 cpu;
	__u32 pad0;
	__u64 nf_function;  /* exact tier: the hook function that returned NF_DROP, else 0 */
};

/* Indexes of the per-CPU counters array; counters only ever grow. */
enum tracer_counter {
	TRACER_COUNTER_SAMPLES_LOST = 0,   /* ring buffer was full */
	TRACER_COUNTER_OVERFLOW_PACKETS,   /* drops neither their flow nor their coarse key found room for */
	TRACER_COUNTER_OVERFLOW_BYTES,
	TRACER_COUNTER_STACKS_LOST,        /* bpf_get_stackid failed */
	TRACER_COUNTER_OVERFLOW_BUSY_PACKETS, /* of the overflow: the map's bucket lock was taken on this CPU, it was not full */
	TRACER_COUNTER_MAX,
};

/* Load-time settings, written into the .rodata.config map before load. */
struct tracer_config {
	__u32 watch_all;        /* 1: ignore the watched set */
	__u32 capture_stack;    /* 1: record kernel stack ids in samples */
	__u32 samples_per_key;  /* per CPU, per interval */
	__u32 selinux_denials;  /* 1: selinux_avc.bpf.c runs; samples take its denials */
	__u32 flows_per_coarse_key; /* per CPU and interval, at most TRACER_MAX_FLOWS_PER_COARSE_KEY */
};

#endif /* TRACER_DROP_EVENT_H */
