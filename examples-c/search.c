/* search.c: searching a space by attribute values, from C.
 *
 * Creates a phonebook space with two subspaces (first, last) and (phone), so
 * that a search on a name or a phone range is sent only to the regions that
 * can hold a match. It puts a few entries, then:
 *
 *   1. hyperclient_search with an equality check (last == "Smith"), printing
 *      each object as it arrives, until SEARCHDONE;
 *   2. hyperclient_search with a range on an int (GREATER_EQUAL and
 *      LESS_EQUAL on phone), and with both kinds of check at once;
 *   3. hyperclient_sorted_search: the two largest phone numbers among the
 *      Smiths, largest first;
 *   4. hyperclient_count on the phone range;
 *   5. hyperclient_group_del of every Smith, then a count and a search to see
 *      that they are gone.
 *
 * Every result is compared with what it must be; the program exits non-zero
 * on any mismatch, and removes its space either way.
 *
 *   ./search [coordinator-host [coordinator-port]]   (default 127.0.0.1 1982)
 *
 * Values travel in their HyperDex encoding: an int64 is 8 bytes little-endian
 * (spec datatypes.md). A search returns every attribute of an object, the key
 * first; each array it returns is the caller's, to free with
 * hyperclient_destroy_attrs.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hyperclient.h>

#define MAX_RESULTS 16

static char space[64];

/* The outputs of the one operation in flight. Static: if we give up while an
 * operation is outstanding, the library may still write here until
 * hyperclient_destroy. */
static enum hyperclient_returncode status;
static struct hyperclient_attribute* attrs;
static size_t attrs_sz;
static uint64_t count;

struct entry {
    const char* username;
    const char* first;
    const char* last;
    int64_t phone;
};

static const struct entry phonebook[] = {
    {"jsmith1", "John", "Smith", 6075551024},
    {"jd", "John", "Doe", 6075557878},
    {"bsmith", "Bob", "Smith", 6175550000},
    {"asmith", "Alice", "Smith", 2125550100},
    {"mjones", "Mary", "Jones", 6075559999},
};
#define PHONEBOOK_SZ (sizeof(phonebook) / sizeof(phonebook[0]))

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

static struct hyperclient_attribute_check string_check(const char* name, const char* value)
{
    return check(name, value, strlen(value), HYPERDATATYPE_STRING, HYPERPREDICATE_EQUALS);
}

/* `encoded` must hold 8 bytes and live until the call returns. */
static struct hyperclient_attribute_check int_check(const char* name, int64_t value,
                                                    enum hyperpredicate predicate,
                                                    char encoded[8])
{
    encode_int64(value, encoded);
    return check(name, encoded, 8, HYPERDATATYPE_INT64, predicate);
}

/* ---- running operations ------------------------------------------------- */

/* Waits for the single-event operation `id` and checks that it ended with `want`. */
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
    return 0;
}

static int put_entry(struct hyperclient* client, const struct entry* e)
{
    struct hyperclient_attribute a[3];
    char phone[8];
    int64_t id;

    encode_int64(e->phone, phone);
    a[0] = attr("first", e->first, strlen(e->first), HYPERDATATYPE_STRING);
    a[1] = attr("last", e->last, strlen(e->last), HYPERDATATYPE_STRING);
    a[2] = attr("phone", phone, 8, HYPERDATATYPE_INT64);
    id = hyperclient_put(client, space, e->username, strlen(e->username), a, 3, &status);
    return finish(client, "put", id, HYPERCLIENT_SUCCESS);
}

/* The entry whose username is the key of a search result, or NULL. */
static const struct entry* lookup_result(const struct hyperclient_attribute* a, size_t n)
{
    size_t i;
    if (n == 0 || strcmp(a[0].attr, "username") != 0 ||
        a[0].datatype != HYPERDATATYPE_STRING) {
        return NULL;
    }
    for (i = 0; i < PHONEBOOK_SZ; ++i) {
        if (a[0].value_sz == strlen(phonebook[i].username) &&
            memcmp(a[0].value, phonebook[i].username, a[0].value_sz) == 0) {
            return &phonebook[i];
        }
    }
    return NULL;
}

/* Prints one result and checks that it is a whole entry of the phonebook:
 * username (the key), first, last, phone, in schema order. */
static const struct entry* show_result(void)
{
    const struct entry* e = lookup_result(attrs, attrs_sz);
    if (e == NULL) {
        fprintf(stderr, "a result that is not in the phonebook\n");
        return NULL;
    }
    if (attrs_sz != 4 || strcmp(attrs[1].attr, "first") != 0 ||
        strcmp(attrs[2].attr, "last") != 0 || strcmp(attrs[3].attr, "phone") != 0 ||
        attrs[1].value_sz != strlen(e->first) ||
        memcmp(attrs[1].value, e->first, attrs[1].value_sz) != 0 ||
        attrs[2].value_sz != strlen(e->last) ||
        memcmp(attrs[2].value, e->last, attrs[2].value_sz) != 0 ||
        attrs[3].datatype != HYPERDATATYPE_INT64 ||
        decode_int64(attrs[3].value, attrs[3].value_sz) != e->phone) {
        fprintf(stderr, "the result for %s differs from what was put\n", e->username);
        return NULL;
    }
    printf("    %-8s %-6.*s %-6.*s %lld\n", e->username, (int)attrs[1].value_sz, attrs[1].value,
           (int)attrs[2].value_sz, attrs[2].value,
           (long long)decode_int64(attrs[3].value, attrs[3].value_sz));
    return e;
}

/* Loops until the search `id` is done, printing each object as it arrives.
 * The results must be exactly `want` (usernames): in this order when
 * `ordered`, else in any order. */
static int collect(struct hyperclient* client, const char* what, int64_t id,
                   const char* const* want, size_t want_sz, int ordered)
{
    int seen[MAX_RESULTS];
    size_t results = 0, i;
    int ok = 1;

    if (id < 0) {
        fprintf(stderr, "%s was not sent (%lld): %s\n", what, (long long)id,
                hyperclient_returncode_to_string(status));
        return -1;
    }
    printf("%s:\n", what);
    memset(seen, 0, sizeof(seen));
    for (;;) {
        enum hyperclient_returncode loop_status;
        const struct entry* e;
        int64_t done = hyperclient_loop(client, -1, &loop_status);

        if (done != id) {
            fprintf(stderr, "%s: hyperclient_loop returned %lld (%s), expected %lld\n", what,
                    (long long)done, hyperclient_returncode_to_string(loop_status),
                    (long long)id);
            return -1;
        }
        if (status == HYPERCLIENT_SEARCHDONE) {
            break; /* the last event of a search; attrs are untouched */
        }
        if (status != HYPERCLIENT_SUCCESS) {
            /* One server failed; the search goes on with the others. */
            fprintf(stderr, "%s: %s\n", what, hyperclient_returncode_to_string(status));
            ok = 0;
            continue;
        }
        e = show_result();
        for (i = 0; e != NULL && i < want_sz; ++i) {
            if (strcmp(want[i], e->username) == 0) {
                break;
            }
        }
        if (e == NULL || i == want_sz || seen[i] || (ordered && i != results)) {
            fprintf(stderr, "%s: unexpected result %s\n", what, e ? e->username : "?");
            ok = 0;
        } else {
            seen[i] = 1;
        }
        ++results;
        hyperclient_destroy_attrs(attrs, attrs_sz);
        attrs = NULL;
        attrs_sz = 0;
    }
    if (results != want_sz) {
        fprintf(stderr, "%s: %lu results, expected %lu\n", what, (unsigned long)results,
                (unsigned long)want_sz);
        ok = 0;
    }
    printf("    (%lu found)\n", (unsigned long)results);
    return ok ? 0 : -1;
}

static int count_matches(struct hyperclient* client, const char* what,
                         const struct hyperclient_attribute_check* checks, size_t checks_sz,
                         uint64_t want)
{
    int64_t id = hyperclient_count(client, space, checks, checks_sz, &status, &count);
    if (finish(client, what, id, HYPERCLIENT_SUCCESS) != 0) {
        return -1;
    }
    printf("%s: %llu\n", what, (unsigned long long)count);
    if (count != want) {
        fprintf(stderr, "%s: expected %llu\n", what, (unsigned long long)want);
        return -1;
    }
    return 0;
}

/* ---- the walk-through ----------------------------------------------------- */

static int run(struct hyperclient* client)
{
    static const char* const smiths[] = {"jsmith1", "bsmith", "asmith"};
    static const char* const in_607555[] = {"jsmith1", "jd", "mjones"};
    static const char* const smith_607555[] = {"jsmith1"};
    static const char* const top_smiths[] = {"bsmith", "jsmith1"};
    static const char* const survivors[] = {"jd", "mjones"};
    struct hyperclient_attribute_check c[3];
    char lo[8], hi[8];
    size_t i;
    int64_t id;

    for (i = 0; i < PHONEBOOK_SZ; ++i) {
        if (put_entry(client, &phonebook[i]) != 0) {
            return -1;
        }
    }
    printf("put %lu entries\n", (unsigned long)PHONEBOOK_SZ);

    /* 1. Equality: every object whose last name is Smith. */
    c[0] = string_check("last", "Smith");
    id = hyperclient_search(client, space, c, 1, &status, &attrs, &attrs_sz);
    if (collect(client, "search last == \"Smith\"", id, smiths, 3, 0) != 0) {
        return -1;
    }

    /* 2. A range is two checks on one attribute: 6075550000 <= phone <= 6075559999.
     * Only the regions of subspace (phone) that overlap it are asked. */
    c[0] = int_check("phone", 6075550000, HYPERPREDICATE_GREATER_EQUAL, lo);
    c[1] = int_check("phone", 6075559999, HYPERPREDICATE_LESS_EQUAL, hi);
    id = hyperclient_search(client, space, c, 2, &status, &attrs, &attrs_sz);
    if (collect(client, "search 6075550000 <= phone <= 6075559999", id, in_607555, 3, 0) != 0) {
        return -1;
    }
    c[2] = string_check("last", "Smith");
    id = hyperclient_search(client, space, c, 3, &status, &attrs, &attrs_sz);
    if (collect(client, "search the same range and last == \"Smith\"", id, smith_607555, 1, 0) !=
        0) {
        return -1;
    }

    /* 3. The two largest phone numbers among the Smiths, largest first. */
    c[0] = string_check("last", "Smith");
    id = hyperclient_sorted_search(client, space, c, 1, "phone", 2, 1, &status, &attrs,
                                   &attrs_sz);
    if (collect(client, "sorted_search last == \"Smith\" by phone, max, limit 2", id, top_smiths,
                2, 1) != 0) {
        return -1;
    }

    /* 4. count: one event. */
    c[0] = int_check("phone", 6075550000, HYPERPREDICATE_GREATER_EQUAL, lo);
    c[1] = int_check("phone", 6075559999, HYPERPREDICATE_LESS_EQUAL, hi);
    if (count_matches(client, "count 6075550000 <= phone <= 6075559999", c, 2, 3) != 0) {
        return -1;
    }

    /* 5. group_del: one event, once every Smith is deleted. */
    c[0] = string_check("last", "Smith");
    id = hyperclient_group_del(client, space, c, 1, &status);
    if (finish(client, "group_del last == \"Smith\"", id, HYPERCLIENT_SUCCESS) != 0) {
        return -1;
    }
    printf("group_del last == \"Smith\": done\n");
    if (count_matches(client, "count everything", NULL, 0, 2) != 0) {
        return -1;
    }
    id = hyperclient_search(client, space, NULL, 0, &status, &attrs, &attrs_sz);
    if (collect(client, "search everything", id, survivors, 2, 0) != 0) {
        return -1;
    }

    /* A check that does not suit its attribute is refused at once: search
     * operations return -1 - i for check i. */
    c[0] = string_check("last", "Doe");
    c[1] = string_check("phone", "6075557878");
    id = hyperclient_search(client, space, c, 2, &status, &attrs, &attrs_sz);
    if (id != -2 || status != HYPERCLIENT_WRONGTYPE) {
        fprintf(stderr, "search with a string check on phone: %lld (%s), expected -2 "
                "(HYPERCLIENT_WRONGTYPE)\n", (long long)id,
                hyperclient_returncode_to_string(status));
        return -1;
    }
    printf("search with a string check on phone: refused (%lld, %s)\n", (long long)id,
           hyperclient_returncode_to_string(status));
    return 0;
}

int main(int argc, char** argv)
{
    const char* host;
    uint16_t port;
    char description[256];
    struct hyperclient* client = NULL;
    enum hyperclient_returncode rc;
    int ok;

    if (parse_args(argc, argv, &host, &port) != 0) {
        return 2;
    }
    snprintf(space, sizeof(space), "search_%ld", (long)getpid());
    /* Subspace 0 is the key; the other two make name and phone searches cheap. */
    snprintf(description, sizeof(description),
             "space %s key username attributes first, last, int phone "
             "subspace first, last subspace phone create 8 partitions tolerate 1 failure",
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

    hyperclient_destroy_attrs(attrs, attrs_sz);
    rc = hyperclient_rm_space(client, space);
    if (rc != HYPERCLIENT_SUCCESS) {
        fprintf(stderr, "rm_space(%s) failed: %s\n", space, hyperclient_returncode_to_string(rc));
        ok = 0;
    }
    hyperclient_destroy(client);
    if (ok) {
        printf("all results as expected\n");
    }
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
