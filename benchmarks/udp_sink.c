// udp_sink: receive and discard UDP datagrams on PORT until SIGINT or SIGTERM.
//
// Used by delivered-tax.sh inside a pod namespace, so that the benchmark's datagrams are delivered
// to a socket (and not dropped as "no socket"). It must keep up with a tight sender: a large receive
// buffer (SO_RCVBUFFORCE, as root) and recvmmsg in batches. The socket's own overruns show in the
// pod namespace's /proc/net/snmp (Udp RcvbufErrors), which the benchmark checks.
//
// Usage: udp_sink PORT
// Prints "received=N" on stdout when stopped.

#define _GNU_SOURCE  // recvmmsg
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define BUFSZ 2048
#define RCVBUF (64 * 1024 * 1024)

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: udp_sink PORT\n");
        return 2;
    }
    char *end = NULL;
    long port = strtol(argv[1], &end, 10);
    if (end == argv[1] || *end != '\0' || port <= 0 || port > 65535) {
        fprintf(stderr, "udp_sink: bad port '%s'\n", argv[1]);
        return 2;
    }

    // No SA_RESTART: the signal must interrupt a blocked recvmmsg.
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("udp_sink: socket");
        return 1;
    }
    int size = RCVBUF;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0 &&
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) != 0) {
        perror("udp_sink: SO_RCVBUF");
        return 1;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("udp_sink: bind");
        return 1;
    }

    static char bufs[BATCH][BUFSZ];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = BUFSZ;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }

    unsigned long long received = 0;
    while (!stop) {
        // MSG_WAITFORONE: block for the first datagram, then take whatever else is queued.
        int r = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
        if (r > 0) {
            received += (unsigned long long)r;
        } else if (r < 0 && errno != EINTR) {
            perror("udp_sink: recvmmsg");
            return 1;
        }
    }
    close(fd);
    printf("received=%llu\n", received);
    return 0;
}
