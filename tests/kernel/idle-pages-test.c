/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * idle-pages-test: selftest for /proc/PID/idle_pages (kernel-patches/), run as root inside the
 * lab on the patched kernel (tests/kernel/idle-pages-lab.sh).
 *
 * It has its own small decoder on purpose: it checks the kernel's stream independently of the
 * project's decoder (src/core/idle-pages-format.c), and is stricter (only the record types our
 * kernel emits, PMD records aligned, no page reported twice, position after each read).
 *
 * Output is TAP-like; exit 0 = all passed, 1 = a failure, 77 = skipped (no idle_pages).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE_SZ 4096UL
#define PMD_SZ (2UL << 20)
#define SET_HVA 0xa0u
#define MIN_READ 10

enum {
        T_PTE_ACCESSED = 0,
        T_PMD_ACCESSED = 1,
        T_PTE_IDLE = 5,
        T_PMD_IDLE = 6,
        T_PTE_HOLE = 8,
        T_PMD_HOLE = 9,
};

static int n_tests, n_failed;

__attribute__((format(printf, 2, 3)))
static bool check(bool ok, const char *fmt, ...) {
        va_list ap;

        n_tests++;
        printf("%s %d - ", ok ? "ok" : "not ok", n_tests);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        fflush(stdout);
        if (!ok)
                n_failed++;
        return ok;
}

__attribute__((format(printf, 1, 2)))
static void diag(const char *fmt, ...) {
        va_list ap;

        printf("# ");
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        fflush(stdout);
}

static void die(const char *what) {
        printf("Bail out! %s: %s\n", what, strerror(errno));
        exit(1);
}

/* What a scan reported for each 4 KiB page of a region: 'A'ccessed, 'I'dle, 'H'ole or 0. */
typedef struct View {
        uintptr_t base;
        size_t n_pages;
        char *state;
        char *gran;             /* 'p': from a page record, 'P': from a PMD record */
        char err[256];
        size_t n_reads, n_bytes;
        uintptr_t first_hva;    /* of the first read */
} View;

static void view_init(View *v, uintptr_t base, size_t len) {
        free(v->state);
        free(v->gran);
        memset(v, 0, sizeof(*v));
        v->base = base;
        v->n_pages = len / PAGE_SZ;
        v->state = calloc(v->n_pages, 1);
        v->gran = calloc(v->n_pages, 1);
        if (!v->state || !v->gran)
                die("calloc");
}

static void view_free(View *v) {
        free(v->state);
        free(v->gran);
        v->state = v->gran = NULL;
}

__attribute__((format(printf, 2, 3)))
static bool fail(View *v, const char *fmt, ...) {
        va_list ap;

        if (v->err[0])
                return false;
        va_start(ap, fmt);
        vsnprintf(v->err, sizeof(v->err), fmt, ap);
        va_end(ap);
        return false;
}

/*
 * Decode the output of one read. Checks the format strictly and marks the pages inside the
 * view (v may have n_pages 0 to only check the format). *ret_end: address after the last record.
 */
static bool decode(View *v, const uint8_t *b, size_t n, uintptr_t *ret_first, uintptr_t *ret_end) {
        uintptr_t addr = 0;
        size_t i = 0;

        if (n < MIN_READ || b[0] != SET_HVA)
                return fail(v, "read of %zu bytes does not start with SET_HVA (0x%02x)", n, n ? b[0] : 0);
        while (i < n) {
                uint8_t c = b[i++];
                unsigned type = c >> 4, count = c & 15;
                size_t unit;
                char st, gr;

                if (c == SET_HVA) {
                        uint64_t a = 0;

                        if (i + 8 > n)
                                return fail(v, "SET_HVA split at the end of a read");
                        for (int k = 0; k < 8; k++)
                                a = a << 8 | b[i + k];
                        i += 8;
                        if (i == 9)
                                *ret_first = a;
                        else if (a <= addr)
                                return fail(v, "SET_HVA 0x%llx does not jump forward from 0x%lx",
                                            (unsigned long long) a, (unsigned long) addr);
                        if (a % PAGE_SZ)
                                return fail(v, "SET_HVA 0x%llx not page aligned", (unsigned long long) a);
                        addr = a;
                        continue;
                }
                if (count == 0)
                        return fail(v, "record 0x%02x with count 0 at byte %zu", c, i - 1);
                switch (type) {
                case T_PTE_ACCESSED: unit = PAGE_SZ; st = 'A'; gr = 'p'; break;
                case T_PMD_ACCESSED: unit = PMD_SZ; st = 'A'; gr = 'P'; break;
                case T_PTE_IDLE: unit = PAGE_SZ; st = 'I'; gr = 'p'; break;
                case T_PMD_IDLE: unit = PMD_SZ; st = 'I'; gr = 'P'; break;
                case T_PTE_HOLE: unit = PAGE_SZ; st = 'H'; gr = 'p'; break;
                case T_PMD_HOLE: unit = PMD_SZ; st = 'H'; gr = 'P'; break;
                default:
                        return fail(v, "record type %u (0x%02x) at byte %zu is not one our kernel emits",
                                    type, c, i - 1);
                }
                if (gr == 'P' && addr % PMD_SZ)
                        return fail(v, "PMD record at unaligned 0x%lx", (unsigned long) addr);
                for (unsigned k = 0; k < count; k++) {
                        for (uintptr_t a = addr; a < addr + unit; a += PAGE_SZ) {
                                if (a < v->base || a >= v->base + v->n_pages * PAGE_SZ)
                                        continue;
                                size_t idx = (a - v->base) / PAGE_SZ;
                                if (v->state[idx])
                                        return fail(v, "page 0x%lx reported twice", (unsigned long) a);
                                v->state[idx] = st;
                                v->gran[idx] = gr;
                        }
                        addr += unit;
                }
        }
        *ret_end = addr;
        return true;
}

/*
 * Scan [start, end) of the file with reads of buf_size bytes from lseek(start), checking the file
 * position after every read. Stops at end or at EOF. Returns false with v->err set on failure.
 */
static bool scan(int fd, View *v, uintptr_t start, uintptr_t end, size_t buf_size) {
        uint8_t *buf = malloc(buf_size);
        uintptr_t pos = start;
        bool ok = true;

        if (!buf)
                die("malloc");
        if (lseek(fd, (off_t) start, SEEK_SET) != (off_t) start) {
                free(buf);
                return fail(v, "lseek(0x%lx): %s", (unsigned long) start, strerror(errno));
        }
        while (pos < end) {
                ssize_t r = read(fd, buf, buf_size);
                uintptr_t first = 0, rec_end = 0;
                off_t npos;

                if (r < 0) {
                        ok = fail(v, "read at 0x%lx: %s", (unsigned long) pos, strerror(errno));
                        break;
                }
                if (r == 0)
                        break;
                if ((size_t) r > buf_size) {
                        ok = fail(v, "read returned %zd > %zu", r, buf_size);
                        break;
                }
                if (!decode(v, buf, (size_t) r, &first, &rec_end)) {
                        ok = false;
                        break;
                }
                if (v->n_reads == 0)
                        v->first_hva = first;
                if (first < (pos & ~(PAGE_SZ - 1))) {
                        ok = fail(v, "read at 0x%lx starts with SET_HVA 0x%lx below it",
                                  (unsigned long) pos, (unsigned long) first);
                        break;
                }
                npos = lseek(fd, 0, SEEK_CUR);
                if (npos < 0 || (uintptr_t) npos < rec_end || (uintptr_t) npos <= pos) {
                        ok = fail(v, "position 0x%llx after a read from 0x%lx with records up to 0x%lx",
                                  (long long) npos, (unsigned long) pos, (unsigned long) rec_end);
                        break;
                }
                pos = (uintptr_t) npos;
                v->n_reads++;
                v->n_bytes += (size_t) r;
        }
        free(buf);
        return ok;
}

/* Compare a view with the expected states ('A', 'I', 'H'; '.' = don't care). */
static bool expect(View *v, const char *exp, char gran, const char *what) {
        size_t bad = 0, first_bad = 0;

        if (v->err[0])
                return check(false, "%s: %s", what, v->err);
        for (size_t i = 0; i < v->n_pages; i++) {
                bool ok = exp[i] == '.' ||
                        (v->state[i] == exp[i] && (!gran || exp[i] == 'H' || v->gran[i] == gran));
                if (!ok && bad++ == 0)
                        first_bad = i;
        }
        if (bad) {
                size_t i = first_bad;
                return check(false, "%s: %zu pages differ, first page %zu: expected %c, got %c (%c)",
                             what, bad, i, exp[i], v->state[i] ? v->state[i] : '-',
                             v->gran[i] ? v->gran[i] : '-');
        }
        return check(true, "%s (%zu reads, %zu bytes)", what, v->n_reads, v->n_bytes);
}

static void *map_aligned(size_t len, size_t align, int prot) {
        uint8_t *p = mmap(NULL, len + align, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        uintptr_t a;

        if (p == MAP_FAILED)
                die("mmap");
        a = ((uintptr_t) p + align - 1) & ~(align - 1);
        if (a > (uintptr_t) p)
                munmap(p, a - (uintptr_t) p);
        if ((uintptr_t) p + len + align > a + len)
                munmap((void *) (a + len), (uintptr_t) p + len + align - (a + len));
        return (void *) a;
}

static volatile uint8_t sink;

static void touch_read(uint8_t *p) {
        sink = *(volatile uint8_t *) p;
}

static void touch_write(uint8_t *p) {
        *(volatile uint8_t *) p = 1;
}

/* ---- 4 KiB pages, holes, partial reads, seeking ----------------------------------------- */

#define R4K_PAGES 1024          /* 4 MiB: PMD 0 has a page table, PMD 1 stays empty */
#define R4K_PRESENT 384         /* pages 0..383 present, 384..511 never touched */

static void test_4k(int fd) {
        uint8_t *r = map_aligned(R4K_PAGES * PAGE_SZ, PMD_SZ, PROT_READ | PROT_WRITE);
        uintptr_t base = (uintptr_t) r, end = base + R4K_PAGES * PAGE_SZ;
        char exp[R4K_PAGES];
        View v = {0};

        if (madvise(r, R4K_PAGES * PAGE_SZ, MADV_NOHUGEPAGE) < 0)
                die("madvise(MADV_NOHUGEPAGE)");
        for (size_t i = 0; i < R4K_PRESENT; i++)
                touch_write(r + i * PAGE_SZ);

        /* Freshly written: accessed; the rest holes, the empty PMD as PMD holes. */
        for (size_t i = 0; i < R4K_PAGES; i++)
                exp[i] = i < R4K_PRESENT ? 'A' : 'H';
        view_init(&v, base, end - base);
        scan(fd, &v, base, end, 65536);
        expect(&v, exp, 'p', "4K: first read reports the written pages accessed, the rest holes");
        {
                bool pmd_hole = true, pte_hole = true;
                for (size_t i = 384; i < 512; i++)
                        pte_hole &= v.gran[i] == 'p';
                for (size_t i = 512; i < R4K_PAGES; i++)
                        pmd_hole &= v.gran[i] == 'P';
                check(pte_hole && pmd_hole, "4K: holes are PTE_HOLE inside a page table, PMD_HOLE for the empty PMD");
        }
        check(v.first_hva == base, "4K: the stream starts with SET_HVA of the position (0x%lx, got 0x%lx)",
              (unsigned long) base, (unsigned long) v.first_hva);

        /* Nothing touched since: all idle. */
        for (size_t i = 0; i < R4K_PRESENT; i++)
                exp[i] = 'I';
        view_init(&v, base, end - base);
        scan(fd, &v, base, end, 65536);
        expect(&v, exp, 'p', "4K: second read reports everything idle");

        /* A known set, read and written. */
        static const unsigned rd[] = {1, 2, 3, 100, 255}, wr[] = {7, 20, 21, 200, 201, 202, 203, 383};
        for (size_t i = 0; i < sizeof(rd) / sizeof(rd[0]); i++) {
                touch_read(r + rd[i] * PAGE_SZ);
                exp[rd[i]] = 'A';
        }
        for (size_t i = 0; i < sizeof(wr) / sizeof(wr[0]); i++) {
                touch_write(r + wr[i] * PAGE_SZ + 123);
                exp[wr[i]] = 'A';
        }
        view_init(&v, base, end - base);
        scan(fd, &v, base, end, 65536);
        expect(&v, exp, 'p', "4K: exactly the touched pages (reads and writes) are accessed");

        /* Partial reads: every other page touched gives one record per page. */
        static const size_t sizes[] = {MIN_READ, 11, 17, 64};
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
                view_init(&v, base, end - base);
                scan(fd, &v, base, end, 65536); /* clear */
                for (size_t i = 0; i < R4K_PRESENT; i++) {
                        exp[i] = (i % 2 || i % 7 == 0) ? 'A' : 'I';
                        if (exp[i] == 'A')
                                touch_read(r + i * PAGE_SZ);
                }
                view_init(&v, base, end - base);
                scan(fd, &v, base, end, sizes[s]);
                char what[96];
                snprintf(what, sizeof(what), "partial reads of %zu bytes give the same page-exact result", sizes[s]);
                if (expect(&v, exp, 'p', what))
                        check(v.n_reads > 1, "partial reads of %zu bytes needed %zu reads", sizes[s], v.n_reads);
        }

        /* Too small a buffer. */
        {
                uint8_t small[MIN_READ];
                lseek(fd, (off_t) base, SEEK_SET);
                errno = 0;
                ssize_t rr = read(fd, small, MIN_READ - 1);
                check(rr < 0 && errno == EINVAL, "a read of %d bytes fails with EINVAL (got %zd, %s)",
                      MIN_READ - 1, rr, strerror(errno));
        }

        /* Seeking into the middle, also to an unaligned address. */
        {
                uintptr_t mid = base + 150 * PAGE_SZ + 77;
                view_init(&v, base, end - base);
                scan(fd, &v, mid, end, 4096);
                check(!v.err[0] && v.first_hva == base + 150 * PAGE_SZ,
                      "seek to an unaligned address inside a VMA: first SET_HVA is its page (0x%lx) %s",
                      (unsigned long) v.first_hva, v.err);
                bool none_before = true;
                for (size_t i = 0; i < 150; i++)
                        none_before &= v.state[i] == 0;
                check(none_before && v.state[150], "seek: nothing reported before the position");
        }

        /* A gap: SET_HVA jumps over it. */
        {
                uint8_t *g = map_aligned(48 * PAGE_SZ, PAGE_SZ, PROT_READ | PROT_WRITE);
                for (int i = 0; i < 48; i++)
                        touch_write(g + i * PAGE_SZ);
                if (munmap(g + 16 * PAGE_SZ, 16 * PAGE_SZ) < 0)
                        die("munmap");
                view_init(&v, (uintptr_t) g, 48 * PAGE_SZ);
                scan(fd, &v, (uintptr_t) g + 16 * PAGE_SZ, (uintptr_t) g + 48 * PAGE_SZ, 4096);
                check(!v.err[0] && v.first_hva == (uintptr_t) g + 32 * PAGE_SZ,
                      "seek into an unmapped gap: the stream starts at the next VMA (0x%lx, got 0x%lx) %s",
                      (unsigned long) g + 32 * PAGE_SZ, (unsigned long) v.first_hva, v.err);
                view_init(&v, (uintptr_t) g, 48 * PAGE_SZ);
                scan(fd, &v, (uintptr_t) g, (uintptr_t) g + 48 * PAGE_SZ, 4096);
                bool gap_unreported = true, around = true;
                for (int i = 0; i < 48; i++) {
                        if (i >= 16 && i < 32)
                                gap_unreported &= v.state[i] == 0;
                        else
                                around &= v.state[i] == 'A' || v.state[i] == 'I';
                }
                check(!v.err[0] && gap_unreported && around,
                      "a gap between VMAs is jumped over, not reported as holes %s", v.err);
                munmap(g, 16 * PAGE_SZ);
                munmap(g + 32 * PAGE_SZ, 16 * PAGE_SZ);
        }
        view_free(&v);
        munmap(r, R4K_PAGES * PAGE_SZ);
}

/* ---- transparent huge pages --------------------------------------------------------------- */

static void test_thp(int fd) {
        const size_t n = 3, len = n * PMD_SZ;
        uint8_t *r = map_aligned(len, PMD_SZ, PROT_READ | PROT_WRITE);
        uintptr_t base = (uintptr_t) r;
        char *exp = malloc(len / PAGE_SZ);
        View v = {0};

        if (!exp)
                die("malloc");
        madvise(r, len, MADV_HUGEPAGE);
        for (size_t i = 0; i < n; i++)
                touch_write(r + i * PMD_SZ);

        view_init(&v, base, len);
        scan(fd, &v, base, base + len, 4096);
        bool thp = !v.err[0];
        for (size_t i = 0; i < len / PAGE_SZ; i++)
                thp &= v.gran[i] == 'P';
        if (!thp) {
                diag("no THP in the region (%s): THP checks skipped", v.err[0] ? v.err : "PTE records");
                check(!v.err[0], "THP region: well-formed stream %s", v.err);
                goto out;
        }
        memset(exp, 'A', len / PAGE_SZ);
        expect(&v, exp, 'P', "THP: freshly faulted huge pages are PMD_ACCESSED");

        memset(exp, 'I', len / PAGE_SZ);
        view_init(&v, base, len);
        scan(fd, &v, base, base + len, 4096);
        expect(&v, exp, 'P', "THP: second read: PMD_IDLE");

        touch_read(r + PMD_SZ + 5 * PAGE_SZ + 9); /* one byte of huge page 1 */
        memset(exp + PMD_SZ / PAGE_SZ, 'A', PMD_SZ / PAGE_SZ);
        view_init(&v, base, len);
        scan(fd, &v, base, base + len, 4096);
        expect(&v, exp, 'P', "THP: a read of one byte makes exactly that huge page PMD_ACCESSED");

        /* Seeking into the middle of a huge page: page records for the rest of it. */
        touch_write(r + PMD_SZ + 300 * PAGE_SZ);
        memset(exp, '.', PMD_SZ / PAGE_SZ + 100);
        memset(exp + PMD_SZ / PAGE_SZ + 100, 'A', PMD_SZ / PAGE_SZ - 100);
        memset(exp + 2 * PMD_SZ / PAGE_SZ, 'I', PMD_SZ / PAGE_SZ);
        view_init(&v, base, len);
        scan(fd, &v, base + PMD_SZ + 100 * PAGE_SZ, base + len, 4096);
        {
                bool gran_ok = !v.err[0];
                for (size_t i = PMD_SZ / PAGE_SZ + 100; i < 2 * PMD_SZ / PAGE_SZ; i++)
                        gran_ok &= v.gran[i] == 'p';
                for (size_t i = 2 * PMD_SZ / PAGE_SZ; i < 3 * PMD_SZ / PAGE_SZ; i++)
                        gran_ok &= v.gran[i] == 'P';
                expect(&v, exp, 0, "THP: seek into a huge page: its remaining pages accessed, the next idle");
                check(gran_ok, "THP: the partial huge page as page records, the next whole one as a PMD record");
        }
        /* Partial reads over huge pages. */
        memset(exp, 'I', len / PAGE_SZ);
        touch_read(r + 2 * PMD_SZ);
        memset(exp + 2 * PMD_SZ / PAGE_SZ, 'A', PMD_SZ / PAGE_SZ);
        view_init(&v, base, len);
        scan(fd, &v, base, base + len, 65536); /* clears huge page 1 seen above */
        view_init(&v, base, len);
        touch_read(r + 2 * PMD_SZ);
        scan(fd, &v, base, base + len, MIN_READ);
        expect(&v, exp, 'P', "THP: reads of 10 bytes over huge pages");
out:
        view_free(&v);
        free(exp);
        munmap(r, len);
}

/* ---- bounds, end of file ---------------------------------------------------------------- */

static uintptr_t highest_vma_end(void) {
        FILE *f = fopen("/proc/self/maps", "re");
        char line[512];
        uintptr_t top = 0;

        if (!f)
                die("/proc/self/maps");
        while (fgets(line, sizeof(line), f)) {
                unsigned long s, e;
                if (sscanf(line, "%lx-%lx", &s, &e) == 2 && e > top && e < (1UL << 56))
                        if (!strstr(line, "[vsyscall]"))
                                top = e;
        }
        fclose(f);
        return top;
}

static void test_bounds(int fd) {
        const size_t len = 3UL << 29; /* 1.5 GiB of PROT_NONE: holes only, no memory */
        uint8_t *r = map_aligned(len, PMD_SZ, PROT_NONE);
        uintptr_t base = (uintptr_t) r, first = 0, rec_end = 0;
        size_t bufsz = 1 << 20;
        uint8_t *buf = malloc(bufsz);
        View v = {0};
        ssize_t n;

        if (!buf)
                die("malloc");
        view_init(&v, 0, 0);
        lseek(fd, (off_t) base, SEEK_SET);
        n = read(fd, buf, bufsz);
        if (check(n > 0 && decode(&v, buf, (size_t) n, &first, &rec_end),
                  "a read over 1.5 GiB of unpopulated VMA succeeds (%zd bytes) %s", n, v.err)) {
                off_t pos = lseek(fd, 0, SEEK_CUR);
                check(rec_end - base >= (1UL << 30) && rec_end - base <= (1UL << 30) + (64UL << 20) &&
                      (uintptr_t) pos == rec_end,
                      "one read covers about 1 GiB (%lu MiB) and leaves the position there",
                      (unsigned long) ((rec_end - base) >> 20));
        }
        munmap(r, len);

        uintptr_t top = highest_vma_end();
        lseek(fd, (off_t) top, SEEK_SET);
        n = read(fd, buf, 4096);
        check(n == 0, "a read above the highest VMA (0x%lx) returns 0 (got %zd)", (unsigned long) top, n);
        lseek(fd, (off_t) (1UL << 47), SEEK_SET);
        n = read(fd, buf, 4096);
        check(n == 0, "a read at the end of the user address space returns 0 (got %zd)", n);

        /* A whole walk from 0 ends with EOF after a bounded number of reads. */
        view_init(&v, 0, 0);
        scan(fd, &v, 0, UINTPTR_MAX, 65536);
        check(!v.err[0] && v.n_reads > 0 && v.n_reads < 100000,
              "a walk of the whole address space from 0 reaches EOF (%zu reads, %zu bytes) %s",
              v.n_reads, v.n_bytes, v.err);
        view_free(&v);
        free(buf);
}

/* ---- permissions -------------------------------------------------------------------------- */

static void test_permissions(void) {
        pid_t parent = getpid(), pid;
        int st;

        pid = fork();
        if (pid < 0)
                die("fork");
        if (pid == 0) {
                char path[64];
                int fd, e1, e2;

                if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
                        _exit(10);
                snprintf(path, sizeof(path), "/proc/%d/idle_pages", (int) parent);
                fd = open(path, O_RDONLY);
                e1 = fd < 0 ? errno : 0;
                fd = open("/proc/self/idle_pages", O_RDONLY);
                e2 = fd < 0 ? errno : 0;
                _exit((e1 == EACCES || e1 == EPERM) && (e2 == EACCES || e2 == EPERM) ? 0 :
                      e1 == 0 ? 11 : 12);
        }
        if (waitpid(pid, &st, 0) < 0)
                die("waitpid");
        check(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "as nobody, opening root's and its own idle_pages fails with EACCES/EPERM (status %d)",
              WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* ---- concurrent munmap ------------------------------------------------------------------- */

static volatile bool churn_stop;

static void *churn(void *arg) {
        size_t len = 32UL << 20, rounds = 0;

        (void) arg;
        while (!churn_stop) {
                uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (p == MAP_FAILED)
                        continue;
                for (size_t o = 0; o < len; o += 64 * PAGE_SZ)
                        p[o] = 1;
                munmap(p, len);
                rounds++;
        }
        return (void *) rounds;
}

static void test_concurrent_munmap(int fd) {
        pthread_t t;
        void *rounds;
        View v = {0};
        size_t walks = 0;
        bool ok = true;
        struct timespec t0, t1;

        churn_stop = false;
        if (pthread_create(&t, NULL, churn, NULL) != 0)
                die("pthread_create");
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do {
                view_init(&v, 0, 0);
                ok = scan(fd, &v, 0, UINTPTR_MAX, 4096);
                walks++;
                clock_gettime(CLOCK_MONOTONIC, &t1);
        } while (ok && t1.tv_sec - t0.tv_sec < 3);
        churn_stop = true;
        pthread_join(t, &rounds);
        check(ok, "%zu whole walks while another thread mapped/unmapped %zu times: well-formed %s",
              walks, (size_t) rounds, v.err);
        view_free(&v);
}

/* ---- target exits mid-read --------------------------------------------------------------- */

static pid_t spawn_target(size_t len, uintptr_t *ret_base) {
        int p[2];
        pid_t pid;

        if (pipe(p) < 0)
                die("pipe");
        pid = fork();
        if (pid < 0)
                die("fork");
        if (pid == 0) {
                uint8_t *r = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                uintptr_t b = (uintptr_t) r;
                if (r == MAP_FAILED)
                        _exit(1);
                madvise(r, len, MADV_NOHUGEPAGE);
                for (size_t o = 0; o < len; o += PAGE_SZ)
                        r[o] = 1;
                if (write(p[1], &b, sizeof(b)) != sizeof(b))
                        _exit(1);
                for (;;)
                        pause();
        }
        close(p[1]);
        if (read(p[0], ret_base, sizeof(*ret_base)) != sizeof(*ret_base))
                die("target did not start");
        close(p[0]);
        return pid;
}

struct killer {
        pid_t pid;
        long delay_us;
};

static void *killer(void *arg) {
        struct killer *k = arg;

        usleep(k->delay_us);
        kill(k->pid, SIGKILL);
        return NULL;
}

static void test_target_exit(void) {
        const size_t len = 128UL << 20;
        uintptr_t base;
        uint8_t buf[4096];
        char path[64];
        pid_t pid;
        ssize_t n;
        int fd;

        /* Between reads. */
        pid = spawn_target(len, &base);
        snprintf(path, sizeof(path), "/proc/%d/idle_pages", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                die(path);
        lseek(fd, (off_t) base, SEEK_SET);
        n = read(fd, buf, sizeof(buf));
        check(n > 0, "reading another process's idle_pages works (%zd bytes)", n);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        errno = 0;
        n = read(fd, buf, sizeof(buf));
        check(n == 0, "after the target exited, read returns 0 (got %zd, %s)", n, strerror(errno));
        close(fd);

        /* During reads: a thread kills the target while we walk its 128 MiB with big reads. */
        for (long delay = 0; delay <= 20000; delay += 5000) {
                static uint8_t big[1 << 20];
                struct killer k;
                pthread_t t;
                bool ok = true;
                int reads = 0;

                pid = spawn_target(len, &base);
                snprintf(path, sizeof(path), "/proc/%d/idle_pages", (int) pid);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        die(path);
                lseek(fd, (off_t) base, SEEK_SET);
                k = (struct killer) { .pid = pid, .delay_us = delay };
                pthread_create(&t, NULL, killer, &k);
                for (;;) {
                        n = read(fd, big, sizeof(big));
                        if (n <= 0)
                                break;
                        reads++;
                }
                if (n < 0 && errno != ESRCH && errno != EINTR)
                        ok = false;
                pthread_join(t, NULL);
                waitpid(pid, NULL, 0);
                n = read(fd, big, sizeof(big));
                ok &= n == 0;
                check(ok, "target killed after %ld us during a walk (%d reads): clean end, then 0", delay, reads);
                close(fd);
        }
}

int main(void) {
        int fd = open("/proc/self/idle_pages", O_RDONLY | O_CLOEXEC);

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (fd < 0) {
                printf("1..0 # SKIP /proc/self/idle_pages: %s (kernel without the vtism patch?)\n", strerror(errno));
                return 77;
        }
        if (geteuid() != 0)
                diag("not root: the permission test expects to drop privileges");

        test_4k(fd);
        test_thp(fd);
        test_bounds(fd);
        test_permissions();
        test_concurrent_munmap(fd);
        test_target_exit();

        printf("1..%d\n", n_tests);
        if (n_failed)
                printf("# %d of %d failed\n", n_failed, n_tests);
        else
                printf("# all %d passed\n", n_tests);
        close(fd);
        return n_failed ? 1 : 0;
}
