// udp_send: send COUNT small UDP datagrams to ADDR:PORT, PAUSE_US apart, from one socket.
// The kernel matrix guests' traffic generator (busybox has no reliable UDP sender).
// Usage: udp_send ADDR PORT COUNT [PAUSE_US]
// Prints "sent=N refused=R": refused = sendto() answered EPERM or ECONNREFUSED (a local netfilter drop:
// NF_DROP, or SELinux's NF_DROP_ERR(-ECONNREFUSED) at POSTROUTING).
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_storage to = {0};
	socklen_t to_len;
	long count, pause_us, sent = 0, refused = 0;
	int fd;

	if (argc < 4) {
		fprintf(stderr, "usage: udp_send ADDR PORT COUNT [PAUSE_US]\n");
		return 2;
	}
	count = atol(argv[3]);
	pause_us = argc > 4 ? atol(argv[4]) : 0;
	if (inet_pton(AF_INET, argv[1], &((struct sockaddr_in *)&to)->sin_addr) == 1) {
		((struct sockaddr_in *)&to)->sin_family = AF_INET;
		((struct sockaddr_in *)&to)->sin_port = htons(atoi(argv[2]));
		to_len = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, argv[1], &((struct sockaddr_in6 *)&to)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&to)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&to)->sin6_port = htons(atoi(argv[2]));
		to_len = sizeof(struct sockaddr_in6);
	} else {
		fprintf(stderr, "udp_send: not an address: %s\n", argv[1]);
		return 2;
	}
	fd = socket(to.ss_family, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	for (long i = 0; i < count; i++) {
		if (sendto(fd, "probe", 5, 0, (struct sockaddr *)&to, to_len) < 0) {
			if (errno != EPERM && errno != ECONNREFUSED) {
				perror("sendto");
				return 1;
			}
			refused++;
		}
		sent++;
		if (pause_us)
			usleep(pause_us);
	}
	printf("sent=%ld refused=%ld\n", sent, refused);
	return 0;
}
