/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The softdirty tracker on a fixture tree built here: fake /proc/PID/{pagemap,clear_refs,stat,
 * status}, /proc/kpageflags and /proc/self/pagemap as regular files.
 *
 * Checked: the probe (a kernel with soft-dirty, one without, no proc at all, and the real /proc
 * against what this test measures itself); that target_add and prepare_access_checks write "4"
 * to clear_refs and hold an exclusive flock on it (a second instance is refused); what
 * check_accesses reports over two ranges, one of which spans two preads: written and clean 4 KiB
 * pages, swapped pages, holes, a PMD-mapped THP (whole), a PTE-mapped THP (folded when PFNs and
 * kpageflags say THP, page-exact otherwise), a VMA mapped after the clear (dropped); the
 * conflict reports: bits that survive the clear, a tracer, new mappings; a vanished process.
 *
 * A regular file is not the kernel: writing clear_refs clears nothing, so the fixture rewrites
 * pagemap between the calls as the kernel would have.
 */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fixture.h"
#include "vtism/heatmap.h"
#include "vtism/log.h"
#include "vtism/pagemap.h"
#include "vtism/tracker.h"
#include "vtism/util.h"

#define PID 4242
#define TRACER 77
#define START_TIME 12345ULL
#define BASE_HVA UINT64_C(0x7e00000)   /* 126 MiB: the 128 MiB pread boundary is 2 MiB above */
#define N_PAGES 2048u
#define HIGH_HVA UINT64_C(0x20000000)
#define HIGH_PAGES 256u
#define PG PAGEMAP_PAGE_BYTES

#define P PAGEMAP_PRESENT
#define S PAGEMAP_SWAPPED
#define SD PAGEMAP_SOFT_DIRTY
#define F_HEAD (UINT64_C(1) << 15)
#define F_TAIL (UINT64_C(1) << 16)
#define F_THP (UINT64_C(1) << 22)

static char root[] = "/tmp/test-tracker-softdirty.XXXXXX";
static char proc_root[256];
static uint64_t pagemap[N_PAGES], high[HIGH_PAGES];

static char *mfree_str(char *s) {
        free(s);
        return NULL;
}

static volatile uint8_t *mmap_page(void) {
        void *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        check(p != MAP_FAILED);
        return p;
}

static void write_file(const char *dir, const char *name, const char *contents) {
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        check(fd >= 0);
        check(write(fd, contents, strlen(contents)) == (ssize_t) strlen(contents));
        close(fd);
}

static void write_pagemaps(void) {
        _cleanup_free_ char *p = xasprintf("%s/%d/pagemap", proc_root, PID);

        fixture_write_at(p, pagemap, sizeof(pagemap), BASE_HVA / PG * 8);
        fixture_write_at(p, high, sizeof(high), HIGH_HVA / PG * 8);
}

static void set_flags(uint64_t pfn, uint64_t flags) {
        _cleanup_free_ char *p = xasprintf("%s/kpageflags", proc_root);
        fixture_write_at(p, &flags, sizeof(flags), pfn * 8);
}

/*
 * A fake /proc/self/pagemap below dir: every page of this process' small writable mappings
 * reads `entry` (the probe writes a word of its own and reads its entry back; its address is
 * not known here, but it lies in one of these).
 */
static void fake_self(const char *dir, uint64_t entry) {
        _cleanup_free_ char *self = xasprintf("%s/self", dir), *pm = NULL;
        _cleanup_fclose_ FILE *maps = fopen("/proc/self/maps", "re");
        char line[512];

        check(maps);
        fixture_mkdir_p(self);
        pm = xasprintf("%s/pagemap", self);
        (void) unlink(pm);
        write_file(self, "clear_refs", "");
        while (fgets(line, sizeof(line), maps)) {
                unsigned long long lo, hi;
                char perms[8];

                if (sscanf(line, "%llx-%llx %7s", &lo, &hi, perms) != 3 || perms[1] != 'w')
                        continue;
                if (hi - lo > 64 * MIB)
                        continue; /* sanitizer shadows and such: the probe's word is not there */
                for (unsigned long long a = lo; a < hi; a += PG)
                        fixture_write_at(pm, &entry, sizeof(entry), a / PG * 8);
        }
}

static void build_fixture(void) {
        _cleanup_free_ char *piddir = NULL, *tracerdir = NULL;
        char statline[256];

        check(mkdtemp(root));
        snprintf(proc_root, sizeof(proc_root), "%s/proc", root);
        piddir = xasprintf("%s/%d", proc_root, PID);
        fixture_mkdir_p(piddir);
        snprintf(statline, sizeof(statline),
                 "%d (qemu) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %llu 0 0\n", PID, START_TIME);
        write_file(piddir, "stat", statline);
        write_file(piddir, "status", "Name:\tqemu\nState:\tS (sleeping)\nTracerPid:\t0\nUid:\t0\n");
        write_file(piddir, "clear_refs", "");
        tracerdir = xasprintf("%s/%d", proc_root, TRACER);
        fixture_mkdir_p(tracerdir);
        write_file(tracerdir, "comm", "criu\001\n");
        fake_self(proc_root, P | SD | 0x777);

        /* [0, 512): a PMD-mapped THP, written: one soft-dirty bit for all 512 entries. */
        for (unsigned i = 0; i < 512; i++)
                pagemap[i] = P | SD | (0x40000 + i);
        /* [512, 1024): a PTE-mapped THP, 3 subpages written. */
        for (unsigned i = 512; i < 1024; i++) {
                pagemap[i] = P | (0x80000 + i - 512);
                set_flags(0x80000 + i - 512, F_THP | (i == 512 ? F_HEAD : F_TAIL));
        }
        pagemap[600] |= SD;
        pagemap[700] |= SD;
        pagemap[800] |= SD;
        /* [1024, 1536): 4 KiB pages: every 10th a hole, every 10th + 5 swapped (written if i % 20
         * == 5), written when i % 7 == 0. */
        for (unsigned i = 1024; i < 1536; i++) {
                if (i % 10 == 0)
                        pagemap[i] = 0;
                else if (i % 10 == 5)
                        pagemap[i] = S | (i % 20 == 5 ? SD : 0) | 0x3e0;
                else
                        pagemap[i] = P | (i % 7 == 0 ? SD : 0) | (0x90000 + (i * 37) % 4096);
        }
        /* [1536, 1600): a VMA mapped after the clear: soft-dirty everywhere, holes included. */
        for (unsigned i = 1536; i < 1600; i++)
                pagemap[i] = i % 4 == 0 ? SD : P | SD | (0xa0000 + i);
        /* [1600, 2048): holes. The high range: clean, one page written. */
        for (unsigned i = 0; i < HIGH_PAGES; i++)
                high[i] = P | (i == 100 ? SD : 0) | (0xb0000 + i * 3);
        write_pagemaps();
}

static bool want_written(unsigned i, bool folded) {
        if (i < 512)
                return true;
        if (i < 1024)
                return folded || i == 600 || i == 700 || i == 800;
        if (i < 1536) {
                if (i % 10 == 0)
                        return false;
                if (i % 10 == 5)
                        return i % 20 == 5;
                return i % 7 == 0;
        }
        return false; /* the new VMA is dropped, the rest are holes */
}

static void expect_heat(HeatMap *h, bool folded) {
        uint8_t heat;

        for (unsigned i = 0; i < N_PAGES; i++) {
                check_int(heatmap_heat_hva(h, BASE_HVA + (uint64_t) i * PG, &heat), 0);
                if ((heat > 0) != want_written(i, folded)) {
                        fprintf(stderr, "page %u: heat %u, expected %s (%s)\n", i, heat,
                                want_written(i, folded) ? "written" : "not", folded ? "folding" : "not folding");
                        exit(EXIT_FAILURE);
                }
        }
        for (unsigned i = 0; i < HIGH_PAGES; i++) {
                check_int(heatmap_heat_hva(h, HIGH_HVA + (uint64_t) i * PG, &heat), 0);
                check_int(heat > 0, i == 100);
        }
        check_u64(heatmap_stats(h)->unmatched_bytes, 0);
        check_u64(heatmap_stats(h)->out_of_order_bytes, 0);
}

static void test_probe(void) {
        _cleanup_free_ char *empty = xasprintf("%s/empty", root), *nosd = xasprintf("%s/nosd", root);
        TrackerContext ctx = { .proc_root = proc_root, .sysfs_root = root };
        char *reason = NULL;
        int r;

        check_int(tracker_softdirty_ops.probe(&ctx, &reason), 0);
        check(!reason);

        fixture_mkdir_p(empty);
        ctx.proc_root = empty;
        check(tracker_softdirty_ops.probe(&ctx, &reason) < 0);
        check(reason && strstr(reason, "pagemap"));
        reason = mfree_str(reason);

        fake_self(nosd, P | 0x777);
        ctx.proc_root = nosd;
        check_int(tracker_softdirty_ops.probe(&ctx, &reason), -EOPNOTSUPP);
        check(reason && strstr(reason, "CONFIG_MEM_SOFT_DIRTY"));
        reason = mfree_str(reason);

        /* The real kernel: the probe must agree with what a page of our own says. */
        {
                volatile uint8_t *page = mmap_page();
                int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
                uint64_t e = 0;

                check(fd >= 0);
                page[0] = 1;
                check(pread(fd, &e, sizeof(e), (off_t) ((uintptr_t) page / PG * 8)) == sizeof(e));
                close(fd);
                ctx.proc_root = "/proc";
                r = tracker_softdirty_ops.probe(&ctx, &reason);
                printf("real kernel: soft-dirty %s; probe: %s\n", e & SD ? "yes" : "no", reason ?: "usable");
                check_int(r >= 0, !!(e & SD));
                reason = mfree_str(reason);
        }
}

static size_t clears(void) {
        _cleanup_free_ char *p = xasprintf("%s/%d/clear_refs", proc_root, PID), *c = NULL;

        check_int(read_file_at(NULL, p, &c), 0);
        for (const char *q = c; *q; q++)
                check(*q == '4');
        return strlen(c);
}

/* What the kernel would do on a clear: no soft-dirty bits left, holes stay holes. */
static void kernel_clear(void) {
        for (unsigned i = 0; i < N_PAGES; i++)
                pagemap[i] &= ~SD;
        for (unsigned i = 0; i < HIGH_PAGES; i++)
                high[i] &= ~SD;
        write_pagemaps();
}

static void cycle(Tracker *t, TrackerTarget *target, HeatMap *h, int want) {
        heatmap_cycle_begin(h);
        check_int(t->ops->check_accesses(t, target, h), want);
        check_int(heatmap_cycle_end(h), 0);
}

int main(void) {
        _cleanup_(heatmap_freep) HeatMap *h = NULL, *h2 = NULL;
        _cleanup_(tracker_freep) Tracker *t = NULL, *t2 = NULL;
        _cleanup_free_ char *d = NULL;
        TrackerContext ctx;
        HeatRangeSpec ranges[2] = {
                { .gpa = 0, .hva = BASE_HVA, .len_bytes = (uint64_t) N_PAGES * PG },
                { .gpa = 64 * MIB, .hva = HIGH_HVA, .len_bytes = (uint64_t) HIGH_PAGES * PG },
        };
        TrackerTarget target = { .pid = PID, .start_time = START_TIME, .ranges = ranges, .n_ranges = 2 };
        TrackerTarget target2 = target;
        uint64_t saved[N_PAGES], saved_high[HIGH_PAGES];

        log_set_max_level(LOG_DEBUG);
        build_fixture();
        memcpy(saved, pagemap, sizeof(saved));
        memcpy(saved_high, high, sizeof(saved_high));
        test_probe();
        ctx = (TrackerContext) { .proc_root = proc_root, .sysfs_root = root };
        check_int(heatmap_new(ranges, 2, NULL, &h), 0);
        check_int(heatmap_new(ranges, 2, NULL, &h2), 0);

        /* target_add clears once (the first period) and locks clear_refs. */
        check_int(tracker_new(&tracker_softdirty_ops, &ctx, &t), 0);
        check_int(t->ops->target_add(t, &target), 0);
        check_int(clears(), 1);
        check(t->ops->target_valid(t, &target));

        /* A second instance on the same process is refused and clears nothing. */
        check_int(tracker_new(&tracker_softdirty_ops, &ctx, &t2), 0);
        check_int(t2->ops->target_add(t2, &target2), -EBUSY);
        check_int(clears(), 1);
        t2 = tracker_free(t2);

        /* Right after the clear most present pages of the fixture read clean enough. */
        d = tracker_describe_target(t, &target);
        printf("%s\n", d);
        check(!strstr(d, "stay soft-dirty"));
        d = mfree_str(d);

        /* The period: PFNs visible (fake self/pagemap) and kpageflags: the PTE-mapped THP folds. */
        cycle(t, &target, h, 0);
        expect_heat(h, true);
        d = tracker_describe_target(t, &target);
        printf("%s\n", d);
        check(strstr(d, "softdirty: writes, page-exact, PTE-mapped huge pages folded"));
        check(strstr(d, "soft-dirty with holes (new mappings) in 1 of 1 checks"));
        check(!strstr(d, "traced"));
        d = mfree_str(d);

        /* Bits that survive the clear (pages pinned for DMA): every present page stays dirty. */
        for (unsigned i = 0; i < N_PAGES; i++)
                if (pagemap[i] & P)
                        pagemap[i] |= SD;
        write_pagemaps();
        check_int(t->ops->prepare_access_checks(t, &target), 0);
        check_int(clears(), 2);
        d = tracker_describe_target(t, &target);
        printf("%s\n", d);
        check(strstr(d, "sampled pages stay soft-dirty after the clear (pinned for DMA?)"));
        d = mfree_str(d);

        /* The next period: the kernel cleared; nothing written, then one page in each range. */
        kernel_clear();
        check_int(t->ops->prepare_access_checks(t, &target), 0);
        check_int(clears(), 3);
        d = tracker_describe_target(t, &target);
        check(!strstr(d, "stay soft-dirty"));
        d = mfree_str(d);
        pagemap[1101] |= SD;
        high[200] |= SD;
        write_pagemaps();
        {
                _cleanup_free_ char *piddir = xasprintf("%s/%d", proc_root, PID);
                write_file(piddir, "status", "Name:\tqemu\nTracerPid:\t77\n");
        }
        cycle(t, &target, h2, 0);
        for (unsigned i = 0; i < N_PAGES; i++) {
                uint8_t heat;

                check_int(heatmap_heat_hva(h2, BASE_HVA + (uint64_t) i * PG, &heat), 0);
                check_int(heat > 0, i == 1101);
        }
        d = tracker_describe_target(t, &target);
        printf("%s\n", d);
        check(strstr(d, "traced by pid 77 (criu?)"));
        d = mfree_str(d);

        /* Without PFNs (no CAP_SYS_ADMIN): the PTE-mapped THP is reported page-exact. */
        memcpy(pagemap, saved, sizeof(saved));
        memcpy(high, saved_high, sizeof(saved_high));
        write_pagemaps();
        t->ops->target_remove(t, &target);
        t = tracker_free(t);
        fake_self(proc_root, P | SD);
        check_int(tracker_new(&tracker_softdirty_ops, &ctx, &t), 0);
        check_int(t->ops->target_add(t, &target), 0); /* the lock went with the old fd */
        h = heatmap_free(h);
        check_int(heatmap_new(ranges, 2, NULL, &h), 0);
        cycle(t, &target, h, 0);
        expect_heat(h, false);

        /* The process is gone. */
        {
                _cleanup_free_ char *stat = xasprintf("%s/%d/stat", proc_root, PID);
                check(unlink(stat) == 0);
        }
        check(!t->ops->target_valid(t, &target));
        check_int(t->ops->prepare_access_checks(t, &target), -ESRCH);
        cycle(t, &target, h, -ESRCH);
        check_int(t->ops->target_add(t, &target2), -ESRCH);
        t->ops->target_remove(t, &target);
        check(!target.data);

        {
                _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", root);
                check(system(cmd) == 0);
        }
        printf("test-tracker-softdirty: OK\n");
        return EXIT_SUCCESS;
}
