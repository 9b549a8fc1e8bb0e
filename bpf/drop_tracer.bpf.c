// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Counts every packet the kernel drops (skb:kfree_skb) whose source or
 * destination is watched, per flow + reason + location + netns, and samples the
 * first packets of each such key into a ring buffer.
 *
 * No silent loss: counts live in per-CPU hash maps (exact at any rate); the
 * ring buffer carries only samples, and every sample, stack or bucket that does
 * not fit is itself counted in the counters map.
 *
 * User space drains the counts by swapping which of two sets of maps (flows,
 * coarse keys, run caches) is active: updating an array-of-maps slot waits for an
 * RCU grace period, after which no program can still be writing to the maps being
 * drained.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "drop_event.h"
#include "sentinel_trail_map.h"
#include "hook_verdict_map.h"
#include "avc_denial_map.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ICMPV6 58
#define HEADER_UNSET ((__u16)~0U)
#define IP_OFFSET_MASK 0x1FFF
#define EBUSY 16
#define EEXIST 17

const volatile struct tracer_config config SEC(".rodata.config") = {
	.samples_per_key = TRACER_DEFAULT_SAMPLES_PER_KEY,
	.flows_per_coarse_key = TRACER_MAX_FLOWS_PER_COARSE_KEY,
};

/* Watched addresses: pods' own /32 and /128 here ... */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct watch_addr);
	__type(value, __u8);
} watched_hosts SEC(".maps");

/* ... and shorter prefixes (CNI bridge subnets, --ip CIDRs) here, consulted only when there are any. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct watch_key);
	__type(value, __u8);
} watched_prefixes SEC(".maps");

/* Number of entries in watched_prefixes; user space keeps it current. */
volatile __u32 watched_prefix_count SEC(".data.watch");

struct aggregate_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct drop_key);
	__type(value, struct drop_stats);
} aggregate_a SEC(".maps"), aggregate_b SEC(".maps");

/* Coarse keys (scope destination or source): every peer and port of one watched address together. */
struct coarse_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct drop_key);
	__type(value, struct drop_stats);
} coarse_a SEC(".maps"), coarse_b SEC(".maps");

struct cache_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct flow_cache);
} cache_a SEC(".maps"), cache_b SEC(".maps");

/* Slot 0 of each holds the map programs write to; user space swaps both every interval. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct aggregate_map);
} active_aggregate SEC(".maps") = {
	.values = { &aggregate_a },
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct cache_map);
} active_cache SEC(".maps") = {
	.values = { &cache_a },
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct coarse_map);
} active_coarse SEC(".maps") = {
	.values = { &coarse_a },
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TRACER_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} samples SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 4096);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 127 * sizeof(__u64));
} stacks SEC(".maps");

/* The skb fields the parser needs, read once per drop. */
struct skb_fields {
	__u64 skb;
	unsigned char *head;
	unsigned char *data;
	__u32 len;
	__u32 ifindex;
	__u32 netns;
	__u16 protocol;
	__u16 network_header;
	__u16 transport_header;
};

static __always_inline void count(__u32 index, __u64 delta)
{
	__u64 *value = bpf_map_lookup_elem(&counters, &index);

	if (value)
		__sync_fetch_and_add(value, delta);
}

static __always_inline void map_ipv4(__u8 *dst, __be32 addr)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &addr, 4);
}

/* The IP header and the first four transport bytes (ports, or ICMP type and code) in one read. */
union packet_headers {
	struct {
		struct iphdr ip;
		__u8 l4[4];
	} v4;
	struct {
		struct ipv6hdr ip6;
		__u8 l4[4];
	} v6;
	__u8 first;
};

static __always_inline void set_l4(struct drop_key *key, const __u8 *l4)
{
	if (key->l4_proto == IPPROTO_ICMP || key->l4_proto == IPPROTO_ICMPV6) {
		key->sport = l4[0];
		key->dport = l4[1];
	} else if (key->l4_proto == IPPROTO_TCP || key->l4_proto == IPPROTO_UDP) {
		key->sport = (__u16)l4[0] << 8 | l4[1];
		key->dport = (__u16)l4[2] << 8 | l4[3];
	}
}

/*
 * Fills the key's addresses, protocols and ports from the packet bytes: one probe read in the
 * common case (no IP options, transport header right behind the IP header).
 * Returns false when the packet is not IP or its headers cannot be read.
 */
static __always_inline bool parse_packet(const struct skb_fields *f, struct drop_key *key)
{
	union packet_headers h;
	unsigned char *l3;
	__u32 l4_offset, default_offset;
	__u8 *l4_bytes;
	__u8 version;

	/* Before the stack sets the network header (early RX, some TX paths) data points at it. */
	l3 = f->network_header != HEADER_UNSET ? f->head + f->network_header : f->data;
	if (bpf_probe_read_kernel(&h, f->protocol == ETH_P_IP ? sizeof(h.v4) : sizeof(h), l3))
		return false;

	version = h.first >> 4;
	if (f->protocol == ETH_P_IP || (!f->protocol && version == 4)) {
		if (version != 4)
			return false;
		key->l3_proto = ETH_P_IP;
		key->l4_proto = h.v4.ip.protocol;
		map_ipv4(key->saddr, h.v4.ip.saddr);
		map_ipv4(key->daddr, h.v4.ip.daddr);
		if (bpf_ntohs(h.v4.ip.frag_off) & IP_OFFSET_MASK)
			return true; /* a later fragment carries no ports */
		default_offset = (h.v4.ip.ihl_version & 0x0F) * 4;
		l4_bytes = h.v4.l4;
	} else if (f->protocol == ETH_P_IPV6 || (!f->protocol && version == 6)) {
		if (version != 6)
			return false;
		key->l3_proto = ETH_P_IPV6;
		key->l4_proto = h.v6.ip6.nexthdr;
		__builtin_memcpy(key->saddr, h.v6.ip6.saddr, TRACER_ADDR_LEN);
		__builtin_memcpy(key->daddr, h.v6.ip6.daddr, TRACER_ADDR_LEN);
		default_offset = sizeof(struct ipv6hdr); /* extension headers: ports stay 0 */
		l4_bytes = h.v6.l4;
	} else {
		key->l3_proto = f->protocol;
		return false;
	}

	/* Trust the stack's transport offset only once it has moved past the IP header. */
	l4_offset = default_offset;
	if (f->transport_header != HEADER_UNSET && f->network_header != HEADER_UNSET &&
	    f->transport_header > f->network_header)
		l4_offset = f->transport_header - f->network_header;

	if (l4_offset == (key->l3_proto == ETH_P_IP ? sizeof(struct iphdr) : sizeof(struct ipv6hdr))) {
		set_l4(key, l4_bytes);
	} else {
		__u8 l4[4];

		if (!bpf_probe_read_kernel(l4, sizeof(l4), l3 + (l4_offset & 0xFFFF)))
			set_l4(key, l4);
	}
	return true;
}

/*
 * The watch level of a key: the higher of its two addresses' (the destination's on a tie), and in
 * *source_watched whether that is the source's. Exact addresses (a pod's /32 or /128) are a hash
 * lookup; only prefixes need the trie. 0: not watched.
 */
static __always_inline __u8 watch_level(const struct drop_key *key, bool *source_watched)
{
	struct watch_key lookup = { .prefixlen = TRACER_ADDR_LEN * 8 };
	__u8 *dst = bpf_map_lookup_elem(&watched_hosts, key->daddr);
	__u8 *src = bpf_map_lookup_elem(&watched_hosts, key->saddr);
	__u8 level = 0;

	*source_watched = false;
	if (dst)
		level = *dst;
	if (src && *src > level) {
		level = *src;
		*source_watched = true;
	}
	if (level || !watched_prefix_count)
		return level;
	__builtin_memcpy(lookup.addr, key->daddr, TRACER_ADDR_LEN);
	dst = bpf_map_lookup_elem(&watched_prefixes, &lookup);
	if (dst)
		return *dst;
	__builtin_memcpy(lookup.addr, key->saddr, TRACER_ADDR_LEN);
	src = bpf_map_lookup_elem(&watched_prefixes, &lookup);
	*source_watched = src != NULL;
	return src ? *src : 0;
}

/* This CPU's SELinux denial, when one came just before this drop in the same task (selinux_avc.bpf.c); NULL otherwise. */
static __always_inline struct avc_denial *recent_avc_denial(__u64 now)
{
	__u32 zero = 0;
	struct avc_denial *denial;

	if (!config.selinux_denials)
		return NULL;
	denial = bpf_map_lookup_elem(&avc_last, &zero);
	if (!denial || !denial->timestamp_ns || now < denial->timestamp_ns || now - denial->timestamp_ns > TRACER_AVC_WINDOW_NS ||
	    denial->pid_tgid != bpf_get_current_pid_tgid())
		return NULL;
	return denial;
}

/*
 * A sample of a drop, keyed as it is counted (a coarse key for a drop counted under one). Netfilter
 * drops always carry their stack: it tells user space which hook point to arm. A drop SELinux denied
 * just before carries the denial behind the sample, which takes it: no later drop on this CPU claims
 * the same denial.
 */
static __always_inline void emit_sample(void *ctx, const struct drop_key *counted, __u64 now, __u32 len, bool with_stack,
					__u64 nf_function)
{
	struct avc_denial *denial = recent_avc_denial(now);
	struct drop_sample *sample;

	/* Two reservations, not one of a computed size: the verifier wants each size a constant. */
	if (denial)
		sample = bpf_ringbuf_reserve(&samples, sizeof(*sample) + sizeof(*denial), 0);
	else
		sample = bpf_ringbuf_reserve(&samples, sizeof(*sample), 0);
	if (!sample) {
		count(TRACER_COUNTER_SAMPLES_LOST, 1);
		return;
	}
	if (denial) {
		__builtin_memcpy(sample + 1, denial, sizeof(*denial));
		denial->timestamp_ns = 0;
	}
	sample->key = *counted;
	sample->timestamp_ns = now;
	sample->len = len;
	sample->cpu = bpf_get_smp_processor_id();
	sample->pad0 = 0;
	sample->nf_function = nf_function;
	sample->stack_id = -1;
	if (with_stack) {
		sample->stack_id = bpf_get_stackid(ctx, &stacks, 0);
		if (sample->stack_id < 0)
			count(TRACER_COUNTER_STACKS_LOST, 1);
	}
	bpf_ringbuf_submit(sample, 0);
}

static __always_inline bool same_key(const struct drop_key *a, const struct drop_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] &&
	       x[4] == y[4] && x[5] == y[5] && x[6] == y[6] && x[7] == y[7];
}

/* Both addresses equal: a key the run cache holds was watched, so this one is too, the same way. */
static __always_inline bool same_addresses(const struct drop_key *a, const struct drop_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

/* The coarse key of a flow: its watched address with everything else of the flow but the peer and ports. */
static __always_inline void coarsen(struct drop_key *coarse, const struct drop_key *key, __u8 scope)
{
	*coarse = *key;
	coarse->scope = scope;
	coarse->sport = 0;
	coarse->dport = 0;
	if (scope == TRACER_SCOPE_SOURCE)
		__builtin_memset(coarse->daddr, 0, TRACER_ADDR_LEN);
	else
		__builtin_memset(coarse->saddr, 0, TRACER_ADDR_LEN);
}

/* A new bucket for a key a lookup just missed; NULL when the map refuses it (full, or its bucket lock taken on this CPU: *err -EBUSY). */
static __always_inline struct drop_stats *add_bucket(void *map, const struct drop_key *key, long *err)
{
	struct drop_stats init = {};

	*err = bpf_map_update_elem(map, key, &init, BPF_NOEXIST);
	return !*err || *err == -EEXIST ? bpf_map_lookup_elem(map, key) : NULL;
}

/* A key's bucket, created if missing; NULL when the map refuses it. */
static __always_inline struct drop_stats *find_or_add(void *map, const struct drop_key *key, long *err)
{
	struct drop_stats *stats = bpf_map_lookup_elem(map, key);

	*err = 0;
	return stats ? stats : add_bucket(map, key, err);
}

/* Drops no bucket took: the counters keep the total exact. */
static __always_inline void overflow(__u64 packets, __u64 bytes, long err)
{
	count(TRACER_COUNTER_OVERFLOW_PACKETS, packets);
	count(TRACER_COUNTER_OVERFLOW_BYTES, bytes);
	if (err == -EBUSY)
		count(TRACER_COUNTER_OVERFLOW_BUSY_PACKETS, packets);
}

/* Adds a run the cache held to its bucket. */
static __always_inline void flush_run(void *map, const struct drop_key *key, __u64 packets, __u64 bytes, __u64 last_ns)
{
	struct drop_stats *stats;
	long err;

	if (!packets)
		return;
	stats = find_or_add(map, key, &err);
	if (!stats) {
		overflow(packets, bytes, err);
		return;
	}
	stats->packets += packets;
	stats->bytes += bytes;
	if (!stats->first_ns)
		stats->first_ns = last_ns;
	if (last_ns > stats->last_ns)
		stats->last_ns = last_ns;
}

static __always_inline void add_drop(struct drop_stats *stats, __u64 now, __u32 len)
{
	if (!stats->first_ns)
		stats->first_ns = now;
	stats->last_ns = now;
	stats->packets++;
	stats->bytes += len;
}

static __always_inline bool is_netfilter_drop(__u32 reason)
{
	return !bpf_core_enum_value_exists(enum skb_drop_reason, SKB_DROP_REASON_NETFILTER_DROP) ||
	       reason == bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NETFILTER_DROP);
}

/*
 * Which hook point the packet was traversing, and past how many sentinels, if sentinels saw it;
 * and, where the exact tier runs, which hook function returned NF_DROP for it (returned).
 */
static __always_inline __u64 add_netfilter_context(const struct skb_fields *f, struct drop_key *key)
{
	__u32 zero = 0;
	struct sentinel_trail *trail = bpf_map_lookup_elem(&sentinel_trail, &zero);
	struct hook_verdict *verdict = bpf_map_lookup_elem(&hook_verdict, &zero);

	if (trail && trail->skb == f->skb && trail->netns == f->netns) {
		key->nf_hook = trail->hooknum + 1;
		key->nf_pf = trail->pf;
		key->nf_passed = trail->passed;
	}
	if (!verdict || verdict->skb != f->skb)
		return 0;
	key->nf_passed = TRACER_NF_EXACT;
	return verdict->function;
}

/*
 * Plain adds on this CPU's slots: the kernel never runs this program nested on one CPU (a softirq
 * drop during a process-context run is skipped and counted in the program's recursion_misses,
 * which user space reports).
 */
static __always_inline int record_drop(void *ctx, const struct skb_fields *f, __u64 location, __u32 reason)
{
	struct drop_stats *stats, *coarse_stats;
	struct drop_key key, coarse;
	struct flow_cache *cache;
	void *aggregate, *coarse_map, *caches;
	__u64 nf_function = 0;
	__u32 zero = 0;
	__u8 level = TRACER_WATCH_COUNTED;
	bool detailed, source_watched = false, netfilter;
	__u64 now;
	long err;

	__builtin_memset(&key, 0, sizeof(key));
	if (!parse_packet(f, &key) && !config.watch_all)
		return 0;
	key.location = location;
	key.reason = reason;
	key.netns = f->netns;
	key.ifindex = f->ifindex;
	netfilter = is_netfilter_drop(reason);
	if (netfilter)
		nf_function = add_netfilter_context(f, &key);

	caches = bpf_map_lookup_elem(&active_cache, &zero);
	if (!caches)
		return 0;
	cache = bpf_map_lookup_elem(caches, &zero);
	if (!cache)
		return 0;
	/* Only counted (not detailed) watched keys enter the cache, so a hit needs no watched-set lookup either. */
	if (cache->valid && same_key(&cache->key, &key)) {
		cache->packets++;
		cache->bytes += f->len;
		cache->last_ns = bpf_ktime_get_boot_ns();
		return 0;
	}
	if (cache->coarse_valid) {
		coarsen(&coarse, &key, cache->coarse_key.scope);
		if (same_key(&cache->coarse_key, &coarse)) {
			cache->coarse_packets++;
			cache->coarse_bytes += f->len;
			cache->coarse_last_ns = bpf_ktime_get_boot_ns();
			return 0;
		}
	}
	if (cache->valid && same_addresses(&cache->key, &key)) {
		source_watched = cache->source_watched; /* another port of the cached flow's peers: a scan */
	} else if (!config.watch_all) {
		level = watch_level(&key, &source_watched);
		if (!level)
			return 0;
	}
	detailed = level >= TRACER_WATCH_DETAILED;

	now = bpf_ktime_get_boot_ns();
	aggregate = bpf_map_lookup_elem(&active_aggregate, &zero);
	coarse_map = bpf_map_lookup_elem(&active_coarse, &zero);
	if (!aggregate || !coarse_map)
		return 0;
	if (cache->valid)
		flush_run(aggregate, &cache->key, cache->packets, cache->bytes, cache->last_ns);
	cache->key = key;
	cache->packets = 0;
	cache->bytes = 0;
	cache->last_ns = 0;
	cache->valid = 0;
	cache->source_watched = source_watched;

	stats = bpf_map_lookup_elem(aggregate, &key);
	if (!stats) {
		/* A new flow this interval: its coarse key decides whether it gets a bucket, and samples, of its own. */
		coarsen(&coarse, &key, source_watched ? TRACER_SCOPE_SOURCE : TRACER_SCOPE_DESTINATION);
		coarse_stats = find_or_add(coarse_map, &coarse, &err);
		if (!coarse_stats || detailed || coarse_stats->flows < config.flows_per_coarse_key) {
			stats = add_bucket(aggregate, &key, &err);
			if (stats && coarse_stats) {
				coarse_stats->flows++;
				if (detailed || coarse_stats->sampled < TRACER_SAMPLED_FLOWS_PER_COARSE_KEY)
					coarse_stats->sampled++;
				else
					stats->sampled = ~0U; /* no samples of its own: its coarse key's budget is spent */
			}
		}
		if (!stats) {
			if (!coarse_stats) {
				overflow(1, f->len, err);
				return 0;
			}
			add_drop(coarse_stats, now, f->len);
			if (detailed || coarse_stats->sampled < TRACER_SAMPLED_FLOWS_PER_COARSE_KEY) {
				coarse_stats->sampled++;
				emit_sample(ctx, &coarse, now, f->len, config.capture_stack || detailed || netfilter, nf_function);
			} else {
				/* Flows and samples spent: this coarse key's next drops are counted in the cache. */
				if (cache->coarse_valid)
					flush_run(coarse_map, &cache->coarse_key, cache->coarse_packets, cache->coarse_bytes, cache->coarse_last_ns);
				cache->coarse_key = coarse;
				cache->coarse_packets = 0;
				cache->coarse_bytes = 0;
				cache->coarse_last_ns = 0;
				cache->coarse_valid = 1;
			}
			return 0;
		}
	}
	cache->valid = !detailed; /* every drop of a detailed key goes past the cache, to be sampled */
	add_drop(stats, now, f->len);
	if (detailed || stats->sampled < config.samples_per_key) {
		stats->sampled++;
		emit_sample(ctx, &key, now, f->len, config.capture_stack || detailed || netfilter, nf_function);
	}
	return 0;
}

static __always_inline bool is_drop(__u32 reason)
{
	if (!bpf_core_type_exists(enum skb_drop_reason))
		return true; /* before 5.17 only real drops reach kfree_skb */
	return reason != bpf_core_enum_value(enum skb_drop_reason, SKB_NOT_DROPPED_YET) &&
	       (!bpf_core_enum_value_exists(enum skb_drop_reason, SKB_CONSUMED) ||
		reason != bpf_core_enum_value(enum skb_drop_reason, SKB_CONSUMED));
}

/* BTF-typed arguments: fields are plain loads, no helper call per field. */
SEC("tp_btf/kfree_skb")
int kfree_skb_btf(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	struct net_device *dev;
	struct sock *sk;
	struct skb_fields f;
	__u32 reason = 0;

	/* Older kernels pass only (skb, location); reading ctx[2] there fails verification. */
	if (bpf_core_type_exists(enum skb_drop_reason))
		reason = (__u32)ctx[2];
	if (!is_drop(reason))
		return 0;

	dev = skb->dev;
	sk = skb->sk;
	f.skb = (__u64)skb;
	f.head = skb->head;
	f.data = skb->data;
	f.len = skb->len;
	f.protocol = bpf_ntohs(skb->protocol);
	f.network_header = skb->network_header;
	f.transport_header = skb->transport_header;
	f.ifindex = dev ? dev->ifindex : skb->skb_iif;
	f.netns = dev ? dev->nd_net.net->ns.inum : sk ? sk->__sk_common.skc_net.net->ns.inum : 0;
	return record_drop(ctx, &f, ctx[1], reason);
}

/* Fallback where tp_btf does not load: every field through bpf_probe_read_kernel. */
SEC("tracepoint/skb/kfree_skb")
int kfree_skb_tp(struct trace_event_raw_kfree_skb *ctx)
{
	struct sk_buff *skb = ctx->skbaddr;
	struct net_device *dev;
	struct skb_fields f;
	__u32 reason = 0;

	if (bpf_core_field_exists(ctx->reason))
		reason = ctx->reason;
	if (!is_drop(reason))
		return 0;

	dev = BPF_CORE_READ(skb, dev);
	f.skb = (__u64)skb;
	f.head = BPF_CORE_READ(skb, head);
	f.data = BPF_CORE_READ(skb, data);
	f.len = BPF_CORE_READ(skb, len);
	f.protocol = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	f.network_header = BPF_CORE_READ(skb, network_header);
	f.transport_header = BPF_CORE_READ(skb, transport_header);
	f.ifindex = dev ? BPF_CORE_READ(dev, ifindex) : BPF_CORE_READ(skb, skb_iif);
	f.netns = dev ? BPF_CORE_READ(dev, nd_net.net, ns.inum) : BPF_CORE_READ(skb, sk, __sk_common.skc_net.net, ns.inum);
	return record_drop(ctx, &f, (__u64)ctx->location, reason);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
