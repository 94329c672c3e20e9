/* Allocation counter for `make bench-count` (bench/count.sh), loaded with LD_PRELOAD
 * into a daemon. Every call of malloc, calloc, realloc, posix_memalign, aligned_alloc,
 * memalign and valloc adds one to a counter of the calling thread, then goes to glibc's
 * own allocator (the __libc_* entry points). free is not wrapped: it does not allocate.
 *
 * A thread started from the library's constructor writes a snapshot every 10 ms to the
 * file ALLOCCOUNT_OUT.PID (PID: the process's; written to a temporary name, then renamed,
 * so every process started under the variable has its own file): one line per
 * thread that has allocated, "TID COMM COUNT", where COMM has spaces replaced by '_'.
 * The bench reads the snapshot before and after a phase of load and divides the
 * difference by the operations in it. The snapshot thread's own allocations (it makes
 * none after start) and the counting itself (a thread-local increment) do not disturb the
 * daemon measurably.
 *
 * glibc only; the counters are per-thread slots indexed by TID modulo SLOTS (a daemon
 * has a few dozen threads; a collision would merge two threads' counts, and the TIDs
 * are listed so that would show). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

#define SLOTS 4096

static _Atomic unsigned long counts[SLOTS];
static _Atomic int tids[SLOTS];
static __thread int my_slot = -1;

static inline void count_one(void) {
    int s = my_slot;
    if (s < 0) {
        int tid = (int)syscall(SYS_gettid);
        s = tid % SLOTS;
        atomic_store_explicit(&tids[s], tid, memory_order_relaxed);
        my_slot = s;
    }
    atomic_fetch_add_explicit(&counts[s], 1, memory_order_relaxed);
}

void *malloc(size_t n) {
    count_one();
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t m) {
    count_one();
    return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n) {
    count_one();
    return __libc_realloc(p, n);
}

int posix_memalign(void **out, size_t align, size_t n) {
    void *p;
    count_one();
    if (align < sizeof(void *) || (align & (align - 1)) != 0) return EINVAL;
    p = __libc_memalign(align, n);
    if (p == NULL) return ENOMEM;
    *out = p;
    return 0;
}

void *aligned_alloc(size_t align, size_t n) {
    count_one();
    return __libc_memalign(align, n);
}

void *memalign(size_t align, size_t n) {
    count_one();
    return __libc_memalign(align, n);
}

void *valloc(size_t n) {
    count_one();
    return __libc_memalign((size_t)sysconf(_SC_PAGESIZE), n);
}

/* Appends s to buf at *at (bounded by cap). */
static void put_str(char *buf, size_t cap, size_t *at, const char *s) {
    while (*s != '\0' && *at + 1 < cap) buf[(*at)++] = *s++;
}

static void put_ulong(char *buf, size_t cap, size_t *at, unsigned long v) {
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0 && *at + 1 < cap) buf[(*at)++] = digits[--n];
}

static char out_path[4096 + 32];
static char tmp_path[4096 + 40];
static char snapshot[SLOTS * 48];

static void write_snapshot(void) {
    size_t at = 0;
    for (int s = 0; s < SLOTS; s++) {
        unsigned long c = atomic_load_explicit(&counts[s], memory_order_relaxed);
        int tid = atomic_load_explicit(&tids[s], memory_order_relaxed);
        char path[64], comm[32];
        size_t p = 0;
        ssize_t got;
        int fd;
        if (c == 0 || tid == 0) continue;
        put_str(path, sizeof path, &p, "/proc/self/task/");
        put_ulong(path, sizeof path, &p, (unsigned long)tid);
        put_str(path, sizeof path, &p, "/comm");
        path[p] = '\0';
        got = 0;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            got = read(fd, comm, sizeof comm - 1);
            close(fd);
        }
        if (got <= 0) {
            memcpy(comm, "exited", 7);
            got = 6;
        }
        comm[got] = '\0';
        for (ssize_t i = 0; i < got; i++)
            if (comm[i] == ' ' || comm[i] == '\n') comm[i] = comm[i] == '\n' ? '\0' : '_';
        put_ulong(snapshot, sizeof snapshot, &at, (unsigned long)tid);
        put_str(snapshot, sizeof snapshot, &at, " ");
        put_str(snapshot, sizeof snapshot, &at, comm);
        put_str(snapshot, sizeof snapshot, &at, " ");
        put_ulong(snapshot, sizeof snapshot, &at, c);
        put_str(snapshot, sizeof snapshot, &at, "\n");
    }
    int fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    size_t done = 0;
    while (done < at) {
        ssize_t w = write(fd, snapshot + done, at - done);
        if (w <= 0) break;
        done += (size_t)w;
    }
    close(fd);
    rename(tmp_path, out_path);
}

static void *snapshot_loop(void *arg) {
    (void)arg;
    struct timespec tick = {0, 10 * 1000 * 1000};
    for (;;) {
        write_snapshot();
        nanosleep(&tick, NULL);
    }
    return NULL;
}

__attribute__((constructor)) static void alloccount_start(void) {
    const char *out = getenv("ALLOCCOUNT_OUT");
    pthread_t t;
    size_t at = 0;
    if (out == NULL || strlen(out) >= 4096) return;
    put_str(out_path, sizeof out_path, &at, out);
    put_str(out_path, sizeof out_path, &at, ".");
    put_ulong(out_path, sizeof out_path, &at, (unsigned long)getpid());
    out_path[at] = '\0';
    memcpy(tmp_path, out_path, at);
    memcpy(tmp_path + at, ".tmp", 5);
    if (pthread_create(&t, NULL, snapshot_loop, NULL) == 0) pthread_detach(t);
}
