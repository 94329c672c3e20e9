/* hello.c: the smallest complete HyperDex client.
 *
 * Creates a space, puts one object, gets it back, prints it, and removes the
 * space again. Exits non-zero on any failure.
 *
 *   cc -std=c99 hello.c $(pkg-config --cflags --libs hyperclient) -o hello
 *   ./hello [coordinator-host [coordinator-port]]      (default 127.0.0.1 1982)
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hyperclient.h>

/* Parses argv[1] and argv[2]; returns 0 on success. */
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

/* Waits for the single outstanding operation `id` to finish. The operation's
 * own result is then in the status variable that was passed when it was
 * started; this only reports whether the loop itself worked. */
static int wait_for(struct hyperclient* client, int64_t id)
{
    enum hyperclient_returncode loop_status;
    int64_t done = hyperclient_loop(client, -1, &loop_status);

    if (done < 0) {
        fprintf(stderr, "hyperclient_loop failed: %s\n",
                hyperclient_returncode_to_string(loop_status));
        return -1;
    }
    if (done != id) {
        fprintf(stderr, "hyperclient_loop returned id %lld, expected %lld\n",
                (long long)done, (long long)id);
        return -1;
    }
    return 0;
}

int main(int argc, char** argv)
{
    const char* host;
    uint16_t port;
    char space[64];
    char description[128];
    const char* key = "greeting";
    const char* message = "Hello, world!";
    struct hyperclient* client = NULL;
    struct hyperclient_attribute value;
    struct hyperclient_attribute* attrs = NULL;
    size_t attrs_sz = 0;
    enum hyperclient_returncode rc;
    enum hyperclient_returncode status;
    int64_t id;
    int space_added = 0;
    int ok = 0;

    if (parse_args(argc, argv, &host, &port) != 0) {
        return 2;
    }
    /* A space of our own: string key k, one string attribute v. */
    snprintf(space, sizeof(space), "hello_%ld", (long)getpid());
    snprintf(description, sizeof(description), "space %s key k attributes v", space);

    client = hyperclient_create(host, port);
    if (client == NULL) {
        perror("hyperclient_create");
        return 1;
    }

    rc = hyperclient_add_space(client, description);
    if (rc != HYPERCLIENT_SUCCESS) {
        fprintf(stderr, "add_space(%s) failed: %s\n", space, hyperclient_returncode_to_string(rc));
        goto out;
    }
    space_added = 1;

    /* put: the client copies the key and the attributes during the call. */
    value.attr = "v";
    value.value = message;
    value.value_sz = strlen(message);
    value.datatype = HYPERDATATYPE_STRING;
    id = hyperclient_put(client, space, key, strlen(key), &value, 1, &status);
    if (id < 0) {
        fprintf(stderr, "put was not sent: %s\n", hyperclient_returncode_to_string(status));
        goto out;
    }
    if (wait_for(client, id) != 0) {
        goto out;
    }
    if (status != HYPERCLIENT_SUCCESS) {
        fprintf(stderr, "put failed: %s\n", hyperclient_returncode_to_string(status));
        goto out;
    }

    /* get: status, attrs and attrs_sz are written when the loop returns id. */
    id = hyperclient_get(client, space, key, strlen(key), &status, &attrs, &attrs_sz);
    if (id < 0) {
        fprintf(stderr, "get was not sent: %s\n", hyperclient_returncode_to_string(status));
        goto out;
    }
    if (wait_for(client, id) != 0) {
        goto out;
    }
    if (status != HYPERCLIENT_SUCCESS) {
        fprintf(stderr, "get failed: %s\n", hyperclient_returncode_to_string(status));
        goto out;
    }
    /* One entry per non-key attribute, in schema order. */
    if (attrs_sz != 1 || strcmp(attrs[0].attr, "v") != 0 ||
        attrs[0].datatype != HYPERDATATYPE_STRING ||
        attrs[0].value_sz != strlen(message) ||
        memcmp(attrs[0].value, message, attrs[0].value_sz) != 0) {
        fprintf(stderr, "get returned something other than what was put\n");
        goto out;
    }
    printf("%s[%s].%s = \"%.*s\"\n", space, key, attrs[0].attr,
           (int)attrs[0].value_sz, attrs[0].value);
    ok = 1;

out:
    hyperclient_destroy_attrs(attrs, attrs_sz);
    if (space_added) {
        rc = hyperclient_rm_space(client, space);
        if (rc != HYPERCLIENT_SUCCESS) {
            fprintf(stderr, "rm_space(%s) failed: %s\n",
                    space, hyperclient_returncode_to_string(rc));
            ok = 0;
        }
    }
    hyperclient_destroy(client);
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
