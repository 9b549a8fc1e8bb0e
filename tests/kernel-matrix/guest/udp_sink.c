// udp_sink: bind a UDP socket to PORT on every address and read until killed.
// The kernel matrix guests' listener (busybox nc has no UDP mode).
// Usage: udp_sink PORT
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in address = { .sin_family = AF_INET };
	char buffer[2048];
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: udp_sink PORT\n");
		return 2;
	}
	address.sin_port = htons(atoi(argv[1]));
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof(address)) < 0) {
		perror("udp_sink");
		return 1;
	}
	for (;;)
		if (recv(fd, buffer, sizeof(buffer), 0) < 0)
			return 1;
}
