/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lab-unmovable FROM TO
 *
 * Runs inside the lab. What move_pages(2) does with the kinds of guest memory an operator asks
 * about, each 2 MiB placed on node FROM and then sent to node TO, placement re-queried:
 *   anon          plain anonymous 4 KiB pages (the control: they move)
 *   mlock         the same, mlock()ed (QEMU -overcommit mem-lock=on)
 *   memfd         MAP_SHARED memfd pages (QEMU memory-backend-memfd)
 *   hugetlb-nopool  a 2 MiB hugetlbfs page, no huge page reserved on TO (it moves: the kernel
 *                   takes a temporary surplus huge page on TO)
 *   hugetlb-pool    the same back and forth with one 2 MiB huge page reserved on TO
 *   pinned        long-term pinned pages (io_uring registered buffers, FOLL_LONGTERM: what VFIO
 *                 device assignment does to all of guest RAM)
 * One line per kind: "KIND: moved N of M, statuses: -EBUSY x512" and the verdict the README
 * states; exits 1 if a kind does not behave as documented.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <numa.h>
#include <numaif.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define SZ (2UL << 20)
#define PAGE 4096UL
#define MAXP (SZ / PAGE)

static int from, to, failures;

void numa_error(char *where) {
        printf("libnuma error in %s: %s\n", where, strerror(errno));
}

__attribute__((format(printf, 2, 3))) void numa_warn(int num, char *fmt, ...) {
        va_list ap;

        fputs("libnuma warning: ", stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
}

static const char *status_name(int s) {
        static char buf[32];

        switch (-s) {
        case EBUSY: return "-EBUSY";
        case EAGAIN: return "-EAGAIN";
        case ENOMEM: return "-ENOMEM";
        case EFAULT: return "-EFAULT";
        case ENOENT: return "-ENOENT";
        case EACCES: return "-EACCES";
        case EPERM: return "-EPERM";
        case EIO: return "-EIO";
        default:
                snprintf(buf, sizeof(buf), "%d", s);
                return buf;
        }
}

/* Where the pages of [p, p+len) are, in steps of step bytes; counts on node n. */
static size_t count_on(char *p, size_t len, size_t step, int n) {
        void *pages[MAXP];
        int status[MAXP];
        size_t k = len / step, c = 0;

        for (size_t i = 0; i < k; i++)
                pages[i] = p + i * step;
        if (move_pages(0, k, pages, NULL, status, 0) < 0)
                return 0;
        for (size_t i = 0; i < k; i++)
                c += status[i] == n;
        return c;
}

/* Move [p, p+len) to `to`; print the outcome; return how many ended up there. */
static size_t try_move(const char *kind, char *p, size_t len, size_t step) {
        void *pages[MAXP];
        int nodes[MAXP], status[MAXP];
        size_t k = len / step, there;
        char summary[256] = "";
        long rc;

        if (count_on(p, len, step, from) != k)
                printf("%s: note: only %zu of %zu pages on node %d before the move\n", kind,
                       count_on(p, len, step, from), k, from);
        for (size_t i = 0; i < k; i++) {
                pages[i] = p + i * step;
                nodes[i] = to;
        }
        rc = move_pages(0, k, pages, nodes, status, MPOL_MF_MOVE);
        if (rc < 0)
                snprintf(summary, sizeof(summary), "the call failed: %s", status_name(-errno));
        else {
                /* statuses, run-length */
                size_t n = 0;
                for (size_t i = 0; i < k; i++) {
                        size_t j = i;
                        while (j + 1 < k && status[j + 1] == status[i])
                                j++;
                        n += (size_t) snprintf(summary + n, sizeof(summary) - n, "%s%s x%zu", i ? ", " : "",
                                               status[i] >= 0 ? (status[i] == to ? "moved" : "other node") :
                                                                status_name(status[i]),
                                               j - i + 1);
                        if (n >= sizeof(summary))
                                break;
                        i = j;
                }
                if (rc > 0)
                        n += (size_t) snprintf(summary + n, sizeof(summary) - n, " (%ld not migrated)", rc);
        }
        there = count_on(p, len, step, to);
        printf("%s: %zu of %zu on node %d after the move; move_pages: %s\n", kind, there, k, to, summary);
        return there;
}

static void expect(const char *kind, bool ok, const char *what) {
        printf("%s: %s: %s\n", kind, ok ? "as documented" : "NOT as documented", what);
        if (!ok)
                failures++;
}

static char *anon(size_t len, bool thp) {
        char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        if (p == MAP_FAILED)
                return NULL;
        (void) madvise(p, len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
        return p;
}

/* Fault in on node `from` (this CPU's node is DRAM node 0; bind to be sure). */
static void place(char *p, size_t len) {
        unsigned long mask = 1UL << from;

        (void) mbind(p, len, MPOL_BIND, &mask, sizeof(mask) * 8, 0);
        memset(p, 0x5a, len);
        (void) mbind(p, len, MPOL_DEFAULT, NULL, 0, 0);
}

static int set_pool(int node, int n) {
        char path[128];
        FILE *f;

        snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/hugepages/hugepages-2048kB/nr_hugepages", node);
        f = fopen(path, "we");
        if (!f)
                return -errno;
        fprintf(f, "%d\n", n);
        return fclose(f) == 0 ? 0 : -errno;
}

int main(int argc, char **argv) {
        char *p;
        size_t k = SZ / PAGE;

        if (argc != 3) {
                fprintf(stderr, "usage: lab-unmovable FROM TO\n");
                return 2;
        }
        from = atoi(argv[1]);
        to = atoi(argv[2]);

        p = anon(SZ, false);
        place(p, SZ);
        expect("anon", try_move("anon", p, SZ, PAGE) == k, "plain anonymous pages move");
        munmap(p, SZ);

        p = anon(SZ, false);
        place(p, SZ);
        if (mlock(p, SZ) < 0)
                printf("mlock: mlock failed: %s\n", strerror(errno));
        expect("mlock", try_move("mlock", p, SZ, PAGE) == k, "mlock()ed pages move too (mlock keeps them in RAM, not in place)");
        munmap(p, SZ);

        {
                int fd = memfd_create("guest-ram", MFD_CLOEXEC);

                if (fd < 0 || ftruncate(fd, (off_t) SZ) < 0)
                        printf("memfd: cannot create: %s\n", strerror(errno));
                else {
                        p = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                        place(p, SZ);
                        expect("memfd", try_move("memfd", p, SZ, PAGE) == k, "shared memfd pages move");
                        munmap(p, SZ);
                        close(fd);
                }
        }

        /* hugetlbfs: one 2 MiB page on `from`, none or one free on `to`. */
        if (set_pool(from, 1) < 0 || set_pool(to, 0) < 0)
                printf("hugetlb: cannot size the pools: %s\n", strerror(errno));
        else {
                p = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
                if (p == MAP_FAILED)
                        printf("hugetlb: no huge page: %s\n", strerror(errno));
                else {
                        place(p, SZ);
                        /* The kernel allocates a temporary surplus huge page on the target for the
                         * migration (alloc_migrate_hugetlb_folio; not for 1 GiB pages). */
                        expect("hugetlb-nopool", try_move("hugetlb-nopool", p, SZ, SZ) == 1,
                               "a 2 MiB hugetlbfs page moves even with no huge page reserved on the target");
                        (void) move_pages(0, 1, (void **) &p, (int[]) { from }, (int[]) { 0 }, MPOL_MF_MOVE);
                        if (set_pool(to, 1) < 0)
                                printf("hugetlb-pool: cannot reserve one on node %d\n", to);
                        expect("hugetlb-pool", try_move("hugetlb-pool", p, SZ, SZ) == 1,
                               "and into a huge page reserved on the target node");
                        munmap(p, SZ);
                }
                (void) set_pool(from, 0);
                (void) set_pool(to, 0);
        }

        /* Long-term pin, as VFIO does: io_uring registered buffers (FOLL_LONGTERM). */
        {
                struct io_uring_params params = {};
                int ring = (int) syscall(__NR_io_uring_setup, 4, &params);
                struct iovec iov;

                p = anon(SZ, false);
                place(p, SZ);
                iov = (struct iovec) { .iov_base = p, .iov_len = SZ };
                if (ring < 0 || syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, &iov, 1) < 0)
                        printf("pinned: cannot pin with io_uring: %s\n", strerror(errno));
                else {
                        /* move_pages() returns how many it could not migrate (> 0) and leaves the
                         * target node in their status: only a new query tells. */
                        expect("pinned", try_move("pinned", p, SZ, PAGE) == 0,
                               "long-term pinned pages (VFIO, io_uring buffers) do not move; move_pages() "
                               "returns their number and their status says the target node");
                        close(ring);
                }
                munmap(p, SZ);
        }

        printf("lab-unmovable: %s\n", failures ? "FAIL" : "PASS");
        return failures ? 1 : 0;
}
