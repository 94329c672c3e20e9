/* runner.c: runs the conformance vectors (tests/conformance/NN-name.jsonl) through
 * the C ABI of libhyperclient and compares every answer with the vector.
 *
 *   cc -std=c99 -Wall -Wextra -Werror -pedantic runner.c -o conformance-runner \
 *       $(pkg-config --cflags --libs hyperclient)
 *   ./conformance-runner HOST PORT FILE.jsonl...
 *
 * The format of the files is described in tests/conformance/README.md. Every
 * mismatch is printed as "FILE:LINE: ..."; the exit status is 0 when every
 * step matched, 1 when some step did not, 2 for usage errors or broken files.
 * Steps marked "only": "python" are skipped here. Search-type steps (search,
 * sorted_search, count, group_del, search_describe) collect every event of
 * their request, until SEARCHDONE for the searches.
 *
 * It contains a minimal JSON parser (only what the vector schema needs) and a
 * value encoder that behaves like a binding: sets are sorted and duplicates
 * dropped, maps are sorted by key.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hyperclient.h>

#define LOOP_TIMEOUT_MS 15000

/* ------------------------------------------------------------------------ */
/* small helpers */

static void* xmalloc(size_t n)
{
    void* p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "conformance-runner: out of memory\n");
        exit(2);
    }
    return p;
}

static void* xrealloc(void* p, size_t n)
{
    void* q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "conformance-runner: out of memory\n");
        exit(2);
    }
    return q;
}

/* A growable byte buffer. */
struct buf {
    char* p;
    size_t n;
    size_t cap;
};

static void buf_add(struct buf* b, const void* data, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) {
            cap *= 2;
        }
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    if (n) {
        memcpy(b->p + b->n, data, n);
    }
    b->n += n;
    b->p[b->n] = '\0';
}

static void buf_printf(struct buf* b, const char* fmt, ...)
{
    char tmp[512];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    buf_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void buf_free(struct buf* b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

static void put_u32le(struct buf* b, uint32_t v)
{
    unsigned char c[4];
    int i;
    for (i = 0; i < 4; ++i) {
        c[i] = (unsigned char)((v >> (8 * i)) & 0xff);
    }
    buf_add(b, c, 4);
}

static void put_u64le(struct buf* b, uint64_t v)
{
    unsigned char c[8];
    int i;
    for (i = 0; i < 8; ++i) {
        c[i] = (unsigned char)((v >> (8 * i)) & 0xff);
    }
    buf_add(b, c, 8);
}

static uint64_t get_u64le(const char* p)
{
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; --i) {
        v = (v << 8) | (unsigned char)p[i];
    }
    return v;
}

static uint32_t get_u32le(const char* p)
{
    uint32_t v = 0;
    int i;
    for (i = 3; i >= 0; --i) {
        v = (v << 8) | (unsigned char)p[i];
    }
    return v;
}

static uint64_t double_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double bits_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static int64_t u64_to_i64(uint64_t u)
{
    int64_t i;
    memcpy(&i, &u, sizeof(i));
    return i;
}

static uint64_t i64_to_u64(int64_t i)
{
    uint64_t u;
    memcpy(&u, &i, sizeof(u));
    return u;
}

/* ------------------------------------------------------------------------ */
/* a minimal JSON parser */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jval {
    enum jtype t;
    int b;              /* J_BOOL */
    char* s;            /* J_STR: the bytes (NUL-terminated); J_NUM: the text */
    size_t n;           /* length of s */
    struct jval* kids;  /* J_ARR items, J_OBJ members (in order, duplicates kept) */
    size_t nkids;
    char* key;          /* member name when this is a member of an object */
    size_t keylen;
};

struct jparser {
    const char* p;
    const char* start;
    char err[160];
};

static void jfree_kids(struct jval* v);

static void jfree(struct jval* v)
{
    if (!v) {
        return;
    }
    free(v->s);
    free(v->key);
    jfree_kids(v);
    v->s = v->key = NULL;
}

static void jfree_kids(struct jval* v)
{
    size_t i;
    for (i = 0; i < v->nkids; ++i) {
        jfree(&v->kids[i]);
    }
    free(v->kids);
    v->kids = NULL;
    v->nkids = 0;
}

static int jerr(struct jparser* jp, const char* msg)
{
    if (!jp->err[0]) {
        snprintf(jp->err, sizeof(jp->err), "JSON error at column %ld: %s",
                 (long)(jp->p - jp->start) + 1, msg);
    }
    return -1;
}

static void jws(struct jparser* jp)
{
    while (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' || *jp->p == '\r') {
        ++jp->p;
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void utf8_add(struct buf* b, unsigned long cp)
{
    unsigned char c[4];
    size_t n;
    if (cp < 0x80) {
        c[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        c[0] = (unsigned char)(0xc0 | (cp >> 6));
        c[1] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        c[0] = (unsigned char)(0xe0 | (cp >> 12));
        c[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        c[2] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        c[0] = (unsigned char)(0xf0 | (cp >> 18));
        c[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        c[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        c[3] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    buf_add(b, c, n);
}

static int jparse_hex4(struct jparser* jp, unsigned long* out)
{
    int i, h;
    *out = 0;
    for (i = 0; i < 4; ++i) {
        h = hexval(jp->p[i]);
        if (h < 0) {
            return jerr(jp, "bad \\u escape");
        }
        *out = (*out << 4) | (unsigned long)h;
    }
    jp->p += 4;
    return 0;
}

static int jparse_string(struct jparser* jp, char** out, size_t* outlen)
{
    struct buf b = {NULL, 0, 0};
    ++jp->p; /* the opening quote */
    buf_add(&b, "", 0);
    for (;;) {
        char c = *jp->p;
        if (c == '\0') {
            buf_free(&b);
            return jerr(jp, "unterminated string");
        }
        if ((unsigned char)c < 0x20) {
            buf_free(&b);
            return jerr(jp, "control character in string");
        }
        if (c == '"') {
            ++jp->p;
            break;
        }
        if (c != '\\') {
            buf_add(&b, &c, 1);
            ++jp->p;
            continue;
        }
        ++jp->p;
        c = *jp->p++;
        switch (c) {
            case '"': buf_add(&b, "\"", 1); break;
            case '\\': buf_add(&b, "\\", 1); break;
            case '/': buf_add(&b, "/", 1); break;
            case 'b': buf_add(&b, "\b", 1); break;
            case 'f': buf_add(&b, "\f", 1); break;
            case 'n': buf_add(&b, "\n", 1); break;
            case 'r': buf_add(&b, "\r", 1); break;
            case 't': buf_add(&b, "\t", 1); break;
            case 'u': {
                unsigned long cp, lo;
                if (jparse_hex4(jp, &cp) != 0) {
                    buf_free(&b);
                    return -1;
                }
                if (cp >= 0xd800 && cp < 0xdc00) {
                    if (jp->p[0] != '\\' || jp->p[1] != 'u') {
                        buf_free(&b);
                        return jerr(jp, "lone surrogate");
                    }
                    jp->p += 2;
                    if (jparse_hex4(jp, &lo) != 0 || lo < 0xdc00 || lo >= 0xe000) {
                        buf_free(&b);
                        return jerr(jp, "bad surrogate pair");
                    }
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                } else if (cp >= 0xdc00 && cp < 0xe000) {
                    buf_free(&b);
                    return jerr(jp, "lone surrogate");
                }
                utf8_add(&b, cp);
                break;
            }
            default:
                buf_free(&b);
                return jerr(jp, "bad escape");
        }
    }
    *out = b.p;
    *outlen = b.n;
    return 0;
}

static int jparse_value(struct jparser* jp, struct jval* v, int depth);

static int jparse_compound(struct jparser* jp, struct jval* v, int depth, int is_obj)
{
    size_t cap = 0;
    char close = is_obj ? '}' : ']';
    v->t = is_obj ? J_OBJ : J_ARR;
    ++jp->p;
    jws(jp);
    if (*jp->p == close) {
        ++jp->p;
        return 0;
    }
    for (;;) {
        struct jval item;
        memset(&item, 0, sizeof(item));
        jws(jp);
        if (is_obj) {
            if (*jp->p != '"') {
                return jerr(jp, "expected a member name");
            }
            if (jparse_string(jp, &item.key, &item.keylen) != 0) {
                return -1;
            }
            jws(jp);
            if (*jp->p != ':') {
                free(item.key);
                return jerr(jp, "expected ':'");
            }
            ++jp->p;
        }
        if (jparse_value(jp, &item, depth + 1) != 0) {
            jfree(&item);
            return -1;
        }
        if (v->nkids == cap) {
            cap = cap ? 2 * cap : 4;
            v->kids = xrealloc(v->kids, cap * sizeof(*v->kids));
        }
        v->kids[v->nkids++] = item;
        jws(jp);
        if (*jp->p == ',') {
            ++jp->p;
            continue;
        }
        if (*jp->p == close) {
            ++jp->p;
            return 0;
        }
        return jerr(jp, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int jparse_value(struct jparser* jp, struct jval* v, int depth)
{
    if (depth > 32) {
        return jerr(jp, "nested too deeply");
    }
    jws(jp);
    switch (*jp->p) {
        case '{':
            return jparse_compound(jp, v, depth, 1);
        case '[':
            return jparse_compound(jp, v, depth, 0);
        case '"':
            v->t = J_STR;
            return jparse_string(jp, &v->s, &v->n);
        case 't':
            if (strncmp(jp->p, "true", 4) == 0) {
                jp->p += 4;
                v->t = J_BOOL;
                v->b = 1;
                return 0;
            }
            return jerr(jp, "unexpected character");
        case 'f':
            if (strncmp(jp->p, "false", 5) == 0) {
                jp->p += 5;
                v->t = J_BOOL;
                v->b = 0;
                return 0;
            }
            return jerr(jp, "unexpected character");
        case 'n':
            if (strncmp(jp->p, "null", 4) == 0) {
                jp->p += 4;
                v->t = J_NULL;
                return 0;
            }
            return jerr(jp, "unexpected character");
        default: {
            const char* s = jp->p;
            if (*jp->p == '-') {
                ++jp->p;
            }
            if (*jp->p < '0' || *jp->p > '9') {
                return jerr(jp, "unexpected character");
            }
            while ((*jp->p >= '0' && *jp->p <= '9') || *jp->p == '.' || *jp->p == 'e' ||
                   *jp->p == 'E' || *jp->p == '+' || *jp->p == '-') {
                ++jp->p;
            }
            v->t = J_NUM;
            v->n = (size_t)(jp->p - s);
            v->s = xmalloc(v->n + 1);
            memcpy(v->s, s, v->n);
            v->s[v->n] = '\0';
            return 0;
        }
    }
}

static int jparse(const char* text, struct jval* v, char* err, size_t errsz)
{
    struct jparser jp;
    jp.p = jp.start = text;
    jp.err[0] = '\0';
    memset(v, 0, sizeof(*v));
    if (jparse_value(&jp, v, 0) != 0) {
        snprintf(err, errsz, "%s", jp.err);
        jfree(v);
        return -1;
    }
    jws(&jp);
    if (*jp.p != '\0') {
        jerr(&jp, "trailing characters");
        snprintf(err, errsz, "%s", jp.err);
        jfree(v);
        return -1;
    }
    return 0;
}

static const struct jval* jget(const struct jval* obj, const char* key)
{
    size_t i;
    if (!obj || obj->t != J_OBJ) {
        return NULL;
    }
    for (i = 0; i < obj->nkids; ++i) {
        if (strcmp(obj->kids[i].key, key) == 0) {
            return &obj->kids[i];
        }
    }
    return NULL;
}

/* JSON number → int64 (must be an integer literal that fits). */
static int jint(const struct jval* v, int64_t* out)
{
    char* end = NULL;
    long long x;
    if (!v || v->t != J_NUM || strpbrk(v->s, ".eE")) {
        return -1;
    }
    errno = 0;
    x = strtoll(v->s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = (int64_t)x;
    return 0;
}

/* JSON number, or "inf" / "-inf" / "nan" → double. */
static int jdouble(const struct jval* v, double* out)
{
    char* end = NULL;
    if (!v) {
        return -1;
    }
    if (v->t == J_STR) {
        if (strcmp(v->s, "inf") == 0) {
            *out = HUGE_VAL;
        } else if (strcmp(v->s, "-inf") == 0) {
            *out = -HUGE_VAL;
        } else if (strcmp(v->s, "nan") == 0) {
            *out = NAN;
        } else {
            return -1;
        }
        return 0;
    }
    if (v->t != J_NUM) {
        return -1;
    }
    errno = 0;
    *out = strtod(v->s, &end);
    if (*end != '\0') {
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* names */

struct named {
    const char* name;
    int value;
};

static const struct named RETURNCODES[] = {
    {"SUCCESS", HYPERCLIENT_SUCCESS}, {"NOTFOUND", HYPERCLIENT_NOTFOUND},
    {"SEARCHDONE", HYPERCLIENT_SEARCHDONE}, {"CMPFAIL", HYPERCLIENT_CMPFAIL},
    {"READONLY", HYPERCLIENT_READONLY}, {"UNKNOWNSPACE", HYPERCLIENT_UNKNOWNSPACE},
    {"COORDFAIL", HYPERCLIENT_COORDFAIL}, {"SERVERERROR", HYPERCLIENT_SERVERERROR},
    {"POLLFAILED", HYPERCLIENT_POLLFAILED}, {"OVERFLOW", HYPERCLIENT_OVERFLOW},
    {"RECONFIGURE", HYPERCLIENT_RECONFIGURE}, {"TIMEOUT", HYPERCLIENT_TIMEOUT},
    {"UNKNOWNATTR", HYPERCLIENT_UNKNOWNATTR}, {"DUPEATTR", HYPERCLIENT_DUPEATTR},
    {"NONEPENDING", HYPERCLIENT_NONEPENDING}, {"DONTUSEKEY", HYPERCLIENT_DONTUSEKEY},
    {"WRONGTYPE", HYPERCLIENT_WRONGTYPE}, {"NOMEM", HYPERCLIENT_NOMEM},
    {"BADCONFIG", HYPERCLIENT_BADCONFIG}, {"BADSPACE", HYPERCLIENT_BADSPACE},
    {"DUPLICATE", HYPERCLIENT_DUPLICATE}, {"INTERRUPTED", HYPERCLIENT_INTERRUPTED},
    {"CLUSTER_JUMP", HYPERCLIENT_CLUSTER_JUMP}, {"COORD_LOGGED", HYPERCLIENT_COORD_LOGGED},
    {"OFFLINE", HYPERCLIENT_OFFLINE}, {"INTERNAL", HYPERCLIENT_INTERNAL},
    {"EXCEPTION", HYPERCLIENT_EXCEPTION}, {"GARBAGE", HYPERCLIENT_GARBAGE},
    {NULL, 0}};

static const struct named PREDICATES[] = {
    {"FAIL", HYPERPREDICATE_FAIL}, {"EQUALS", HYPERPREDICATE_EQUALS},
    {"LESS_EQUAL", HYPERPREDICATE_LESS_EQUAL}, {"GREATER_EQUAL", HYPERPREDICATE_GREATER_EQUAL},
    {"CONTAINS_LESS_THAN", HYPERPREDICATE_CONTAINS_LESS_THAN}, {"REGEX", HYPERPREDICATE_REGEX},
    {"LENGTH_EQUALS", HYPERPREDICATE_LENGTH_EQUALS},
    {"LENGTH_LESS_EQUAL", HYPERPREDICATE_LENGTH_LESS_EQUAL},
    {"LENGTH_GREATER_EQUAL", HYPERPREDICATE_LENGTH_GREATER_EQUAL},
    {"CONTAINS", HYPERPREDICATE_CONTAINS}, {NULL, 0}};

/* Value tags of the schema and their datatypes (the map_K_V ones are computed). */
static const struct named TYPES[] = {
    {"generic", HYPERDATATYPE_GENERIC}, {"string", HYPERDATATYPE_STRING},
    {"int", HYPERDATATYPE_INT64}, {"float", HYPERDATATYPE_FLOAT},
    {"list", HYPERDATATYPE_LIST_GENERIC}, {"list_string", HYPERDATATYPE_LIST_STRING},
    {"list_int", HYPERDATATYPE_LIST_INT64}, {"list_float", HYPERDATATYPE_LIST_FLOAT},
    {"set", HYPERDATATYPE_SET_GENERIC}, {"set_string", HYPERDATATYPE_SET_STRING},
    {"set_int", HYPERDATATYPE_SET_INT64}, {"set_float", HYPERDATATYPE_SET_FLOAT},
    {"map", HYPERDATATYPE_MAP_GENERIC},
    {"map_string_string", HYPERDATATYPE_MAP_STRING_STRING},
    {"map_string_int", HYPERDATATYPE_MAP_STRING_INT64},
    {"map_string_float", HYPERDATATYPE_MAP_STRING_FLOAT},
    {"map_int_string", HYPERDATATYPE_MAP_INT64_STRING},
    {"map_int_int", HYPERDATATYPE_MAP_INT64_INT64},
    {"map_int_float", HYPERDATATYPE_MAP_INT64_FLOAT},
    {"map_float_string", HYPERDATATYPE_MAP_FLOAT_STRING},
    {"map_float_int", HYPERDATATYPE_MAP_FLOAT_INT64},
    {"map_float_float", HYPERDATATYPE_MAP_FLOAT_FLOAT},
    {NULL, 0}};

static int lookup(const struct named* table, const char* name, const char* prefix, int* out)
{
    size_t plen = strlen(prefix);
    size_t i;
    if (plen && strncmp(name, prefix, plen) == 0) {
        name += plen;
    }
    for (i = 0; table[i].name; ++i) {
        if (strcmp(table[i].name, name) == 0) {
            *out = table[i].value;
            return 0;
        }
    }
    return -1;
}

static const char* rc_name(int rc)
{
    static char other[32];
    size_t i;
    for (i = 0; RETURNCODES[i].name; ++i) {
        if (RETURNCODES[i].value == rc) {
            return RETURNCODES[i].name;
        }
    }
    snprintf(other, sizeof(other), "code %d", rc);
    return other;
}

static const char* type_name(int dt)
{
    static char other[32];
    size_t i;
    for (i = 0; TYPES[i].name; ++i) {
        if (TYPES[i].value == dt) {
            return TYPES[i].name;
        }
    }
    snprintf(other, sizeof(other), "datatype %d", dt);
    return other;
}

/* ------------------------------------------------------------------------ */
/* typed values */

enum prim { P_STRING = 1, P_INT = 2, P_FLOAT = 3 };

/* Element of a container being encoded (for sorting). */
struct elem {
    enum prim t;
    const char* s; /* string bytes */
    size_t n;
    int64_t i;
    double d;
    const struct jval* val; /* map value (unencoded) */
};

static int elem_cmp(const struct elem* a, const struct elem* b)
{
    if (a->t == P_STRING) {
        size_t m = a->n < b->n ? a->n : b->n;
        int c = m ? memcmp(a->s, b->s, m) : 0;
        if (c != 0) return c < 0 ? -1 : 1;
        return a->n < b->n ? -1 : (a->n > b->n ? 1 : 0);
    }
    if (a->t == P_INT) {
        return a->i < b->i ? -1 : (a->i > b->i ? 1 : 0);
    }
    return a->d < b->d ? -1 : (a->d > b->d ? 1 : 0);
}

static int elem_qsort_cmp(const void* a, const void* b)
{
    return elem_cmp((const struct elem*)a, (const struct elem*)b);
}

static int parse_elem(const struct jval* v, enum prim t, struct elem* e)
{
    memset(e, 0, sizeof(*e));
    e->t = t;
    if (t == P_STRING) {
        if (v->t != J_STR) return -1;
        e->s = v->s;
        e->n = v->n;
        return 0;
    }
    if (t == P_INT) {
        return jint(v, &e->i);
    }
    return jdouble(v, &e->d);
}

static void encode_elem(struct buf* b, const struct elem* e)
{
    if (e->t == P_STRING) {
        put_u32le(b, (uint32_t)e->n);
        buf_add(b, e->s, e->n);
    } else if (e->t == P_INT) {
        put_u64le(b, i64_to_u64(e->i));
    } else {
        put_u64le(b, double_bits(e->d));
    }
}

static int prim_of(const char* s, size_t n, enum prim* out)
{
    if (n == 6 && strncmp(s, "string", 6) == 0) {
        *out = P_STRING;
    } else if (n == 3 && strncmp(s, "int", 3) == 0) {
        *out = P_INT;
    } else if (n == 5 && strncmp(s, "float", 5) == 0) {
        *out = P_FLOAT;
    } else {
        return -1;
    }
    return 0;
}

static enum hyperdatatype prim_type(enum prim p)
{
    return p == P_STRING ? HYPERDATATYPE_STRING
                         : (p == P_INT ? HYPERDATATYPE_INT64 : HYPERDATATYPE_FLOAT);
}

/* An encoded value. */
struct tval {
    enum hyperdatatype dt;
    struct buf b;
    int is_nan; /* a top-level float NaN: compared as "any NaN" */
};

static int hex_decode(const char* s, struct buf* out)
{
    int hi, lo;
    buf_add(out, "", 0);
    while (*s) {
        if (*s == ' ') {
            ++s;
            continue;
        }
        hi = hexval(s[0]);
        lo = s[1] ? hexval(s[1]) : -1;
        if (hi < 0 || lo < 0) {
            return -1;
        }
        {
            char c = (char)(hi * 16 + lo);
            buf_add(out, &c, 1);
        }
        s += 2;
    }
    return 0;
}

/* Encodes a typed JSON value ({"int": 5}, ...). Returns 0, or -1 with err set (and
 * out->b freed). */
static int encode_value_(const struct jval* v, struct tval* out, char* err, size_t errsz);

static int encode_value(const struct jval* v, struct tval* out, char* err, size_t errsz)
{
    int rc = encode_value_(v, out, err, errsz);
    if (rc != 0) {
        buf_free(&out->b);
    }
    return rc;
}

static int encode_value_(const struct jval* v, struct tval* out, char* err, size_t errsz)
{
    const char* tag;
    const struct jval* x;
    memset(out, 0, sizeof(*out));
    buf_add(&out->b, "", 0);
    if (!v || v->t != J_OBJ || v->nkids != 1) {
        snprintf(err, errsz, "a value must be an object with one type tag");
        return -1;
    }
    tag = v->kids[0].key;
    x = &v->kids[0];
    if (strcmp(tag, "string") == 0) {
        if (x->t != J_STR) goto bad;
        out->dt = HYPERDATATYPE_STRING;
        buf_add(&out->b, x->s, x->n);
        return 0;
    }
    if (strcmp(tag, "bytes_hex") == 0) {
        if (x->t != J_STR || hex_decode(x->s, &out->b) != 0) goto bad;
        out->dt = HYPERDATATYPE_STRING;
        return 0;
    }
    if (strcmp(tag, "int") == 0) {
        int64_t i;
        if (jint(x, &i) != 0) goto bad;
        out->dt = HYPERDATATYPE_INT64;
        put_u64le(&out->b, i64_to_u64(i));
        return 0;
    }
    if (strcmp(tag, "float") == 0) {
        double d;
        if (jdouble(x, &d) != 0) goto bad;
        out->dt = HYPERDATATYPE_FLOAT;
        out->is_nan = d != d;
        put_u64le(&out->b, double_bits(d));
        return 0;
    }
    if (strcmp(tag, "empty") == 0) {
        int dt;
        if (x->t != J_STR || lookup(TYPES, x->s, "", &dt) != 0) goto bad;
        out->dt = (enum hyperdatatype)dt;
        return 0;
    }
    if (strcmp(tag, "raw") == 0) {
        const struct jval* t = jget(x, "type");
        const struct jval* h = jget(x, "hex");
        int dt;
        if (!t || !h || t->t != J_STR || h->t != J_STR || x->nkids != 2 ||
            lookup(TYPES, t->s, "", &dt) != 0 || hex_decode(h->s, &out->b) != 0) {
            goto bad;
        }
        out->dt = (enum hyperdatatype)dt;
        return 0;
    }
    if (strcmp(tag, "list") == 0 || strcmp(tag, "set") == 0 || strcmp(tag, "map") == 0) {
        if (x->t != J_ARR || x->nkids != 0) {
            snprintf(err, errsz, "\"%s\" (generic) only takes []", tag);
            return -1;
        }
        out->dt = tag[0] == 'l' ? HYPERDATATYPE_LIST_GENERIC
                                : (tag[0] == 's' ? HYPERDATATYPE_SET_GENERIC
                                                 : HYPERDATATYPE_MAP_GENERIC);
        return 0;
    }
    if (strncmp(tag, "list_", 5) == 0 || strncmp(tag, "set_", 4) == 0) {
        int is_set = tag[0] == 's';
        enum prim p;
        const char* et = tag + (is_set ? 4 : 5);
        struct elem* es;
        size_t i, n;
        if (prim_of(et, strlen(et), &p) != 0 || x->t != J_ARR) goto bad;
        n = x->nkids;
        es = xmalloc(n * sizeof(*es));
        for (i = 0; i < n; ++i) {
            if (parse_elem(&x->kids[i], p, &es[i]) != 0) {
                free(es);
                goto bad;
            }
        }
        if (is_set && n > 1) {
            /* as a binding does: sorted, duplicates dropped */
            size_t w = 1;
            qsort(es, n, sizeof(*es), elem_qsort_cmp);
            for (i = 1; i < n; ++i) {
                if (elem_cmp(&es[w - 1], &es[i]) != 0) {
                    es[w++] = es[i];
                }
            }
            n = w;
        }
        for (i = 0; i < n; ++i) {
            encode_elem(&out->b, &es[i]);
        }
        free(es);
        out->dt = (enum hyperdatatype)((is_set ? HYPERDATATYPE_SET_GENERIC
                                               : HYPERDATATYPE_LIST_GENERIC) |
                                       (prim_type(p) & 7));
        return 0;
    }
    if (strncmp(tag, "map_", 4) == 0) {
        const char* kt = tag + 4;
        const char* us = strchr(kt, '_');
        enum prim kp, vp;
        struct elem* es;
        size_t i, n;
        if (!us || prim_of(kt, (size_t)(us - kt), &kp) != 0 ||
            prim_of(us + 1, strlen(us + 1), &vp) != 0 || x->t != J_ARR) {
            goto bad;
        }
        n = x->nkids;
        es = xmalloc(n * sizeof(*es));
        for (i = 0; i < n; ++i) {
            const struct jval* pair = &x->kids[i];
            struct elem ve;
            if (pair->t != J_ARR || pair->nkids != 2 ||
                parse_elem(&pair->kids[0], kp, &es[i]) != 0 ||
                parse_elem(&pair->kids[1], vp, &ve) != 0) {
                free(es);
                snprintf(err, errsz, "map entries are [key, value] pairs of the tag's types");
                return -1;
            }
            es[i].val = &pair->kids[1];
        }
        qsort(es, n, sizeof(*es), elem_qsort_cmp);
        for (i = 0; i < n; ++i) {
            struct elem ve;
            if (i > 0 && elem_cmp(&es[i - 1], &es[i]) == 0) {
                free(es);
                snprintf(err, errsz, "duplicate map key in %s", tag);
                return -1;
            }
            encode_elem(&out->b, &es[i]);
            parse_elem(es[i].val, vp, &ve);
            encode_elem(&out->b, &ve);
        }
        free(es);
        out->dt = (enum hyperdatatype)(HYPERDATATYPE_MAP_GENERIC | ((prim_type(kp) & 7) << 3) |
                                       (prim_type(vp) & 7));
        return 0;
    }
    snprintf(err, errsz, "unknown value tag \"%s\"", tag);
    return -1;
bad:
    snprintf(err, errsz, "bad value for tag \"%s\"", tag);
    return -1;
}

/* ------------------------------------------------------------------------ */
/* describing values for messages */

static void describe_string(struct buf* out, const char* p, size_t n)
{
    size_t i;
    buf_add(out, "\"", 1);
    for (i = 0; i < n; ++i) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"' || c == '\\') {
            buf_printf(out, "\\%c", c);
        } else if (c < 0x20 || c >= 0x7f) {
            buf_printf(out, "\\x%02x", c);
        } else {
            buf_add(out, &p[i], 1);
        }
    }
    buf_add(out, "\"", 1);
}

static void describe_hex(struct buf* out, const char* p, size_t n)
{
    size_t i;
    buf_add(out, "\"", 1);
    for (i = 0; i < n; ++i) {
        buf_printf(out, "%02x", (unsigned char)p[i]);
    }
    buf_add(out, "\"", 1);
}

/* Reads one element at *pos; returns -1 if it does not fit. */
static int describe_elem(struct buf* out, enum prim t, const char* p, size_t n, size_t* pos)
{
    if (t == P_STRING) {
        uint32_t len;
        if (n - *pos < 4) return -1;
        len = get_u32le(p + *pos);
        if (n - *pos - 4 < len) return -1;
        describe_string(out, p + *pos + 4, len);
        *pos += 4 + (size_t)len;
        return 0;
    }
    if (n - *pos < 8) return -1;
    if (t == P_INT) {
        buf_printf(out, "%lld", (long long)u64_to_i64(get_u64le(p + *pos)));
    } else {
        double d = bits_double(get_u64le(p + *pos));
        if (d != d) {
            buf_printf(out, "\"nan\"");
        } else if (d == HUGE_VAL || d == -HUGE_VAL) {
            buf_printf(out, d > 0 ? "\"inf\"" : "\"-inf\"");
        } else {
            buf_printf(out, "%.17g", d);
        }
    }
    *pos += 8;
    return 0;
}

/* {"tag": value} for a datatype and its bytes, close to the vector syntax. */
static void describe(struct buf* out, int dt, const char* p, size_t n)
{
    int cont = dt & 9664;
    size_t pos = 0;
    int first = 1;
    if (dt == HYPERDATATYPE_INT64 || dt == HYPERDATATYPE_FLOAT) {
        if (n == 0) {
            buf_printf(out, "{\"empty\": \"%s\"}", type_name(dt));
            return;
        }
        if (n == 8) {
            buf_printf(out, "{\"%s\": ", type_name(dt));
            describe_elem(out, dt == HYPERDATATYPE_INT64 ? P_INT : P_FLOAT, p, n, &pos);
            buf_add(out, "}", 1);
            return;
        }
    } else if (dt == HYPERDATATYPE_STRING) {
        buf_printf(out, "{\"string\": ");
        describe_string(out, p, n);
        buf_add(out, "}", 1);
        return;
    } else if (cont == HYPERDATATYPE_LIST_GENERIC || cont == HYPERDATATYPE_SET_GENERIC ||
               cont == HYPERDATATYPE_MAP_GENERIC) {
        enum prim ep = (enum prim)(dt & 7);
        enum prim kp = (enum prim)((dt >> 3) & 7);
        size_t mark = out->n;
        if (ep >= P_STRING && ep <= P_FLOAT &&
            (cont != HYPERDATATYPE_MAP_GENERIC || (kp >= P_STRING && kp <= P_FLOAT))) {
            buf_printf(out, "{\"%s\": [", type_name(dt));
            while (pos < n) {
                if (!first) buf_add(out, ", ", 2);
                first = 0;
                if (cont == HYPERDATATYPE_MAP_GENERIC) {
                    buf_add(out, "[", 1);
                    if (describe_elem(out, kp, p, n, &pos) != 0) break;
                    buf_add(out, ", ", 2);
                    if (describe_elem(out, ep, p, n, &pos) != 0) break;
                    buf_add(out, "]", 1);
                } else if (describe_elem(out, ep, p, n, &pos) != 0) {
                    break;
                }
            }
            if (pos == n) {
                buf_add(out, "]}", 2);
                return;
            }
            out->n = mark; /* malformed: fall back to hex */
            out->p[mark] = '\0';
        }
    }
    buf_printf(out, "{\"raw\": {\"type\": \"%s\", \"hex\": ", type_name(dt));
    describe_hex(out, p, n);
    buf_add(out, "}}", 2);
}

/* ------------------------------------------------------------------------ */
/* operations */

enum kind {
    K_GET, K_ATTRS, K_COND_ATTRS, K_DEL, K_COND_DEL, K_MAP, K_COND_MAP,
    /* search-type operations (no key; checks required); keep them last */
    K_SEARCH, K_SORTED, K_COUNT, K_GROUP_DEL, K_DESCRIBE
};

#define IS_SEARCH_KIND(k) ((k) >= K_SEARCH)

typedef int64_t (*fn_get)(struct hyperclient*, const char*, const char*, size_t,
                          enum hyperclient_returncode*, struct hyperclient_attribute**,
                          size_t*);
typedef int64_t (*fn_attrs)(struct hyperclient*, const char*, const char*, size_t,
                            const struct hyperclient_attribute*, size_t,
                            enum hyperclient_returncode*);
typedef int64_t (*fn_cond_attrs)(struct hyperclient*, const char*, const char*, size_t,
                                 const struct hyperclient_attribute_check*, size_t,
                                 const struct hyperclient_attribute*, size_t,
                                 enum hyperclient_returncode*);
typedef int64_t (*fn_del)(struct hyperclient*, const char*, const char*, size_t,
                          enum hyperclient_returncode*);
typedef int64_t (*fn_cond_del)(struct hyperclient*, const char*, const char*, size_t,
                               const struct hyperclient_attribute_check*, size_t,
                               enum hyperclient_returncode*);
typedef int64_t (*fn_map)(struct hyperclient*, const char*, const char*, size_t,
                          const struct hyperclient_map_attribute*, size_t,
                          enum hyperclient_returncode*);
typedef int64_t (*fn_cond_map)(struct hyperclient*, const char*, const char*, size_t,
                               const struct hyperclient_attribute_check*, size_t,
                               const struct hyperclient_map_attribute*, size_t,
                               enum hyperclient_returncode*);
typedef int64_t (*fn_search)(struct hyperclient*, const char*,
                             const struct hyperclient_attribute_check*, size_t,
                             enum hyperclient_returncode*, struct hyperclient_attribute**,
                             size_t*);
typedef int64_t (*fn_sorted)(struct hyperclient*, const char*,
                             const struct hyperclient_attribute_check*, size_t, const char*,
                             uint64_t, int, enum hyperclient_returncode*,
                             struct hyperclient_attribute**, size_t*);
typedef int64_t (*fn_count)(struct hyperclient*, const char*,
                            const struct hyperclient_attribute_check*, size_t,
                            enum hyperclient_returncode*, uint64_t*);
typedef int64_t (*fn_group_del)(struct hyperclient*, const char*,
                                const struct hyperclient_attribute_check*, size_t,
                                enum hyperclient_returncode*);
typedef int64_t (*fn_describe)(struct hyperclient*, const char*,
                               const struct hyperclient_attribute_check*, size_t,
                               enum hyperclient_returncode*, const char**);
typedef void (*any_fn)(void);

struct opdesc {
    const char* name;
    enum kind kind;
    any_fn fn;
};

#define OP(name, kind) {#name, kind, (any_fn)hyperclient_##name}
#define OP2(name) OP(name, K_ATTRS), OP(cond_##name, K_COND_ATTRS)
#define MOP2(name) OP(name, K_MAP), OP(cond_##name, K_COND_MAP)

static const struct opdesc OPS[] = {
    OP(get, K_GET), OP(put, K_ATTRS), OP(put_if_not_exist, K_ATTRS),
    OP(cond_put, K_COND_ATTRS), OP(del, K_DEL), OP(cond_del, K_COND_DEL),
    OP2(atomic_add), OP2(atomic_sub), OP2(atomic_mul), OP2(atomic_div),
    OP2(atomic_mod), OP2(atomic_and), OP2(atomic_or), OP2(atomic_xor),
    OP2(string_prepend), OP2(string_append), OP2(list_lpush), OP2(list_rpush),
    OP2(set_add), OP2(set_remove), OP2(set_intersect), OP2(set_union),
    OP2(map_remove),
    MOP2(map_add), MOP2(map_atomic_add), MOP2(map_atomic_sub), MOP2(map_atomic_mul),
    MOP2(map_atomic_div), MOP2(map_atomic_mod), MOP2(map_atomic_and), MOP2(map_atomic_or),
    MOP2(map_atomic_xor), MOP2(map_string_prepend), MOP2(map_string_append),
    OP(search, K_SEARCH), OP(sorted_search, K_SORTED), OP(count, K_COUNT),
    OP(group_del, K_GROUP_DEL), OP(search_describe, K_DESCRIBE),
    {NULL, K_GET, NULL}};

/* ------------------------------------------------------------------------ */
/* the schema of the file's space (for the shape of search results) */

#define MAX_SCHEMA 64
#define MAX_NAME 64

struct schema {
    int ok;                            /* the description parsed */
    size_t n;                          /* attributes, the key included */
    char names[MAX_SCHEMA][MAX_NAME];  /* [0] is the key */
    int types[MAX_SCHEMA];
};

/* The next token of a space description: a word, or one of ( ) , */
static int next_token(const char** p, char* out, size_t outsz)
{
    size_t n = 0;
    while (**p == ' ' || **p == '\t' || **p == '\r' || **p == '\n') ++*p;
    if (**p == '\0') return 0;
    if (**p == '(' || **p == ')' || **p == ',') {
        out[0] = *(*p)++;
        out[1] = '\0';
        return 1;
    }
    while (**p && strchr(" \t\r\n(),", **p) == NULL) {
        if (n + 1 < outsz) out[n++] = **p;
        ++*p;
    }
    out[n] = '\0';
    return 1;
}

static int prim_word(const char* w)
{
    if (strcmp(w, "string") == 0) return HYPERDATATYPE_STRING;
    if (strcmp(w, "int") == 0 || strcmp(w, "int64") == 0) return HYPERDATATYPE_INT64;
    if (strcmp(w, "float") == 0) return HYPERDATATYPE_FLOAT;
    return -1;
}

/* attr := IDENT | type IDENT, with *tok holding its first token on entry and
 * the token after it on return. */
static int parse_schema_attr(const char** p, char* tok, struct schema* sc)
{
    int t = prim_word(tok);
    if (t >= 0) {
        if (!next_token(p, tok, MAX_NAME)) return -1;
    } else if (strcmp(tok, "list") == 0 || strcmp(tok, "set") == 0 ||
               strcmp(tok, "map") == 0) {
        char c = tok[0];
        int e, k = 0;
        if (!next_token(p, tok, MAX_NAME) || strcmp(tok, "(") != 0) return -1;
        if (!next_token(p, tok, MAX_NAME) || (e = prim_word(tok)) < 0) return -1;
        if (c == 'm') {
            k = e;
            if (!next_token(p, tok, MAX_NAME) || strcmp(tok, ",") != 0) return -1;
            if (!next_token(p, tok, MAX_NAME) || (e = prim_word(tok)) < 0) return -1;
        }
        if (!next_token(p, tok, MAX_NAME) || strcmp(tok, ")") != 0) return -1;
        if (!next_token(p, tok, MAX_NAME)) return -1;
        t = c == 'l' ? (HYPERDATATYPE_LIST_GENERIC | (e & 7))
                     : (c == 's' ? (HYPERDATATYPE_SET_GENERIC | (e & 7))
                                 : (HYPERDATATYPE_MAP_GENERIC | ((k & 7) << 3) | (e & 7)));
    } else {
        t = HYPERDATATYPE_STRING;
    }
    if (sc->n == MAX_SCHEMA || !(tok[0] == '_' || (tok[0] >= 'A' && tok[0] <= 'Z') ||
                                 (tok[0] >= 'a' && tok[0] <= 'z'))) {
        return -1;
    }
    snprintf(sc->names[sc->n], MAX_NAME, "%s", tok);
    sc->types[sc->n++] = t;
    if (!next_token(p, tok, MAX_NAME)) tok[0] = '\0';
    return 0;
}

/* Reads the key and the attributes (in schema order) from a space description. */
static void parse_schema(const char* desc, struct schema* sc)
{
    char tok[MAX_NAME];
    const char* p = desc;
    memset(sc, 0, sizeof(*sc));
    if (!next_token(&p, tok, sizeof(tok)) || strcmp(tok, "space") != 0 ||
        !next_token(&p, tok, sizeof(tok)) || !next_token(&p, tok, sizeof(tok)) ||
        strcmp(tok, "key") != 0 || !next_token(&p, tok, sizeof(tok)) ||
        parse_schema_attr(&p, tok, sc) != 0) {
        return;
    }
    if (strcmp(tok, "attributes") == 0 || strcmp(tok, "attribute") == 0) {
        do {
            if (!next_token(&p, tok, sizeof(tok)) || parse_schema_attr(&p, tok, sc) != 0) {
                return;
            }
        } while (strcmp(tok, ",") == 0);
    }
    sc->ok = 1;
}

/* ------------------------------------------------------------------------ */
/* running a file */

struct ctx {
    struct hyperclient* client;
    const char* path;
    long line;
    long steps;
    long failures;
    long skipped;
    long errors; /* broken vectors */
    /* Outputs of the current operation; they outlive a step (a timed-out op may
     * still be written later, so they are never on the stack). */
    enum hyperclient_returncode status;
    struct hyperclient_attribute* attrs;
    size_t attrs_sz;
    uint64_t count;          /* hyperclient_count */
    const char* description; /* hyperclient_search_describe */
    struct schema schema;    /* of the current file's space */
};

static void failf(struct ctx* c, const char* op, const char* fmt, ...)
{
    va_list ap;
    fprintf(stdout, "%s:%ld: %s: ", c->path, c->line, op);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    ++c->failures;
}

static void vector_error(struct ctx* c, const char* fmt, ...)
{
    va_list ap;
    fprintf(stdout, "%s:%ld: BROKEN VECTOR: ", c->path, c->line);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    ++c->errors;
}

/* Expected search results: encoded keys (or sort values), and for "objects"
 * the expected value of each. */
struct wantlist {
    struct tval* v;
    const struct jval** obj;
    size_t n;
};

/* Everything one step needs, with the storage for the encoded inputs. */
struct step {
    const struct opdesc* op;
    const char* space;
    struct tval key;
    struct tval* vals; /* every encoded value (checks, attrs, map keys and values) */
    size_t nvals;
    struct hyperclient_attribute_check* checks;
    size_t checks_sz;
    struct hyperclient_attribute* attrs;
    size_t attrs_sz;
    struct hyperclient_map_attribute* mapattrs;
    size_t mapattrs_sz;
    int expect_status;
    int has_offset;
    int64_t offset;
    const struct jval* expect_value; /* get only */
    /* search-type operations */
    const char* sort_by;
    uint64_t limit;
    int maximize;
    uint64_t expect_count;       /* count */
    enum { R_NONE, R_KEYS, R_OBJECTS, R_SORT_VALUES } rmode;
    struct wantlist want;        /* keys, objects (with their values) or sort values */
    int has_key_set;
    struct wantlist key_set;     /* with sort_values: the keys, in any order */
};

static void wantlist_free(struct wantlist* w)
{
    size_t i;
    for (i = 0; i < w->n; ++i) {
        buf_free(&w->v[i].b);
    }
    free(w->v);
    free(w->obj);
    w->v = NULL;
    w->obj = NULL;
    w->n = 0;
}

static void step_free(struct step* s)
{
    size_t i;
    wantlist_free(&s->want);
    wantlist_free(&s->key_set);
    buf_free(&s->key.b);
    for (i = 0; i < s->nvals; ++i) {
        buf_free(&s->vals[i].b);
    }
    free(s->vals);
    free(s->checks);
    free(s->attrs);
    free(s->mapattrs);
}

static int is_allowed_field(const char* k)
{
    static const char* const fields[] = {"op",     "key",   "space",   "checks",
                                         "attrs",  "mapattrs", "sort_by", "limit",
                                         "maximize", "expect", "note",    "only",
                                         NULL};
    size_t i;
    for (i = 0; fields[i]; ++i) {
        if (strcmp(fields[i], k) == 0) return 1;
    }
    return 0;
}

/* JSON integer in [0, 2^64 - 1] → uint64. */
static int ju64(const struct jval* v, uint64_t* out)
{
    char* end = NULL;
    unsigned long long x;
    if (!v || v->t != J_NUM || v->s[0] == '-' || strpbrk(v->s, ".eE")) {
        return -1;
    }
    errno = 0;
    x = strtoull(v->s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = (uint64_t)x;
    return 0;
}

/* sort_by, limit and maximize: required by sorted_search, refused elsewhere. */
static int parse_sort_args(struct ctx* c, const struct jval* j, struct step* s)
{
    const struct jval* sort_by = jget(j, "sort_by");
    const struct jval* limit = jget(j, "limit");
    const struct jval* maximize = jget(j, "maximize");
    if (s->op->kind != K_SORTED) {
        if (sort_by || limit || maximize) {
            vector_error(c, "only sorted_search takes sort_by, limit, maximize");
            return -1;
        }
        return 0;
    }
    if (!sort_by || sort_by->t != J_STR || !limit || ju64(limit, &s->limit) != 0 ||
        !maximize || maximize->t != J_BOOL) {
        vector_error(c, "sorted_search needs \"sort_by\" (a name), \"limit\" (an integer "
                     "in [0, 2^64-1]) and \"maximize\" (true or false)");
        return -1;
    }
    s->sort_by = sort_by->s;
    s->maximize = maximize->b;
    return 0;
}

/* Encodes an array of expected keys (objects: {"key": V, "value": {...}}). */
static int parse_wantlist(struct ctx* c, const struct jval* arr, const char* what, int objects,
                          int unique, struct wantlist* out)
{
    size_t i, k;
    char err[200];
    if (arr->t != J_ARR) {
        vector_error(c, "\"%s\" must be an array", what);
        return -1;
    }
    out->v = xmalloc(arr->nkids * sizeof(*out->v));
    out->obj = xmalloc(arr->nkids * sizeof(*out->obj));
    out->n = 0;
    for (i = 0; i < arr->nkids; ++i) {
        const struct jval* item = &arr->kids[i];
        const struct jval* kv = item;
        out->obj[i] = NULL;
        if (objects) {
            kv = jget(item, "key");
            out->obj[i] = jget(item, "value");
            if (item->t != J_OBJ || item->nkids != 2 || !kv || !out->obj[i] ||
                out->obj[i]->t != J_OBJ) {
                vector_error(c, "%s[%lu]: expected {\"key\": V, \"value\": {...}}", what,
                             (unsigned long)i);
                return -1;
            }
        }
        if (encode_value(kv, &out->v[i], err, sizeof(err)) != 0) {
            vector_error(c, "%s[%lu]: %s", what, (unsigned long)i, err);
            return -1;
        }
        ++out->n;
        for (k = 0; unique && k < i; ++k) {
            if (out->v[k].dt == out->v[i].dt && out->v[k].b.n == out->v[i].b.n &&
                memcmp(out->v[k].b.p, out->v[i].b.p, out->v[i].b.n) == 0) {
                vector_error(c, "%s[%lu]: the same key twice", what, (unsigned long)i);
                return -1;
            }
        }
    }
    return 0;
}

/* "expect" of a search-type operation (README: "Search-type operations"). */
static int parse_search_expect(struct ctx* c, struct step* s, const struct jval* expect)
{
    static const char* const fields[] = {"status", "offset",   "keys",  "objects",
                                         "sort_values", "key_set", "count", NULL};
    enum kind k = s->op->kind;
    const struct jval *st, *off, *keys, *objs, *sv, *ks, *cnt;
    size_t i, f;
    int results;

    s->expect_status = HYPERCLIENT_SUCCESS;
    if (expect->t == J_STR) {
        if (k != K_GROUP_DEL && k != K_DESCRIBE) {
            vector_error(c, "%s needs an \"expect\" object with its results", s->op->name);
            return -1;
        }
        if (lookup(RETURNCODES, expect->s, "HYPERCLIENT_", &s->expect_status) != 0) {
            vector_error(c, "unknown status \"%s\"", expect->s);
            return -1;
        }
        return 0;
    }
    if (expect->t != J_OBJ) {
        vector_error(c, "\"expect\" must be a status name or an object");
        return -1;
    }
    for (i = 0; i < expect->nkids; ++i) {
        for (f = 0; fields[f] && strcmp(fields[f], expect->kids[i].key) != 0; ++f) {
        }
        if (!fields[f]) {
            vector_error(c, "\"expect\" of %s: unknown field \"%s\"", s->op->name,
                         expect->kids[i].key);
            return -1;
        }
    }
    st = jget(expect, "status");
    off = jget(expect, "offset");
    keys = jget(expect, "keys");
    objs = jget(expect, "objects");
    sv = jget(expect, "sort_values");
    ks = jget(expect, "key_set");
    cnt = jget(expect, "count");
    if (st && (st->t != J_STR ||
               lookup(RETURNCODES, st->s, "HYPERCLIENT_", &s->expect_status) != 0)) {
        vector_error(c, "bad expected status");
        return -1;
    }
    results = (keys ? 1 : 0) + (objs ? 1 : 0) + (sv ? 1 : 0) + (ks ? 1 : 0) + (cnt ? 1 : 0);
    if (off) {
        if (jint(off, &s->offset) != 0 || s->offset >= 0 || !st || results) {
            vector_error(c, "\"offset\" (a negative integer) goes with a \"status\" only");
            return -1;
        }
        s->has_offset = 1;
        return 0;
    }
    if (results && s->expect_status != HYPERCLIENT_SUCCESS) {
        vector_error(c, "results go with SUCCESS");
        return -1;
    }
    if (s->expect_status != HYPERCLIENT_SUCCESS && k != K_GROUP_DEL && k != K_DESCRIBE) {
        vector_error(c, "%s: a status other than SUCCESS needs an \"offset\"", s->op->name);
        return -1;
    }
    switch (k) {
        case K_SEARCH:
            if (results != 1 || !(keys || objs)) {
                vector_error(c, "search expects exactly one of \"keys\", \"objects\"");
                return -1;
            }
            break;
        case K_SORTED:
            if ((keys ? 1 : 0) + (objs ? 1 : 0) + (sv ? 1 : 0) != 1 || cnt || (ks && !sv)) {
                vector_error(c, "sorted_search expects one of \"keys\", \"objects\", "
                             "\"sort_values\" (the last optionally with \"key_set\")");
                return -1;
            }
            break;
        case K_COUNT:
            if (results != 1 || !cnt || ju64(cnt, &s->expect_count) != 0) {
                vector_error(c, "count expects {\"count\": N}");
                return -1;
            }
            return 0;
        default:
            if (results) {
                vector_error(c, "%s expects a status only", s->op->name);
                return -1;
            }
            return 0;
    }
    if (keys) {
        s->rmode = R_KEYS;
        return parse_wantlist(c, keys, "keys", 0, 1, &s->want);
    }
    if (objs) {
        s->rmode = R_OBJECTS;
        return parse_wantlist(c, objs, "objects", 1, 1, &s->want);
    }
    s->rmode = R_SORT_VALUES;
    if (parse_wantlist(c, sv, "sort_values", 0, 0, &s->want) != 0) {
        return -1;
    }
    if (ks) {
        s->has_key_set = 1;
        return parse_wantlist(c, ks, "key_set", 0, 1, &s->key_set);
    }
    return 0;
}

/* Builds the step from its JSON; returns 0, or -1 after reporting a broken vector. */
static int build_step(struct ctx* c, const struct jval* j, const char* space, struct step* s)
{
    const struct jval *op, *key, *checks, *attrs, *mapattrs, *expect, *sp;
    char err[200];
    size_t i, nv = 0;
    int needs_checks, needs_attrs, needs_map;

    memset(s, 0, sizeof(*s));
    for (i = 0; i < j->nkids; ++i) {
        if (!is_allowed_field(j->kids[i].key)) {
            vector_error(c, "unknown field \"%s\"", j->kids[i].key);
            return -1;
        }
    }
    op = jget(j, "op");
    if (!op || op->t != J_STR) {
        vector_error(c, "no \"op\"");
        return -1;
    }
    for (i = 0; OPS[i].name; ++i) {
        if (strcmp(OPS[i].name, op->s) == 0) {
            s->op = &OPS[i];
            break;
        }
    }
    if (!s->op) {
        vector_error(c, "unknown op \"%s\"", op->s);
        return -1;
    }
    sp = jget(j, "space");
    if (sp && sp->t != J_STR) {
        vector_error(c, "\"space\" must be a string");
        return -1;
    }
    s->space = sp ? sp->s : space;
    key = jget(j, "key");
    if (IS_SEARCH_KIND(s->op->kind)) {
        if (key) {
            vector_error(c, "%s takes no \"key\"", s->op->name);
            return -1;
        }
        buf_add(&s->key.b, "", 0);
    } else if (!key || encode_value(key, &s->key, err, sizeof(err)) != 0) {
        vector_error(c, "key: %s", key ? err : "missing");
        return -1;
    }
    if (parse_sort_args(c, j, s) != 0) {
        return -1;
    }
    checks = jget(j, "checks");
    attrs = jget(j, "attrs");
    mapattrs = jget(j, "mapattrs");
    needs_checks = s->op->kind == K_COND_ATTRS || s->op->kind == K_COND_DEL ||
                   s->op->kind == K_COND_MAP || IS_SEARCH_KIND(s->op->kind);
    needs_attrs = s->op->kind == K_ATTRS || s->op->kind == K_COND_ATTRS;
    needs_map = s->op->kind == K_MAP || s->op->kind == K_COND_MAP;
    if (!!checks != needs_checks || !!attrs != needs_attrs || !!mapattrs != needs_map) {
        vector_error(c, "%s takes %s%s%s", s->op->name, needs_checks ? "\"checks\" " : "",
                     needs_attrs ? "\"attrs\"" : "", needs_map ? "\"mapattrs\"" : "");
        return -1;
    }
    if ((checks && checks->t != J_ARR) || (attrs && attrs->t != J_OBJ) ||
        (mapattrs && mapattrs->t != J_ARR)) {
        vector_error(c, "checks and mapattrs are arrays, attrs an object");
        return -1;
    }
    s->vals = xmalloc(((checks ? checks->nkids : 0) + (attrs ? attrs->nkids : 0) +
                       2 * (mapattrs ? mapattrs->nkids : 0)) * sizeof(*s->vals));
    if (checks) {
        s->checks = xmalloc(checks->nkids * sizeof(*s->checks));
        for (i = 0; i < checks->nkids; ++i) {
            const struct jval* ch = &checks->kids[i];
            const struct jval* a = jget(ch, "attr");
            const struct jval* p = jget(ch, "pred");
            const struct jval* v = jget(ch, "value");
            int pred;
            if (!a || a->t != J_STR || !p || p->t != J_STR || !v || ch->nkids != 3 ||
                lookup(PREDICATES, p->s, "HYPERPREDICATE_", &pred) != 0) {
                vector_error(c, "check %lu: needs exactly attr, pred (a predicate name), value",
                             (unsigned long)i);
                return -1;
            }
            if (encode_value(v, &s->vals[nv], err, sizeof(err)) != 0) {
                vector_error(c, "check %lu: %s", (unsigned long)i, err);
                return -1;
            }
            s->checks[i].attr = a->s;
            s->checks[i].value = s->vals[nv].b.p;
            s->checks[i].value_sz = s->vals[nv].b.n;
            s->checks[i].datatype = s->vals[nv].dt;
            s->checks[i].predicate = (enum hyperpredicate)pred;
            ++nv;
        }
        s->checks_sz = checks->nkids;
    }
    if (attrs) {
        s->attrs = xmalloc(attrs->nkids * sizeof(*s->attrs));
        for (i = 0; i < attrs->nkids; ++i) {
            if (encode_value(&attrs->kids[i], &s->vals[nv], err, sizeof(err)) != 0) {
                vector_error(c, "attribute \"%s\": %s", attrs->kids[i].key, err);
                return -1;
            }
            s->attrs[i].attr = attrs->kids[i].key;
            s->attrs[i].value = s->vals[nv].b.p;
            s->attrs[i].value_sz = s->vals[nv].b.n;
            s->attrs[i].datatype = s->vals[nv].dt;
            ++nv;
        }
        s->attrs_sz = attrs->nkids;
    }
    if (mapattrs) {
        s->mapattrs = xmalloc(mapattrs->nkids * sizeof(*s->mapattrs));
        for (i = 0; i < mapattrs->nkids; ++i) {
            const struct jval* m = &mapattrs->kids[i];
            if (m->t != J_ARR || m->nkids != 3 || m->kids[0].t != J_STR) {
                vector_error(c, "mapattrs[%lu]: expected [attr, key, value]", (unsigned long)i);
                return -1;
            }
            if (encode_value(&m->kids[1], &s->vals[nv], err, sizeof(err)) != 0 ||
                encode_value(&m->kids[2], &s->vals[nv + 1], err, sizeof(err)) != 0) {
                vector_error(c, "mapattrs[%lu]: %s", (unsigned long)i, err);
                return -1;
            }
            s->mapattrs[i].attr = m->kids[0].s;
            s->mapattrs[i].map_key = s->vals[nv].b.p;
            s->mapattrs[i].map_key_sz = s->vals[nv].b.n;
            s->mapattrs[i].map_key_datatype = s->vals[nv].dt;
            s->mapattrs[i].value = s->vals[nv + 1].b.p;
            s->mapattrs[i].value_sz = s->vals[nv + 1].b.n;
            s->mapattrs[i].value_datatype = s->vals[nv + 1].dt;
            nv += 2;
        }
        s->mapattrs_sz = mapattrs->nkids;
    }
    s->nvals = nv;

    expect = jget(j, "expect");
    if (!expect) {
        vector_error(c, "no \"expect\"");
        return -1;
    }
    if (IS_SEARCH_KIND(s->op->kind)) {
        return parse_search_expect(c, s, expect);
    }
    if (expect->t == J_STR) {
        if (lookup(RETURNCODES, expect->s, "HYPERCLIENT_", &s->expect_status) != 0) {
            vector_error(c, "unknown status \"%s\"", expect->s);
            return -1;
        }
    } else if (expect->t == J_OBJ) {
        const struct jval* st = jget(expect, "status");
        const struct jval* off = jget(expect, "offset");
        const struct jval* val = jget(expect, "value");
        size_t known = (st ? 1u : 0u) + (off ? 1u : 0u) + (val ? 1u : 0u);
        s->expect_status = HYPERCLIENT_SUCCESS;
        if (known != expect->nkids) {
            vector_error(c, "\"expect\" takes only status, offset, value");
            return -1;
        }
        if (st && (st->t != J_STR ||
                   lookup(RETURNCODES, st->s, "HYPERCLIENT_", &s->expect_status) != 0)) {
            vector_error(c, "bad expected status");
            return -1;
        }
        if (off) {
            if (jint(off, &s->offset) != 0 || s->offset >= 0) {
                vector_error(c, "\"offset\" must be a negative integer");
                return -1;
            }
            s->has_offset = 1;
        }
        if (val) {
            if (s->op->kind != K_GET || val->t != J_OBJ ||
                s->expect_status != HYPERCLIENT_SUCCESS) {
                vector_error(c, "\"value\" is for a successful get, as an object");
                return -1;
            }
            s->expect_value = val;
        }
    } else {
        vector_error(c, "\"expect\" must be a status name or an object");
        return -1;
    }
    return 0;
}

/* Starts the operation; returns the id or the negative result. */
static int64_t start_op(struct ctx* c, const struct step* s)
{
    const char* k = s->key.b.p;
    size_t ksz = s->key.b.n;
    switch (s->op->kind) {
        case K_GET:
            return ((fn_get)s->op->fn)(c->client, s->space, k, ksz, &c->status, &c->attrs,
                                       &c->attrs_sz);
        case K_ATTRS:
            return ((fn_attrs)s->op->fn)(c->client, s->space, k, ksz, s->attrs, s->attrs_sz,
                                         &c->status);
        case K_COND_ATTRS:
            return ((fn_cond_attrs)s->op->fn)(c->client, s->space, k, ksz, s->checks,
                                              s->checks_sz, s->attrs, s->attrs_sz, &c->status);
        case K_DEL:
            return ((fn_del)s->op->fn)(c->client, s->space, k, ksz, &c->status);
        case K_COND_DEL:
            return ((fn_cond_del)s->op->fn)(c->client, s->space, k, ksz, s->checks,
                                            s->checks_sz, &c->status);
        case K_MAP:
            return ((fn_map)s->op->fn)(c->client, s->space, k, ksz, s->mapattrs,
                                       s->mapattrs_sz, &c->status);
        case K_COND_MAP:
            return ((fn_cond_map)s->op->fn)(c->client, s->space, k, ksz, s->checks,
                                            s->checks_sz, s->mapattrs, s->mapattrs_sz,
                                            &c->status);
        default:
            break;
    }
    return -1;
}

/* Whether a returned value has the expected datatype and bytes (a top-level
 * float NaN matches any NaN). */
static int value_matches(const struct hyperclient_attribute* a, const struct tval* want)
{
    int same = a->datatype == want->dt && a->value_sz == want->b.n &&
               (want->b.n == 0 || (a->value && memcmp(a->value, want->b.p, want->b.n) == 0));
    if (!same && want->is_nan && a->datatype == HYPERDATATYPE_FLOAT && a->value_sz == 8) {
        double d = bits_double(get_u64le(a->value));
        same = d != d;
    }
    return same;
}

/* describe() into a fresh buffer, for messages; the caller frees it. */
static char* describe_attr(const struct hyperclient_attribute* a)
{
    struct buf b = {NULL, 0, 0};
    describe(&b, a->datatype, a->value, a->value_sz);
    return b.p;
}

static char* describe_tval(const struct tval* t)
{
    struct buf b = {NULL, 0, 0};
    describe(&b, t->dt, t->b.p, t->b.n);
    return b.p;
}

/* Compares attributes with the expected {"attr": value, ...} (names, order,
 * datatypes, bytes). `what` prefixes the messages. */
static void compare_attrs(struct ctx* c, const char* op, const char* what,
                          const struct hyperclient_attribute* attrs, size_t attrs_sz,
                          const struct jval* ev)
{
    size_t i;
    char err[200];
    if (attrs_sz != ev->nkids) {
        failf(c, op, "%sexpected %lu attributes, got %lu", what, (unsigned long)ev->nkids,
              (unsigned long)attrs_sz);
    }
    for (i = 0; i < ev->nkids && i < attrs_sz; ++i) {
        const struct hyperclient_attribute* a = &attrs[i];
        struct tval want;
        if (encode_value(&ev->kids[i], &want, err, sizeof(err)) != 0) {
            vector_error(c, "expected value of \"%s\": %s", ev->kids[i].key, err);
            return;
        }
        if (!a->attr || strcmp(a->attr, ev->kids[i].key) != 0) {
            failf(c, op, "%sattribute %lu: expected name \"%s\", got \"%s\"", what,
                  (unsigned long)i, ev->kids[i].key, a->attr ? a->attr : "(null)");
        } else if (!value_matches(a, &want)) {
            char* w = describe_tval(&want);
            char* g = describe_attr(a);
            failf(c, op, "%sattribute \"%s\": expected %s, got %s", what, a->attr, w, g);
            free(w);
            free(g);
        }
        buf_free(&want.b);
    }
}

/* Compares a get result with the expected {"attr": value, ...}. */
static void compare_get(struct ctx* c, const struct step* s)
{
    compare_attrs(c, "get", "", c->attrs, c->attrs_sz, s->expect_value);
}

/* ------------------------------------------------------------------------ */
/* search-type operations */

/* Starts a search-type operation; returns the id or the negative result. */
static int64_t start_search_op(struct ctx* c, const struct step* s)
{
    switch (s->op->kind) {
        case K_SEARCH:
            return ((fn_search)s->op->fn)(c->client, s->space, s->checks, s->checks_sz,
                                          &c->status, &c->attrs, &c->attrs_sz);
        case K_SORTED:
            return ((fn_sorted)s->op->fn)(c->client, s->space, s->checks, s->checks_sz,
                                          s->sort_by, s->limit, s->maximize, &c->status,
                                          &c->attrs, &c->attrs_sz);
        case K_COUNT:
            return ((fn_count)s->op->fn)(c->client, s->space, s->checks, s->checks_sz,
                                         &c->status, &c->count);
        case K_GROUP_DEL:
            return ((fn_group_del)s->op->fn)(c->client, s->space, s->checks, s->checks_sz,
                                             &c->status);
        case K_DESCRIBE:
            return ((fn_describe)s->op->fn)(c->client, s->space, s->checks, s->checks_sz,
                                            &c->status, &c->description);
        default:
            return -1;
    }
}

/* Every search result holds the key first (named after the key attribute, with
 * the key's type), then every attribute in schema order with its declared type. */
static void check_shape(struct ctx* c, const char* op, size_t idx,
                        const struct hyperclient_attribute* a, size_t n)
{
    const struct schema* sc = &c->schema;
    size_t i;
    if (n != sc->n) {
        failf(c, op, "result %lu has %lu attributes, expected %lu (the key, then every "
              "attribute)", (unsigned long)idx, (unsigned long)n, (unsigned long)sc->n);
    }
    for (i = 0; i < n && i < sc->n; ++i) {
        if (!a[i].attr || strcmp(a[i].attr, sc->names[i]) != 0 ||
            (int)a[i].datatype != sc->types[i]) {
            failf(c, op, "result %lu: attribute %lu is \"%s\" (%s), expected \"%s\" (%s)",
                  (unsigned long)idx, (unsigned long)i, a[i].attr ? a[i].attr : "(null)",
                  type_name(a[i].datatype), sc->names[i], type_name(sc->types[i]));
            return;
        }
    }
}

/* Index of the expected key matching a result's key, or -1. */
static long find_key(const struct wantlist* w, const struct hyperclient_attribute* key)
{
    size_t j;
    for (j = 0; j < w->n; ++j) {
        if (value_matches(key, &w->v[j])) {
            return (long)j;
        }
    }
    return -1;
}

/* Matches a result's key against an unordered list; returns its index or -1. */
static long match_unordered(struct ctx* c, const char* op, const struct wantlist* w,
                            int* seen, const struct hyperclient_attribute* key)
{
    long j = find_key(w, key);
    char* g = describe_attr(key);
    if (j < 0) {
        failf(c, op, "unexpected result: key %s", g);
    } else if (seen[j]) {
        failf(c, op, "key %s returned twice", g);
        j = -1;
    } else {
        seen[j] = 1;
    }
    free(g);
    return j;
}

/* Checks one result (c->attrs) of a search or sorted_search. */
static void check_result(struct ctx* c, const struct step* s, size_t idx, int* seen,
                         int* seen_set)
{
    const char* op = s->op->name;
    const struct hyperclient_attribute* a = c->attrs;
    size_t n = c->attrs_sz;
    const struct wantlist* w = &s->want;
    long j = -1;
    char* g;

    check_shape(c, op, idx, a, n);
    if (n == 0 || !a) {
        return;
    }
    if (s->rmode == R_SORT_VALUES) {
        size_t i;
        for (i = 0; i < n && (!a[i].attr || strcmp(a[i].attr, s->sort_by) != 0); ++i) {
        }
        if (i == n) {
            failf(c, op, "result %lu has no attribute \"%s\"", (unsigned long)idx, s->sort_by);
        } else if (idx >= w->n) {
            g = describe_attr(&a[i]);
            failf(c, op, "result %lu (%s = %s): only %lu expected", (unsigned long)idx,
                  s->sort_by, g, (unsigned long)w->n);
            free(g);
        } else if (!value_matches(&a[i], &w->v[idx])) {
            char* e = describe_tval(&w->v[idx]);
            g = describe_attr(&a[i]);
            failf(c, op, "result %lu: expected %s = %s, got %s", (unsigned long)idx, s->sort_by,
                  e, g);
            free(e);
            free(g);
        }
        if (s->has_key_set) {
            match_unordered(c, op, &s->key_set, seen_set, &a[0]);
        }
        return;
    }
    if (s->op->kind == K_SORTED) {
        g = describe_attr(&a[0]);
        if (idx >= w->n) {
            failf(c, op, "result %lu (key %s): only %lu expected", (unsigned long)idx, g,
                  (unsigned long)w->n);
        } else if (!value_matches(&a[0], &w->v[idx])) {
            char* e = describe_tval(&w->v[idx]);
            failf(c, op, "result %lu: expected key %s, got %s", (unsigned long)idx, e, g);
            free(e);
        } else {
            j = (long)idx;
        }
        free(g);
    } else {
        j = match_unordered(c, op, w, seen, &a[0]);
    }
    if (j >= 0 && s->rmode == R_OBJECTS) {
        char what[160];
        char* k = describe_attr(&a[0]);
        snprintf(what, sizeof(what), "object %.120s: ", k);
        free(k);
        compare_attrs(c, op, what, a + 1, n - 1, w->obj[j]);
    }
}

/* Reports the expected keys of an unordered list that never came. */
static void report_missing(struct ctx* c, const char* op, const struct wantlist* w,
                           const int* seen)
{
    size_t j;
    for (j = 0; j < w->n; ++j) {
        if (!seen[j]) {
            char* e = describe_tval(&w->v[j]);
            failf(c, op, "missing result: key %s", e);
            free(e);
        }
    }
}

#define MAX_SEARCH_EVENTS 100000

/* Collects the events of search/sorted_search `id` until SEARCHDONE, checking
 * them when `compare` is set. Returns -1 when the client is stuck. */
static int finish_search(struct ctx* c, const struct step* s, int64_t id, int compare)
{
    const char* op = s->op->name;
    int* seen = xmalloc((s->want.n + 1) * sizeof(int));
    int* seen_set = xmalloc((s->key_set.n + 1) * sizeof(int));
    size_t results = 0, events = 0;
    int rc = 0;

    memset(seen, 0, (s->want.n + 1) * sizeof(int));
    memset(seen_set, 0, (s->key_set.n + 1) * sizeof(int));
    for (;;) {
        enum hyperclient_returncode ls = HYPERCLIENT_GARBAGE;
        int64_t done;
        c->status = HYPERCLIENT_GARBAGE;
        done = hyperclient_loop(c->client, LOOP_TIMEOUT_MS, &ls);
        if (done != id) {
            failf(c, op, "hyperclient_loop returned %lld (%s), expected id %lld",
                  (long long)done, rc_name(ls), (long long)id);
            rc = -1;
            break;
        }
        if (++events > MAX_SEARCH_EVENTS) {
            failf(c, op, "more than %d events without SEARCHDONE", MAX_SEARCH_EVENTS);
            rc = -1;
            break;
        }
        if (c->status == HYPERCLIENT_SEARCHDONE) {
            break;
        }
        if (c->status != HYPERCLIENT_SUCCESS) {
            failf(c, op, "event %lu: %s (a server failed)", (unsigned long)(events - 1),
                  rc_name(c->status));
            continue;
        }
        if (compare) {
            check_result(c, s, results, seen, seen_set);
        }
        ++results;
        hyperclient_destroy_attrs(c->attrs, c->attrs_sz);
        c->attrs = NULL;
        c->attrs_sz = 0;
    }
    if (rc == 0 && compare) {
        if (s->op->kind == K_SORTED && s->limit < s->want.n) {
            vector_error(c, "more results expected than the limit");
        }
        if (s->op->kind == K_SORTED || s->rmode == R_SORT_VALUES) {
            if (results != s->want.n) {
                failf(c, op, "expected %lu results, got %lu", (unsigned long)s->want.n,
                      (unsigned long)results);
            }
        } else {
            report_missing(c, op, &s->want, seen);
        }
        if (s->has_key_set) {
            report_missing(c, op, &s->key_set, seen_set);
        }
    }
    free(seen);
    free(seen_set);
    return rc;
}

/* Waits for the one event of count/group_del/search_describe and checks it
 * when `compare` is set. Returns -1 when the client is stuck. */
static int finish_single(struct ctx* c, const struct step* s, int64_t id, int compare)
{
    const char* op = s->op->name;
    enum hyperclient_returncode ls = HYPERCLIENT_GARBAGE;
    int64_t done = hyperclient_loop(c->client, LOOP_TIMEOUT_MS, &ls);
    if (done != id) {
        failf(c, op, "hyperclient_loop returned %lld (%s), expected id %lld", (long long)done,
              rc_name(ls), (long long)id);
        return -1;
    }
    if (!compare) {
        return 0;
    }
    if ((int)c->status != s->expect_status) {
        failf(c, op, "expected %s, got %s", rc_name(s->expect_status), rc_name(c->status));
        return 0;
    }
    if (s->op->kind == K_COUNT && c->count != s->expect_count) {
        failf(c, op, "expected count %llu, got %llu", (unsigned long long)s->expect_count,
              (unsigned long long)c->count);
    }
    if (s->op->kind == K_DESCRIBE && c->status == HYPERCLIENT_SUCCESS &&
        (!c->description || !c->description[0])) {
        failf(c, op, "SUCCESS without a description");
    }
    return 0;
}

/* Runs a search-type step that build_step accepted. Returns -1 when stuck. */
static int run_search_step(struct ctx* c, const struct step* s)
{
    const char* opname = s->op->name;
    int64_t id;
    int rc;

    if (s->op->kind != K_COUNT && s->op->kind != K_GROUP_DEL && s->op->kind != K_DESCRIBE &&
        !c->schema.ok) {
        vector_error(c, "cannot read the key and attributes from the space description");
        return 0;
    }
    c->status = HYPERCLIENT_GARBAGE;
    c->attrs = NULL;
    c->attrs_sz = 0;
    c->count = 0xdeadbeefu; /* the call itself must reset it */
    c->description = NULL;
    id = start_search_op(c, s);
    if (id < 0) {
        if (!s->has_offset) {
            failf(c, opname, "expected a request id, got immediate failure %lld with %s",
                  (long long)id, rc_name(c->status));
        } else if (id != s->offset || (int)c->status != s->expect_status) {
            failf(c, opname, "expected immediate failure %lld with %s, got %lld with %s",
                  (long long)s->offset, rc_name(s->expect_status), (long long)id,
                  rc_name(c->status));
        }
        return 0;
    }
    if (id == 0) {
        failf(c, opname, "returned request id 0");
        return 0;
    }
    if (s->has_offset) {
        failf(c, opname, "expected immediate failure %lld with %s, got a request id",
              (long long)s->offset, rc_name(s->expect_status));
    }
    if (s->op->kind == K_SEARCH || s->op->kind == K_SORTED) {
        rc = finish_search(c, s, id, !s->has_offset);
    } else {
        rc = finish_single(c, s, id, !s->has_offset);
    }
    return rc;
}

/* Runs one step. Returns -1 when the client can no longer be trusted. */
static int run_step(struct ctx* c, const struct jval* j, const char* space)
{
    struct step s;
    int64_t id;
    const char* opname;
    const struct jval* only = jget(j, "only");

    if (only && (only->t != J_STR || (strcmp(only->s, "c") && strcmp(only->s, "python")))) {
        vector_error(c, "\"only\" is \"c\" or \"python\"");
        return 0;
    }
    if (only && strcmp(only->s, "python") == 0) {
        ++c->skipped;
        return 0;
    }
    if (build_step(c, j, space, &s) != 0) {
        step_free(&s);
        return 0;
    }
    ++c->steps;
    if (IS_SEARCH_KIND(s.op->kind)) {
        int rc = run_search_step(c, &s);
        step_free(&s);
        return rc;
    }
    opname = s.op->name;
    c->status = HYPERCLIENT_GARBAGE;
    c->attrs = NULL;
    c->attrs_sz = 0;
    id = start_op(c, &s);
    if (id < 0) {
        if (!s.has_offset) {
            failf(c, opname, "expected a request id and %s, got immediate failure %lld with %s",
                  rc_name(s.expect_status), (long long)id, rc_name(c->status));
        } else if (id != s.offset || (int)c->status != s.expect_status) {
            failf(c, opname, "expected immediate failure %lld with %s, got %lld with %s",
                  (long long)s.offset, rc_name(s.expect_status), (long long)id,
                  rc_name(c->status));
        }
        step_free(&s);
        return 0;
    }
    if (id == 0) {
        failf(c, opname, "returned request id 0");
        step_free(&s);
        return 0;
    }
    {
        enum hyperclient_returncode ls = HYPERCLIENT_GARBAGE;
        int64_t done = hyperclient_loop(c->client, LOOP_TIMEOUT_MS, &ls);
        if (done != id) {
            failf(c, opname, "hyperclient_loop returned %lld (%s), expected id %lld",
                  (long long)done, rc_name(ls), (long long)id);
            step_free(&s);
            return -1;
        }
    }
    if (s.has_offset) {
        failf(c, opname, "expected immediate failure %lld with %s, got a request id and %s",
              (long long)s.offset, rc_name(s.expect_status), rc_name(c->status));
    } else if ((int)c->status != s.expect_status) {
        failf(c, opname, "expected %s, got %s", rc_name(s.expect_status), rc_name(c->status));
    } else if (s.expect_value) {
        compare_get(c, &s);
    }
    if (c->status == HYPERCLIENT_SUCCESS && s.op->kind == K_GET) {
        hyperclient_destroy_attrs(c->attrs, c->attrs_sz);
        c->attrs = NULL;
    }
    step_free(&s);
    return 0;
}

/* "space NAME rest" → "space NAME<suffix> rest"; NULL if it does not look like that. */
static char* rename_space(const char* desc, const char* suffix, char** name)
{
    const char* p = desc;
    const char *n0, *n1;
    size_t len;
    char* out;
    while (*p == ' ' || *p == '\t') ++p;
    if (strncmp(p, "space", 5) != 0 || (p[5] != ' ' && p[5] != '\t')) return NULL;
    p += 5;
    while (*p == ' ' || *p == '\t') ++p;
    n0 = p;
    while (*p && *p != ' ' && *p != '\t' && *p != '\n') ++p;
    n1 = p;
    if (n1 == n0) return NULL;
    len = strlen(desc) + strlen(suffix) + 1;
    out = xmalloc(len);
    snprintf(out, len, "%.*s%s%s", (int)(n1 - desc), desc, suffix, n1);
    *name = xmalloc((size_t)(n1 - n0) + strlen(suffix) + 1);
    snprintf(*name, (size_t)(n1 - n0) + strlen(suffix) + 1, "%.*s%s", (int)(n1 - n0), n0,
             suffix);
    return out;
}

static int blank_or_comment(const char* line)
{
    while (*line == ' ' || *line == '\t' || *line == '\r' || *line == '\n') ++line;
    return *line == '\0' || *line == '#';
}

/* Returns -1 if the client is unusable afterwards. */
static int run_file(struct ctx* c, const char* path, const char* suffix)
{
    FILE* f = fopen(path, "r");
    char* line = NULL;
    size_t cap = 0;
    ssize_t got;
    char* space = NULL;
    int rc = 0;
    long file_failures = c->failures, file_steps = c->steps;

    c->path = path;
    c->line = 0;
    if (!f) {
        fprintf(stdout, "%s: cannot open: %s\n", path, strerror(errno));
        ++c->errors;
        return 0;
    }
    while ((got = getline(&line, &cap, f)) >= 0) {
        struct jval j;
        char err[200];
        ++c->line;
        if (blank_or_comment(line)) continue;
        if (jparse(line, &j, err, sizeof(err)) != 0) {
            vector_error(c, "%s", err);
            if (!space) break;
            continue;
        }
        if (j.t != J_OBJ) {
            vector_error(c, "not a JSON object");
            jfree(&j);
            if (!space) break;
            continue;
        }
        if (!space) {
            const struct jval* d = jget(&j, "space");
            char* desc;
            enum hyperclient_returncode arc;
            if (!d || d->t != J_STR || j.nkids != 1 ||
                !(desc = rename_space(d->s, suffix, &space))) {
                vector_error(c, "the first line must be {\"space\": \"space NAME ...\"}");
                jfree(&j);
                break;
            }
            parse_schema(desc, &c->schema);
            arc = hyperclient_add_space(c->client, desc);
            free(desc);
            if (arc != HYPERCLIENT_SUCCESS) {
                failf(c, "add_space", "%s", rc_name(arc));
                free(space);
                space = NULL;
                jfree(&j);
                break;
            }
        } else if (jget(&j, "space") && !jget(&j, "op")) {
            vector_error(c, "only one space per file");
        } else if (run_step(c, &j, space) != 0) {
            jfree(&j);
            rc = -1;
            break;
        }
        jfree(&j);
    }
    free(line);
    fclose(f);
    if (space) {
        enum hyperclient_returncode rrc = hyperclient_rm_space(c->client, space);
        if (rrc != HYPERCLIENT_SUCCESS) {
            fprintf(stdout, "%s: rm_space %s: %s\n", path, space, rc_name(rrc));
            ++c->failures;
        }
        free(space);
    }
    fprintf(stdout, "%s: %ld steps, %ld failed\n", path, c->steps - file_steps,
            c->failures - file_failures);
    return rc;
}

int main(int argc, char** argv)
{
    struct ctx c;
    char* end = NULL;
    long port;
    char suffix[64];
    int i;

    if (argc < 4) {
        fprintf(stderr, "usage: %s HOST PORT FILE.jsonl...\n", argv[0]);
        return 2;
    }
    port = strtol(argv[2], &end, 10);
    if (*argv[2] == '\0' || *end != '\0' || port <= 0 || port > 65535) {
        fprintf(stderr, "%s: bad port %s\n", argv[0], argv[2]);
        return 2;
    }
    memset(&c, 0, sizeof(c));
    c.client = hyperclient_create(argv[1], (uint16_t)port);
    if (!c.client) {
        fprintf(stderr, "%s: hyperclient_create failed\n", argv[0]);
        return 2;
    }
    snprintf(suffix, sizeof(suffix), "_c%ld_%ld", (long)getpid(), (long)time(NULL));
    for (i = 3; i < argc; ++i) {
        if (run_file(&c, argv[i], suffix) != 0) {
            fprintf(stdout, "%s: the client is stuck; stopping\n", argv[i]);
            ++c.errors;
            break;
        }
    }
    hyperclient_destroy(c.client);
    fprintf(stdout, "conformance (C): %d file(s), %ld steps, %ld failed, %ld skipped, "
            "%ld broken vector(s)\n", argc - 3, c.steps, c.failures, c.skipped, c.errors);
    if (c.errors) return 2;
    return c.failures ? 1 : 0;
}
