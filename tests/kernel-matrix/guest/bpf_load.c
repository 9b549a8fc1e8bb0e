// bpf_load: load a BPF object, attach its programs, hold them until SIGTERM/SIGINT.
// The kernel matrix guests' loader for the test programs (no .NET runtime in the guest).
// Usage: bpf_load OBJECT [PF HOOK PRIORITY]
//   SEC("netfilter") programs are attached as BPF netfilter links at PF/HOOK/PRIORITY (libbpf 1.1
//   knows neither the section nor the link: type set and link created by hand); every other
//   program through libbpf's auto-attach. Prints "attached" once everything is in place.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PROG_TYPE_NETFILTER 32   /* BPF_PROG_TYPE_NETFILTER, newer than libbpf 1.1's headers */
#define ATTACH_NETFILTER 45      /* BPF_NETFILTER */

static volatile sig_atomic_t stop;

static void on_signal(int sig) { stop = sig; }

static int attach_netfilter(int prog_fd, int pf, int hook, int priority)
{
	/* union bpf_attr's link_create for netfilter: prog_fd, target_fd, attach_type, flags, {pf, hooknum, priority, flags}. */
	struct { __u32 prog_fd, target_fd, attach_type, flags, pf, hooknum; __s32 priority; __u32 nf_flags; } attr = {
		.prog_fd = prog_fd, .attach_type = ATTACH_NETFILTER, .pf = pf, .hooknum = hook, .priority = priority,
	};
	char buf[128] = {0};

	memcpy(buf, &attr, sizeof(attr));
	return syscall(__NR_bpf, BPF_LINK_CREATE, buf, sizeof(buf));
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;

	if (argc != 2 && argc != 5) {
		fprintf(stderr, "usage: bpf_load OBJECT [PF HOOK PRIORITY]\n");
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
		if (!strcmp(bpf_program__section_name(prog), "netfilter")) {
			if (argc != 5 || attach_netfilter(bpf_program__fd(prog), atoi(argv[2]), atoi(argv[3]), atoi(argv[4])) < 0) {
				perror("netfilter link");
				return 1;
			}
		} else if (!bpf_program__attach(prog)) {
			perror("bpf_program__attach");
			return 1;
		}
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("attached\n");
	fflush(stdout);
	while (!stop)
		pause();
	return 0;   /* links and programs go with the process */
}
