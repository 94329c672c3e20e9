/* poll_loop.c: driving the client from your own event loop.
 *
 * A program with an event loop of its own (poll, epoll, libuv, ...) does not
 * block in hyperclient_loop. It puts the client's descriptor,
 * hyperclient_poll_fd(client), into its own poll set, and whenever that
 * descriptor is readable (and before it first waits) it calls
 * hyperclient_loop(client, 0, &status) until the loop answers TIMEOUT
 * (nothing more is ready now) or NONEPENDING (nothing is outstanding).
 *
 * This program issues 500 puts at once, completes them from a poll() loop,
 * then does the same with 500 gets and checks every value.
 *
 *   ./poll_loop [coordinator-host [coordinator-port]]  (default 127.0.0.1 1982)
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hyperclient.h>

#define OPS 500
#define POLL_INTERVAL_MS 1000
#define MAX_IDLE_POLLS 60 /* give up after a minute without any progress */

static int64_t ids[OPS];
static enum hyperclient_returncode statuses[OPS];
static struct hyperclient_attribute* results[OPS];
static size_t results_sz[OPS];
static unsigned char finished[OPS];

static char space[64];

static int parse_args(int argc, char** argv, const char** host, uint16_t* port)
{
    char* end = NULL;
    long p = 1982;

    *host = argc > 1 ? argv[1] : "127.0.0.1";
    if (argc > 2) {
        p = strtol(argv[2], &end, 10);
        if (*argv[2] == '\0' || *end != '\0' || p <= 0 || p > 65535) {
            fprintf(stderr, "usage: %s [host [port]]\n", argv[0]);
            return -1;
        }
    }
    *port = (uint16_t)p;
    return 0;
}

static size_t make_key(int i, char* key, size_t cap)
{
    return (size_t)snprintf(key, cap, "key-%d", i);
}

static size_t make_value(int i, char* value, size_t cap)
{
    return (size_t)snprintf(value, cap, "value number %d", i);
}

static int find_op(int64_t id)
{
    int i;
    for (i = 0; i < OPS; ++i) {
        if (ids[i] == id) {
            return i;
        }
    }
    return -1;
}

/* Checks finished operation i. */
static int check(int is_get, int i)
{
    char value[64];
    size_t value_sz;

    if (statuses[i] != HYPERCLIENT_SUCCESS) {
        fprintf(stderr, "%s %d failed: %s\n", is_get ? "get" : "put", i,
                hyperclient_returncode_to_string(statuses[i]));
        return -1;
    }
    if (!is_get) {
        return 0;
    }
    value_sz = make_value(i, value, sizeof(value));
    if (results_sz[i] != 1 || results[i][0].value_sz != value_sz ||
        memcmp(results[i][0].value, value, value_sz) != 0) {
        fprintf(stderr, "get %d: unexpected value\n", i);
        return -1;
    }
    hyperclient_destroy_attrs(results[i], results_sz[i]);
    results[i] = NULL;
    return 0;
}

/* Completes every outstanding operation from a poll() loop. */
static int drive(struct hyperclient* client, int fd, int is_get)
{
    int completed = 0;
    int wakeups = 0;
    int idle = 0;

    for (;;) {
        struct pollfd pfd;
        int ready;

        /* Hand out everything that is ready without blocking. (This also
         * sends whatever the calls queued, so do it before sleeping.) */
        for (;;) {
            enum hyperclient_returncode loop_status;
            int64_t id = hyperclient_loop(client, 0, &loop_status);
            int i;

            if (id < 0 && loop_status == HYPERCLIENT_TIMEOUT) {
                break;
            }
            if (id < 0 && loop_status == HYPERCLIENT_NONEPENDING) {
                if (completed != OPS) {
                    fprintf(stderr, "NONEPENDING after %d of %d completions\n", completed, OPS);
                    return -1;
                }
                printf("%s: %d operations completed over %d poll() wakeups\n",
                       is_get ? "get" : "put", OPS, wakeups);
                return 0;
            }
            if (id < 0) {
                fprintf(stderr, "hyperclient_loop failed: %s\n",
                        hyperclient_returncode_to_string(loop_status));
                return -1;
            }
            i = find_op(id);
            if (i < 0 || finished[i]) {
                fprintf(stderr, "hyperclient_loop returned an unexpected id %lld\n",
                        (long long)id);
                return -1;
            }
            finished[i] = 1;
            ++completed;
            idle = 0;
            if (check(is_get, i) != 0) {
                return -1;
            }
        }

        /* Our own event loop: other descriptors would go into this set too. */
        pfd.fd = fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        ready = poll(&pfd, 1, POLL_INTERVAL_MS);
        if (ready < 0 && errno != EINTR) {
            perror("poll");
            return -1;
        }
        if (ready > 0) {
            ++wakeups;
        } else if (ready == 0 && ++idle >= MAX_IDLE_POLLS) {
            fprintf(stderr, "no progress for %d s (%d of %d done)\n",
                    MAX_IDLE_POLLS * POLL_INTERVAL_MS / 1000, completed, OPS);
            return -1;
        }
    }
}

/* Starts all OPS operations at once. */
static int issue_all(struct hyperclient* client, int is_get)
{
    int i;

    memset(finished, 0, sizeof(finished));
    for (i = 0; i < OPS; ++i) {
        char key[32];
        char value[64];
        size_t key_sz = make_key(i, key, sizeof(key));
        struct hyperclient_attribute attr;

        if (is_get) {
            ids[i] = hyperclient_get(client, space, key, key_sz, &statuses[i], &results[i],
                                     &results_sz[i]);
        } else {
            attr.attr = "v";
            attr.value = value;
            attr.value_sz = make_value(i, value, sizeof(value));
            attr.datatype = HYPERDATATYPE_STRING;
            ids[i] = hyperclient_put(client, space, key, key_sz, &attr, 1, &statuses[i]);
        }
        if (ids[i] < 0) {
            fprintf(stderr, "operation %d was not sent: %s\n",
                    i, hyperclient_returncode_to_string(statuses[i]));
            return -1;
        }
    }
    return 0;
}

int main(int argc, char** argv)
{
    const char* host;
    uint16_t port;
    char description[128];
    struct hyperclient* client;
    enum hyperclient_returncode rc;
    int fd;
    int ok = 0;
    int i;

    if (parse_args(argc, argv, &host, &port) != 0) {
        return 2;
    }
    snprintf(space, sizeof(space), "poll_%ld", (long)getpid());
    snprintf(description, sizeof(description), "space %s key k attributes v", space);

    client = hyperclient_create(host, port);
    if (client == NULL) {
        perror("hyperclient_create");
        return 1;
    }
    rc = hyperclient_add_space(client, description);
    if (rc != HYPERCLIENT_SUCCESS) {
        fprintf(stderr, "add_space(%s) failed: %s\n", space, hyperclient_returncode_to_string(rc));
        hyperclient_destroy(client);
        return 1;
    }

    fd = hyperclient_poll_fd(client);
    if (fd < 0) {
        fprintf(stderr, "hyperclient_poll_fd failed\n");
    } else if (issue_all(client, 0) == 0 && drive(client, fd, 0) == 0 &&
               issue_all(client, 1) == 0 && drive(client, fd, 1) == 0) {
        ok = 1;
    }

    for (i = 0; i < OPS; ++i) {
        hyperclient_destroy_attrs(results[i], results_sz[i]);
    }
    rc = hyperclient_rm_space(client, space);
    if (rc != HYPERCLIENT_SUCCESS) {
        fprintf(stderr, "rm_space(%s) failed: %s\n", space, hyperclient_returncode_to_string(rc));
        ok = 0;
    }
    hyperclient_destroy(client);
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
