/* searchgen.c: search benchmark for HyperDex, one client.
 *
 * Needs a space of this shape (key and attribute names fixed; the subspaces
 * are what the numbers are about):
 *   space bench key k attributes string name, int n, int other, float f
 *         subspace name subspace n create 8 partitions tolerate 1 failures
 *
 * 1. Load: N objects, up to W puts outstanding. Object i (0 <= i < N):
 *      k      i in decimal, zero-padded to 16 bytes
 *      name   "name-" i (zero-padded) "-" and filler, NAME_BYTES bytes: unique
 *      n      i
 *      other  i % 1000 (never negative)
 *      f      i / 4.0
 *    so the values are 100 bytes (76 + 3 x 8).
 * 2. Warm-up (untimed): a few hundred gets and equality searches, one search
 *    of everything, one count and one sorted_search.
 * 3. R rounds; each one measures, in this order:
 *      latency   L pairs of synchronous operations, one outstanding: a get of
 *                a random key, then a search name == <a random object's name>
 *                (exactly one match, checked), alternating, so that both see
 *                the same machine. -> p50 / p99 of each, and their ratio.
 *      all       a search with no checks, every object streamed to this
 *                client (each key checked to come exactly once) -> objects/s.
 *      count     count other >= 0 (`other` is in no subspace: every region is
 *                read and every object examined) -> N / seconds.
 *      pair      count with no checks, then sorted_search with no checks,
 *                sort by n, maximize, limit 10 (checked: n = N-1 ... N-10)
 *                -> time of each and sorted / count.
 *    Medians over the rounds are printed at the end.
 * 4. Regions contacted by each kind of search: hyperclient_search_describe
 *    with the same checks, counting the lines that start with "region(".
 *
 * Output: one "name value" line per measurement, for scripts to read:
 *   load_seconds, load_puts_per_sec
 *   regions_eq, regions_all, regions_count, regions_sorted   (and describe_* text)
 *   r<round>_<name> ...                        per round
 *   <name> ...                                 median over the rounds, where name is:
 *     get_p50_us get_p99_us eq_p50_us eq_p99_us ratio_eq_vs_get_p50
 *     eq_first_p50_us        (time from the call to the object's event)
 *     all_objects_per_sec all_first_ms all_seconds
 *     count_objects_per_sec count_seconds
 *     pair_count_ms pair_sorted_ms ratio_sorted_vs_count
 *   errors
 * Exit status 0 only if every operation succeeded with the expected result.
 * The numbers themselves are never judged here.
 *
 * With -d D, afterwards: D synchronous samples each of other selective searches
 * (see diagnostics() below), printed as diag_<kind>_p50_us, diag_<kind>_p99_us and
 * describe_diag_<kind>..., to see where an equality search spends its time.
 *
 *   searchgen [-h host] [-p port] [-s space] [-n objects] [-w window]
 *             [-L latency_pairs] [-r rounds] [-S settle_ms] [-d diag_samples]
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hyperclient.h>

#define KEY_BYTES 16
#define NAME_BYTES 76
#define OTHER_MOD 1000
#define SORT_LIMIT 10
#define MAX_ROUNDS 64

struct options {
    const char* host;
    uint16_t port;
    const char* space;
    long objects;
    long window;
    long pairs;
    long rounds;
    long settle_ms;
    long diagnostics;   /* -d: samples of each diagnostic operation (0: none) */
};

static struct options opt;
static struct hyperclient* client;
static long errors;

/* Outputs of the one search-type operation in flight. Static: the library
 * writes through these until the operation's last event. */
static enum hyperclient_returncode op_status;
static struct hyperclient_attribute* op_attrs;
static size_t op_attrs_sz;
static uint64_t op_count;
static const char* op_description;

/* ---- small helpers --------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static long random_index(void)
{
    /* xorshift64 */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (long)(rng_state % (uint64_t)opt.objects);
}

/* Counts a failure; the first few are printed: what, a number (an index or id), a status. */
static void fail_op(const char* what, long i, enum hyperclient_returncode rc)
{
    if (errors++ < 10) {
        fprintf(stderr, "searchgen: %s (%ld): %s\n", what, i, hyperclient_returncode_to_string(rc));
    }
}

static int compare_double(const void* a, const void* b)
{
    double x = *(const double*)a;
    double y = *(const double*)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0 <= q <= 1) of v[0..n), which it sorts. */
static double quantile(double* v, long n, double q)
{
    long at;
    if (n <= 0) {
        return 0;
    }
    qsort(v, (size_t)n, sizeof(double), compare_double);
    at = (long)(q * (double)n);
    if (at >= n) {
        at = n - 1;
    }
    return v[at];
}

static double median(const double* v, long n)
{
    double tmp[MAX_ROUNDS];
    long i;
    if (n <= 0) {
        return 0;
    }
    for (i = 0; i < n; ++i) {
        tmp[i] = v[i];
    }
    qsort(tmp, (size_t)n, sizeof(double), compare_double);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

static void put_i64(char* out, int64_t v)
{
    uint64_t u = (uint64_t)v;
    int b;
    for (b = 0; b < 8; ++b) {
        out[b] = (char)(unsigned char)(u >> (8 * b));
    }
}

static int64_t get_i64(const char* in, size_t sz)
{
    uint64_t u = 0;
    size_t b;
    for (b = 0; b < sz && b < 8; ++b) {
        u |= (uint64_t)(unsigned char)in[b] << (8 * b);
    }
    return (int64_t)u;
}

static void put_f64(char* out, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    put_i64(out, (int64_t)u);
}

/* ---- the objects ----------------------------------------------------------- */

/* v (>= 0) in decimal, zero-padded to exactly `width` digits (the low ones). */
static void put_decimal(char* out, int width, long v)
{
    int d;
    for (d = width - 1; d >= 0; --d) {
        out[d] = (char)('0' + v % 10);
        v /= 10;
    }
}

static void make_key(long i, char key[KEY_BYTES + 1])
{
    put_decimal(key, KEY_BYTES, i);
    key[KEY_BYTES] = '\0';
}

/* "name-" i (12 digits) "-", then letters up to NAME_BYTES. */
static void make_name(long i, char name[NAME_BYTES + 1])
{
    int len;
    memcpy(name, "name-", 5);
    put_decimal(name + 5, 12, i);
    name[17] = '-';
    for (len = 18; len < NAME_BYTES; ++len) {
        name[len] = (char)('a' + len % 26);
    }
    name[NAME_BYTES] = '\0';
}

/* The key of a returned object as an index, or -1. */
static long key_index(const struct hyperclient_attribute* a, size_t n)
{
    char buf[KEY_BYTES + 1];
    char* end = NULL;
    long i;
    if (n == 0 || a[0].value_sz != KEY_BYTES) {
        return -1;
    }
    memcpy(buf, a[0].value, KEY_BYTES);
    buf[KEY_BYTES] = '\0';
    i = strtol(buf, &end, 10);
    return (*end == '\0' && i >= 0 && i < opt.objects) ? i : -1;
}

static const struct hyperclient_attribute* find_attr(const struct hyperclient_attribute* a,
                                                     size_t n, const char* name)
{
    size_t j;
    for (j = 0; j < n; ++j) {
        if (strcmp(a[j].attr, name) == 0) {
            return &a[j];
        }
    }
    return NULL;
}

/* Whether a returned object (key first) is object i as loaded. */
static int object_is(const struct hyperclient_attribute* a, size_t n, long i, int key_first)
{
    char name[NAME_BYTES + 1];
    const struct hyperclient_attribute* x;
    if (key_first && key_index(a, n) != i) {
        return 0;
    }
    make_name(i, name);
    x = find_attr(a, n, "name");
    if (x == NULL || x->value_sz != NAME_BYTES || memcmp(x->value, name, NAME_BYTES) != 0) {
        return 0;
    }
    x = find_attr(a, n, "n");
    if (x == NULL || get_i64(x->value, x->value_sz) != i) {
        return 0;
    }
    x = find_attr(a, n, "other");
    return x != NULL && get_i64(x->value, x->value_sz) == i % OTHER_MOD;
}

static struct hyperclient_attribute_check check(const char* attr, const char* value,
                                                size_t value_sz, enum hyperdatatype t,
                                                enum hyperpredicate p)
{
    struct hyperclient_attribute_check c;
    c.attr = attr;
    c.value = value;
    c.value_sz = value_sz;
    c.datatype = t;
    c.predicate = p;
    return c;
}

/* ---- load ---------------------------------------------------------------- */

static int load(void)
{
    enum hyperclient_returncode* st = calloc((size_t)opt.objects, sizeof(*st));
    long issued = 0, completed = 0, i;
    double start, s;

    if (st == NULL) {
        perror("calloc");
        return -1;
    }
    start = now_s();
    while (completed < opt.objects) {
        enum hyperclient_returncode loop_status;
        int64_t id;
        while (issued < opt.objects && issued - completed < opt.window) {
            char key[KEY_BYTES + 1], name[NAME_BYTES + 1], n[8], other[8], f[8];
            struct hyperclient_attribute a[4];
            make_key(issued, key);
            make_name(issued, name);
            put_i64(n, issued);
            put_i64(other, issued % OTHER_MOD);
            put_f64(f, (double)issued / 4.0);
            a[0].attr = "name"; a[0].value = name; a[0].value_sz = NAME_BYTES;
            a[0].datatype = HYPERDATATYPE_STRING;
            a[1].attr = "n"; a[1].value = n; a[1].value_sz = 8; a[1].datatype = HYPERDATATYPE_INT64;
            a[2].attr = "other"; a[2].value = other; a[2].value_sz = 8;
            a[2].datatype = HYPERDATATYPE_INT64;
            a[3].attr = "f"; a[3].value = f; a[3].value_sz = 8; a[3].datatype = HYPERDATATYPE_FLOAT;
            id = hyperclient_put(client, opt.space, key, KEY_BYTES, a, 4, &st[issued]);
            if (id < 0) {
                fprintf(stderr, "put %ld not sent: %s\n", issued,
                        hyperclient_returncode_to_string(st[issued]));
                free(st);
                return -1;
            }
            ++issued;
        }
        id = hyperclient_loop(client, -1, &loop_status);
        if (id < 0) {
            fprintf(stderr, "hyperclient_loop: %s\n", hyperclient_returncode_to_string(loop_status));
            free(st);
            return -1;
        }
        ++completed;
    }
    s = now_s() - start;
    for (i = 0; i < opt.objects; ++i) {
        if (st[i] != HYPERCLIENT_SUCCESS) {
            fail_op("put", i, st[i]);
        }
    }
    free(st);
    printf("load_seconds %.3f\nload_puts_per_sec %.0f\n", s, (double)opt.objects / s);
    fflush(stdout);
    return 0;
}

/* ---- one operation at a time ---------------------------------------------- */

/* Waits for the one-event operation `id`; 0 if its status is SUCCESS. */
static int wait_one(const char* what, int64_t id, enum hyperclient_returncode* st)
{
    enum hyperclient_returncode loop_status;
    int64_t done;
    if (id < 0) {
        fail_op(what, (long)id, *st);
        return -1;
    }
    done = hyperclient_loop(client, -1, &loop_status);
    if (done != id) {
        fail_op("loop returned another id", (long)done, loop_status);
        return -1;
    }
    if (*st != HYPERCLIENT_SUCCESS) {
        fail_op(what, (long)id, *st);
        return -1;
    }
    return 0;
}

/* A synchronous get of object i (checked); its latency in seconds, < 0 on failure. */
static double timed_get(long i)
{
    char key[KEY_BYTES + 1];
    enum hyperclient_returncode st;
    struct hyperclient_attribute* a = NULL;
    size_t a_sz = 0;
    double start, s;
    int64_t id;

    make_key(i, key);
    start = now_s();
    id = hyperclient_get(client, opt.space, key, KEY_BYTES, &st, &a, &a_sz);
    if (wait_one("get", id, &st) != 0) {
        return -1;
    }
    s = now_s() - start;
    if (!object_is(a, a_sz, i, 0)) {
        fail_op("get (wrong object)", i, st);
    }
    hyperclient_destroy_attrs(a, a_sz);
    return s;
}

/* Runs a search to its end. `want`: the only object that must come (>= 0), or -1 for
 * "every object exactly once" (seen: a byte per object, cleared here), or -2 for any.
 * Returns the seconds it took (and in *first_s until the first object), < 0 on failure. */
static unsigned char* seen;

static double timed_search(const struct hyperclient_attribute_check* c, size_t c_sz, long want,
                           double* first_s, long* objects)
{
    double start = now_s();
    long got = 0;
    int ok = 1;
    int64_t id;

    *first_s = 0;
    if (want == -1) {
        memset(seen, 0, (size_t)opt.objects);
    }
    id = hyperclient_search(client, opt.space, c, c_sz, &op_status, &op_attrs, &op_attrs_sz);
    if (id < 0) {
        fail_op("search not sent", (long)id, op_status);
        return -1;
    }
    for (;;) {
        enum hyperclient_returncode loop_status;
        int64_t done = hyperclient_loop(client, -1, &loop_status);
        long i;
        if (done != id) {
            fail_op("search: loop returned another id", (long)done, loop_status);
            return -1;
        }
        if (op_status == HYPERCLIENT_SEARCHDONE) {
            break;
        }
        if (op_status != HYPERCLIENT_SUCCESS) {
            fail_op("search event", (long)id, op_status);
            ok = 0;
            continue;
        }
        if (got++ == 0) {
            *first_s = now_s() - start;
        }
        i = key_index(op_attrs, op_attrs_sz);
        if (want >= 0 ? !object_is(op_attrs, op_attrs_sz, want, 1)
                      : (i < 0 || (want == -1 && seen[i]++ != 0))) {
            fail_op("search: unexpected object, want", want, op_status);
            ok = 0;
        }
        hyperclient_destroy_attrs(op_attrs, op_attrs_sz);
        op_attrs = NULL;
        op_attrs_sz = 0;
    }
    *objects = got;
    if ((want >= 0 && got != 1) || (want == -1 && got != opt.objects)) {
        fail_op("search: wrong number of objects, want", want, op_status);
        ok = 0;
    }
    return ok ? now_s() - start : -1;
}

/* A count; its seconds (< 0 on failure). The count must be `want`. */
static double timed_count(const struct hyperclient_attribute_check* c, size_t c_sz, uint64_t want)
{
    double start = now_s();
    int64_t id = hyperclient_count(client, opt.space, c, c_sz, &op_status, &op_count);
    if (wait_one("count", id, &op_status) != 0) {
        return -1;
    }
    if (op_count != want) {
        fail_op("count: another number, want", (long)want, op_status);
        return -1;
    }
    return now_s() - start;
}

/* sorted_search, no checks, by n, maximize, limit SORT_LIMIT; checked. */
static double timed_sorted(void)
{
    double start = now_s();
    long got = 0;
    int ok = 1;
    int64_t id = hyperclient_sorted_search(client, opt.space, NULL, 0, "n", SORT_LIMIT, 1,
                                           &op_status, &op_attrs, &op_attrs_sz);
    if (id < 0) {
        fail_op("sorted_search not sent", (long)id, op_status);
        return -1;
    }
    for (;;) {
        enum hyperclient_returncode loop_status;
        int64_t done = hyperclient_loop(client, -1, &loop_status);
        if (done != id) {
            fail_op("sorted_search: loop returned another id", (long)done, loop_status);
            return -1;
        }
        if (op_status == HYPERCLIENT_SEARCHDONE) {
            break;
        }
        if (op_status != HYPERCLIENT_SUCCESS) {
            fail_op("sorted_search event", (long)id, op_status);
            ok = 0;
            continue;
        }
        if (!object_is(op_attrs, op_attrs_sz, opt.objects - 1 - got, 1)) {
            fail_op("sorted_search: object out of order, at", got, op_status);
            ok = 0;
        }
        ++got;
        hyperclient_destroy_attrs(op_attrs, op_attrs_sz);
        op_attrs = NULL;
        op_attrs_sz = 0;
    }
    if (got != (opt.objects < SORT_LIMIT ? opt.objects : SORT_LIMIT)) {
        fail_op("sorted_search: wrong number of objects", got, op_status);
        ok = 0;
    }
    return ok ? now_s() - start : -1;
}

/* Prints the description of a search with these checks and the number of regions it
 * reads (lines starting with "region("); returns that number, < 0 on failure. */
static long describe(const char* name, const struct hyperclient_attribute_check* c, size_t c_sz)
{
    int64_t id = hyperclient_search_describe(client, opt.space, c, c_sz, &op_status,
                                             &op_description);
    const char* p;
    long regions = 0;
    int first = 1;

    if (wait_one("search_describe", id, &op_status) != 0 || op_description == NULL) {
        return -1;
    }
    /* The text lives until the next loop call: read it now. */
    for (p = op_description; *p != '\0';) {
        size_t len = strcspn(p, "\n");
        if (strncmp(p, "region(", 7) == 0) {
            ++regions;
        }
        if (len > 0) {
            printf("describe_%s%s %.*s\n", name, first ? "" : "_line", (int)len, p);
            first = 0;
        }
        p += len;
        if (*p == '\n') {
            ++p;
        }
    }
    printf("regions_%s %ld\n", name, regions);
    fflush(stdout);
    return regions;
}

/* ---- the rounds ------------------------------------------------------------ */

enum metric {
    M_GET_P50, M_GET_P99, M_EQ_P50, M_EQ_P99, M_RATIO_EQ, M_EQ_FIRST_P50,
    M_ALL_RATE, M_ALL_FIRST_MS, M_ALL_SECONDS,
    M_COUNT_RATE, M_COUNT_SECONDS,
    M_PAIR_COUNT_MS, M_PAIR_SORTED_MS, M_RATIO_SORTED,
    M_COUNT_METRICS
};

static const char* const metric_names[M_COUNT_METRICS] = {
    "get_p50_us", "get_p99_us", "eq_p50_us", "eq_p99_us", "ratio_eq_vs_get_p50",
    "eq_first_p50_us",
    "all_objects_per_sec", "all_first_ms", "all_seconds",
    "count_objects_per_sec", "count_seconds",
    "pair_count_ms", "pair_sorted_ms", "ratio_sorted_vs_count",
};

/* Decimals printed. */
static const int metric_decimals[M_COUNT_METRICS] = {
    1, 1, 1, 1, 2, 1,
    0, 2, 4,
    0, 4,
    2, 2, 2,
};

static double results[M_COUNT_METRICS][MAX_ROUNDS];

static void print_metric(const char* prefix, int m, double v)
{
    printf("%s%s %.*f\n", prefix, metric_names[m], metric_decimals[m], v);
}

/* L pairs: get of a random key, search name == a random object's name. */
static int latency(double* get_us, double* eq_us, double* eq_first_us)
{
    long s;
    for (s = 0; s < opt.pairs; ++s) {
        char name[NAME_BYTES + 1];
        struct hyperclient_attribute_check c;
        long objects = 0;
        double first = 0, t;
        long j;

        t = timed_get(random_index());
        if (t < 0) {
            return -1;
        }
        get_us[s] = t * 1e6;
        j = random_index();
        make_name(j, name);
        c = check("name", name, NAME_BYTES, HYPERDATATYPE_STRING, HYPERPREDICATE_EQUALS);
        t = timed_search(&c, 1, j, &first, &objects);
        if (t < 0) {
            return -1;
        }
        eq_us[s] = t * 1e6;
        eq_first_us[s] = first * 1e6;
    }
    return 0;
}

static int round_(int r, double* get_us, double* eq_us, double* eq_first_us)
{
    char zero[8];
    struct hyperclient_attribute_check other_ge;
    char prefix[16];
    double first = 0, t;
    long objects = 0;
    int m;

    put_i64(zero, 0);
    other_ge = check("other", zero, 8, HYPERDATATYPE_INT64, HYPERPREDICATE_GREATER_EQUAL);

    if (latency(get_us, eq_us, eq_first_us) != 0) {
        return -1;
    }
    results[M_EQ_FIRST_P50][r] = quantile(eq_first_us, opt.pairs, 0.5);
    results[M_GET_P50][r] = quantile(get_us, opt.pairs, 0.5);
    results[M_GET_P99][r] = quantile(get_us, opt.pairs, 0.99);
    results[M_EQ_P50][r] = quantile(eq_us, opt.pairs, 0.5);
    results[M_EQ_P99][r] = quantile(eq_us, opt.pairs, 0.99);
    results[M_RATIO_EQ][r] = results[M_EQ_P50][r] / results[M_GET_P50][r];

    t = timed_search(NULL, 0, -1, &first, &objects);
    if (t < 0) {
        return -1;
    }
    results[M_ALL_RATE][r] = (double)objects / t;
    results[M_ALL_FIRST_MS][r] = first * 1e3;
    results[M_ALL_SECONDS][r] = t;

    t = timed_count(&other_ge, 1, (uint64_t)opt.objects);
    if (t < 0) {
        return -1;
    }
    results[M_COUNT_RATE][r] = (double)opt.objects / t;
    results[M_COUNT_SECONDS][r] = t;

    t = timed_count(NULL, 0, (uint64_t)opt.objects);
    if (t < 0) {
        return -1;
    }
    results[M_PAIR_COUNT_MS][r] = t * 1e3;
    t = timed_sorted();
    if (t < 0) {
        return -1;
    }
    results[M_PAIR_SORTED_MS][r] = t * 1e3;
    results[M_RATIO_SORTED][r] = results[M_PAIR_SORTED_MS][r] / results[M_PAIR_COUNT_MS][r];

    snprintf(prefix, sizeof(prefix), "r%d_", r + 1);
    for (m = 0; m < M_COUNT_METRICS; ++m) {
        print_metric(prefix, m, results[m][r]);
    }
    fflush(stdout);
    return 0;
}

/* -d D: after the rounds, the latency of other selective operations, D of each, one
 * after the other, each with the regions it reads (describe). They split the cost of
 * the equality search of the rounds (a region of about N/PARTITIONS objects):
 *   empty_eq   search n == -5: one region of the n subspace that holds no object
 *              (ints are placed in order, 0..N-1 all share one region): the fixed cost
 *   name_eq    search name == <random name>: the search of the rounds, alone
 *   count_eq   count name == <random name>: the same region read, nothing sent back
 *   key_eq     search k == <random key>: one region of the key subspace
 *   n_eq       search n == <random i>: one region, the one holding every object
 *   other_eq   search other == <value>: every region (N/1000 matches) */
#define DIAG_KINDS 6

static int diagnostics(double* buf, double* first_buf, long samples)
{
    static const char* const names[DIAG_KINDS] = {"empty_eq", "name_eq", "count_eq",
                                                   "key_eq", "n_eq", "other_eq"};
    int kind;
    for (kind = 0; kind < DIAG_KINDS; ++kind) {
        long s;
        for (s = 0; s < samples; ++s) {
            char key[KEY_BYTES + 1], name[NAME_BYTES + 1], v[8];
            struct hyperclient_attribute_check c;
            long j = random_index(), objects = 0;
            double first = 0, t;
            switch (kind) {
            case 0:
                put_i64(v, -5);
                c = check("n", v, 8, HYPERDATATYPE_INT64, HYPERPREDICATE_EQUALS);
                t = timed_search(&c, 1, -2, &first, &objects);
                if (t >= 0 && objects != 0) {
                    fail_op("search n == -5 found objects", objects, HYPERCLIENT_SUCCESS);
                    t = -1;
                }
                break;
            case 1:
            case 2:
                make_name(j, name);
                c = check("name", name, NAME_BYTES, HYPERDATATYPE_STRING, HYPERPREDICATE_EQUALS);
                t = kind == 1 ? timed_search(&c, 1, j, &first, &objects) : timed_count(&c, 1, 1);
                break;
            case 3:
                make_key(j, key);
                c = check("k", key, KEY_BYTES, HYPERDATATYPE_STRING, HYPERPREDICATE_EQUALS);
                t = timed_search(&c, 1, j, &first, &objects);
                break;
            case 4:
                put_i64(v, j);
                c = check("n", v, 8, HYPERDATATYPE_INT64, HYPERPREDICATE_EQUALS);
                t = timed_search(&c, 1, j, &first, &objects);
                break;
            default:
                put_i64(v, j % OTHER_MOD);
                c = check("other", v, 8, HYPERDATATYPE_INT64, HYPERPREDICATE_EQUALS);
                t = timed_search(&c, 1, -2, &first, &objects);
                break;
            }
            if (t < 0) {
                return -1;
            }
            buf[s] = t * 1e6;
            first_buf[s] = first * 1e6;
            if (s == 0) {
                char what[32];
                snprintf(what, sizeof(what), "diag_%s", names[kind]);
                if (describe(what, &c, 1) < 0) {
                    return -1;
                }
            }
        }
        printf("diag_%s_p50_us %.1f\n", names[kind], quantile(buf, samples, 0.5));
        printf("diag_%s_p99_us %.1f\n", names[kind], quantile(buf, samples, 0.99));
        fflush(stdout);
    }
    return 0;
}

static int run(void)
{
    char zero[8], name[NAME_BYTES + 1];
    struct hyperclient_attribute_check c;
    long bufsz = opt.pairs > opt.diagnostics ? opt.pairs : opt.diagnostics;
    double* get_us = calloc((size_t)bufsz, sizeof(double));
    double* eq_us = calloc((size_t)bufsz, sizeof(double));
    double* eq_first_us = calloc((size_t)bufsz, sizeof(double));
    double first;
    long objects, w, r;
    int m, rc = -1;

    seen = calloc((size_t)opt.objects, 1);
    if (get_us == NULL || eq_us == NULL || eq_first_us == NULL || seen == NULL) {
        perror("calloc");
        goto out;
    }
    if (load() != 0 || errors != 0) {
        goto out;
    }
    if (opt.settle_ms > 0) {
        struct timespec ts;
        ts.tv_sec = opt.settle_ms / 1000;
        ts.tv_nsec = (opt.settle_ms % 1000) * 1000000L;
        nanosleep(&ts, NULL);
    }

    /* Regions each kind of search reads. */
    make_name(opt.objects / 2, name);
    c = check("name", name, NAME_BYTES, HYPERDATATYPE_STRING, HYPERPREDICATE_EQUALS);
    if (describe("eq", &c, 1) < 0 || describe("all", NULL, 0) < 0) {
        goto out;
    }
    put_i64(zero, 0);
    c = check("other", zero, 8, HYPERDATATYPE_INT64, HYPERPREDICATE_GREATER_EQUAL);
    if (describe("count", &c, 1) < 0 || describe("sorted", NULL, 0) < 0) {
        goto out;
    }

    /* Warm-up, untimed. */
    for (w = 0; w < 200 && w < opt.objects; ++w) {
        make_name(random_index(), name);
        c = check("name", name, NAME_BYTES, HYPERDATATYPE_STRING, HYPERPREDICATE_EQUALS);
        if (timed_get(random_index()) < 0 || timed_search(&c, 1, -2, &first, &objects) < 0) {
            goto out;
        }
    }
    c = check("other", zero, 8, HYPERDATATYPE_INT64, HYPERPREDICATE_GREATER_EQUAL);
    if (timed_search(NULL, 0, -1, &first, &objects) < 0 ||
        timed_count(&c, 1, (uint64_t)opt.objects) < 0 || timed_sorted() < 0) {
        goto out;
    }

    for (r = 0; r < opt.rounds; ++r) {
        if (round_((int)r, get_us, eq_us, eq_first_us) != 0) {
            goto out;
        }
    }
    printf("rounds %ld\n", opt.rounds);
    for (m = 0; m < M_COUNT_METRICS; ++m) {
        print_metric("", m, median(results[m], opt.rounds));
    }
    fflush(stdout);
    if (opt.diagnostics > 0 && diagnostics(get_us, eq_first_us, opt.diagnostics) != 0) {
        goto out;
    }
    rc = 0;
out:
    free(get_us);
    free(eq_us);
    free(eq_first_us);
    free(seen);
    return rc;
}

/* ---- main -------------------------------------------------------------------- */

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

static int parse_options(int argc, char** argv)
{
    int c;
    long v;

    opt.host = "127.0.0.1";
    opt.port = 1982;
    opt.space = "bench";
    opt.objects = 100000;
    opt.window = 1024;
    opt.pairs = 1000;
    opt.rounds = 5;
    opt.settle_ms = 1000;
    while ((c = getopt(argc, argv, "h:p:s:n:w:L:r:S:d:")) != -1) {
        switch (c) {
        case 'h': opt.host = optarg; break;
        case 's': opt.space = optarg; break;
        case 'p':
            if (parse_long(optarg, 1, 65535, &v) != 0) return -1;
            opt.port = (uint16_t)v;
            break;
        case 'n':
            if (parse_long(optarg, 1, 100000000, &opt.objects) != 0) return -1;
            break;
        case 'w':
            if (parse_long(optarg, 1, 1000000, &opt.window) != 0) return -1;
            break;
        case 'L':
            if (parse_long(optarg, 1, 10000000, &opt.pairs) != 0) return -1;
            break;
        case 'r':
            if (parse_long(optarg, 1, MAX_ROUNDS, &opt.rounds) != 0) return -1;
            break;
        case 'S':
            if (parse_long(optarg, 0, 600000, &opt.settle_ms) != 0) return -1;
            break;
        case 'd':
            if (parse_long(optarg, 0, 10000000, &opt.diagnostics) != 0) return -1;
            break;
        default: return -1;
        }
    }
    return optind == argc ? 0 : -1;
}

int main(int argc, char** argv)
{
    int rc;
    if (parse_options(argc, argv) != 0) {
        fprintf(stderr,
                "usage: %s [-h host] [-p port] [-s space] [-n objects] [-w window]\n"
                "          [-L latency_pairs] [-r rounds] [-S settle_ms] [-d diag_samples]\n",
                argv[0]);
        return 2;
    }
    client = hyperclient_create(opt.host, opt.port);
    if (client == NULL) {
        perror("hyperclient_create");
        return 1;
    }
    printf("objects %ld\nwindow %ld\npairs %ld\n", opt.objects, opt.window, opt.pairs);
    fflush(stdout);
    rc = run();
    printf("errors %ld\n", errors);
    hyperclient_destroy(client);
    return rc == 0 && errors == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
