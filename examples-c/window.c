/* window.c: the tutorial's window pattern in C.
 *
 * Issues 10,000 puts while keeping at most 1024 of them outstanding, collects
 * every completion with hyperclient_loop, then reads all 10,000 objects back
 * through the same window and checks each value. Along the way it checks the
 * completion contract: every request id comes back from the loop exactly once,
 * and afterwards the loop reports NONEPENDING.
 *
 *   ./window [coordinator-host [coordinator-port]]     (default 127.0.0.1 1982)
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hyperclient.h>

#define OPS 10000
#define WINDOW 1024

/* Per operation: its id, and the slots the library writes at completion.
 * These must stay valid until the loop has returned the id, which is why
 * they live here and not on a stack frame that could end earlier. */
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

/* int64 values travel as 8 bytes, little-endian. */
static void encode_int64(int64_t v, char out[8])
{
    uint64_t u = (uint64_t)v;
    int i;
    for (i = 0; i < 8; ++i) {
        out[i] = (char)(unsigned char)(u >> (8 * i));
    }
}

static int64_t decode_int64(const char* in)
{
    uint64_t u = 0;
    int i;
    for (i = 0; i < 8; ++i) {
        u |= (uint64_t)(unsigned char)in[i] << (8 * i);
    }
    return (int64_t)u;
}

static size_t make_key(long i, char* key, size_t key_cap)
{
    return (size_t)snprintf(key, key_cap, "k%ld", i);
}

enum phase { PHASE_PUT, PHASE_GET };

/* Starts operation i; returns its id (< 0: not sent, reason in statuses[i]). */
static int64_t issue(struct hyperclient* client, enum phase phase, long i)
{
    char key[32];
    size_t key_sz = make_key(i, key, sizeof(key));
    char encoded[8];
    struct hyperclient_attribute attr;

    if (phase == PHASE_GET) {
        return hyperclient_get(client, space, key, key_sz, &statuses[i], &results[i],
                               &results_sz[i]);
    }
    encode_int64(i, encoded);
    attr.attr = "v";
    attr.value = encoded;
    attr.value_sz = sizeof(encoded);
    attr.datatype = HYPERDATATYPE_INT64;
    return hyperclient_put(client, space, key, key_sz, &attr, 1, &statuses[i]);
}

/* Checks the outcome of finished operation i. */
static int check(enum phase phase, long i)
{
    const struct hyperclient_attribute* a;

    if (statuses[i] != HYPERCLIENT_SUCCESS) {
        fprintf(stderr, "%s k%ld failed: %s\n", phase == PHASE_PUT ? "put" : "get",
                i, hyperclient_returncode_to_string(statuses[i]));
        return -1;
    }
    if (phase == PHASE_PUT) {
        return 0;
    }
    a = results[i];
    if (results_sz[i] != 1 || strcmp(a[0].attr, "v") != 0 ||
        a[0].datatype != HYPERDATATYPE_INT64 || a[0].value_sz != 8 ||
        decode_int64(a[0].value) != i) {
        fprintf(stderr, "get k%ld: unexpected value\n", i);
        return -1;
    }
    hyperclient_destroy_attrs(results[i], results_sz[i]);
    results[i] = NULL;
    return 0;
}

/* Ids only grow, so ids[0..issued) is sorted: binary search. */
static long find_op(int64_t id, long issued)
{
    long lo = 0;
    long hi = issued;
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;
        if (ids[mid] < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < issued && ids[lo] == id ? lo : -1;
}

/* Runs OPS operations with at most WINDOW outstanding. */
static int run_window(struct hyperclient* client, enum phase phase)
{
    long issued = 0;
    long outstanding = 0;
    long completed = 0;
    long max_outstanding = 0;

    memset(finished, 0, sizeof(finished));
    while (completed < OPS) {
        enum hyperclient_returncode loop_status;
        int64_t id;
        long i;

        while (issued < OPS && outstanding < WINDOW) {
            id = issue(client, phase, issued);
            if (id < 0) {
                fprintf(stderr, "op %ld was not sent: %s\n", issued,
                        hyperclient_returncode_to_string(statuses[issued]));
                return -1;
            }
            if (issued > 0 && id <= ids[issued - 1]) {
                fprintf(stderr, "request ids do not grow: %lld after %lld\n", (long long)id,
                        (long long)ids[issued - 1]);
                return -1;
            }
            ids[issued++] = id;
            ++outstanding;
        }
        if (outstanding > max_outstanding) {
            max_outstanding = outstanding;
        }

        id = hyperclient_loop(client, -1, &loop_status);
        if (id < 0) {
            fprintf(stderr, "hyperclient_loop failed with %ld outstanding: %s\n",
                    outstanding, hyperclient_returncode_to_string(loop_status));
            return -1;
        }
        i = find_op(id, issued);
        if (i < 0 || finished[i]) {
            fprintf(stderr, "hyperclient_loop returned %s id %lld\n",
                    i < 0 ? "an unknown" : "an already finished", (long long)id);
            return -1;
        }
        finished[i] = 1;
        --outstanding;
        ++completed;
        if (check(phase, i) != 0) {
            return -1;
        }
    }
    printf("%s: %d operations, at most %ld outstanding\n",
           phase == PHASE_PUT ? "put" : "get", OPS, max_outstanding);
    return 0;
}

int main(int argc, char** argv)
{
    const char* host;
    uint16_t port;
    char description[128];
    struct hyperclient* client;
    enum hyperclient_returncode rc;
    enum hyperclient_returncode loop_status;
    int ok = 0;
    long i;

    if (parse_args(argc, argv, &host, &port) != 0) {
        return 2;
    }
    snprintf(space, sizeof(space), "window_%ld", (long)getpid());
    snprintf(description, sizeof(description), "space %s key k attributes int v", space);

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

    if (run_window(client, PHASE_PUT) == 0 && run_window(client, PHASE_GET) == 0) {
        /* Everything was collected, so nothing may be left. */
        if (hyperclient_loop(client, 0, &loop_status) == -1 &&
            loop_status == HYPERCLIENT_NONEPENDING) {
            ok = 1;
        } else {
            fprintf(stderr, "after all completions the loop did not report NONEPENDING\n");
        }
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
    if (ok) {
        printf("window: all %d values read back correctly\n", OPS);
    }
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
