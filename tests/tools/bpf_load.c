// bpf_load: load a BPF object, attach its programs, hold them until SIGTERM/SIGINT.
// The tests' loader for attachments that Debian 12's tools cannot make (no .NET runtime needed:
// the kernel matrix guests use it too).
// Usage: bpf_load OBJECT                                 libbpf's auto-attach (lsm/..., ...)
//        bpf_load OBJECT netfilter PF HOOK PRIORITY      BPF netfilter links (6.4+)
//        bpf_load OBJECT tcx IFNAME ingress|egress       tcx links (6.6+)
// libbpf 1.1 knows neither netfilter nor tcx links: program type set and link created by hand, with
// the UAPI's stable numbers. Prints "attached ID..." (the programs' ids) once everything is in place.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PROG_TYPE_NETFILTER 32   /* BPF_PROG_TYPE_NETFILTER, newer than libbpf 1.1's headers */
#define ATTACH_NETFILTER 45      /* BPF_NETFILTER */
#define ATTACH_TCX_INGRESS 46    /* BPF_TCX_INGRESS */
#define ATTACH_TCX_EGRESS 47     /* BPF_TCX_EGRESS */

static volatile sig_atomic_t stop;

static void on_signal(int sig) { stop = sig; }

/* union bpf_attr's link_create: prog_fd, target_fd|target_ifindex, attach_type, flags, then per type. */
static int link_create(int prog_fd, __u32 target, __u32 attach_type, const void *extra, size_t extra_size)
{
	__u32 head[4] = { prog_fd, target, attach_type, 0 };
	char attr[128] = {0};

	memcpy(attr, head, sizeof(head));
	memcpy(attr + sizeof(head), extra, extra_size);
	return syscall(__NR_bpf, BPF_LINK_CREATE, attr, sizeof(attr));
}

static int attach(int prog_fd, int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[2], "netfilter")) {
		struct { __u32 pf, hooknum; __s32 priority; __u32 flags; } netfilter = { atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), 0 };

		return link_create(prog_fd, 0, ATTACH_NETFILTER, &netfilter, sizeof(netfilter));
	}
	if (argc == 5 && !strcmp(argv[2], "tcx")) {
		__u32 ifindex = if_nametoindex(argv[3]);
		__u64 tcx[2] = { 0, 0 };   /* relative_fd, expected_revision: append */

		return link_create(prog_fd, ifindex, strcmp(argv[4], "ingress") ? ATTACH_TCX_EGRESS : ATTACH_TCX_INGRESS,
				   tcx, sizeof(tcx));
	}
	fprintf(stderr, "usage: bpf_load OBJECT [netfilter PF HOOK PRIORITY | tcx IFNAME ingress|egress]\n");
	return -1;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;

	if (argc < 2) {
		fprintf(stderr, "usage: bpf_load OBJECT [netfilter PF HOOK PRIORITY | tcx IFNAME ingress|egress]\n");
		return 2;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		perror("bpf_object__open_file");
		return 1;
	}
	bpf_object__for_each_program(prog, obj)
		if (!strcmp(bpf_program__section_name(prog), "netfilter")) {
			bpf_program__set_type(prog, PROG_TYPE_NETFILTER);
			bpf_program__set_expected_attach_type(prog, ATTACH_NETFILTER);
		}
	if (bpf_object__load(obj)) {
		perror("bpf_object__load");
		return 1;
	}
	bpf_object__for_each_program(prog, obj) {
		if (argc > 2) {
			if (attach(bpf_program__fd(prog), argc, argv) < 0) {
				perror(argv[2]);
				return 1;
			}
		} else if (!bpf_program__attach(prog)) {
			perror("bpf_program__attach");
			return 1;
		}
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("attached");
	bpf_object__for_each_program(prog, obj) {
		struct bpf_prog_info info = {0};
		__u32 length = sizeof(info);

		if (!bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &length))
			printf(" %u", info.id);
	}
	printf("\n");
	fflush(stdout);
	while (!stop)
		pause();
	return 0;   /* links and programs go with the process */
}
