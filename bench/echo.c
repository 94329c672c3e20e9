/* The floor for a synchronous request on this machine: one TCP round trip over loopback
 * between two processes, with nothing done at the other end but sending the bytes back.
 * `make bench` compares the synchronous get's p50 with this one's.
 *
 *   echo -s PORT                   serve: echo every byte back, one connection at a time
 *   echo -c PORT [-n N] [-b BYTES] N round trips of BYTES (default 10000 of 64); prints
 *                                  echo_p50_us, echo_p99_us
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
    perror(what);
    exit(1);
}

static int full(int fd, char *buf, size_t n, int writing) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = writing ? write(fd, buf + done, n - done) : read(fd, buf + done, n - done);
        if (r <= 0) {
            return -1;
        }
        done += (size_t)r;
    }
    return 0;
}

static void nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void serve(int port) {
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    struct sockaddr_in a;
    if (ls < 0) die("socket");
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    if (listen(ls, 4) < 0) die("listen");
    for (;;) {
        char buf[65536];
        int fd = accept(ls, NULL, NULL);
        if (fd < 0) continue;
        nodelay(fd);
        for (;;) {
            ssize_t r = read(fd, buf, sizeof buf);
            if (r <= 0 || full(fd, buf, (size_t)r, 1) < 0) break;
        }
        close(fd);
    }
}

static void client(int port, int n, int bytes) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    char *buf = calloc((size_t)bytes, 1);
    double *rtt = calloc((size_t)n, sizeof *rtt);
    if (fd < 0 || !buf || !rtt) die("setup");
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
    nodelay(fd);
    for (int i = 0; i < n; i++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (full(fd, buf, (size_t)bytes, 1) < 0 || full(fd, buf, (size_t)bytes, 0) < 0) die("echo");
        clock_gettime(CLOCK_MONOTONIC, &t1);
        rtt[i] = (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
    }
    qsort(rtt, (size_t)n, sizeof *rtt, cmp);
    printf("echo_p50_us %.1f\n", rtt[n / 2]);
    printf("echo_p99_us %.1f\n", rtt[(n * 99) / 100]);
    close(fd);
    free(buf);
    free(rtt);
}

int main(int argc, char **argv) {
    int port = 0, n = 10000, bytes = 64, server = -1;
    int c;
    while ((c = getopt(argc, argv, "s:c:n:b:")) != -1) {
        switch (c) {
        case 's': server = 1; port = atoi(optarg); break;
        case 'c': server = 0; port = atoi(optarg); break;
        case 'n': n = atoi(optarg); break;
        case 'b': bytes = atoi(optarg); break;
        default: fprintf(stderr, "usage: echo -s PORT | -c PORT [-n N] [-b BYTES]\n"); return 2;
        }
    }
    if (server < 0 || port <= 0 || n <= 0 || bytes <= 0) {
        fprintf(stderr, "usage: echo -s PORT | -c PORT [-n N] [-b BYTES]\n");
        return 2;
    }
    if (server) serve(port);
    else client(port, n, bytes);
    return 0;
}
