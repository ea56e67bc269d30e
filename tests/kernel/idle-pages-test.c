/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * idle-pages-test: selftest for /proc/PID/idle_pages (kernel-patches/), run as root inside the
 * lab on the patched kernel (tests/kernel/idle-pages-lab.sh).
 *
 * It has its own small decoder on purpose: it checks the kernel's stream independently of the
 * project's decoder (src/core/idle-pages-format.c), and is stricter (only the record types our
 * kernel emits, PMD records aligned, no page reported twice, position after each read).
 *
 * The page-table checks run twice: for a plain process, whose chunks the kernel reports directly,
 * and again after the process created a KVM VM (KVM_CREATE_VM, no memory slots): its MMU notifier
 * makes the kernel batch each chunk and age it in the secondary MMU with one
 * mmu_notifier_clear_young_bitmap() call, which must not change any result. (The KVM path with
 * guest memory is tests/kernel/idle-pages-kvm.) Creating a VM flips static keys: boot the lab
 * with --kvm (single-threaded TCG).
 *
 * Output is TAP-like; exit 0 = all passed, 1 = a failure, 77 = skipped (no idle_pages).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE_SZ 4096UL
#define PMD_SZ (2UL << 20)
#define SET_HVA 0xa0u
#define SET_HVA_BYTES 9
#define MIN_READ 10
/* One byte of a read's count covers 8 pages of address space. */
#define SPAN_PER_BYTE (8 * PAGE_SZ)

enum {
        T_PTE_ACCESSED = 0,
        T_PMD_ACCESSED = 1,
        T_PTE_IDLE = 5,
        T_PMD_IDLE = 6,
        T_PTE_HOLE = 8,
        T_PMD_HOLE = 9,
};

static int n_tests, n_failed;
/* Printed before every check: which pass of the suite this is. */
static const char *pass_prefix = "";

__attribute__((format(printf, 2, 3)))
static bool check(bool ok, const char *fmt, ...) {
        va_list ap;

        n_tests++;
        printf("%s %d - %s", ok ? "ok" : "not ok", n_tests, pass_prefix);
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

/*
 * (Re)initialise a view. Arrays of the same size are reused, so that a test which unmapped gaps
 * between its VMAs does not get a fresh allocation mapped into one of them.
 */
static void view_init(View *v, uintptr_t base, size_t len) {
        char *state = v->state, *gran = v->gran;
        size_t n = len / PAGE_SZ;

        if (state && v->n_pages == n) {
                memset(state, 0, n);
                memset(gran, 0, n);
        } else {
                free(state);
                free(gran);
                state = calloc(n, 1);
                gran = calloc(n, 1);
                if (!state || !gran)
                        die("calloc");
        }
        memset(v, 0, sizeof(*v));
        v->base = base;
        v->n_pages = n;
        v->state = state;
        v->gran = gran;
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
 * view (v may have n_pages 0 to only check the format). *ret_end: address after the last record,
 * or, for a read that is a lone SET_HVA (nothing to report below its bound), 0; *ret_first: the
 * address of the first SET_HVA.
 */
static bool decode(View *v, const uint8_t *b, size_t n, uintptr_t *ret_first, uintptr_t *ret_end) {
        uintptr_t addr = 0;
        size_t i = 0;

        *ret_end = 0;
        if (n < SET_HVA_BYTES || b[0] != SET_HVA)
                return fail(v, "read of %zu bytes does not start with SET_HVA (0x%02x)", n, n ? b[0] : 0);
        if (n < MIN_READ && n != SET_HVA_BYTES)
                return fail(v, "read of %zu bytes: neither a lone SET_HVA nor a SET_HVA and records", n);
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
                *ret_end = addr;
        }
        return true;
}

/* x86-64 with 4-level page tables: TASK_SIZE_MAX. */
#define TASK_END (((uintptr_t) 1 << 47) - PAGE_SZ)

/* The end of the address space a read of count bytes at pos may cover: count × 8 pages. */
static uintptr_t bound_of(uintptr_t pos, size_t count) {
        uintptr_t start = pos & ~(PAGE_SZ - 1);

        if (count >= (TASK_END - start) / SPAN_PER_BYTE)
                return TASK_END;
        return start + count * SPAN_PER_BYTE;
}

typedef struct ReadResult {
        size_t n;               /* bytes returned; 0 = end of file */
        uintptr_t first;        /* address of the first SET_HVA */
        uintptr_t rec_end;      /* address after the last record; 0 for a lone SET_HVA */
        uintptr_t bound;        /* what the read may cover */
        uintptr_t pos;          /* the position after it */
} ReadResult;

/*
 * One read of count bytes at the current position pos, every rule of the ABI checked: it starts
 * with a SET_HVA at or above the position's page; records never describe a page at or above the
 * bound (count × 8 pages from the position's page); the position afterwards lies between the end
 * of the last record and the bound, above the old one; a read with nothing to report is a lone
 * SET_HVA at or above the bound and the position moves there.
 */
static bool read_checked(int fd, View *v, uint8_t *buf, size_t count, uintptr_t pos, ReadResult *rr) {
        ssize_t r = read(fd, buf, count);
        off_t npos;

        memset(rr, 0, sizeof(*rr));
        rr->bound = bound_of(pos, count);
        if (r < 0)
                return fail(v, "read of %zu at 0x%lx: %s", count, (unsigned long) pos, strerror(errno));
        if ((size_t) r > count)
                return fail(v, "read returned %zd > %zu", r, count);
        rr->n = (size_t) r;
        if (r == 0)
                return true;
        if (!decode(v, buf, (size_t) r, &rr->first, &rr->rec_end))
                return false;
        if (rr->first < (pos & ~(PAGE_SZ - 1)))
                return fail(v, "read at 0x%lx starts with SET_HVA 0x%lx below it",
                            (unsigned long) pos, (unsigned long) rr->first);
        npos = lseek(fd, 0, SEEK_CUR);
        if (npos < 0)
                return fail(v, "lseek(SEEK_CUR): %s", strerror(errno));
        rr->pos = (uintptr_t) npos;
        if (!rr->rec_end) {
                if (rr->first < rr->bound || rr->pos != rr->first)
                        return fail(v, "lone SET_HVA 0x%lx from a read at 0x%lx (bound 0x%lx), position 0x%lx",
                                    (unsigned long) rr->first, (unsigned long) pos,
                                    (unsigned long) rr->bound, (unsigned long) rr->pos);
                return true;
        }
        if (rr->rec_end > rr->bound)
                return fail(v, "read of %zu at 0x%lx: records up to 0x%lx, past its bound 0x%lx", count,
                            (unsigned long) pos, (unsigned long) rr->rec_end, (unsigned long) rr->bound);
        if (rr->pos < rr->rec_end || rr->pos > rr->bound || rr->pos <= pos)
                return fail(v, "position 0x%lx after a read from 0x%lx with records up to 0x%lx, bound 0x%lx",
                            (unsigned long) rr->pos, (unsigned long) pos, (unsigned long) rr->rec_end,
                            (unsigned long) rr->bound);
        return true;
}

/*
 * Scan [start, end) of the file with reads of buf_size bytes from lseek(start), each checked by
 * read_checked(). Stops at end or at EOF. Returns false with v->err set on failure.
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
                ReadResult rr;

                if (!read_checked(fd, v, buf, buf_size, pos, &rr)) {
                        ok = false;
                        break;
                }
                if (rr.n == 0)
                        break;
                if (v->n_reads == 0)
                        v->first_hva = rr.first;
                pos = rr.pos;
                v->n_reads++;
                v->n_bytes += rr.n;
        }
        free(buf);
        return ok;
}

/* One checked read of count bytes at addr, decoded into v. */
static bool read_at(int fd, View *v, uintptr_t addr, size_t count, ReadResult *rr) {
        uint8_t *buf = malloc(count);
        bool ok;

        if (!buf)
                die("malloc");
        if (lseek(fd, (off_t) addr, SEEK_SET) != (off_t) addr) {
                free(buf);
                return fail(v, "lseek(0x%lx): %s", (unsigned long) addr, strerror(errno));
        }
        ok = read_checked(fd, v, buf, count, addr, rr);
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

/* Pages of [a, a + len) with state st in v (which must cover them). */
static size_t count_state(const View *v, uintptr_t a, size_t len, char st) {
        size_t n = 0;

        for (uintptr_t x = a; x < a + len; x += PAGE_SZ)
                n += v->state[(x - v->base) / PAGE_SZ] == st;
        return n;
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
        /*
         * 10 bytes cover 80 pages: every read ends inside a huge page, reports 15 of its pages with
         * its young bit tested, and the read that reports its last page clears it.
         */
        expect(&v, exp, 'p', "THP: reads of 10 bytes over huge pages: page records, the huge page's state");
        memset(exp, 'I', len / PAGE_SZ);
        view_init(&v, base, len);
        scan(fd, &v, base, base + len, 4096);
        expect(&v, exp, 'P', "THP: after 10-byte reads, each huge page was cleared by the read of its last page");
out:
        view_free(&v);
        free(exp);
        munmap(r, len);
}

/* ---- hugetlb (2 MiB pages from the pool, if one can be made) ------------------------------- */

static long read_long(const char *path) {
        FILE *f = fopen(path, "re");
        long v = -1;

        if (f) {
                if (fscanf(f, "%ld", &v) != 1)
                        v = -1;
                fclose(f);
        }
        return v;
}

static bool write_long(const char *path, long v) {
        FILE *f = fopen(path, "we");
        bool ok;

        if (!f)
                return false;
        ok = fprintf(f, "%ld\n", v) > 0;
        return fclose(f) == 0 && ok;
}

static void test_hugetlb(int fd) {
        static const char pool[] = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
        const size_t n = 3, len = n * PMD_SZ, hp = PMD_SZ / PAGE_SZ;
        long saved = read_long(pool);
        char *exp = malloc(len / PAGE_SZ);
        ReadResult rr;
        View v = {0};
        uint8_t *r;

        if (!exp)
                die("malloc");
        if (saved < 0 || !write_long(pool, saved + (long) n) || read_long(pool) < saved + (long) n) {
                diag("no 2 MiB hugetlb pages could be reserved: hugetlb checks skipped");
                free(exp);
                return;
        }
        r = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
        if (r == MAP_FAILED) {
                diag("mmap(MAP_HUGETLB): %s: hugetlb checks skipped", strerror(errno));
                goto out;
        }
        for (size_t i = 0; i < n; i++)
                touch_write(r + i * PMD_SZ);
        view_init(&v, (uintptr_t) r, len);
        scan(fd, &v, (uintptr_t) r, (uintptr_t) r + len, 4096);
        memset(exp, 'A', len / PAGE_SZ);
        expect(&v, exp, 'P', "hugetlb: freshly faulted 2 MiB pages are PMD_ACCESSED");
        touch_read(r + PMD_SZ + 1000);
        memset(exp, 'I', len / PAGE_SZ);
        memset(exp + hp, 'A', hp);
        view_init(&v, (uintptr_t) r, len);
        scan(fd, &v, (uintptr_t) r, (uintptr_t) r + len, 4096);
        expect(&v, exp, 'P', "hugetlb: exactly the touched 2 MiB page is accessed");
        /* A read whose bound ends inside a hugetlb page: tested, not cleared. */
        touch_read(r);
        view_init(&v, (uintptr_t) r, len);
        read_at(fd, &v, (uintptr_t) r, 32, &rr);
        check(!v.err[0] && rr.pos == (uintptr_t) r + 256 * PAGE_SZ && count_state(&v, (uintptr_t) r, 256 * PAGE_SZ, 'A') == 256,
              "hugetlb: a read ending inside a huge page reports its first 256 pages accessed %s", v.err);
        view_init(&v, (uintptr_t) r, len);
        scan(fd, &v, (uintptr_t) r, (uintptr_t) r + len, 4096);
        memset(exp, 'I', len / PAGE_SZ);
        memset(exp, 'A', hp);
        expect(&v, exp, 'P', "hugetlb: ... and left its young bit for the read that reports all of it");
        munmap(r, len);
out:
        write_long(pool, saved);
        view_free(&v);
        free(exp);
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
        uintptr_t base = (uintptr_t) r;
        size_t bufsz = 1 << 20;
        uint8_t *buf = malloc(bufsz);
        ReadResult rr;
        View v = {0};
        ssize_t n;

        if (!buf)
                die("malloc");
        /* No fixed cap any more: count × 8 pages is the bound, exactly. */
        view_init(&v, base, len);
        read_at(fd, &v, base, 4096, &rr);
        check(!v.err[0] && rr.rec_end == base + (128UL << 20) && rr.pos == rr.rec_end,
              "a 4096-byte read over 1.5 GiB of unpopulated VMA covers exactly 128 MiB (%lu MiB), "
              "the position is there %s", (unsigned long) ((rr.rec_end - base) >> 20), v.err);
        view_init(&v, base, len);
        read_at(fd, &v, base, bufsz, &rr);
        {
                bool all = !v.err[0];
                for (size_t i = 0; i < v.n_pages; i++)
                        all &= v.state[i] == 'H';
                check(all && rr.rec_end >= base + len,
                      "a read of 1 MiB (32 GiB of bound) describes all 1.5 GiB of the VMA as holes %s", v.err);
        }
        view_free(&v);
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

/* ---- the read bound of earlier implementations: count × 8 pages, gaps included ------------ */

/* Map [addr, addr + len) read-write, fixed, inside a reservation made by the caller. */
static uint8_t *map_fixed(uintptr_t addr, size_t len, int prot, bool thp) {
        uint8_t *p = mmap((void *) addr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);

        if (p == MAP_FAILED)
                die("mmap(MAP_FIXED)");
        if (madvise(p, len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) < 0)
                die("madvise");
        return p;
}

static void touch_all(uint8_t *p, size_t len) {
        for (size_t o = 0; o < len; o += PAGE_SZ)
                touch_write(p + o);
}

/*
 * The first scenario: a 16-page VMA, a 256 MiB gap, a freshly touched 16384-page VMA. An
 * earlier reader reads 4096 bytes at the small VMA, discards what lies past its end, then reads
 * the big one: with a bound of 4096 × 8 pages = 128 MiB the first read must not reach (and
 * clear) the big VMA.
 */
static void test_bound_gap(int fd, bool thp) {
        const size_t small = 16 * PAGE_SZ, gap = 256UL << 20, big = 16384 * PAGE_SZ;
        uint8_t *r = map_aligned(PMD_SZ + gap + big, PMD_SZ, PROT_NONE);
        uintptr_t s0 = (uintptr_t) r + PMD_SZ - small, b0 = (uintptr_t) r + PMD_SZ + gap;
        const char *what = thp ? "THP" : "4 KiB";
        ReadResult rr;
        View v = {0};

        view_init(&v, s0, b0 + big - s0);
        munmap(r, PMD_SZ - small);
        munmap(r + PMD_SZ, gap);
        touch_all(map_fixed(s0, small, PROT_READ | PROT_WRITE, false), small);
        touch_all(map_fixed(b0, big, PROT_READ | PROT_WRITE, thp), big);

        view_init(&v, s0, b0 + big - s0);
        read_at(fd, &v, s0, 4096, &rr);
        check(!v.err[0] && count_state(&v, s0, small, 'A') == 16 && count_state(&v, b0, big, 0) == 16384 &&
              rr.pos == s0 + 4096 * SPAN_PER_BYTE,
              "%s: a 4096-byte read at a 16-page VMA reports it (%zu/16 accessed) and nothing of a VMA "
              "256 MiB further (%zu of 16384 pages reported); position at its 128 MiB bound %s", what,
              count_state(&v, s0, small, 'A'), 16384 - count_state(&v, b0, big, 0), v.err);
        view_init(&v, s0, b0 + big - s0);
        scan(fd, &v, b0, b0 + big, 4096);
        check(!v.err[0] && count_state(&v, b0, big, 'A') == 16384,
              "%s: the reader's own read of the big VMA right after finds %zu of 16384 pages accessed %s",
              what, count_state(&v, b0, big, 'A'), v.err);
        view_free(&v);
        munmap((void *) s0, small);
        munmap((void *) b0, big);
}

/*
 * The second scenario: one read per VMA sized pages / 8 over a 1.5 GiB VMA must describe all of
 * it (no 1 GiB cap), up to the accessed pages at its very end.
 */
static void test_bound_big_vma(int fd) {
        const size_t len = 3UL << 29, pages = len / PAGE_SZ;
        uint8_t *r = map_aligned(len, PMD_SZ, PROT_READ | PROT_WRITE);
        uintptr_t base = (uintptr_t) r;
        ReadResult rr;
        View v = {0};
        bool all = true;

        madvise(r, len, MADV_NOHUGEPAGE);
        touch_all(r, 16 * PAGE_SZ);
        touch_all(r + len - 16 * PAGE_SZ, 16 * PAGE_SZ);
        view_init(&v, base, len);
        read_at(fd, &v, base, pages / 8, &rr);
        for (size_t i = 0; i < pages; i++)
                all &= v.state[i] != 0;
        check(!v.err[0] && all && rr.pos == base + len && count_state(&v, base + len - 16 * PAGE_SZ, 16 * PAGE_SZ, 'A') == 16,
              "one read of pages/8 = %zu bytes describes a whole 1.5 GiB VMA (%s), its last 16 pages "
              "accessed (%zu), and leaves the position at its end (+%lu MiB) %s", pages / 8,
              all ? "every page" : "NOT every page", count_state(&v, base + len - 16 * PAGE_SZ, 16 * PAGE_SZ, 'A'),
              (unsigned long) ((rr.pos - base) >> 20), v.err);
        view_free(&v);
        munmap(r, len);
}

/*
 * A whole process walked with 4096-byte reads from 0 to EOF, through VMAs separated by gaps
 * larger and smaller than one read's bound: every page of our VMAs reported exactly once with its
 * state, nothing in the gaps, a gap above the bound answered by a lone SET_HVA.
 */
static void test_bound_walk(int fd) {
        /* VMA 1: 64 pages, gap 200 MiB, VMA 2: 4 MiB THP, gap 1 MiB, VMA 3: 300 pages, gap 3 GiB, VMA 4: 10 pages */
        const size_t l1 = 64 * PAGE_SZ, g1 = 200UL << 20, l2 = 2 * PMD_SZ, g2 = 1UL << 20,
                     l3 = 300 * PAGE_SZ, g3 = 3UL << 30, l4 = 10 * PAGE_SZ;
        const size_t total = PMD_SZ + g1 + l2 + g2 + l3 + g3 + l4;
        uint8_t *r = map_aligned(total, PMD_SZ, PROT_NONE);
        uintptr_t v1 = (uintptr_t) r + PMD_SZ - l1, v2 = (uintptr_t) r + PMD_SZ + g1, v3 = v2 + l2 + g2,
                  v4 = v3 + l3 + g3;
        char *exp = malloc((v4 + l4 - v1) / PAGE_SZ);
        ReadResult rr;
        View v = {0};
        bool thp;

        if (!exp)
                die("malloc");
        view_init(&v, v1, v4 + l4 - v1);
        munmap(r, PMD_SZ - l1);
        munmap(r + PMD_SZ, g1);
        munmap((void *) (v2 + l2), g2);
        munmap((void *) (v3 + l3), g3);
        map_fixed(v1, l1, PROT_READ | PROT_WRITE, false);
        map_fixed(v2, l2, PROT_READ | PROT_WRITE, true);
        map_fixed(v3, l3, PROT_READ | PROT_WRITE, false);
        map_fixed(v4, l4, PROT_READ | PROT_WRITE, false);
        touch_all((uint8_t *) v1, l1);
        touch_all((uint8_t *) v2, l2);
        touch_all((uint8_t *) v3, l3);
        touch_all((uint8_t *) v4, l4);
        view_init(&v, v1, v4 + l4 - v1);
        scan(fd, &v, v1, v4 + l4, 65536);         /* everything idle now */
        thp = v.gran[(v2 - v1) / PAGE_SZ] == 'P';

        /*
         * The pattern: VMA 1 every 3rd page, huge page 1 of VMA 2 (or one page of it without THP),
         * VMA 3 pages 100..199, VMA 4 page 9.
         */
        memset(exp, 0, v.n_pages);
        for (size_t i = 0; i < l1 / PAGE_SZ; i++) {
                exp[(v1 - v1) / PAGE_SZ + i] = i % 3 ? 'I' : 'A';
                if (i % 3 == 0)
                        touch_read((uint8_t *) v1 + i * PAGE_SZ);
        }
        for (size_t i = 0; i < l2 / PAGE_SZ; i++)
                exp[(v2 - v1) / PAGE_SZ + i] = (thp ? i >= 512 : i == 512 + 77) ? 'A' : 'I';
        touch_read((uint8_t *) v2 + PMD_SZ + 77 * PAGE_SZ);
        for (size_t i = 0; i < l3 / PAGE_SZ; i++) {
                exp[(v3 - v1) / PAGE_SZ + i] = i >= 100 && i < 200 ? 'A' : 'I';
                if (i >= 100 && i < 200)
                        touch_write((uint8_t *) v3 + i * PAGE_SZ);
        }
        for (size_t i = 0; i < l4 / PAGE_SZ; i++)
                exp[(v4 - v1) / PAGE_SZ + i] = i == 9 ? 'A' : 'I';
        touch_write((uint8_t *) v4 + 9 * PAGE_SZ);

        /* Explicitly: a read in the 200 MiB gap (bound 128 MiB) is a lone SET_HVA to VMA 2. */
        view_init(&v, v1, v4 + l4 - v1);
        read_at(fd, &v, v1 + l1, 4096, &rr);
        check(!v.err[0] && rr.n == SET_HVA_BYTES && rr.rec_end == 0 && rr.first == v2 && rr.pos == v2,
              "a 4096-byte read in a 200 MiB gap returns a lone SET_HVA (%zu bytes) to the next VMA "
              "(0x%lx, got 0x%lx), the position moves there %s", rr.n, (unsigned long) v2,
              (unsigned long) rr.first, v.err);

        /* The whole process from 0, 4096 bytes at a time, until EOF. */
        view_init(&v, v1, v4 + l4 - v1);
        scan(fd, &v, 0, UINTPTR_MAX, 4096);
        {
                size_t bad = 0;
                for (size_t i = 0; i < v.n_pages; i++)
                        bad += v.state[i] != exp[i];
                check(!v.err[0] && bad == 0 && v.n_reads < 100000,
                      "4096-byte reads from 0 to EOF over a process with gaps of 200 MiB, 1 MiB and 3 GiB: "
                      "every page of its VMAs exactly once with its state, nothing in the gaps "
                      "(%zu pages differ; %zu reads, %zu bytes) %s", bad, v.n_reads, v.n_bytes, v.err);
        }
        free(exp);
        view_free(&v);
        munmap((void *) v1, l1);
        munmap((void *) v2, l2);
        munmap((void *) v3, l3);
        munmap((void *) v4, l4);
}

/*
 * One read per VMA of (pages + 7) / 8 bytes, as earlier readers do, over three adjacent VMAs (396
 * pages, 1000 pages, 4 MiB of THP): each read describes its whole VMA (its records fit: runs of
 * 15 pages per byte); the first one's bound (400 pages) reaches 4 pages into the next VMA, which
 * it reports and clears, and nothing more.
 */
static void test_bound_per_vma(int fd) {
        const size_t pa = 396, pb = 1000, lc = 2 * PMD_SZ;
        uint8_t *r = map_aligned(4 * PMD_SZ, PMD_SZ, PROT_NONE);
        uintptr_t c = (uintptr_t) r + 2 * PMD_SZ, b = c - pb * PAGE_SZ, a = b - pa * PAGE_SZ;
        struct { uintptr_t start; size_t len; } vmas[3] = {
                { a, pa * PAGE_SZ }, { b, pb * PAGE_SZ }, { c, lc },
        };
        size_t reported[3] = {0}, accessed[3] = {0};
        bool one_read = true;
        ReadResult rr;
        View v = {0};

        /* Different protections keep the neighbours apart. */
        touch_all(map_fixed(a, pa * PAGE_SZ, PROT_READ | PROT_WRITE, false), pa * PAGE_SZ);
        map_fixed(b, pb * PAGE_SZ, PROT_READ, false);
        for (size_t i = 0; i < pb; i++)
                touch_read((uint8_t *) b + i * PAGE_SZ);        /* maps the zero page: present */
        touch_all(map_fixed(c, lc, PROT_READ | PROT_WRITE | PROT_EXEC, true), lc);
        view_init(&v, a, c + lc - a);
        scan(fd, &v, a, c + lc, 65536);         /* clear */
        for (size_t i = 0; i < pa; i++)
                touch_read((uint8_t *) a + i * PAGE_SZ);
        for (size_t i = 0; i < pb; i++)
                touch_read((uint8_t *) b + i * PAGE_SZ);
        touch_read((uint8_t *) c);
        touch_read((uint8_t *) c + PMD_SZ);

        for (size_t k = 0; k < 3; k++) {
                size_t pages = vmas[k].len / PAGE_SZ, count = (pages + 7) / 8;

                view_init(&v, a, c + lc - a);
                read_at(fd, &v, vmas[k].start, count < MIN_READ ? MIN_READ : count, &rr);
                one_read &= !v.err[0] && rr.pos >= vmas[k].start + vmas[k].len;
                reported[k] = pages - count_state(&v, vmas[k].start, vmas[k].len, 0);
                accessed[k] = count_state(&v, vmas[k].start, vmas[k].len, 'A');
                if (k == 0)
                        check(!v.err[0] && count_state(&v, b, 4 * PAGE_SZ, 'A') == 4 &&
                              count_state(&v, b + 4 * PAGE_SZ, (pb - 4) * PAGE_SZ, 0) == pb - 4,
                              "a 50-byte read at a 396-page VMA covers 400 pages: the first 4 pages of the "
                              "adjacent VMA are reported, nothing beyond %s", v.err);
        }
        check(one_read && reported[0] == pa && reported[1] == pb && reported[2] == lc / PAGE_SZ,
              "one read of (pages + 7) / 8 bytes per VMA describes each VMA whole (%zu/%zu, %zu/%zu, %zu/%zu) %s",
              reported[0], pa, reported[1], pb, reported[2], lc / PAGE_SZ, v.err);
        check(accessed[0] == pa && accessed[1] == pb - 4 && accessed[2] == lc / PAGE_SZ,
              "per-VMA reads: all accessed except the 4 pages the previous read reported (%zu/%zu, %zu/%zu, %zu/%zu)",
              accessed[0], pa, accessed[1], pb - 4, accessed[2], lc / PAGE_SZ);
        view_free(&v);
        munmap(r, 4 * PMD_SZ);
}

/*
 * Reads that end inside a huge page (3 THPs, all accessed): a fresh read whose bound ends inside
 * the first reports as much as its bound allows with the young bit tested, not cleared; a read
 * that reports a huge page's last page clears it; a read that has reported something stops
 * before a huge page crossing its bound.
 */
static void test_bound_huge(int fd) {
        const size_t len = 3 * PMD_SZ, hp = PMD_SZ / PAGE_SZ;
        uint8_t *r = map_aligned(len, PMD_SZ, PROT_READ | PROT_WRITE);
        uintptr_t base = (uintptr_t) r;
        ReadResult rr;
        View v = {0};
        bool thp;

        madvise(r, len, MADV_HUGEPAGE);
        touch_all(r, len);
        view_init(&v, base, len);
        scan(fd, &v, base, base + len, 4096);
        thp = !v.err[0] && v.gran[0] == 'P' && v.gran[hp] == 'P' && v.gran[2 * hp] == 'P';
        if (!thp) {
                diag("no THP in the region: huge-page bound checks skipped");
                goto out;
        }
        for (size_t i = 0; i < 3; i++)
                touch_read(r + i * PMD_SZ + 3 * PAGE_SZ);

        /* 32 bytes = 256 pages of bound, from the start of huge page 0. */
        view_init(&v, base, len);
        read_at(fd, &v, base, 32, &rr);
        check(!v.err[0] && rr.pos == base + 256 * PAGE_SZ && count_state(&v, base, 256 * PAGE_SZ, 'A') == 256 &&
              count_state(&v, base + 256 * PAGE_SZ, len - 256 * PAGE_SZ, 0) == len / PAGE_SZ - 256,
              "a read whose bound ends inside a huge page reports its first 256 pages accessed, "
              "nothing past the bound, position at the bound %s", v.err);
        view_init(&v, base, len);
        read_at(fd, &v, base, 32, &rr);
        check(!v.err[0] && count_state(&v, base, 256 * PAGE_SZ, 'A') == 256,
              "... and did not clear the huge page's young bit: read again, still accessed %s", v.err);

        /* From page 256 with 64 bytes (bound: page 768): the rest of huge page 0, then stop. */
        view_init(&v, base, len);
        read_at(fd, &v, base + 256 * PAGE_SZ, 64, &rr);
        check(!v.err[0] && count_state(&v, base + 256 * PAGE_SZ, 256 * PAGE_SZ, 'A') == 256 &&
              rr.pos == base + PMD_SZ && rr.rec_end == base + PMD_SZ &&
              count_state(&v, base + PMD_SZ, 2 * PMD_SZ, 0) == 2 * hp,
              "a read that reports a huge page's last page, then meets a huge page across its bound, "
              "stops before that one (position 0x%lx = huge page 1, bound 0x%lx) %s",
              (unsigned long) rr.pos, (unsigned long) rr.bound, v.err);

        /* Now: huge page 0 cleared, 1 and 2 never reported: still accessed. */
        view_init(&v, base, len);
        scan(fd, &v, base, base + len, 4096);
        check(!v.err[0] && count_state(&v, base, PMD_SZ, 'I') == hp && count_state(&v, base + PMD_SZ, 2 * PMD_SZ, 'A') == 2 * hp,
              "afterwards huge page 0 reads idle (cleared by the read of its last page), huge pages 1 "
              "and 2 accessed (their bits were never cleared unreported) %s", v.err);
out:
        view_free(&v);
        munmap(r, len);
}

/*
 * An accessed bit is never cleared for a page a read did not report: reads that stop early for
 * lack of buffer space (every other page accessed: one record per page) over 4 KiB pages.
 */
static void test_bound_no_silent_clear(int fd) {
        const size_t pages = 1024;
        uint8_t *r = map_aligned(pages * PAGE_SZ, PMD_SZ, PROT_READ | PROT_WRITE);
        uintptr_t base = (uintptr_t) r, pos = base;
        ReadResult rr;
        View v = {0}, all = {0};
        size_t silent = 0, reads = 0;
        bool ok = true;

        madvise(r, pages * PAGE_SZ, MADV_NOHUGEPAGE);
        touch_all(r, pages * PAGE_SZ);
        view_init(&v, base, pages * PAGE_SZ);
        scan(fd, &v, base, base + pages * PAGE_SZ, 65536);
        /*
         * Per step: every other page touched, one 64-byte read (bound 512 pages, but the buffer
         * holds only ~55 page records), then a full scan: pages beyond the short read must still
         * read accessed.
         */
        while (pos < base + (pages - 64) * PAGE_SZ && ok) {     /* the last reads would reach past it */
                for (size_t i = 0; i < pages; i += 2)
                        touch_read(r + i * PAGE_SZ);
                view_init(&v, base, pages * PAGE_SZ);
                ok = read_at(fd, &v, pos, 64, &rr) && rr.rec_end && rr.pos == rr.rec_end && rr.pos < rr.bound;
                view_init(&all, base, pages * PAGE_SZ);
                ok = ok && scan(fd, &all, base, base + pages * PAGE_SZ, 65536);
                for (size_t i = ((rr.pos - base) / PAGE_SZ + 1) & ~(size_t) 1; ok && i < pages; i += 2)
                        silent += all.state[i] != 'A';     /* the touched (even) pages after it */
                pos = rr.pos;
                reads++;
        }
        check(ok && silent == 0,
              "%zu short reads (buffer full before the bound; position = end of the last record): "
              "no page after a short read lost its accessed bit (%zu did) %s%s", reads, silent, v.err, all.err);
        view_free(&v);
        view_free(&all);
        munmap(r, pages * PAGE_SZ);
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

static void test_page_tables(int fd) {
        test_4k(fd);
        test_thp(fd);
        test_hugetlb(fd);
        test_bounds(fd);
        test_bound_gap(fd, false);
        test_bound_gap(fd, true);
        test_bound_big_vma(fd);
        test_bound_walk(fd);
        test_bound_per_vma(fd);
        test_bound_huge(fd);
        test_bound_no_silent_clear(fd);
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

        test_page_tables(fd);
        test_permissions();
        test_concurrent_munmap(fd);
        test_target_exit();

        /* Again, with a secondary MMU registered on this process's mm. */
        {
                int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm = -1;

                if (kvm >= 0)
                        vm = ioctl(kvm, KVM_CREATE_VM, 0);
                if (vm < 0) {
                        diag("no KVM VM (%s): the checks with a secondary MMU are skipped", strerror(errno));
                } else {
                        pass_prefix = "[with a KVM MMU notifier] ";
                        test_page_tables(fd);
                        test_concurrent_munmap(fd);
                        close(vm);
                }
                if (kvm >= 0)
                        close(kvm);
        }

        printf("1..%d\n", n_tests);
        if (n_failed)
                printf("# %d of %d failed\n", n_failed, n_tests);
        else
                printf("# all %d passed\n", n_tests);
        close(fd);
        return n_failed ? 1 : 0;
}
