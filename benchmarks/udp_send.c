// udp_send: send exactly N small UDP datagrams to ADDR from one unconnected socket, and report.
//
// The benchmarks' one sender, run inside a benchmark's node namespace (ip netns exec):
//   flood ADDR PORT N        as fast as possible, 16-byte payload (drop-flood.sh: an nftables output
//                            rule drops them, so each refused sendto is one kernel drop);
//   scan ADDR PORT N PORTS   the same, datagram i to port PORT + (i % PORTS), so the drops are PORTS
//                            distinct flows of N / PORTS datagrams each (scan.sh);
//   timed ADDR PORT N        a tight loop, 64-byte payload, to a pod with a receiving socket. On a veth
//                            the pod's receive path runs in softirq on the sending CPU, so the time per
//                            sendto includes it: the end-to-end cost of one delivered packet
//                            (delivered-tax.sh);
//   paced ADDR PORT N PPS    64-byte payload at PPS datagrams per second, e.g. to a port that an
//                            nftables rule drops; stops by itself after N datagrams (delivered-tax.sh).
// ADDR must be in 10.250.0.0/16: the benchmarks' namespaces use only that range, and the sender
// refuses anything else so it can never be pointed outside them.
//
// Prints one machine-readable line on stdout (ports=P in scan mode only):
//   sent=N refused=R accepted=A [ports=P] elapsed=S rate=D ns_per_packet=X
// refused = EPERM (dropped by the firewall: expected, and counted as sent), accepted = sendto
// succeeded. Any other error is fatal: it would make "sent" and the kernel's drop count disagree.

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: udp_send flood ADDR PORT N\n"
    "       udp_send scan ADDR PORT N PORTS\n"
    "       udp_send timed ADDR PORT N\n"
    "       udp_send paced ADDR PORT N PPS\n";

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static unsigned long long parse_count(const char *s, const char *what, unsigned long long max)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0 || v > max) {
        fprintf(stderr, "udp_send: bad %s '%s' (1..%llu)\n", what, s, max);
        exit(2);
    }
    return v;
}

// Sleeps until datagram `sent` is due at PPS datagrams/s on an absolute schedule (no drift from
// sleep overshoot). After a stall of more than 10 ms (descheduled), rebases instead of catching up
// in a burst.
static void pace(uint64_t *start, unsigned long long sent, unsigned long long pps)
{
    uint64_t due = *start + sent * 1000000000ULL / pps;
    uint64_t now = now_ns();
    if (now > due + 10000000ULL) {
        *start = now - sent * 1000000000ULL / pps;
        due = now;
    }
    struct timespec ts = { .tv_sec = (time_t)(due / 1000000000ULL), .tv_nsec = (long)(due % 1000000000ULL) };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *mode = argv[1];
    int scan = strcmp(mode, "scan") == 0, paced = strcmp(mode, "paced") == 0;
    int small = scan || strcmp(mode, "flood") == 0;   // the drop benchmarks' 16-byte payload
    int args = scan || paced ? 6 : 5;
    if ((!small && !paced && strcmp(mode, "timed") != 0) || argc != args) {
        fputs(usage, stderr);
        return 2;
    }

    struct sockaddr_in dst;
    memset(&dst, 0, sizeof dst);
    dst.sin_family = AF_INET;
    if (inet_pton(AF_INET, argv[2], &dst.sin_addr) != 1) {
        fprintf(stderr, "udp_send: bad address '%s'\n", argv[2]);
        return 2;
    }
    // 10.250.0.0/16 only.
    if ((ntohl(dst.sin_addr.s_addr) & 0xffff0000u) != 0x0afa0000u) {
        fprintf(stderr, "udp_send: %s is outside 10.250.0.0/16; refusing\n", argv[2]);
        return 2;
    }
    unsigned long long port = parse_count(argv[3], "port", 65535);
    unsigned long long n = parse_count(argv[4], "count", 1ULL << 40);
    unsigned long long ports = scan ? parse_count(argv[5], "port count", 65536 - port) : 1;
    unsigned long long pps = paced ? parse_count(argv[5], "rate", 10000000) : 0;
    dst.sin_port = htons((uint16_t)port);

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("udp_send: socket");
        return 1;
    }

    static char payload[64];
    size_t size = small ? 16 : 64;
    strncpy(payload, small ? (scan ? "scan" : "drop-flood") : "delivered-tax", sizeof payload - 1);
    unsigned long long sent = 0, refused = 0, accepted = 0;

    uint64_t first = now_ns(), start = first;
    while (sent < n) {
        if (pps)
            pace(&start, sent, pps);
        if (ports > 1)
            dst.sin_port = htons((uint16_t)(port + sent % ports));
        ssize_t r = sendto(fd, payload, size, 0, (const struct sockaddr *)&dst, sizeof dst);
        if (r >= 0) {
            accepted++;
            sent++;
        } else if (errno == EPERM) {
            refused++;
            sent++;
        } else {
            fprintf(stderr, "udp_send: sendto failed after %llu datagrams: %s\n", sent, strerror(errno));
            close(fd);
            return 1;
        }
    }
    double elapsed = (double)(now_ns() - first) / 1e9;
    close(fd);

    printf("sent=%llu refused=%llu accepted=%llu", sent, refused, accepted);
    if (scan)
        printf(" ports=%llu", ports);
    printf(" elapsed=%.6f rate=%.0f ns_per_packet=%.1f\n",
           elapsed, elapsed > 0 ? (double)sent / elapsed : 0.0, elapsed * 1e9 / (double)sent);
    return 0;
}
