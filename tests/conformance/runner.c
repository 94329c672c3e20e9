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
 * Steps marked "only": "python" are skipped here.
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

enum kind { K_GET, K_ATTRS, K_COND_ATTRS, K_DEL, K_COND_DEL, K_MAP, K_COND_MAP };

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
    {NULL, K_GET, NULL}};

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
};

static void step_free(struct step* s)
{
    size_t i;
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
    static const char* const fields[] = {"op", "key", "space", "checks", "attrs", "mapattrs",
                                         "expect", "note", "only", NULL};
    size_t i;
    for (i = 0; fields[i]; ++i) {
        if (strcmp(fields[i], k) == 0) return 1;
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
    if (!key || encode_value(key, &s->key, err, sizeof(err)) != 0) {
        vector_error(c, "key: %s", key ? err : "missing");
        return -1;
    }
    checks = jget(j, "checks");
    attrs = jget(j, "attrs");
    mapattrs = jget(j, "mapattrs");
    needs_checks = s->op->kind == K_COND_ATTRS || s->op->kind == K_COND_DEL ||
                   s->op->kind == K_COND_MAP;
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
    }
    return -1;
}

/* Compares a get result with the expected {"attr": value, ...}. */
static void compare_get(struct ctx* c, const struct step* s)
{
    const struct jval* ev = s->expect_value;
    size_t i;
    char err[200];
    if (c->attrs_sz != ev->nkids) {
        failf(c, "get", "expected %lu attributes, got %lu", (unsigned long)ev->nkids,
              (unsigned long)c->attrs_sz);
    }
    for (i = 0; i < ev->nkids && i < c->attrs_sz; ++i) {
        const struct hyperclient_attribute* a = &c->attrs[i];
        struct tval want;
        int same;
        if (encode_value(&ev->kids[i], &want, err, sizeof(err)) != 0) {
            vector_error(c, "expected value of \"%s\": %s", ev->kids[i].key, err);
            return;
        }
        if (!a->attr || strcmp(a->attr, ev->kids[i].key) != 0) {
            failf(c, "get", "attribute %lu: expected name \"%s\", got \"%s\"",
                  (unsigned long)i, ev->kids[i].key, a->attr ? a->attr : "(null)");
            buf_free(&want.b);
            continue;
        }
        same = a->datatype == want.dt && a->value_sz == want.b.n &&
               (want.b.n == 0 || (a->value && memcmp(a->value, want.b.p, want.b.n) == 0));
        if (!same && want.is_nan && a->datatype == HYPERDATATYPE_FLOAT && a->value_sz == 8) {
            double d = bits_double(get_u64le(a->value));
            same = d != d;
        }
        if (!same) {
            struct buf w = {NULL, 0, 0}, g = {NULL, 0, 0};
            describe(&w, want.dt, want.b.p, want.b.n);
            describe(&g, a->datatype, a->value, a->value_sz);
            failf(c, "get", "attribute \"%s\": expected %s, got %s", a->attr, w.p, g.p);
            buf_free(&w);
            buf_free(&g);
        }
        buf_free(&want.b);
    }
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
