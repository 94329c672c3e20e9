/* loadgen.c: a one-client load generator for HyperDex.
 *
 * Phase 1: N asynchronous puts with up to W outstanding  -> put throughput
 * Phase 2: N asynchronous gets of the same keys, window W -> get throughput
 * Phase 3: L synchronous puts, then L synchronous gets (one outstanding)
 *          -> p50 / p99 latency of each
 *
 * Keys are K bytes (decimal, zero-padded), values V bytes. The space must
 * exist already, with a string key and a string attribute (default "v"):
 *   space bench key k attributes v
 * Every result is checked; a get must return the bytes that were put.
 *
 * Output: one "name value" line per measurement, for scripts to read, e.g.
 *   put_ops_per_sec 123456
 * Exit status 0 only if every operation succeeded.
 *
 *   loadgen [-h host] [-p port] [-s space] [-a attr] [-n ops] [-w window]
 *           [-k key_bytes] [-v value_bytes] [-L latency_ops]
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hyperclient.h>

struct options {
    const char* host;
    uint16_t port;
    const char* space;
    const char* attr;
    long ops;
    long window;
    int key_bytes;
    int value_bytes;
    long latency_ops;
};

/* Per operation of the current phase: id and the slots written at completion. */
static int64_t* ids;
static enum hyperclient_returncode* statuses;
static struct hyperclient_attribute** results;
static size_t* results_sz;

static char* value;
static long errors;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(const char* argv0)
{
    fprintf(stderr,
            "usage: %s [-h host] [-p port] [-s space] [-a attr] [-n ops] [-w window]\n"
            "          [-k key_bytes] [-v value_bytes] [-L latency_ops]\n",
            argv0);
}

static int parse_long(const char* s, long min, long max, long* out)
{
    char* end = NULL;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_options(int argc, char** argv, struct options* o)
{
    int c;
    long v;

    o->host = "127.0.0.1";
    o->port = 1982;
    o->space = "bench";
    o->attr = "v";
    o->ops = 200000;
    o->window = 1024;
    o->key_bytes = 16;
    o->value_bytes = 100;
    o->latency_ops = 10000;
    while ((c = getopt(argc, argv, "h:p:s:a:n:w:k:v:L:")) != -1) {
        switch (c) {
        case 'h': o->host = optarg; break;
        case 's': o->space = optarg; break;
        case 'a': o->attr = optarg; break;
        case 'p':
            if (parse_long(optarg, 1, 65535, &v) != 0) goto bad;
            o->port = (uint16_t)v;
            break;
        case 'n':
            if (parse_long(optarg, 1, 100000000, &o->ops) != 0) goto bad;
            break;
        case 'w':
            if (parse_long(optarg, 1, 1000000, &o->window) != 0) goto bad;
            break;
        case 'k':
            /* at least 12 digits keep up to 10^12 keys distinct */
            if (parse_long(optarg, 12, 4096, &v) != 0) goto bad;
            o->key_bytes = (int)v;
            break;
        case 'v':
            if (parse_long(optarg, 0, 1 << 20, &v) != 0) goto bad;
            o->value_bytes = (int)v;
            break;
        case 'L':
            if (parse_long(optarg, 0, 100000000, &o->latency_ops) != 0) goto bad;
            break;
        default:
            goto bad;
        }
    }
    if (optind != argc || o->latency_ops > o->ops) {
        goto bad;
    }
    return 0;
bad:
    usage(argv[0]);
    return -1;
}

/* Key i: i in decimal, zero-padded to exactly key_bytes bytes. */
static void make_key(const struct options* o, long i, char* key)
{
    snprintf(key, (size_t)o->key_bytes + 1, "%0*ld", o->key_bytes, i);
}

static int64_t issue(struct hyperclient* client, const struct options* o, int is_get, long i)
{
    char key[4097];
    struct hyperclient_attribute attr;

    make_key(o, i, key);
    if (is_get) {
        return hyperclient_get(client, o->space, key, (size_t)o->key_bytes, &statuses[i],
                               &results[i], &results_sz[i]);
    }
    attr.attr = o->attr;
    attr.value = value;
    attr.value_sz = (size_t)o->value_bytes;
    attr.datatype = HYPERDATATYPE_STRING;
    return hyperclient_put(client, o->space, key, (size_t)o->key_bytes, &attr, 1,
                           &statuses[i]);
}

/* Counts an error unless operation i succeeded (and a get returned our value). */
static void check(const struct options* o, int is_get, long i)
{
    if (statuses[i] != HYPERCLIENT_SUCCESS) {
        if (errors++ < 10) {
            fprintf(stderr, "%s %ld: %s\n",
                    is_get ? "get" : "put", i, hyperclient_returncode_to_string(statuses[i]));
        }
        return;
    }
    if (!is_get) {
        return;
    }
    if (results_sz[i] != 1 || results[i][0].value_sz != (size_t)o->value_bytes ||
        memcmp(results[i][0].value, value, (size_t)o->value_bytes) != 0) {
        if (errors++ < 10) {
            fprintf(stderr, "get %ld: wrong value\n", i);
        }
    }
    hyperclient_destroy_attrs(results[i], results_sz[i]);
    results[i] = NULL;
}

/* Ids only grow, so ids[0..issued) is sorted. */
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

/* Runs o->ops operations with at most o->window outstanding; returns the
 * elapsed seconds, or a negative number if the client failed. */
static double run_window(struct hyperclient* client, const struct options* o, int is_get)
{
    long issued = 0;
    long outstanding = 0;
    long completed = 0;
    double start = now_s();

    while (completed < o->ops) {
        enum hyperclient_returncode loop_status;
        int64_t id;
        long i;

        while (issued < o->ops && outstanding < o->window) {
            id = issue(client, o, is_get, issued);
            if (id < 0) {
                fprintf(stderr, "op %ld not sent: %s\n",
                        issued, hyperclient_returncode_to_string(statuses[issued]));
                return -1;
            }
            ids[issued++] = id;
            ++outstanding;
        }
        id = hyperclient_loop(client, -1, &loop_status);
        if (id < 0) {
            fprintf(stderr, "hyperclient_loop: %s\n",
                    hyperclient_returncode_to_string(loop_status));
            return -1;
        }
        i = find_op(id, issued);
        if (i < 0) {
            fprintf(stderr, "hyperclient_loop returned unknown id %lld\n", (long long)id);
            return -1;
        }
        --outstanding;
        ++completed;
        check(o, is_get, i);
    }
    return now_s() - start;
}

static int compare_double(const void* a, const void* b)
{
    double x = *(const double*)a;
    double y = *(const double*)b;
    return (x > y) - (x < y);
}

/* One operation at a time; prints the p50 and p99 latency in microseconds. */
static int run_sync(struct hyperclient* client, const struct options* o, int is_get)
{
    double* lat_us;
    long i;
    const char* name = is_get ? "get" : "put";

    if (o->latency_ops == 0) {
        return 0;
    }
    lat_us = malloc(sizeof(double) * (size_t)o->latency_ops);
    if (lat_us == NULL) {
        perror("malloc");
        return -1;
    }
    for (i = 0; i < o->latency_ops; ++i) {
        enum hyperclient_returncode loop_status;
        double start = now_s();
        int64_t id = issue(client, o, is_get, i);
        int64_t done;

        if (id < 0) {
            fprintf(stderr, "sync %s %ld not sent: %s\n",
                    name, i, hyperclient_returncode_to_string(statuses[i]));
            free(lat_us);
            return -1;
        }
        done = hyperclient_loop(client, -1, &loop_status);
        if (done != id) {
            fprintf(stderr, "sync %s: loop returned %lld (%s), expected %lld\n", name,
                    (long long)done, hyperclient_returncode_to_string(loop_status), (long long)id);
            free(lat_us);
            return -1;
        }
        lat_us[i] = (now_s() - start) * 1e6;
        check(o, is_get, i);
    }
    qsort(lat_us, (size_t)o->latency_ops, sizeof(double), compare_double);
    printf("%s_p50_us %.1f\n", name, lat_us[o->latency_ops / 2]);
    printf("%s_p99_us %.1f\n", name, lat_us[(o->latency_ops * 99) / 100]);
    free(lat_us);
    return 0;
}

int main(int argc, char** argv)
{
    struct options o;
    struct hyperclient* client;
    double put_s;
    double get_s;
    long i;
    int ok = 0;

    if (parse_options(argc, argv, &o) != 0) {
        return 2;
    }
    ids = calloc((size_t)o.ops, sizeof(*ids));
    statuses = calloc((size_t)o.ops, sizeof(*statuses));
    results = calloc((size_t)o.ops, sizeof(*results));
    results_sz = calloc((size_t)o.ops, sizeof(*results_sz));
    value = malloc((size_t)o.value_bytes + 1);
    if (ids == NULL || statuses == NULL || results == NULL || results_sz == NULL ||
        value == NULL) {
        perror("calloc");
        return 1;
    }
    for (i = 0; i < o.value_bytes; ++i) {
        value[i] = (char)('a' + (int)(i % 26));
    }

    client = hyperclient_create(o.host, o.port);
    if (client == NULL) {
        perror("hyperclient_create");
        return 1;
    }
    printf("ops %ld\nwindow %ld\nkey_bytes %d\nvalue_bytes %d\n", o.ops, o.window, o.key_bytes,
           o.value_bytes);
    fflush(stdout);

    put_s = run_window(client, &o, 0);
    if (put_s >= 0) {
        printf("put_seconds %.3f\nput_ops_per_sec %.0f\n", put_s, (double)o.ops / put_s);
        fflush(stdout);
        get_s = run_window(client, &o, 1);
        if (get_s >= 0) {
            printf("get_seconds %.3f\nget_ops_per_sec %.0f\n", get_s, (double)o.ops / get_s);
            printf("sync_ops %ld\n", o.latency_ops);
            fflush(stdout);
            ok = run_sync(client, &o, 0) == 0 && run_sync(client, &o, 1) == 0;
        }
    }
    printf("errors %ld\n", errors);

    hyperclient_destroy(client);
    for (i = 0; i < o.ops; ++i) {
        hyperclient_destroy_attrs(results[i], results_sz[i]);
    }
    free(ids);
    free(statuses);
    free(results);
    free(results_sz);
    free(value);
    return ok && errors == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
