// udp_flood: send exactly N small UDP datagrams to 10.250.0.2:9 from one unconnected socket.
//
// Meant to run inside the benchmark's node namespace (ip netns exec), where an nftables output
// rule drops them: each refused sendto() returns EPERM and is exactly one kernel drop
// (kfree_skb, reason NETFILTER_DROP). EPERM is therefore expected and counted as "sent".
//
// Usage: udp_flood [N]   (default 2000000)
// Prints one machine-readable line on stdout:
//   sent=N refused=R accepted=A elapsed=S rate=D
// refused = EPERM (dropped by the firewall), accepted = left the host (should be 0).
// Any other error is fatal: it would make "sent" and the kernel's drop count disagree silently.

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

// Fixed on purpose: the flooder must never be pointed outside the benchmark's namespaces.
#define DEST_ADDR "10.250.0.2"
#define DEST_PORT 9

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    unsigned long long n = 2000000ULL;
    if (argc > 1) {
        char *end = NULL;
        errno = 0;
        n = strtoull(argv[1], &end, 10);
        if (errno != 0 || end == argv[1] || *end != '\0' || n == 0) {
            fprintf(stderr, "udp_flood: bad count '%s'\n", argv[1]);
            return 2;
        }
    }

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("udp_flood: socket");
        return 1;
    }

    struct sockaddr_in dst;
    memset(&dst, 0, sizeof dst);
    dst.sin_family = AF_INET;
    dst.sin_port = htons(DEST_PORT);
    if (inet_pton(AF_INET, DEST_ADDR, &dst.sin_addr) != 1) {
        fprintf(stderr, "udp_flood: bad address\n");
        return 1;
    }

    static const char payload[16] = "drop-flood";
    unsigned long long sent = 0, refused = 0, accepted = 0;

    double start = now_seconds();
    while (sent < n) {
        ssize_t r = sendto(fd, payload, sizeof payload, 0, (const struct sockaddr *)&dst, sizeof dst);
        if (r >= 0) {
            accepted++;
            sent++;
        } else if (errno == EPERM) {
            refused++;
            sent++;
        } else {
            fprintf(stderr, "udp_flood: sendto failed after %llu datagrams: %s\n", sent, strerror(errno));
            close(fd);
            return 1;
        }
    }
    double elapsed = now_seconds() - start;
    close(fd);

    printf("sent=%llu refused=%llu accepted=%llu elapsed=%.6f rate=%.0f\n",
           sent, refused, accepted, elapsed, elapsed > 0 ? (double)sent / elapsed : 0.0);
    return 0;
}
