/* containers.c: lists, sets, maps and atomic operations from C.
 *
 * A profile space with a list(string), a set(string), a map(string, int) and
 * two int counters. One profile is built up with list_rpush/list_lpush,
 * set_add/set_union, map_add/map_atomic_add and atomic_add/atomic_div, then
 * changed with cond_put under a check. After every step the whole object is
 * read back with get and compared byte for byte with what it must be. It also
 * shows that these operations never create an object (NOTFOUND), that a call
 * is all or nothing (OVERFLOW leaves everything as it was), and how a call
 * that is refused before anything is sent names the bad argument.
 * Exits non-zero on any mismatch.
 *
 *   ./containers [coordinator-host [coordinator-port]]  (default 127.0.0.1 1982)
 *
 * Encodings (spec datatypes.md): int64 is 8 bytes little-endian; a list or
 * set of strings is each element as a u32 little-endian length and its bytes
 * (sets sorted bytewise, no duplicates); a map(string, int) is each entry as
 * that string encoding followed by the 8-byte value, sorted by key.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hyperclient.h>

#define MAX_ITEMS 8

static char space[64];
static const char* const key = "alice";

/* The status slot of the one operation in flight. Static: if we give up while
 * an operation is outstanding, the library may still write here until
 * hyperclient_destroy. */
static enum hyperclient_returncode status;

/* What the profile must hold; sets and maps listed in their sorted order. */
struct score {
    const char* name;
    int64_t points;
};
struct profile {
    const char* posts[MAX_ITEMS];
    size_t posts_sz;
    const char* tags[MAX_ITEMS];
    size_t tags_sz;
    struct score scores[MAX_ITEMS];
    size_t scores_sz;
    int64_t visits;
    int64_t balance;
};

/* A growable-enough byte buffer for expected encodings. */
struct buf {
    char data[512];
    size_t sz;
};

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

/* ---- encodings ---------------------------------------------------------- */

static void encode_int64(int64_t v, char out[8])
{
    uint64_t u = (uint64_t)v;
    int i;
    for (i = 0; i < 8; ++i) {
        out[i] = (char)(unsigned char)(u >> (8 * i));
    }
}

static int64_t decode_int64(const char* in, size_t sz)
{
    uint64_t u = 0;
    size_t i;
    /* A never-set int64 has 0 bytes and reads as 0. */
    for (i = 0; i < sz && i < 8; ++i) {
        u |= (uint64_t)(unsigned char)in[i] << (8 * i);
    }
    return (int64_t)u;
}

static uint32_t decode_u32(const char* in)
{
    return (uint32_t)(unsigned char)in[0] | (uint32_t)(unsigned char)in[1] << 8 |
           (uint32_t)(unsigned char)in[2] << 16 | (uint32_t)(unsigned char)in[3] << 24;
}

static void buf_int64(struct buf* b, int64_t v)
{
    encode_int64(v, b->data + b->sz);
    b->sz += 8;
}

/* A string inside a container: u32 little-endian length, then the bytes. */
static void buf_string(struct buf* b, const char* s)
{
    size_t len = strlen(s);
    b->data[b->sz + 0] = (char)(len & 0xff);
    b->data[b->sz + 1] = (char)((len >> 8) & 0xff);
    b->data[b->sz + 2] = (char)((len >> 16) & 0xff);
    b->data[b->sz + 3] = (char)((len >> 24) & 0xff);
    memcpy(b->data + b->sz + 4, s, len);
    b->sz += 4 + len;
}

/* ---- arguments ---------------------------------------------------------- */

static struct hyperclient_attribute attr(const char* name, const char* value, size_t value_sz,
                                         enum hyperdatatype datatype)
{
    struct hyperclient_attribute a;
    a.attr = name;
    a.value = value;
    a.value_sz = value_sz;
    a.datatype = datatype;
    return a;
}

static struct hyperclient_attribute string_attr(const char* name, const char* value)
{
    return attr(name, value, strlen(value), HYPERDATATYPE_STRING);
}

/* `encoded` must hold 8 bytes and live until the call returns. */
static struct hyperclient_attribute int_attr(const char* name, int64_t value, char encoded[8])
{
    encode_int64(value, encoded);
    return attr(name, encoded, 8, HYPERDATATYPE_INT64);
}

/* One map(string, int) entry: scores[name] op= value. */
static struct hyperclient_map_attribute score_attr(const char* name, int64_t value,
                                                   char encoded[8])
{
    struct hyperclient_map_attribute m;
    encode_int64(value, encoded);
    m.attr = "scores";
    m.map_key = name;
    m.map_key_sz = strlen(name);
    m.map_key_datatype = HYPERDATATYPE_STRING;
    m.value = encoded;
    m.value_sz = 8;
    m.value_datatype = HYPERDATATYPE_INT64;
    return m;
}

static struct hyperclient_attribute_check check(const char* name, const char* value,
                                                size_t value_sz, enum hyperdatatype datatype,
                                                enum hyperpredicate predicate)
{
    struct hyperclient_attribute_check c;
    c.attr = name;
    c.value = value;
    c.value_sz = value_sz;
    c.datatype = datatype;
    c.predicate = predicate;
    return c;
}

/* ---- running one operation ---------------------------------------------- */

/* Waits for operation `id` and checks that it ended with `want`. */
static int finish(struct hyperclient* client, const char* what, int64_t id,
                  enum hyperclient_returncode want)
{
    enum hyperclient_returncode loop_status;
    int64_t done;

    if (id < 0) {
        fprintf(stderr, "%s was not sent (%lld): %s\n", what, (long long)id,
                hyperclient_returncode_to_string(status));
        return -1;
    }
    done = hyperclient_loop(client, -1, &loop_status);
    if (done != id) {
        fprintf(stderr, "%s: hyperclient_loop returned %lld (%s), expected %lld\n", what,
                (long long)done, hyperclient_returncode_to_string(loop_status), (long long)id);
        return -1;
    }
    if (status != want) {
        fprintf(stderr, "%s: %s, expected %s\n", what, hyperclient_returncode_to_string(status),
                hyperclient_returncode_to_string(want));
        return -1;
    }
    printf("%-58s -> %s\n", what, hyperclient_returncode_to_string(status));
    return 0;
}

/* ---- reading the profile back ------------------------------------------- */

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

/* Prints a list(string) or set(string) as [a, b] / {a, b}. */
static void print_strings(const char* value, size_t sz, const char* open, const char* close)
{
    size_t at = 0;
    const char* sep = "";
    printf("%s", open);
    while (sz - at >= 4 && sz - at - 4 >= decode_u32(value + at)) {
        uint32_t len = decode_u32(value + at);
        printf("%s\"%.*s\"", sep, (int)len, value + at + 4);
        sep = ", ";
        at += 4 + len;
    }
    printf("%s", close);
}

/* Prints a map(string, int) as {"k": v, ...}. */
static void print_scores(const char* value, size_t sz)
{
    size_t at = 0;
    const char* sep = "";
    printf("{");
    while (sz - at >= 4 && sz - at - 4 >= (size_t)decode_u32(value + at) + 8) {
        uint32_t len = decode_u32(value + at);
        printf("%s\"%.*s\": %lld", sep, (int)len, value + at + 4,
               (long long)decode_int64(value + at + 4 + len, 8));
        sep = ", ";
        at += 4 + len + 8;
    }
    printf("}");
}

/* Compares one attribute of a get result with its expected type and bytes. */
static int same(const struct hyperclient_attribute* attrs, size_t attrs_sz, const char* name,
                enum hyperdatatype datatype, const struct buf* want)
{
    const struct hyperclient_attribute* a = find_attr(attrs, attrs_sz, name);
    if (a == NULL || a->datatype != datatype) {
        fprintf(stderr, "get: no attribute %s of the declared type\n", name);
        return 0;
    }
    if (a->value_sz != want->sz || memcmp(a->value, want->data, want->sz) != 0) {
        fprintf(stderr, "get: %s holds other bytes than expected\n", name);
        return 0;
    }
    return 1;
}

/* Reads the profile and checks every attribute against `want` (NULL: the
 * object must not exist). */
static int verify(struct hyperclient* client, const struct profile* want)
{
    struct hyperclient_attribute* attrs = NULL;
    size_t attrs_sz = 0;
    struct buf posts, tags, scores, visits, balance;
    size_t i;
    int64_t id;
    int ok;

    id = hyperclient_get(client, space, key, strlen(key), &status, &attrs, &attrs_sz);
    if (finish(client, "  get", id, want ? HYPERCLIENT_SUCCESS : HYPERCLIENT_NOTFOUND) != 0) {
        return -1;
    }
    if (want == NULL) {
        return 0;
    }
    posts.sz = tags.sz = scores.sz = visits.sz = balance.sz = 0;
    for (i = 0; i < want->posts_sz; ++i) {
        buf_string(&posts, want->posts[i]);
    }
    for (i = 0; i < want->tags_sz; ++i) {
        buf_string(&tags, want->tags[i]);
    }
    for (i = 0; i < want->scores_sz; ++i) {
        buf_string(&scores, want->scores[i].name);
        buf_int64(&scores, want->scores[i].points);
    }
    buf_int64(&visits, want->visits);
    buf_int64(&balance, want->balance);

    /* One entry per non-key attribute, in schema order. */
    ok = attrs_sz == 5 && same(attrs, attrs_sz, "posts", HYPERDATATYPE_LIST_STRING, &posts) &&
         same(attrs, attrs_sz, "tags", HYPERDATATYPE_SET_STRING, &tags) &&
         same(attrs, attrs_sz, "scores", HYPERDATATYPE_MAP_STRING_INT64, &scores) &&
         same(attrs, attrs_sz, "visits", HYPERDATATYPE_INT64, &visits) &&
         same(attrs, attrs_sz, "balance", HYPERDATATYPE_INT64, &balance);
    if (ok) {
        printf("    posts=");
        print_strings(attrs[0].value, attrs[0].value_sz, "[", "]");
        printf(" tags=");
        print_strings(attrs[1].value, attrs[1].value_sz, "{", "}");
        printf(" scores=");
        print_scores(attrs[2].value, attrs[2].value_sz);
        printf(" visits=%lld balance=%lld\n",
               (long long)decode_int64(attrs[3].value, attrs[3].value_sz),
               (long long)decode_int64(attrs[4].value, attrs[4].value_sz));
    } else if (attrs_sz != 5) {
        fprintf(stderr, "get returned %lu attributes, expected 5\n", (unsigned long)attrs_sz);
    }
    hyperclient_destroy_attrs(attrs, attrs_sz);
    return ok ? 0 : -1;
}

/* ---- the walk-through ----------------------------------------------------- */

static int run(struct hyperclient* client)
{
    struct profile p;
    struct hyperclient_attribute a[2];
    struct hyperclient_map_attribute m[2];
    struct hyperclient_attribute_check c[2];
    struct buf set;
    char e0[8], e1[8];
    const size_t ksz = strlen(key);
    int64_t id;

    memset(&p, 0, sizeof(p));

    /* 1. Atomic and container operations never create an object. */
    a[0] = int_attr("visits", 1, e0);
    id = hyperclient_atomic_add(client, space, key, ksz, a, 1, &status);
    if (finish(client, "atomic_add visits += 1 on a missing key", id, HYPERCLIENT_NOTFOUND) != 0 ||
        verify(client, NULL) != 0) {
        return -1;
    }

    /* 2. So put first (attributes not named start empty). */
    a[0] = int_attr("visits", 10, e0);
    a[1] = int_attr("balance", 7, e1);
    id = hyperclient_put(client, space, key, ksz, a, 2, &status);
    p.visits = 10;
    p.balance = 7;
    if (finish(client, "put visits=10 balance=7", id, HYPERCLIENT_SUCCESS) != 0 ||
        verify(client, &p) != 0) {
        return -1;
    }

    /* 3. Lists: two pushes to the same attribute in one call apply in order. */
    a[0] = string_attr("posts", "hello");
    a[1] = string_attr("posts", "world");
    id = hyperclient_list_rpush(client, space, key, ksz, a, 2, &status);
    if (finish(client, "list_rpush posts \"hello\", \"world\"", id, HYPERCLIENT_SUCCESS) != 0) {
        return -1;
    }
    a[0] = string_attr("posts", "first");
    id = hyperclient_list_lpush(client, space, key, ksz, a, 1, &status);
    p.posts[0] = "first";
    p.posts[1] = "hello";
    p.posts[2] = "world";
    p.posts_sz = 3;
    if (finish(client, "list_lpush posts \"first\"", id, HYPERCLIENT_SUCCESS) != 0 ||
        verify(client, &p) != 0) {
        return -1;
    }

    /* 4. Sets: set_add takes one element (adding it twice changes nothing);
     * set_union takes a whole set, encoded sorted. */
    a[0] = string_attr("tags", "rust");
    id = hyperclient_set_add(client, space, key, ksz, a, 1, &status);
    if (finish(client, "set_add tags \"rust\"", id, HYPERCLIENT_SUCCESS) != 0) {
        return -1;
    }
    id = hyperclient_set_add(client, space, key, ksz, a, 1, &status);
    p.tags[0] = "rust";
    p.tags_sz = 1;
    if (finish(client, "set_add tags \"rust\" again", id, HYPERCLIENT_SUCCESS) != 0 ||
        verify(client, &p) != 0) {
        return -1;
    }
    set.sz = 0;
    buf_string(&set, "c");
    buf_string(&set, "python");
    a[0] = attr("tags", set.data, set.sz, HYPERDATATYPE_SET_STRING);
    id = hyperclient_set_union(client, space, key, ksz, a, 1, &status);
    p.tags[0] = "c";
    p.tags[1] = "python";
    p.tags[2] = "rust";
    p.tags_sz = 3;
    if (finish(client, "set_union tags {\"c\", \"python\"}", id, HYPERCLIENT_SUCCESS) != 0 ||
        verify(client, &p) != 0) {
        return -1;
    }

    /* 5. Maps: map_add sets entries; map_atomic_add adds to them, and a
     * missing entry starts from 0. */
    m[0] = score_attr("math", 90, e0);
    m[1] = score_attr("art", 75, e1);
    id = hyperclient_map_add(client, space, key, ksz, m, 2, &status);
    if (finish(client, "map_add scores[\"math\"]=90 scores[\"art\"]=75", id,
               HYPERCLIENT_SUCCESS) != 0) {
        return -1;
    }
    m[0] = score_attr("math", 5, e0);
    m[1] = score_attr("music", 3, e1);
    id = hyperclient_map_atomic_add(client, space, key, ksz, m, 2, &status);
    p.scores[0].name = "art";
    p.scores[0].points = 75;
    p.scores[1].name = "math";
    p.scores[1].points = 95;
    p.scores[2].name = "music";
    p.scores[2].points = 3;
    p.scores_sz = 3;
    if (finish(client, "map_atomic_add scores[\"math\"]+=5 scores[\"music\"]+=3", id,
               HYPERCLIENT_SUCCESS) != 0 ||
        verify(client, &p) != 0) {
        return -1;
    }

    /* 6. Counters. atomic_div rounds toward negative infinity:
     * 7 / -2 is -4 here (C's 7 / -2 is -3). */
    a[0] = int_attr("visits", 1, e0);
    id = hyperclient_atomic_add(client, space, key, ksz, a, 1, &status);
    p.visits = 11;
    if (finish(client, "atomic_add visits += 1", id, HYPERCLIENT_SUCCESS) != 0) {
        return -1;
    }
    a[0] = int_attr("balance", -2, e0);
    id = hyperclient_atomic_div(client, space, key, ksz, a, 1, &status);
    p.balance = -4;
    if (finish(client, "atomic_div balance /= -2 (7 -> -4, floor)", id, HYPERCLIENT_SUCCESS) != 0 ||
        verify(client, &p) != 0) {
        return -1;
    }

    /* 7. One call is all or nothing: balance + INT64_MIN overflows, so the
     * increment of visits in the same call is not applied either. */
    a[0] = int_attr("visits", 1, e0);
    a[1] = int_attr("balance", INT64_MIN, e1);
    id = hyperclient_atomic_add(client, space, key, ksz, a, 2, &status);
    if (finish(client, "atomic_add visits += 1, balance += INT64_MIN", id,
               HYPERCLIENT_OVERFLOW) != 0 ||
        verify(client, &p) != 0) {
        return -1;
    }

    /* 8. cond_put: the update happens only if every check passes, atomically
     * with it. Here: visits == 11 and tags contains "rust". */
    encode_int64(11, e0);
    c[0] = check("visits", e0, 8, HYPERDATATYPE_INT64, HYPERPREDICATE_EQUALS);
    c[1] = check("tags", "rust", 4, HYPERDATATYPE_STRING, HYPERPREDICATE_CONTAINS);
    a[0] = int_attr("balance", 100, e1);
    id = hyperclient_cond_put(client, space, key, ksz, c, 2, a, 1, &status);
    p.balance = 100;
    if (finish(client, "cond_put balance=100 if visits==11 && \"rust\" in tags", id,
               HYPERCLIENT_SUCCESS) != 0 ||
        verify(client, &p) != 0) {
        return -1;
    }
    encode_int64(10, e0);
    c[0] = check("visits", e0, 8, HYPERDATATYPE_INT64, HYPERPREDICATE_EQUALS);
    a[0] = int_attr("balance", 0, e1);
    id = hyperclient_cond_put(client, space, key, ksz, c, 1, a, 1, &status);
    if (finish(client, "cond_put balance=0 if visits==10", id, HYPERCLIENT_CMPFAIL) != 0 ||
        verify(client, &p) != 0) {
        return -1;
    }

    /* 9. Refused before sending: attribute 1 (set_add on a map) has the wrong
     * type, so the call returns -2 - checks_sz - 1 = -3 and sends nothing. */
    a[0] = string_attr("tags", "go");
    a[1] = string_attr("scores", "go");
    id = hyperclient_set_add(client, space, key, ksz, a, 2, &status);
    if (id != -3 || status != HYPERCLIENT_WRONGTYPE) {
        fprintf(stderr, "set_add on a map attribute returned %lld (%s), expected -3 (WRONGTYPE)\n",
                (long long)id, hyperclient_returncode_to_string(status));
        return -1;
    }
    printf("%-58s -> %lld, %s\n", "set_add tags \"go\", scores \"go\"", (long long)id,
           hyperclient_returncode_to_string(status));
    return verify(client, &p);
}

int main(int argc, char** argv)
{
    const char* host;
    uint16_t port;
    char description[256];
    struct hyperclient* client;
    enum hyperclient_returncode rc;
    int ok;

    if (parse_args(argc, argv, &host, &port) != 0) {
        return 2;
    }
    snprintf(space, sizeof(space), "profiles_%ld", (long)getpid());
    snprintf(description, sizeof(description),
             "space %s key username attributes list(string) posts, set(string) tags, "
             "map(string, int) scores, int visits, int balance",
             space);

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
    ok = run(client) == 0;
    rc = hyperclient_rm_space(client, space);
    if (rc != HYPERCLIENT_SUCCESS) {
        fprintf(stderr, "rm_space(%s) failed: %s\n", space, hyperclient_returncode_to_string(rc));
        ok = 0;
    }
    hyperclient_destroy(client);
    if (ok) {
        printf("containers: every result matched\n");
    }
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
