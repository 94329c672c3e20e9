/* friends.c: the tutorial's concurrent friend-list updates in C.
 *
 * Stores four users, then makes friendships in both directions with
 * hyperclient_set_add, all requests in flight at once and collected with
 * hyperclient_loop in whatever order they finish. Then it reads John Smith's
 * friends back, checks the set, and fetches every friend's first name in
 * parallel, as the tutorial does.
 *
 *   ./friends [coordinator-host [coordinator-port]]    (default 127.0.0.1 1982)
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hyperclient.h>

#define MAX_OPS 16

struct user {
    const char* username;
    const char* first;
    const char* last;
};

static const struct user users[] = {
    {"jsmith1", "John", "Smith"},
    {"jd", "John", "Doe"},
    {"bjones1", "Brian", "Jones"},
    {"jj", "John", "Jackson"},
};
#define USERS (sizeof(users) / sizeof(users[0]))

/* Friendships to make, each one in both directions. */
static const char* const friendships[][2] = {
    {"jj", "jsmith1"},
    {"jsmith1", "bjones1"},
    {"jsmith1", "jd"},
};
#define FRIENDSHIPS (sizeof(friendships) / sizeof(friendships[0]))

/* A batch of operations in flight. The status and output slots must stay
 * valid until the loop returns the operation's id. */
struct batch {
    size_t n;
    int64_t ids[MAX_OPS];
    enum hyperclient_returncode statuses[MAX_OPS];
    struct hyperclient_attribute* attrs[MAX_OPS];
    size_t attrs_sz[MAX_OPS];
    unsigned char finished[MAX_OPS];
};

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

static struct hyperclient_attribute string_attr(const char* name, const char* value)
{
    struct hyperclient_attribute a;
    a.attr = name;
    a.value = value;
    a.value_sz = strlen(value);
    a.datatype = HYPERDATATYPE_STRING;
    return a;
}

/* Records a started operation; fails if it was not sent. */
static int started(struct batch* b, int64_t id, const char* what)
{
    if (id < 0) {
        fprintf(stderr, "%s was not sent: %s\n",
                what, hyperclient_returncode_to_string(b->statuses[b->n]));
        return -1;
    }
    b->ids[b->n++] = id;
    return 0;
}

/* Waits until every operation of the batch has finished, in any order, and
 * checks that each one succeeded. */
static int wait_all(struct hyperclient* client, struct batch* b)
{
    size_t left = b->n;
    size_t i;

    while (left > 0) {
        enum hyperclient_returncode loop_status;
        int64_t id = hyperclient_loop(client, -1, &loop_status);
        if (id < 0) {
            fprintf(stderr, "hyperclient_loop failed: %s\n",
                    hyperclient_returncode_to_string(loop_status));
            return -1;
        }
        for (i = 0; i < b->n && b->ids[i] != id; ++i) {
        }
        if (i == b->n || b->finished[i]) {
            fprintf(stderr, "hyperclient_loop returned an unexpected id %lld\n", (long long)id);
            return -1;
        }
        b->finished[i] = 1;
        --left;
        if (b->statuses[i] != HYPERCLIENT_SUCCESS) {
            fprintf(stderr, "operation %lld failed: %s\n", (long long)id,
                    hyperclient_returncode_to_string(b->statuses[i]));
            return -1;
        }
    }
    return 0;
}

static void free_batch(struct batch* b)
{
    size_t i;
    for (i = 0; i < b->n; ++i) {
        hyperclient_destroy_attrs(b->attrs[i], b->attrs_sz[i]);
    }
    memset(b, 0, sizeof(*b));
}

/* Finds an attribute of a get result by name. */
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

/* A set(string) is encoded as its elements in sorted order, each one a u32
 * little-endian length followed by the bytes. Appends one element. */
static size_t append_element(char* buf, size_t at, const char* s)
{
    size_t len = strlen(s);
    buf[at + 0] = (char)(len & 0xff);
    buf[at + 1] = (char)((len >> 8) & 0xff);
    buf[at + 2] = (char)((len >> 16) & 0xff);
    buf[at + 3] = (char)((len >> 24) & 0xff);
    memcpy(buf + at + 4, s, len);
    return at + 4 + len;
}

/* Prints a set(string) value; fails if it does not parse. */
static int print_set(const char* value, size_t value_sz)
{
    size_t at = 0;
    const char* sep = "";

    printf("{");
    while (at < value_sz) {
        uint32_t len;
        if (value_sz - at < 4) {
            return -1;
        }
        len = (uint32_t)(unsigned char)value[at] | (uint32_t)(unsigned char)value[at + 1] << 8 |
              (uint32_t)(unsigned char)value[at + 2] << 16 |
              (uint32_t)(unsigned char)value[at + 3] << 24;
        at += 4;
        if (value_sz - at < len) {
            return -1;
        }
        printf("%s'%.*s'", sep, (int)len, value + at);
        sep = ", ";
        at += len;
    }
    printf("}\n");
    return 0;
}

static int run(struct hyperclient* client)
{
    /* static: on an error path operations may still be in flight when run()
     * returns, and the library may still write their slots. */
    static struct batch b;
    struct hyperclient_attribute attrs[2];
    const struct hyperclient_attribute* friends;
    char expected[64];
    size_t expected_sz = 0;
    const char* names[3];
    size_t i;
    int ok = 0;

    memset(&b, 0, sizeof(b));

    /* 1. The users, stored concurrently. */
    for (i = 0; i < USERS; ++i) {
        attrs[0] = string_attr("first", users[i].first);
        attrs[1] = string_attr("last", users[i].last);
        if (started(&b, hyperclient_put(client, space, users[i].username,
                                        strlen(users[i].username), attrs, 2,
                                        &b.statuses[b.n]),
                    "put") != 0) {
            goto out;
        }
    }
    if (wait_all(client, &b) != 0) {
        goto out;
    }
    free_batch(&b);

    /* 2. Every friendship in both directions, all in flight at once. The
     * argument of set_add is one element, typed as the set's element type. */
    for (i = 0; i < FRIENDSHIPS; ++i) {
        int dir;
        for (dir = 0; dir < 2; ++dir) {
            const char* who = friendships[i][dir];
            attrs[0] = string_attr("friends", friendships[i][1 - dir]);
            if (started(&b, hyperclient_set_add(client, space, who, strlen(who), attrs, 1,
                                                &b.statuses[b.n]),
                        "set_add") != 0) {
                goto out;
            }
        }
    }
    if (wait_all(client, &b) != 0) {
        goto out;
    }
    free_batch(&b);

    /* 3. John Smith's friends: exactly bjones1, jd and jj (sorted bytewise). */
    if (started(&b, hyperclient_get(client, space, "jsmith1", 7, &b.statuses[0], &b.attrs[0],
                                    &b.attrs_sz[0]),
                "get") != 0 ||
        wait_all(client, &b) != 0) {
        goto out;
    }
    friends = find_attr(b.attrs[0], b.attrs_sz[0], "friends");
    expected_sz = append_element(expected, expected_sz, "bjones1");
    expected_sz = append_element(expected, expected_sz, "jd");
    expected_sz = append_element(expected, expected_sz, "jj");
    if (friends == NULL || friends->datatype != HYPERDATATYPE_SET_STRING) {
        fprintf(stderr, "jsmith1 has no set(string) attribute 'friends'\n");
        goto out;
    }
    printf("jsmith1's friends: ");
    if (print_set(friends->value, friends->value_sz) != 0 || friends->value_sz != expected_sz ||
        memcmp(friends->value, expected, expected_sz) != 0) {
        fprintf(stderr, "jsmith1's friends are not {'bjones1', 'jd', 'jj'}\n");
        goto out;
    }
    free_batch(&b);

    /* 4. The friends' first names, fetched in parallel. */
    names[0] = "bjones1";
    names[1] = "jd";
    names[2] = "jj";
    for (i = 0; i < 3; ++i) {
        if (started(&b, hyperclient_get(client, space, names[i], strlen(names[i]),
                                        &b.statuses[b.n], &b.attrs[b.n], &b.attrs_sz[b.n]),
                    "get") != 0) {
            goto out;
        }
    }
    if (wait_all(client, &b) != 0) {
        goto out;
    }
    for (i = 0; i < 3; ++i) {
        const struct hyperclient_attribute* first = find_attr(b.attrs[i], b.attrs_sz[i], "first");
        const char* want = i == 0 ? "Brian" : "John";
        if (first == NULL || first->value_sz != strlen(want) ||
            memcmp(first->value, want, first->value_sz) != 0) {
            fprintf(stderr, "%s's first name is not %s\n", names[i], want);
            goto out;
        }
        printf("%s's first name: %s\n", names[i], want);
    }
    ok = 1;

out:
    free_batch(&b);
    return ok ? 0 : -1;
}

int main(int argc, char** argv)
{
    const char* host;
    uint16_t port;
    char description[192];
    struct hyperclient* client;
    enum hyperclient_returncode rc;
    int ok;

    if (parse_args(argc, argv, &host, &port) != 0) {
        return 2;
    }
    snprintf(space, sizeof(space), "friends_%ld", (long)getpid());
    snprintf(description, sizeof(description),
             "space %s key username attributes string first, string last, set(string) friends",
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
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
