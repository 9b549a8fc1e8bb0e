// nfqueue_drop QUEUE: binds NFQUEUE QUEUE in its network namespace and answers NF_DROP for every packet queued
// there, as a user-space NetworkPolicy controller denying it would. Prints "bound" once the queue is its own;
// runs until killed. Built by the kernel tests (gcc … -lmnl).
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct mnl_socket *nl;
static uint16_t queue;

static struct nlmsghdr *start(char *buffer, int type, int flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buffer);
	nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = time(NULL);
	struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = htons(queue);
	return nlh;
}

// Sends a request the kernel acknowledges; exits on its error.
static void request(struct nlmsghdr *nlh, const char *what)
{
	char buffer[MNL_SOCKET_BUFFER_SIZE];
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		perror(what);
		exit(1);
	}
	int n = mnl_socket_recvfrom(nl, buffer, sizeof(buffer));
	if (n < 0 || mnl_cb_run(buffer, n, 0, mnl_socket_get_portid(nl), NULL, NULL) < 0) {
		fprintf(stderr, "%s: %s\n", what, strerror(errno));
		exit(1);
	}
}

static int attribute(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	if (mnl_attr_type_valid(attr, NFQA_MAX) >= 0)
		tb[mnl_attr_get_type(attr)] = attr;
	return MNL_CB_OK;
}

static int packet(const struct nlmsghdr *nlh, void *data)
{
	(void)data;
	struct nlattr *tb[NFQA_MAX + 1] = {};
	if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), attribute, tb) < 0 || !tb[NFQA_PACKET_HDR])
		return MNL_CB_OK;
	struct nfqnl_msg_packet_hdr *header = mnl_attr_get_payload(tb[NFQA_PACKET_HDR]);
	char buffer[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *verdict = start(buffer, NFQNL_MSG_VERDICT, 0);
	struct nfqnl_msg_verdict_hdr answer = { .verdict = htonl(NF_DROP), .id = header->packet_id };
	mnl_attr_put(verdict, NFQA_VERDICT_HDR, sizeof(answer), &answer);
	if (mnl_socket_sendto(nl, verdict, verdict->nlmsg_len) < 0)
		perror("verdict");
	return MNL_CB_OK;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: nfqueue_drop QUEUE\n");
		return 2;
	}
	queue = atoi(argv[1]);
	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		perror("netlink");
		return 1;
	}
	char buffer[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *bind = start(buffer, NFQNL_MSG_CONFIG, NLM_F_ACK);
	struct nfqnl_msg_config_cmd command = { .command = NFQNL_CFG_CMD_BIND };
	mnl_attr_put(bind, NFQA_CFG_CMD, sizeof(command), &command);
	request(bind, "bind");
	struct nlmsghdr *params = start(buffer, NFQNL_MSG_CONFIG, NLM_F_ACK);
	struct nfqnl_msg_config_params copy = { .copy_range = htonl(0), .copy_mode = NFQNL_COPY_META };
	mnl_attr_put(params, NFQA_CFG_PARAMS, sizeof(copy), &copy);
	request(params, "copy mode");
	printf("bound\n");
	fflush(stdout);
	for (;;) {
		int n = mnl_socket_recvfrom(nl, buffer, sizeof(buffer));
		if (n < 0) {
			if (errno == ENOBUFS)
				continue; // packets overran the socket: they are the kernel's to drop, later ones still come
			perror("receive");
			return 1;
		}
		mnl_cb_run(buffer, n, 0, mnl_socket_get_portid(nl), packet, NULL);
	}
}
