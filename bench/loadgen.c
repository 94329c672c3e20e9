/* loadgen.c: a one-client load generator for HyperDex.
 *
 * Throughput phases, run in the order given by -o (default "put,get"): each
 * phase does N asynchronous operations, one per key 0..N-1, with up to W
 * outstanding, and reports its throughput. Then the latency phase: L
 * synchronous puts, then L synchronous gets (one outstanding) -> p50 / p99
 * latency of each (-L 0 skips it).
 *
 * Operations of a throughput phase, and what each does to key i:
 *   put             put {A: V}                 (A: -a, default "v"; V: -v bytes)
 *   get             get, and check every attribute below against what the
 *                   earlier phases must have left
 *   atomic_add      atomic_add {n: 1}          (int n)
 *   string_append   string_append {A: key}     (the key's bytes)
 *   list_rpush      list_rpush {l: key}        (list(string) l)
 *   set_add         set_add {s: key}           (set(string) s)
 *   map_add         map_add {m: {key: 1}}      (map(string, int) m)
 *   map_atomic_add  map_atomic_add {m: {key: 1}}
 * Every operation but put needs the objects to exist (NOTFOUND otherwise), so
 * start with a put phase. An attribute only has to exist in the space if an
 * operation uses it. The space needs a string key; for every operation:
 *   space bench key k attributes v, int n, list(string) l, set(string) s,
 *         map(string, int) m
 * and for the default phases "space bench key k attributes v" is enough.
 * Keys are K bytes (decimal, zero-padded), values V bytes. Every result is
 * checked: each operation must succeed, and a get must return exactly what
 * the earlier phases wrote.
 *
 * Which keys: by default operation i of a phase uses key i. With -b B it uses
 * key B + i (to load more objects after earlier runs); with -r R, a key drawn
 * at random from B .. B+R-1, for reads spread over a large store: the same
 * sequence every run with the same -x seed (default 0), another with another
 * seed. With -r, the latency phase draws keys the throughput phases did not
 * use (operations N.. of the sequence), so it does not read what they just
 * read. -G makes the latency phase do gets only (of keys that exist
 * already), without its synchronous puts.
 *
 * Output: one "name value" line per measurement, for scripts to read:
 *   <phase>_seconds, <phase>_ops_per_sec      per throughput phase
 *   <phase>_start_s, <phase>_end_s            when it started and ended
 *                                             (CLOCK_MONOTONIC seconds: comparable
 *                                             between processes of one machine)
 *   ratio_<phase>_vs_<put>                    per phase after a put phase:
 *                                             its throughput / that of the
 *                                             most recent put phase
 *   put_p50_us, put_p99_us, get_p50_us, get_p99_us
 *   errors
 * A phase's name is its operation, with "_2", "_3", ... appended when the
 * operation appears again in -o (e.g. "put,put" -> put, put_2).
 * Exit status 0 only if every operation succeeded.
 *
 *   loadgen [-h host] [-p port] [-s space] [-a attr] [-n ops] [-w window]
 *           [-k key_bytes] [-v value_bytes] [-L latency_ops] [-o op,op,...] [-S settle_ms]
 *           [-b first_key] [-r random_range] [-x seed] [-G]
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hyperclient.h>

#define MAX_PHASES 128

/* Attributes used by the operations other than put/get/string_append. */
#define ATTR_INT "n"
#define ATTR_LIST "l"
#define ATTR_SET "s"
#define ATTR_MAP "m"

enum op {
    OP_PUT,
    OP_GET,
    OP_ATOMIC_ADD,
    OP_STRING_APPEND,
    OP_LIST_RPUSH,
    OP_SET_ADD,
    OP_MAP_ADD,
    OP_MAP_ATOMIC_ADD,
    OP_COUNT
};

static const char* const op_names[OP_COUNT] = {
    "put", "get", "atomic_add", "string_append", "list_rpush", "set_add", "map_add",
    "map_atomic_add",
};

struct phase {
    enum op op;
    char name[32];
};

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
    long settle_ms;     /* -S: pause before each throughput phase */
    long base;          /* -b: the first key */
    long range;         /* -r: random keys in base .. base+range-1 (0: key base+i) */
    long seed;          /* -x: which random sequence (with -r) */
    long key_shift;     /* with -r: operation i uses the sequence's key i + key_shift */
    int sync_gets_only; /* -G */
    struct phase phases[MAX_PHASES];
    int phases_sz;
};

/* What every object must hold after the phases run so far (each phase does
 * the same to every key, so one description fits all keys). */
struct expected {
    long appends;       /* string_append phases since the last put */
    int64_t counter;    /* n */
    long rpushes;       /* elements of l, each the key */
    int set_added;      /* s == {key} */
    int map_present;    /* m == {key: map_value} */
    int64_t map_value;
};

/* Per operation of the current phase: id and the slots written at completion. */
static int64_t* ids;
static enum hyperclient_returncode* statuses;
static struct hyperclient_attribute** results;
static size_t* results_sz;

static char* value;
static char one_int64[8];
static long errors;
static struct expected want;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(const char* argv0)
{
    int i;
    fprintf(stderr,
            "usage: %s [-h host] [-p port] [-s space] [-a attr] [-n ops] [-w window]\n"
            "          [-k key_bytes] [-v value_bytes] [-L latency_ops] [-o op,op,...] [-S settle_ms]\n"
            "          [-b first_key] [-r random_range] [-x seed] [-G]\n"
            "operations:",
            argv0);
    for (i = 0; i < OP_COUNT; ++i) {
        fprintf(stderr, " %s", op_names[i]);
    }
    fprintf(stderr, "\n");
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

/* Parses "put,get,..." into o->phases. */
static int parse_phases(const char* list, struct options* o)
{
    const char* p = list;

    o->phases_sz = 0;
    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        int op;
        int i;
        int seen = 0;

        for (op = 0; op < OP_COUNT; ++op) {
            if (strlen(op_names[op]) == len && strncmp(p, op_names[op], len) == 0) {
                break;
            }
        }
        if (op == OP_COUNT || o->phases_sz == MAX_PHASES) {
            fprintf(stderr, "-o: unknown operation, or more than %d: %.*s\n", MAX_PHASES,
                    (int)len, p);
            return -1;
        }
        for (i = 0; i < o->phases_sz; ++i) {
            seen += o->phases[i].op == (enum op)op;
        }
        o->phases[o->phases_sz].op = (enum op)op;
        if (seen == 0) {
            snprintf(o->phases[o->phases_sz].name, sizeof(o->phases[0].name), "%s",
                     op_names[op]);
        } else {
            snprintf(o->phases[o->phases_sz].name, sizeof(o->phases[0].name), "%s_%d",
                     op_names[op], seen + 1);
        }
        ++o->phases_sz;
        p += len;
        if (*p == ',') {
            ++p;
        }
    }
    return o->phases_sz > 0 ? 0 : -1;
}

static int parse_options(int argc, char** argv, struct options* o)
{
    int c;
    long v;

    memset(o, 0, sizeof(*o));
    o->host = "127.0.0.1";
    o->port = 1982;
    o->space = "bench";
    o->attr = "v";
    o->ops = 200000;
    o->window = 1024;
    o->key_bytes = 16;
    o->value_bytes = 100;
    o->latency_ops = 10000;
    if (parse_phases("put,get", o) != 0) {
        return -1;
    }
    while ((c = getopt(argc, argv, "h:p:s:a:n:w:k:v:L:o:S:b:r:x:G")) != -1) {
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
        case 'o':
            if (parse_phases(optarg, o) != 0) goto bad;
            break;
        case 'S':
            if (parse_long(optarg, 0, 60000, &o->settle_ms) != 0) goto bad;
            break;
        case 'b':
            if (parse_long(optarg, 0, 999999999999L, &o->base) != 0) goto bad;
            break;
        case 'r':
            if (parse_long(optarg, 0, 999999999999L, &o->range) != 0) goto bad;
            break;
        case 'x':
            if (parse_long(optarg, 0, 1L << 20, &o->seed) != 0) goto bad;
            break;
        case 'G': o->sync_gets_only = 1; break;
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

/* splitmix64: a well-mixed 64-bit function of i (the same on every run). */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* The key of operation i: its number in decimal, zero-padded to exactly key_bytes
 * bytes (see -b and -r). */
static void make_key(const struct options* o, long i, char* key)
{
    uint64_t draw = (uint64_t)(i + o->key_shift) + ((uint64_t)o->seed << 40);
    long n = o->range > 0 ? o->base + (long)(mix(draw) % (uint64_t)o->range) : o->base + i;
    unsigned long u = (unsigned long)n;
    int p;
    /* Digits from the right, as snprintf's "%0*ld" writes the non-negative numbers used here,
     * without its cost per op. A number longer than key_bytes (only with -b near its largest
     * value and -k 12) keeps its low digits here, where snprintf kept the high ones. */
    for (p = o->key_bytes - 1; p >= 0; --p) {
        key[p] = (char)('0' + u % 10);
        u /= 10;
    }
    key[o->key_bytes] = '\0';
}

static struct hyperclient_attribute attribute(const char* name, const char* v, size_t sz,
                                              enum hyperdatatype t)
{
    struct hyperclient_attribute a;
    a.attr = name;
    a.value = v;
    a.value_sz = sz;
    a.datatype = t;
    return a;
}

/* Starts operation `op` on key i; returns its id (< 0: not sent, reason in
 * statuses[i]). The client copies its arguments, so they may live on the stack. */
static int64_t issue(struct hyperclient* client, const struct options* o, enum op op, long i)
{
    char key[4097];
    const size_t ksz = (size_t)o->key_bytes;
    struct hyperclient_attribute a;
    struct hyperclient_map_attribute m;
    enum hyperclient_returncode* st = &statuses[i];

    make_key(o, i, key);
    switch (op) {
    case OP_GET:
        return hyperclient_get(client, o->space, key, ksz, st, &results[i], &results_sz[i]);
    case OP_PUT:
        a = attribute(o->attr, value, (size_t)o->value_bytes, HYPERDATATYPE_STRING);
        return hyperclient_put(client, o->space, key, ksz, &a, 1, st);
    case OP_ATOMIC_ADD:
        a = attribute(ATTR_INT, one_int64, 8, HYPERDATATYPE_INT64);
        return hyperclient_atomic_add(client, o->space, key, ksz, &a, 1, st);
    case OP_STRING_APPEND:
        a = attribute(o->attr, key, ksz, HYPERDATATYPE_STRING);
        return hyperclient_string_append(client, o->space, key, ksz, &a, 1, st);
    case OP_LIST_RPUSH:
        a = attribute(ATTR_LIST, key, ksz, HYPERDATATYPE_STRING);
        return hyperclient_list_rpush(client, o->space, key, ksz, &a, 1, st);
    case OP_SET_ADD:
        a = attribute(ATTR_SET, key, ksz, HYPERDATATYPE_STRING);
        return hyperclient_set_add(client, o->space, key, ksz, &a, 1, st);
    case OP_MAP_ADD:
    case OP_MAP_ATOMIC_ADD:
        m.attr = ATTR_MAP;
        m.map_key = key;
        m.map_key_sz = ksz;
        m.map_key_datatype = HYPERDATATYPE_STRING;
        m.value = one_int64;
        m.value_sz = 8;
        m.value_datatype = HYPERDATATYPE_INT64;
        if (op == OP_MAP_ADD) {
            return hyperclient_map_add(client, o->space, key, ksz, &m, 1, st);
        }
        return hyperclient_map_atomic_add(client, o->space, key, ksz, &m, 1, st);
    case OP_COUNT:
        break;
    }
    return -1;
}

/* The expected state after a phase of `op` has run on every key. */
static void advance(enum op op)
{
    switch (op) {
    case OP_PUT: want.appends = 0; break;
    case OP_ATOMIC_ADD: ++want.counter; break;
    case OP_STRING_APPEND: ++want.appends; break;
    case OP_LIST_RPUSH: ++want.rpushes; break;
    case OP_SET_ADD: want.set_added = 1; break;
    case OP_MAP_ADD:
        want.map_present = 1;
        want.map_value = 1;
        break;
    case OP_MAP_ATOMIC_ADD:
        want.map_value = want.map_present ? want.map_value + 1 : 1;
        want.map_present = 1;
        break;
    case OP_GET:
    case OP_COUNT:
        break;
    }
}

static const struct hyperclient_attribute* find_attr(const struct hyperclient_attribute* attrs,
                                                     size_t attrs_sz, const char* name)
{
    size_t i;
    for (i = 0; i < attrs_sz; ++i) {
        if (strcmp(attrs[i].attr, name) == 0) {
            return &attrs[i];
        }
    }
    return NULL;
}

static void put_u32(char* out, size_t v)
{
    out[0] = (char)(v & 0xff);
    out[1] = (char)((v >> 8) & 0xff);
    out[2] = (char)((v >> 16) & 0xff);
    out[3] = (char)((v >> 24) & 0xff);
}

static void put_i64(char* out, int64_t v)
{
    uint64_t u = (uint64_t)v;
    int b;
    for (b = 0; b < 8; ++b) {
        out[b] = (char)(unsigned char)(u >> (8 * b));
    }
}

/* Whether a get of key i returned what the phases so far must have left. */
static int get_is_right(const struct options* o, long i)
{
    const struct hyperclient_attribute* attrs = results[i];
    const size_t n = results_sz[i];
    const size_t ksz = (size_t)o->key_bytes;
    const size_t vsz = (size_t)o->value_bytes;
    const struct hyperclient_attribute* a;
    char key[4097];
    char elem[4 + 4096 + 8];
    long r;

    make_key(o, i, key);
    /* A: the value, then the key once per string_append */
    a = find_attr(attrs, n, o->attr);
    if (a == NULL || a->value_sz != vsz + (size_t)want.appends * ksz ||
        memcmp(a->value, value, vsz) != 0) {
        return 0;
    }
    for (r = 0; r < want.appends; ++r) {
        if (memcmp(a->value + vsz + (size_t)r * ksz, key, ksz) != 0) {
            return 0;
        }
    }
    /* n: 0 bytes while never set */
    a = find_attr(attrs, n, ATTR_INT);
    put_i64(elem, want.counter);
    if (a == NULL ? want.counter != 0
                  : a->value_sz != (want.counter != 0 ? 8u : 0u) ||
                        (want.counter != 0 && memcmp(a->value, elem, 8) != 0)) {
        return 0;
    }
    /* l: the key once per list_rpush; s: {key} */
    put_u32(elem, ksz);
    memcpy(elem + 4, key, ksz);
    a = find_attr(attrs, n, ATTR_LIST);
    if (a == NULL ? want.rpushes != 0 : a->value_sz != (size_t)want.rpushes * (4 + ksz)) {
        return 0;
    }
    for (r = 0; r < want.rpushes; ++r) {
        if (memcmp(a->value + (size_t)r * (4 + ksz), elem, 4 + ksz) != 0) {
            return 0;
        }
    }
    a = find_attr(attrs, n, ATTR_SET);
    if (a == NULL ? want.set_added
                  : a->value_sz != (want.set_added ? 4 + ksz : 0) ||
                        (want.set_added && memcmp(a->value, elem, 4 + ksz) != 0)) {
        return 0;
    }
    /* m: {key: map_value} */
    put_i64(elem + 4 + ksz, want.map_value);
    a = find_attr(attrs, n, ATTR_MAP);
    if (a == NULL ? want.map_present
                  : a->value_sz != (want.map_present ? 4 + ksz + 8 : 0) ||
                        (want.map_present && memcmp(a->value, elem, 4 + ksz + 8) != 0)) {
        return 0;
    }
    return 1;
}

/* Counts an error unless operation i succeeded (and a get returned the right object). */
static void check(const struct options* o, enum op op, long i)
{
    if (statuses[i] != HYPERCLIENT_SUCCESS) {
        if (errors++ < 10) {
            fprintf(stderr, "%s %ld: %s\n", op_names[op], i,
                    hyperclient_returncode_to_string(statuses[i]));
        }
        return;
    }
    if (op != OP_GET) {
        return;
    }
    if (!get_is_right(o, i)) {
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

/* When the last throughput phase started and ended (CLOCK_MONOTONIC seconds). */
static double phase_start, phase_end;

/* Runs o->ops operations with at most o->window outstanding; returns the
 * elapsed seconds, or a negative number if the client failed. */
static double run_window(struct hyperclient* client, const struct options* o, enum op op)
{
    long issued = 0;
    long outstanding = 0;
    long completed = 0;
    double start = now_s();

    phase_start = start;

    while (completed < o->ops) {
        enum hyperclient_returncode loop_status;
        int64_t id;
        long i;

        while (issued < o->ops && outstanding < o->window) {
            id = issue(client, o, op, issued);
            if (id < 0) {
                fprintf(stderr, "%s %ld not sent: %s\n", op_names[op],
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
        check(o, op, i);
    }
    phase_end = now_s();
    return phase_end - start;
}

static int compare_double(const void* a, const void* b)
{
    double x = *(const double*)a;
    double y = *(const double*)b;
    return (x > y) - (x < y);
}

/* One operation at a time; prints the p50 and p99 latency in microseconds. */
static int run_sync(struct hyperclient* client, const struct options* opts, enum op op)
{
    double* lat_us;
    long i;
    const char* name = op_names[op];
    /* With random keys, keys the throughput phases did not just read (see -r). */
    struct options shifted = *opts;
    const struct options* o = &shifted;
    if (opts->range > 0) {
        shifted.key_shift = opts->ops;
    }

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
        int64_t id = issue(client, o, op, i);
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
        check(o, op, i);
    }
    qsort(lat_us, (size_t)o->latency_ops, sizeof(double), compare_double);
    printf("%s_p50_us %.1f\n", name, lat_us[o->latency_ops / 2]);
    printf("%s_p99_us %.1f\n", name, lat_us[(o->latency_ops * 99) / 100]);
    free(lat_us);
    advance(op);
    return 0;
}

/* Runs the throughput phases in order; returns 0 if the client never failed. */
static int run_phases(struct hyperclient* client, const struct options* o)
{
    double put_rate = 0;
    const char* put_name = NULL;
    int p;

    for (p = 0; p < o->phases_sz; ++p) {
        const struct phase* ph = &o->phases[p];
        double s;

        if (o->settle_ms > 0) {
            /* Let the servers' background work (flushes, compactions) caused by the
             * previous phase settle, so it is not charged to this one. */
            struct timespec ts = {o->settle_ms / 1000, (o->settle_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        s = run_window(client, o, ph->op);
        double rate;

        if (s < 0) {
            return -1;
        }
        advance(ph->op);
        rate = (double)o->ops / s;
        printf("%s_seconds %.3f\n%s_ops_per_sec %.0f\n", ph->name, s, ph->name, rate);
        printf("%s_start_s %.6f\n%s_end_s %.6f\n", ph->name, phase_start, ph->name, phase_end);
        if (put_name != NULL && put_rate > 0) {
            printf("ratio_%s_vs_%s %.2f\n", ph->name, put_name, rate / put_rate);
        }
        if (ph->op == OP_PUT) {
            put_rate = rate;
            put_name = ph->name;
        }
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char** argv)
{
    struct options o;
    struct hyperclient* client;
    long i;
    int p;
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
    put_i64(one_int64, 1);

    client = hyperclient_create(o.host, o.port);
    if (client == NULL) {
        perror("hyperclient_create");
        return 1;
    }
    printf("ops %ld\nwindow %ld\nkey_bytes %d\nvalue_bytes %d\nphases ", o.ops, o.window,
           o.key_bytes, o.value_bytes);
    for (p = 0; p < o.phases_sz; ++p) {
        printf("%s%s", p > 0 ? "," : "", o.phases[p].name);
    }
    printf("\n");
    fflush(stdout);

    if (run_phases(client, &o) == 0) {
        printf("sync_ops %ld\n", o.latency_ops);
        fflush(stdout);
        ok = (o.sync_gets_only || run_sync(client, &o, OP_PUT) == 0) && run_sync(client, &o, OP_GET) == 0;
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
