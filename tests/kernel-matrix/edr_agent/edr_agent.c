// SPDX-License-Identifier: GPL-2.0
/*
 * The "EDR agent" stand-in of the kernel matrix: an out-of-tree module that, like the agent in
 * docs/scenario.md, hooks netfilter and starts dropping the traffic between the node and one of
 * its pods once the node sends it more than `threshold` packets in a second (port-scan
 * protection). It then drops both directions: node→pod at LOCAL_OUT, pod→node at PRE_ROUTING.
 * Only ever loaded inside the QEMU guests of tests/kernel-matrix, never on a real node.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/ip.h>
#include <linux/inet.h>
#include <linux/jiffies.h>
#include <net/net_namespace.h>

static char *node_ip = "";
module_param(node_ip, charp, 0444);
MODULE_PARM_DESC(node_ip, "the node's address (IPv4)");
static char *pod_ip = "";
module_param(pod_ip, charp, 0444);
MODULE_PARM_DESC(pod_ip, "the protected pod's address (IPv4)");
static unsigned int threshold = 20;
module_param(threshold, uint, 0644);
MODULE_PARM_DESC(threshold, "node→pod packets per second that trigger blocking");
static int local_out_priority = -75;
module_param(local_out_priority, int, 0444);
static int pre_routing_priority = -120;
module_param(pre_routing_priority, int, 0444);

static __be32 node_addr, pod_addr;
static unsigned long window_start;
static unsigned int window_packets;
static bool blocking;
static DEFINE_SPINLOCK(window_lock);

/* node→pod: count packets per one-second window; past the threshold, block (and stay blocked). */
static unsigned int edr_local_out(void *priv, struct sk_buff *skb, const struct nf_hook_state *state)
{
	const struct iphdr *ip = ip_hdr(skb);

	if (ip->saddr != node_addr || ip->daddr != pod_addr)
		return NF_ACCEPT;
	spin_lock_bh(&window_lock);
	if (time_after(jiffies, window_start + HZ)) {
		window_start = jiffies;
		window_packets = 0;
	}
	if (++window_packets > threshold && !blocking) {
		blocking = true;
		pr_info("edr_agent: port scan from %pI4 to %pI4, blocking\n", &ip->saddr, &ip->daddr);
	}
	spin_unlock_bh(&window_lock);
	return READ_ONCE(blocking) ? NF_DROP : NF_ACCEPT;
}

/* pod→node: dropped while blocking, the half of the incident that made probes' replies vanish. */
static unsigned int edr_pre_routing(void *priv, struct sk_buff *skb, const struct nf_hook_state *state)
{
	const struct iphdr *ip = ip_hdr(skb);

	if (READ_ONCE(blocking) && ip->saddr == pod_addr && ip->daddr == node_addr)
		return NF_DROP;
	return NF_ACCEPT;
}

static struct nf_hook_ops edr_ops[] = {
	{ .hook = edr_local_out, .pf = NFPROTO_IPV4, .hooknum = NF_INET_LOCAL_OUT },
	{ .hook = edr_pre_routing, .pf = NFPROTO_IPV4, .hooknum = NF_INET_PRE_ROUTING },
};

static int __init edr_init(void)
{
	if (!in4_pton(node_ip, -1, (u8 *)&node_addr, -1, NULL) || !in4_pton(pod_ip, -1, (u8 *)&pod_addr, -1, NULL)) {
		pr_err("edr_agent: node_ip and pod_ip must be IPv4 addresses\n");
		return -EINVAL;
	}
	edr_ops[0].priority = local_out_priority;
	edr_ops[1].priority = pre_routing_priority;
	window_start = jiffies;
	return nf_register_net_hooks(&init_net, edr_ops, ARRAY_SIZE(edr_ops));
}

static void __exit edr_exit(void)
{
	nf_unregister_net_hooks(&init_net, edr_ops, ARRAY_SIZE(edr_ops));
}

module_init(edr_init);
module_exit(edr_exit);
/* A vendor's fields, as modinfo shows them: Tracer names the module's owner from them. The matrix builds a second
 * variant (with BTF) under another version, so that its installed file is not taken for the loaded one. */
#ifndef EDR_AGENT_VERSION
#define EDR_AGENT_VERSION "7.1.3"
#endif
MODULE_LICENSE("GPL");
MODULE_AUTHOR("Example EDR Inc. <security@example.com>");
MODULE_DESCRIPTION("Tracer's test stand-in for an EDR agent that drops node<->pod traffic");
MODULE_VERSION(EDR_AGENT_VERSION);
