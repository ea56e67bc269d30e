/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A whole vtismd cycle at scale (issue 10): the real manager on its own event loop and timer --
 * discovery (the /proc source over a fixture tree), the idle_pages tracker, heat maps, the
 * placement pass (residency refresh, plan_compute(), the migrator and its worker thread) and the
 * D-Bus face (bus_setup() on a private dbus-daemon) -- for N simulated VMs of M MiB each, with
 * two stand-ins for the kernel, wrapped at link time (bench/meson.build):
 *
 *   /proc/PID/idle_pages   open64/read/lseek64/close of the fixture's idle_pages files are served
 *                          from synthetic record streams as the patched kernel writes them (a read
 *                          covers at most count x 8 pages, ends on a record, moves the position):
 *                          4 KiB pages accessed with probability --density, scattered, and a share
 *                          (--thp) of the 2 MiB blocks THP-backed (one PMD record each, accessed
 *                          with the same probability). Each VM's hot set is one of 8 precomputed
 *                          streams and moves to another every --shift cycles (staggered over the
 *                          VMs), so the planner always has work.
 *   move_pages(2)          placement from a bitmap per VM (first touch: the first quarter of each
 *                          VM on the DRAM node 0, the rest on the CXL node 1); moves flip it (a
 *                          THP block as a whole). Each call costs what it would: the time is
 *                          slept (queries on the loop, moves on the migrator's worker, as the real
 *                          call blocks them) and accounted as kernel time, not burned. Query and
 *                          call costs are measured on this machine at start (real move_pages on
 *                          the benchmark's own memory); the per-page cost of a real move between
 *                          nodes cannot be (one node here): DESIGN.md section 8's Zen 3 figures
 *                          (3.3 GB/s for 4 KiB pages, 11 GB/s for THP) stand in.
 *
 * Guest RAM is never allocated: only the daemon's state (heat maps, placement, plans) and the
 * stand-ins' small tables (bitmaps, streams: mmap'ed, subtracted from the RSS shown).
 *
 * CPU per cycle is the loop thread's CPU time split by phase, attributed exclusively by wrapping
 * the functions each phase enters (a phase entered inside another is charged to itself only):
 *   discovery   the /proc scan, liveness checks, locating guest RAM
 *   sampling    the tracker's passes, less the stand-in's reads and the heat-map calls in them
 *   heat        heat-map samples, cycle ends, home-node choice
 *   planning    the placement pass (allowed nodes, estimates, bookkeeping), plan_compute() and
 *               slo_estimate() (both also shown on their own)
 *   residency   migrator_refresh_residency() and the placement sink (heatmap_residency_*)
 *   migration   migrator_submit(), plus the worker thread's CPU (process - loop - client)
 *   bus         PropertiesChanged emission
 *   other       the rest of the loop thread: sd-event, serving the D-Bus client's calls, the
 *               migrator's slices (batching, bookkeeping), contiguity
 * The stand-ins' own CPU and the modelled kernel time are shown apart. % of one core is CPU
 * per cycle over the interval. Meanwhile a client thread calls Properties.Get(Version) on the
 * daemon through the bus, one call every 10 ms, and the worst latency is shown, with the
 * loop's longest dispatch (the longest the watchdog or the bus had to wait).
 *
 * The first pass of the residency sweep (a VM is frozen until every page's placement was read
 * once: at 1,000 x 4 GiB that takes the daemon 250 cycles at its 4 Mi pages a cycle) is run
 * before the measured cycles with one large allowance and no modelled cost; then --warmup
 * cycles, then --cycles measured ones on the real timer.
 *
 *     build/bench/scale-bench [--vms 10,100,1000] [--vm-mib 4196] [--interval-ms 10000]
 *                             [--cycles 3] [--warmup 1] [--density 10] [--thp 50] [--shift 6]
 *                             [--no-bus] [--quick]
 * Prints numbers; never fails on time.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <numaif.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

#include "vtism/bus-api.h"
#include "vtism/bus.h"
#include "vtism/heatmap.h"
#include "vtism/idle-pages-format.h"
#include "vtism/log.h"
#include "vtism/macro.h"
#include "vtism/manager.h"
#include "vtism/migrator.h"
#include "vtism/plan.h"
#include "vtism/proc-pid.h"
#include "vtism/slo.h"
#include "vtism/tracker.h"
#include "vtism/util.h"
#include "vtism/vm.h"
#include "vtism/vmsource.h"

#define BASE_HVA UINT64_C(0x7f0000000000)
#define PAGE UINT64_C(4096)
#define BLOCK (UINT64_C(2) << 20)
#define BLOCK_PAGES 512u
#define PID_BASE 1000000
#define N_VARIANTS 8u
#define MAX_FDS 65536
#define CLIENT_PAUSE_USEC (10 * USEC_PER_MSEC)
#define MAX_POINTS 8

/* ---- options ---- */

static unsigned opt_vms[MAX_POINTS] = { 10, 100, 1000 };
static size_t opt_n_points = 3;
static unsigned opt_vm_mib = 4196; /* 1,000 of them: 4.00 TiB */
static unsigned opt_interval_ms = 10000;
static unsigned opt_cycles = 3, opt_warmup = 1;
static unsigned opt_density = 10, opt_thp = 50, opt_shift = 6;
static bool opt_bus = true;

static bool endswith(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);

        return a >= b && streq(s + a - b, suffix);
}

static int safe_atou(const char *s, unsigned *ret) {
        uint64_t v;
        int r = safe_atou64(s, &v);

        if (r < 0)
                return r;
        if (v > UINT_MAX)
                return -ERANGE;
        *ret = (unsigned) v;
        return 0;
}

static void *mfree(void *p) {
        free(p);
        return NULL;
}

/* ---- time ---- */

static uint64_t ns_of(clockid_t c) {
        struct timespec ts;

        (void) clock_gettime(c, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}
#define thread_ns() ns_of(CLOCK_THREAD_CPUTIME_ID)
#define mono_ns() ns_of(CLOCK_MONOTONIC)

static void sleep_ns(uint64_t ns) {
        struct timespec ts = { .tv_sec = (time_t) (ns / 1000000000u), .tv_nsec = (long) (ns % 1000000000u) };

        if (ns > 0)
                while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
                        ;
}

/* ---- phases (loop thread only) ---- */

typedef enum Phase {
        PH_OTHER,
        PH_DISCOVERY,
        PH_SAMPLING,
        PH_HEAT,
        PH_PLANNING,
        PH_PLAN_COMPUTE, /* part of planning, shown on its own too */
        PH_SLO_ESTIMATE, /* the same: slo_estimate() of every VM (its CXL access share) */
        PH_RESIDENCY,
        PH_MIGRATION,
        PH_BUS,
        PH_STANDIN,      /* the stand-ins' own CPU: not the daemon's */
        _PH_MAX,
} Phase;

static const char *const phase_name[_PH_MAX] = {
        [PH_OTHER] = "other", [PH_DISCOVERY] = "discovery", [PH_SAMPLING] = "sampling", [PH_HEAT] = "heat",
        [PH_PLANNING] = "planning", [PH_PLAN_COMPUTE] = "plan_compute", [PH_SLO_ESTIMATE] = "slo_estimate", [PH_RESIDENCY] = "residency",
        [PH_MIGRATION] = "migration", [PH_BUS] = "bus", [PH_STANDIN] = "stand-in",
};

static _Thread_local bool on_loop;
static Phase cur_phase = PH_OTHER;
static uint64_t phase_mark_ns, phase_ns[_PH_MAX], phase_touches[_PH_MAX], phase_switches;
/* Thread CPU one clock read costs (~0.7 us here: a system call), measured at start. Each switch
 * reads the clock once, about half of that read before the sample point (charged to the phase
 * left) and half after (the phase entered): the report subtracts clock_ns / 2 per touch. */
static uint64_t clock_ns;

static Phase phase_enter(Phase p) {
        Phase prev = cur_phase;
        uint64_t now;

        if (!on_loop)
                return prev;
        now = thread_ns();
        phase_ns[cur_phase] += now - phase_mark_ns;
        phase_touches[cur_phase]++;
        phase_touches[p]++;
        phase_mark_ns = now;
        cur_phase = p;
        phase_switches++;
        return prev;
}

static void phase_leave(Phase prev) {
        (void) phase_enter(prev);
}

/* ---- the stand-ins' state ---- */

typedef struct Variant {
        uint8_t *stream;       /* the whole VM's records */
        uint32_t *rec_end;     /* page offset where the record of each byte ends */
        size_t size;
} Variant;

typedef struct FakeVm {
        uint8_t *on_cxl;       /* a bit per 4 KiB page */
} FakeVm;

typedef struct FakeFd {
        int vm;                /* -1: not ours */
        uint64_t pos;
        unsigned variant;
        size_t cursor;         /* byte index of the record at pos */
} FakeFd;

static Variant variants[N_VARIANTS];
static uint8_t *thp_block;     /* per 2 MiB block: THP-backed (the same layout in every VM) */
static FakeVm *fake_vms;
static unsigned n_fake_vms;
static uint64_t vm_pages, vm_blocks;
static FakeFd fds[MAX_FDS];
static char *proc_root;
static size_t standin_mapped; /* bytes mmap'ed for the stand-ins */
static void *standin_maps[4 + 2 * N_VARIANTS + 4096];
static size_t standin_sizes[ELEMENTSOF(standin_maps)], n_standin_maps;

static unsigned cycle_begins;       /* cycles begun (the /proc scan of manager_cycle_begin()) */
static Manager *the_manager;

/* kernel time the stand-ins modelled (slept) */
static _Atomic uint64_t kernel_query_ns, kernel_move_ns, query_pages, move_pages_4k, move_thps;
static bool model_costs;

/* measured (query) and documented (move) costs */
static uint64_t cost_query_call_ns, cost_query_page_ns, cost_move_call_ns;
static const uint64_t cost_move_page_ns = 1241;   /* 4 KiB at 3.3 GB/s (DESIGN.md section 8, Zen 3) */
static const uint64_t cost_move_thp_ns = 190650;  /* 2 MiB at 11 GB/s */

static void *standin_alloc(size_t size) {
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        if (p == MAP_FAILED) {
                fprintf(stderr, "scale-bench: mmap of %zu bytes failed: %m\n", size);
                exit(EXIT_FAILURE);
        }
        if (n_standin_maps < ELEMENTSOF(standin_maps)) {
                standin_maps[n_standin_maps] = p;
                standin_sizes[n_standin_maps++] = size;
        }
        standin_mapped += size;
        return p;
}

static void standin_free_all(void) {
        for (size_t i = 0; i < n_standin_maps; i++)
                (void) munmap(standin_maps[i], standin_sizes[i]);
        n_standin_maps = 0;
        standin_mapped = 0;
}

/* Resident bytes of the stand-ins' maps (mincore). */
static uint64_t standin_resident(void) {
        uint64_t bytes = 0;

        for (size_t i = 0; i < n_standin_maps; i++) {
                size_t n = DIV_ROUND_UP(standin_sizes[i], PAGE);
                _cleanup_free_ unsigned char *vec = xcalloc(n, 1);

                if (mincore(standin_maps[i], standin_sizes[i], vec) < 0)
                        continue;
                for (size_t k = 0; k < n; k++)
                        bytes += (vec[k] & 1) * PAGE;
        }
        return bytes;
}

static uint64_t mix(uint64_t x) {
        x ^= x >> 33;
        x *= UINT64_C(0xff51afd7ed558ccd);
        x ^= x >> 33;
        x *= UINT64_C(0xc4ceb9fe1a85ec53);
        x ^= x >> 33;
        return x;
}

static bool chance(uint64_t key, unsigned percent) {
        return mix(key) % 10000 < (uint64_t) percent * 100;
}

static int ignore_run(const IdlePagesRun *run, void *userdata) {
        return 0;
}

static void build_variants(void) {
        thp_block = standin_alloc(vm_blocks);
        for (uint64_t b = 0; b < vm_blocks; b++)
                thp_block[b] = chance(b * 7919 + 17, opt_thp);

        for (unsigned v = 0; v < N_VARIANTS; v++) {
                IdlePagesEncoder e;
                IdlePagesDecoder d;
                uint8_t *buf = NULL;
                size_t size = 0;

                idle_pages_encoder_init(&e, BASE_HVA);
                for (uint64_t b = 0; b < vm_blocks; b++) {
                        uint64_t hva = BASE_HVA + b * BLOCK;

                        if (thp_block[b]) {
                                IdlePagesRun run = {
                                        .start_hva = hva, .len_bytes = BLOCK, .page_size_bytes = BLOCK,
                                        .kind = chance((v + 1) * UINT64_C(0x9e3779b97f4a7c15) + b, opt_density) ?
                                                IDLE_PAGES_KIND_ACCESSED : IDLE_PAGES_KIND_IDLE,
                                };
                                (void) idle_pages_encoder_add(&e, &run);
                                continue;
                        }
                        for (unsigned p = 0; p < BLOCK_PAGES; p++) {
                                IdlePagesRun run = {
                                        .start_hva = hva + p * PAGE, .len_bytes = PAGE, .page_size_bytes = PAGE,
                                        .kind = chance((v + 1) * UINT64_C(0x9e3779b97f4a7c15) + b * BLOCK_PAGES + p + (UINT64_C(1) << 40), opt_density) ?
                                                IDLE_PAGES_KIND_ACCESSED : IDLE_PAGES_KIND_IDLE,
                                };
                                (void) idle_pages_encoder_add(&e, &run);
                        }
                }
                if (idle_pages_encoder_finish(&e, &buf, &size) < 0 || size == 0) {
                        fprintf(stderr, "scale-bench: encoding a stream failed\n");
                        exit(EXIT_FAILURE);
                }
                variants[v].size = size;
                variants[v].stream = standin_alloc(size);
                memcpy(variants[v].stream, buf, size);
                free(buf);
                variants[v].rec_end = standin_alloc(size * sizeof(uint32_t));
                idle_pages_decoder_init(&d, BASE_HVA);
                for (size_t k = 0; k < size; k++) {
                        (void) idle_pages_decoder_feed(&d, &variants[v].stream[k], 1, ignore_run, NULL);
                        variants[v].rec_end[k] = (uint32_t) ((idle_pages_decoder_position(&d) - BASE_HVA) / PAGE);
                        if (k > 0 && variants[v].rec_end[k] <= variants[v].rec_end[k - 1]) {
                                fprintf(stderr, "scale-bench: stream %u has a record that covers nothing at byte %zu\n", v, k);
                                exit(EXIT_FAILURE);
                        }
                }
        }
}

static unsigned variant_of(int vm) {
        unsigned epoch = (cycle_begins + (unsigned) vm) / MAX(opt_shift, 1u);

        return (unsigned) ((unsigned) vm * 3u + epoch) % N_VARIANTS;
}

/* ---- /proc/PID/idle_pages stand-in ---- */

int __real_open64(const char *path, int flags, ...);
int __wrap_open64(const char *path, int flags, ...);
int __real_close(int fd);
int __wrap_close(int fd);
ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __wrap_read(int fd, void *buf, size_t n);
off64_t __real_lseek64(int fd, off64_t offset, int whence);
off64_t __wrap_lseek64(int fd, off64_t offset, int whence);

int __wrap_open64(const char *path, int flags, ...) {
        mode_t mode = 0;
        size_t lr = proc_root ? strlen(proc_root) : 0;
        int fd, pid;

        if (flags & (O_CREAT | O_TMPFILE)) {
                va_list ap;

                va_start(ap, flags);
                mode = (mode_t) va_arg(ap, int);
                va_end(ap);
        }
        fd = __real_open64(path, flags, mode);
        if (fd >= 0 && fd < MAX_FDS) {
                fds[fd].vm = -1;
                if (lr > 0 && strncmp(path, proc_root, lr) == 0 && sscanf(path + lr, "/%d/idle_pages", &pid) == 1 &&
                    endswith(path, "/idle_pages") && pid >= PID_BASE && pid < PID_BASE + (int) n_fake_vms) {
                        fds[fd] = (FakeFd) { .vm = pid - PID_BASE };
                }
        }
        return fd;
}

int __wrap_close(int fd) {
        if (fd >= 0 && fd < MAX_FDS)
                fds[fd].vm = -1;
        return __real_close(fd);
}

static FakeFd *fake_fd(int fd) {
        return fd >= 0 && fd < MAX_FDS && fds[fd].vm >= 0 ? &fds[fd] : NULL;
}

off64_t __wrap_lseek64(int fd, off64_t offset, int whence) {
        FakeFd *f = fake_fd(fd);

        if (!f)
                return __real_lseek64(fd, offset, whence);
        if (whence == SEEK_CUR && offset == 0)
                return (off64_t) f->pos;
        if (whence != SEEK_SET || (uint64_t) offset != BASE_HVA) {
                errno = EINVAL; /* the tracker seeks to its range's start only */
                return -1;
        }
        f->pos = BASE_HVA;
        f->cursor = 0;
        f->variant = variant_of(f->vm);
        return offset;
}

ssize_t __wrap_read(int fd, void *buf, size_t n) {
        FakeFd *f = fake_fd(fd);
        const Variant *v;
        uint64_t po, limit;
        size_t k, end;
        Phase prev;

        if (!f)
                return __real_read(fd, buf, n);
        prev = phase_enter(PH_STANDIN);
        v = &variants[f->variant];
        po = (f->pos - BASE_HVA) / PAGE;
        if (po >= vm_pages) {
                phase_leave(prev);
                return 0;
        }
        k = f->cursor;
        if ((k == 0 ? 0 : v->rec_end[k - 1]) != po) {
                phase_leave(prev);
                errno = EINVAL; /* reads continue where the last one ended */
                return -1;
        }
        limit = po + (uint64_t) n * 8;
        for (end = k; end < v->size && end - k < n && v->rec_end[end] <= limit; end++)
                ;
        if (end == k)
                end = k + 1; /* one record at least: the tracker sizes reads so that it fits */
        memcpy(buf, v->stream + k, end - k);
        f->cursor = end;
        f->pos = BASE_HVA + (uint64_t) v->rec_end[end - 1] * PAGE;
        phase_leave(prev);
        return (ssize_t) (end - k);
}

/* ---- move_pages(2) stand-in ---- */

long __real_move_pages(int pid, unsigned long count, void **pages, const int *nodes, int *status, int flags);
long __wrap_move_pages(int pid, unsigned long count, void **pages, const int *nodes, int *status, int flags);

static void set_node(FakeVm *v, uint64_t page, int node) {
        if (node == 1)
                v->on_cxl[page / 8] |= (uint8_t) (1u << (page % 8));
        else
                v->on_cxl[page / 8] &= (uint8_t) ~(1u << (page % 8));
}

static int node_of(const FakeVm *v, uint64_t page) {
        return (v->on_cxl[page / 8] >> (page % 8)) & 1;
}

long __wrap_move_pages(int pid, unsigned long count, void **pages, const int *nodes, int *status, int flags) {
        Phase prev = phase_enter(PH_STANDIN);
        uint64_t cost = 0, n4k = 0, nthp = 0;
        FakeVm *v;

        if (pid == 0) {
                /* the migrator's probe of a call's fixed part: a page of its own, on node 0 */
                for (unsigned long i = 0; i < count; i++)
                        status[i] = 0;
                cost = nodes ? cost_move_call_ns : cost_query_call_ns + count * cost_query_page_ns;
                goto out;
        }
        if (pid < PID_BASE || pid >= PID_BASE + (int) n_fake_vms) {
                phase_leave(prev);
                errno = ESRCH;
                return -1;
        }
        v = &fake_vms[pid - PID_BASE];
        for (unsigned long i = 0; i < count; i++) {
                uint64_t a = (uint64_t) (uintptr_t) pages[i], page = (a - BASE_HVA) / PAGE;

                if (a < BASE_HVA || page >= vm_pages) {
                        status[i] = -EFAULT;
                        continue;
                }
                if (!nodes) {
                        status[i] = node_of(v, page);
                        continue;
                }
                if (nodes[i] != 0 && nodes[i] != 1) {
                        status[i] = -EINVAL;
                        continue;
                }
                if (thp_block[page / BLOCK_PAGES]) {
                        uint64_t first = page / BLOCK_PAGES * BLOCK_PAGES;

                        if (node_of(v, first) != nodes[i] || node_of(v, first + BLOCK_PAGES - 1) != nodes[i])
                                nthp++;
                        for (unsigned p = 0; p < BLOCK_PAGES; p++)
                                set_node(v, first + p, nodes[i]);
                } else {
                        if (node_of(v, page) != nodes[i])
                                n4k++;
                        set_node(v, page, nodes[i]);
                }
                status[i] = nodes[i];
        }
        if (!nodes) {
                cost = cost_query_call_ns + count * cost_query_page_ns;
                atomic_fetch_add(&query_pages, count);
        } else {
                cost = cost_move_call_ns + n4k * cost_move_page_ns + nthp * cost_move_thp_ns;
                atomic_fetch_add(&move_pages_4k, n4k);
                atomic_fetch_add(&move_thps, nthp);
        }
out:
        if (!model_costs)
                cost = 0;
        atomic_fetch_add(nodes ? &kernel_move_ns : &kernel_query_ns, cost);
        phase_leave(prev);
        sleep_ns(cost);
        return 0;
}

/* What move_pages costs here: queries per page and the fixed part of a call, on our own memory. */
static void measure_move_pages(void) {
        const size_t n = 16384;
        _cleanup_free_ void **pages = xcalloc(n, sizeof(void *));
        _cleanup_free_ int *status = xcalloc(n, sizeof(int)), *nodes = xcalloc(n, sizeof(int));
        uint8_t *mem = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        uint64_t best_q1 = UINT64_MAX, best_qn = UINT64_MAX, best_m1 = UINT64_MAX;

        if (mem == MAP_FAILED) {
                fprintf(stderr, "scale-bench: mmap: %m\n");
                exit(EXIT_FAILURE);
        }
        for (size_t i = 0; i < n; i++) {
                mem[i * PAGE] = 1;
                pages[i] = mem + i * PAGE;
        }
        for (int rep = 0; rep < 7; rep++) {
                uint64_t t0 = mono_ns();
                long r;

                r = __real_move_pages(0, 1, pages, NULL, status, 0);
                best_q1 = MIN(best_q1, mono_ns() - t0);
                t0 = mono_ns();
                r |= __real_move_pages(0, n, pages, NULL, status, 0);
                best_qn = MIN(best_qn, mono_ns() - t0);
                nodes[0] = status[0] >= 0 ? status[0] : 0;
                t0 = mono_ns();
                r |= __real_move_pages(0, 1, pages, nodes, status, MPOL_MF_MOVE);
                best_m1 = MIN(best_m1, mono_ns() - t0);
                if (r < 0) {
                        fprintf(stderr, "scale-bench: move_pages on our own memory failed: %m\n");
                        exit(EXIT_FAILURE);
                }
        }
        (void) munmap(mem, n * PAGE);
        cost_query_call_ns = best_q1;
        cost_query_page_ns = best_qn > best_q1 ? (best_qn - best_q1) / (n - 1) : 1;
        cost_move_call_ns = best_m1;
}

/* ---- phase wraps of the manager's calls ---- */

#define WRAP(ret, name, phase, params, args)                  \
        ret __real_##name params;                             \
        ret __wrap_##name params;                             \
        ret __wrap_##name params {                            \
                Phase prev = phase_enter(phase);              \
                ret r = __real_##name args;                   \
                phase_leave(prev);                            \
                return r;                                     \
        }
#define WRAP_VOID(name, phase, params, args)                  \
        void __real_##name params;                            \
        void __wrap_##name params;                            \
        void __wrap_##name params {                           \
                Phase prev = phase_enter(phase);              \
                __real_##name args;                           \
                phase_leave(prev);                            \
        }

static void window_mark(void);

int __real_vmsource_proc_scan(VmSource *s);
int __wrap_vmsource_proc_scan(VmSource *s);
int __wrap_vmsource_proc_scan(VmSource *s) {
        Phase prev = phase_enter(PH_DISCOVERY);
        int r;

        if (the_manager && the_manager->cycle_running) {
                cycle_begins++;
                window_mark();
        }
        r = __real_vmsource_proc_scan(s);
        phase_leave(prev);
        return r;
}

WRAP(int, proc_pid_check, PH_DISCOVERY, (const char *root, pid_t pid, unsigned long long st), (root, pid, st))
WRAP(int, vm_locate_ram, PH_DISCOVERY, (Vm *vm, const char *root, char **reason), (vm, root, reason))
WRAP_VOID(vm_pick_home_node, PH_HEAT, (Vm *vm, const Topology *t), (vm, t))
WRAP(bool, vm_refresh_home_node, PH_HEAT, (Vm *vm, const Topology *t), (vm, t))
WRAP_VOID(heatmap_cycle_begin, PH_HEAT, (HeatMap *h), (h))
WRAP(int, heatmap_cycle_end, PH_HEAT, (HeatMap *h), (h))
WRAP(int, heatmap_sample_hva, PH_HEAT, (HeatMap *h, uint64_t hva, uint64_t len), (h, hva, len))
WRAP(int, heatmap_mark_huge, PH_HEAT, (HeatMap *h, uint64_t hva, uint64_t len, bool huge), (h, hva, len, huge))
WRAP(int, heatmap_sample_idle_pages, PH_HEAT,
     (HeatMap *h, uint64_t hva, const void *buf, size_t size, uint64_t cs, uint64_t cl, unsigned flags, uint64_t *acc),
     (h, hva, buf, size, cs, cl, flags, acc))
WRAP(int, heatmap_residency_update, PH_RESIDENCY, (HeatMap *h, uint64_t hva, const int *status, size_t n),
     (h, hva, status, n))
WRAP(int, heatmap_residency_moved, PH_RESIDENCY, (HeatMap *h, uint64_t hva, size_t n, int from, int to),
     (h, hva, n, from, to))
WRAP_VOID(manager_placement_cycle, PH_PLANNING, (Manager *m), (m))
WRAP_VOID(manager_contiguity_cycle, PH_OTHER, (Manager *m), (m))
WRAP(int, plan_compute, PH_PLAN_COMPUTE,
     (const Topology *t, const PlanLimits *l, const PlanVm *v, size_t n, Plan **ret), (t, l, v, n, ret))
WRAP(int, slo_estimate, PH_SLO_ESTIMATE, (const HeatMap *h, const Topology *t, bool coarse, unsigned rare, SloEstimate *e),
     (h, t, coarse, rare, e))
WRAP_VOID(migrator_refresh_residency, PH_RESIDENCY, (Migrator *m, uint64_t budget), (m, budget))
WRAP(int, migrator_submit, PH_MIGRATION, (Migrator *m, const Plan *p, void *const *vms), (m, p, vms))
WRAP(int, sd_bus_emit_properties_changed_strv, PH_BUS, (sd_bus *b, const char *path, const char *iface, char **names),
     (b, path, iface, names))

/* The idle_pages tracker's own ops, timed as sampling. */
static TrackerOps timed_ops;
static int timed_target_add(Tracker *t, TrackerTarget *target) {
        Phase prev = phase_enter(PH_SAMPLING);
        int r = tracker_idle_pages_ops.target_add(t, target);

        phase_leave(prev);
        return r;
}
static int timed_prepare(Tracker *t, TrackerTarget *target) {
        Phase prev = phase_enter(PH_SAMPLING);
        int r = tracker_idle_pages_ops.prepare_access_checks(t, target);

        phase_leave(prev);
        return r;
}
static int timed_check(Tracker *t, TrackerTarget *target, HeatMap *heat) {
        Phase prev = phase_enter(PH_SAMPLING);
        int r = tracker_idle_pages_ops.check_accesses(t, target, heat);

        phase_leave(prev);
        return r;
}

/* ---- the measured window ---- */

typedef struct Snapshot {
        uint64_t phase_ns[_PH_MAX], phase_touches[_PH_MAX];
        uint64_t process_ns, client_ns, mono;
        uint64_t kernel_query_ns, kernel_move_ns, query_pages, move_pages_4k, move_thps;
        uint64_t switches;
        ManagerCounters counters;
        MigratorStats mstats;
} Snapshot;

static Snapshot snap_begin, snap_end;
static unsigned window_from, window_to; /* cycle_begins at the window's edges */
static bool window_open, window_closed;
static _Atomic uint64_t client_cpu_ns, client_calls, client_worst_ns, client_fail;
static _Atomic bool client_stop, client_done, client_in_window;
static uint64_t client_lat[4096];
static _Atomic size_t n_client_lat;
static uint64_t dispatch_worst_ns, dispatch_worst_cpu_ns;

static void take_snapshot(Snapshot *s) {
        (void) phase_enter(cur_phase); /* bring phase_ns up to now */
        memcpy(s->phase_ns, phase_ns, sizeof(phase_ns));
        memcpy(s->phase_touches, phase_touches, sizeof(phase_touches));
        s->process_ns = ns_of(CLOCK_PROCESS_CPUTIME_ID);
        s->client_ns = atomic_load(&client_cpu_ns);
        s->mono = mono_ns();
        s->kernel_query_ns = atomic_load(&kernel_query_ns);
        s->kernel_move_ns = atomic_load(&kernel_move_ns);
        s->query_pages = atomic_load(&query_pages);
        s->move_pages_4k = atomic_load(&move_pages_4k);
        s->move_thps = atomic_load(&move_thps);
        s->switches = phase_switches;
        manager_placement_sync_counters(the_manager);
        s->counters = the_manager->counters;
        s->mstats = *migrator_stats(the_manager->migrator);
}

static void window_mark(void) {
        if (!window_open && cycle_begins == window_from) {
                take_snapshot(&snap_begin);
                window_open = true;
                dispatch_worst_ns = 0;
                dispatch_worst_cpu_ns = 0;
                atomic_store(&client_worst_ns, 0);
                atomic_store(&n_client_lat, 0);
                atomic_store(&client_calls, 0);
                atomic_store(&client_in_window, true);
        } else if (window_open && !window_closed && cycle_begins == window_to) {
                take_snapshot(&snap_end);
                window_closed = true;
                atomic_store(&client_in_window, false);
        }
}

/* ---- the D-Bus client ---- */

static char *bus_address;

static void *client_main(void *arg) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;

        if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, bus_address) < 0 || sd_bus_set_bus_client(bus, 1) < 0 ||
            sd_bus_start(bus) < 0) {
                fprintf(stderr, "scale-bench: the client cannot connect to %s\n", bus_address);
                atomic_fetch_add(&client_fail, 1);
                atomic_store(&client_done, true);
                return NULL;
        }
        (void) sd_bus_set_method_call_timeout(bus, 120 * USEC_PER_SEC);
        while (!atomic_load(&client_stop)) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                uint64_t t0 = mono_ns(), took;
                int r;

                r = sd_bus_call_method(bus, VTISM_BUS_NAME, VTISM_BUS_PATH, "org.freedesktop.DBus.Properties", "Get",
                                       &error, &reply, "ss", VTISM_BUS_INTERFACE, VTISM_PROP_VERSION);
                took = mono_ns() - t0;
                if (r < 0)
                        atomic_fetch_add(&client_fail, 1);
                else if (atomic_load(&client_in_window)) {
                        size_t i = atomic_fetch_add(&n_client_lat, 1);

                        if (i < ELEMENTSOF(client_lat))
                                client_lat[i] = took;
                        atomic_fetch_add(&client_calls, 1);
                        if (took > atomic_load(&client_worst_ns))
                                atomic_store(&client_worst_ns, took);
                }
                atomic_store(&client_cpu_ns, thread_ns());
                sleep_ns(CLIENT_PAUSE_USEC * 1000);
        }
        atomic_store(&client_cpu_ns, thread_ns());
        atomic_store(&client_done, true);
        return NULL;
}

static pid_t dbus_pid = -1;

static void stop_dbus(void) {
        if (dbus_pid > 0) {
                (void) kill(dbus_pid, SIGTERM);
                (void) waitpid(dbus_pid, NULL, 0);
        }
        dbus_pid = -1;
}

/* A private dbus-daemon that lets anyone own and call anything; its address in bus_address. */
static int start_dbus(const char *dir) {
        _cleanup_free_ char *conf = xasprintf("%s/bus.conf", dir), *sock = xasprintf("%s/bus", dir);
        FILE *f = fopen(conf, "we");

        if (!f)
                return -errno;
        fprintf(f, "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN\"\n"
                   " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                   "<busconfig><type>system</type><listen>unix:path=%s</listen><auth>EXTERNAL</auth>\n"
                   "<policy context=\"default\"><allow user=\"*\"/><allow own=\"*\"/><allow send_destination=\"*\"/>\n"
                   "<allow receive_sender=\"*\"/></policy></busconfig>\n", sock);
        fclose(f);
        dbus_pid = fork();
        if (dbus_pid < 0)
                return -errno;
        if (dbus_pid == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);

                (void) dup2(null, STDIN_FILENO);
                (void) dup2(null, STDOUT_FILENO);
                execlp("dbus-daemon", "dbus-daemon", "--nofork", "--nopidfile", "--config-file", conf, (char *) NULL);
                _exit(127);
        }
        for (int i = 0; i < 1000; i++) {
                if (access(sock, F_OK) == 0) {
                        bus_address = xasprintf("unix:path=%s", sock);
                        return 0;
                }
                if (waitpid(dbus_pid, NULL, WNOHANG) == dbus_pid) {
                        dbus_pid = -1;
                        return -ECHILD;
                }
                sleep_ns(10 * 1000 * 1000);
        }
        return -ETIMEDOUT;
}

/* ---- the fixture tree ---- */

static char *tree, *sysfs_root, *lab2;

static void write_file(const char *path, const void *data, size_t size) {
        int fd = __real_open64(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0 || write(fd, data, size) != (ssize_t) size) {
                fprintf(stderr, "scale-bench: cannot write %s: %m\n", path);
                exit(EXIT_FAILURE);
        }
        __real_close(fd);
}

static void write_str(const char *path, const char *s) {
        write_file(path, s, strlen(s));
}

static int copy_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        const char *rel = path + strlen(lab2);
        _cleanup_free_ char *to = xasprintf("%s%s", sysfs_root, rel), *text = NULL;
        size_t size;

        if (type == FTW_D)
                return mkdir(to, 0755) < 0 && errno != EEXIST ? -1 : 0;
        if (type == FTW_F) {
                if (read_file_at_size(NULL, path, &text, &size) < 0)
                        return -1;
                write_file(to, text, size);
        }
        return 0;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        return remove(path);
}

static void meminfo(int node, uint64_t total, uint64_t free_bytes) {
        _cleanup_free_ char *p = xasprintf("%s/devices/system/node/node%d/meminfo", sysfs_root, node);
        _cleanup_free_ char *s = xasprintf("Node %d MemTotal:       %" PRIu64 " kB\nNode %d MemFree:        %" PRIu64
                                           " kB\nNode %d MemUsed:        %" PRIu64 " kB\n",
                                           node, total / 1024, node, free_bytes / 1024, node, (total - free_bytes) / 1024);
        write_str(p, s);
}

static void build_tree(unsigned n_vms, const char *data_dir) {
        uint64_t ram = (uint64_t) opt_vm_mib << 20, total = ram * n_vms, dram_used = total / 4;
        uint64_t dram = total * 5 / 16 + (UINT64_C(1) << 30), cxl = total + (UINT64_C(1) << 30);
        const char *tmp = getenv("TMPDIR") ?: "/var/tmp";
        _cleanup_free_ char *self = NULL, *templ = xasprintf("%s/scale-bench.XXXXXX", tmp);

        tree = mkdtemp(templ) ? xstrdup(templ) : NULL;
        if (!tree) {
                fprintf(stderr, "scale-bench: mkdtemp in %s: %m\n", tmp);
                exit(EXIT_FAILURE);
        }
        proc_root = xasprintf("%s/proc", tree);
        sysfs_root = xasprintf("%s/sys", tree);
        lab2 = xasprintf("%s/sysfs-lab2", data_dir);
        (void) mkdir(proc_root, 0755);
        (void) mkdir(sysfs_root, 0755);
        if (nftw(lab2, copy_one, 16, FTW_PHYS) < 0) {
                fprintf(stderr, "scale-bench: cannot copy %s: %m\n", lab2);
                exit(EXIT_FAILURE);
        }
        meminfo(0, dram, dram - dram_used);
        meminfo(1, cxl, cxl - (total - dram_used));

        self = xasprintf("%s/self", proc_root);
        (void) mkdir(self, 0755);
        free(self);
        self = xasprintf("%s/self/idle_pages", proc_root);
        write_str(self, "");

        for (unsigned i = 0; i < n_vms; i++) {
                int pid = PID_BASE + (int) i;
                _cleanup_free_ char *dir = xasprintf("%s/%d", proc_root, pid), *p = NULL, *s = NULL;
                char cmd[256];
                int n;

                (void) mkdir(dir, 0755);
                n = snprintf(cmd, sizeof(cmd), "qemu-system-x86_64%c-m%c%u%c-name%cguest=vm%04u%c", 0, 0, opt_vm_mib, 0, 0, i, 0);
                p = xasprintf("%s/cmdline", dir);
                write_file(p, cmd, (size_t) n);
                free(p);
                p = xasprintf("%s/stat", dir);
                s = xasprintf("%d (qemu-system-x86) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0\n", pid, 1000 + (int) i);
                write_str(p, s);
                free(p);
                p = xasprintf("%s/status", dir);
                write_str(p, "Name:\tqemu-system-x86\nUid:\t0\t0\t0\t0\nMems_allowed_list:\t0-1\n");
                free(p);
                free(s);
                p = xasprintf("%s/maps", dir);
                s = xasprintf("%" PRIx64 "-%" PRIx64 " rw-p 00000000 00:00 0 \n", BASE_HVA, BASE_HVA + ram);
                write_str(p, s);
                free(p);
                p = xasprintf("%s/idle_pages", dir);
                write_str(p, "");
        }
        self = xasprintf("%s/vtism.conf", tree);
        free(self);
        self = xasprintf("%s/vtism.conf", tree);
        {
                _cleanup_free_ char *conf = xasprintf(
                        "global = {\n"
                        "  tracker = \"idle_pages\";\n"
                        "  sample_interval_ms = %u;\n"
                        "  qemu_users = [ \"root\" ];\n"
                        "  libvirt_uri = \"qemu+unix:///system?socket=/nonexistent/scale-bench\";\n"
                        "};\n"
                        "default_policy = { dram_budget = \"25%%\"; };\n",
                        opt_interval_ms);
                write_str(self, conf);
        }
}

static void remove_tree(void) {
        if (tree)
                (void) nftw(tree, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        tree = mfree(tree);
        proc_root = mfree(proc_root);
        sysfs_root = mfree(sysfs_root);
        lab2 = mfree(lab2);
}

/* ---- one scale point ---- */

typedef struct Result {
        unsigned n_vms;
        uint64_t pages;
        double phase_s[_PH_MAX]; /* per cycle; PH_MIGRATION includes the worker */
        double worker_s, overhead_s, loop_s, daemon_s, standin_s, kernel_query_s, kernel_move_s;
        double heap_per_page, rss_per_page;
        uint64_t heap_bytes, rss_bytes;
        double client_worst_ms, client_p99_ms, dispatch_worst_ms, dispatch_worst_cpu_ms, slice_max_ms;
        uint64_t client_calls;
        double queried_pages, moved_pages, plans;
        uint64_t overruns, warm_sweep_ms, setup_ms, setup_cpu_ms;
} Result;

static bool all_residency_known(Manager *m) {
        for (size_t i = 0; i < m->n_vms; i++) {
                Vm *vm = m->vms[i];
                HeatHistogram h;

                if (!vm->heat)
                        return false;
                for (size_t k = 0; k < heatmap_n_histograms(vm->heat); k++)
                        if (heatmap_residency(vm->heat, k, &h) < 0 || !h.residency_known)
                                return false;
        }
        return true;
}

static int run_once(Manager *m, uint64_t timeout_usec) {
        uint64_t t0, c0;
        int r;

        r = sd_event_prepare(m->event);
        if (r == 0)
                r = sd_event_wait(m->event, timeout_usec);
        if (r < 0)
                return r;
        if (r == 0)
                return 0;
        t0 = mono_ns();
        c0 = thread_ns();
        r = sd_event_dispatch(m->event);
        if (window_open && !window_closed) {
                dispatch_worst_ns = MAX(dispatch_worst_ns, mono_ns() - t0);
                dispatch_worst_cpu_ns = MAX(dispatch_worst_cpu_ns, thread_ns() - c0);
        }
        return r;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

static void run_point(unsigned n_vms, const char *data_dir, Result *res) {
        _cleanup_free_ char *conf = NULL;
        TrackerContext ctx;
        pthread_t client;
        bool have_client = false;
        uint64_t t0, c0, rss_pages = 0, resident;
        struct mallinfo2 mi;
        Manager *m = NULL;
        FILE *f;

        *res = (Result) { .n_vms = n_vms };
        vm_pages = (uint64_t) opt_vm_mib * 256;
        vm_blocks = vm_pages / BLOCK_PAGES;
        n_fake_vms = n_vms;
        memset(phase_ns, 0, sizeof(phase_ns));
        cycle_begins = 0;
        window_open = window_closed = false;
        for (size_t i = 0; i < MAX_FDS; i++)
                fds[i].vm = -1;

        build_tree(n_vms, data_dir);
        build_variants();
        fake_vms = standin_alloc(n_vms * sizeof(FakeVm));
        for (unsigned i = 0; i < n_vms; i++) {
                size_t bytes = (size_t) DIV_ROUND_UP(vm_pages, 8);

                fake_vms[i].on_cxl = standin_alloc(bytes);
                memset(fake_vms[i].on_cxl, 0xff, bytes);
                /* first touch: the first quarter on DRAM */
                for (uint64_t p = 0; p < vm_pages / 4; p++)
                        set_node(&fake_vms[i], p, 0);
        }
        conf = xasprintf("%s/vtism.conf", tree);

        model_costs = false;
        t0 = mono_ns();
        c0 = thread_ns();
        if (manager_new(conf, sysfs_root, proc_root, LOG_WARNING, &m) < 0 || manager_load(m) < 0) {
                fprintf(stderr, "scale-bench: cannot set up the manager\n");
                exit(EXIT_FAILURE);
        }
        the_manager = m;
        if (opt_bus && bus_setup(m) < 0) {
                fprintf(stderr, "scale-bench: bus_setup() failed\n");
                exit(EXIT_FAILURE);
        }
        if (manager_start(m) < 0) {
                fprintf(stderr, "scale-bench: manager_start() failed\n");
                exit(EXIT_FAILURE);
        }
        if (m->mode != MANAGER_MODE_TIERING) {
                fprintf(stderr, "scale-bench: the fixture topology is not tiered: %s\n", m->mode_reason);
                exit(EXIT_FAILURE);
        }
        /* the idle_pages tracker, its ops timed */
        timed_ops = tracker_idle_pages_ops;
        timed_ops.target_add = timed_target_add;
        timed_ops.prepare_access_checks = timed_prepare;
        timed_ops.check_accesses = timed_check;
        m->tracker = tracker_free(m->tracker);
        ctx = (TrackerContext) { .proc_root = proc_root, .sysfs_root = sysfs_root };
        if (tracker_new(&timed_ops, &ctx, &m->tracker) < 0) {
                fprintf(stderr, "scale-bench: cannot start the idle_pages tracker on the fixture\n");
                exit(EXIT_FAILURE);
        }
        (void) sd_event_source_set_enabled(m->cycle_timer, SD_EVENT_OFF);

        /* setup: the first cycle (heat maps, baseline passes), then the first residency pass */
        (void) manager_cycle(m);
        if (m->n_vms != n_vms) {
                fprintf(stderr, "scale-bench: %zu VMs found, %u expected\n", m->n_vms, n_vms);
                exit(EXIT_FAILURE);
        }
        res->setup_ms = (mono_ns() - t0) / 1000000;
        res->setup_cpu_ms = (thread_ns() - c0) / 1000000;
        t0 = mono_ns();
        migrator_refresh_residency(m->migrator, (uint64_t) n_vms * vm_pages * 2);
        while (!all_residency_known(m)) {
                (void) run_once(m, 10 * USEC_PER_MSEC);
                if (mono_ns() - t0 > UINT64_C(3600) * 1000000000u) {
                        fprintf(stderr, "scale-bench: the first residency pass did not end in an hour\n");
                        exit(EXIT_FAILURE);
                }
        }
        res->warm_sweep_ms = (mono_ns() - t0) / 1000000;

        /* the measured run: the real timer */
        model_costs = true;
        window_from = 1 + opt_warmup + 1; /* cycle_begins counts from the setup cycle */
        window_to = window_from + opt_cycles;
        if (opt_bus) {
                atomic_store(&client_stop, false);
                atomic_store(&client_done, false);
                have_client = pthread_create(&client, NULL, client_main, NULL) == 0;
        }
        (void) sd_event_source_set_time_relative(m->cycle_timer, 10 * USEC_PER_MSEC);
        (void) sd_event_source_set_enabled(m->cycle_timer, SD_EVENT_ONESHOT);
        t0 = mono_ns();
        while (!window_closed) {
                if (run_once(m, USEC_INFINITY) < 0 || sd_event_get_state(m->event) == SD_EVENT_FINISHED) {
                        fprintf(stderr, "scale-bench: the event loop ended (a signal?), stopping\n");
                        exit(EXIT_FAILURE);
                }
        }
        if (have_client) {
                /* the loop goes on serving until the client's last call is answered */
                atomic_store(&client_stop, true);
                while (!atomic_load(&client_done))
                        (void) run_once(m, 10 * USEC_PER_MSEC);
                (void) pthread_join(client, NULL);
        }

        /* memory: the daemon's heap and RSS, the stand-ins' maps subtracted */
        mi = mallinfo2();
        resident = standin_resident();
        f = fopen("/proc/self/statm", "re");
        if (f) {
                uint64_t size;

                if (fscanf(f, "%" SCNu64 " %" SCNu64, &size, &rss_pages) != 2)
                        rss_pages = 0;
                fclose(f);
        }

        {
                const Snapshot *a = &snap_begin, *b = &snap_end;
                double c = opt_cycles;
                uint64_t loop = 0, overhead = 0, process = b->process_ns - a->process_ns, client_ns = b->client_ns - a->client_ns;
                size_t nl = MIN(atomic_load(&n_client_lat), ELEMENTSOF(client_lat));

                for (int p = 0; p < _PH_MAX; p++) {
                        uint64_t ns = b->phase_ns[p] - a->phase_ns[p];
                        uint64_t over = (b->phase_touches[p] - a->phase_touches[p]) * clock_ns / 2;

                        /* the measurement's own clock reads out, and out of the process total too */
                        ns -= MIN(ns, over);
                        overhead += over;
                        res->phase_s[p] = (double) ns / 1e9 / c;
                        loop += ns;
                }
                res->overhead_s = (double) overhead / 1e9 / c;
                process -= MIN(process, overhead);
                res->loop_s = (double) loop / 1e9 / c;
                res->worker_s = process > loop + client_ns ? (double) (process - loop - client_ns) / 1e9 / c : 0;
                res->standin_s = res->phase_s[PH_STANDIN];
                res->daemon_s = res->loop_s - res->standin_s + res->worker_s;
                res->kernel_query_s = (double) (b->kernel_query_ns - a->kernel_query_ns) / 1e9 / c;
                res->kernel_move_s = (double) (b->kernel_move_ns - a->kernel_move_ns) / 1e9 / c;
                res->queried_pages = (double) (b->query_pages - a->query_pages) / c;
                res->moved_pages = (double) (b->move_pages_4k - a->move_pages_4k + (b->move_thps - a->move_thps) * BLOCK_PAGES) / c;
                res->plans = (double) (b->counters.plans - a->counters.plans) / c;
                res->overruns = b->counters.cycles_overrun - a->counters.cycles_overrun;
                res->slice_max_ms = (double) b->counters.slice_max_usec / 1e3;
                res->client_calls = atomic_load(&client_calls);
                res->client_worst_ms = (double) atomic_load(&client_worst_ns) / 1e6;
                if (nl > 0) {
                        qsort(client_lat, nl, sizeof(uint64_t), cmp_u64);
                        res->client_p99_ms = (double) client_lat[MIN(nl - 1, nl * 99 / 100)] / 1e6;
                }
                res->dispatch_worst_ms = (double) dispatch_worst_ns / 1e6;
                res->dispatch_worst_cpu_ms = (double) dispatch_worst_cpu_ns / 1e6;
                res->pages = (uint64_t) n_vms * vm_pages;
                res->heap_bytes = mi.uordblks + mi.hblkhd;
                res->rss_bytes = rss_pages * (uint64_t) sysconf(_SC_PAGESIZE) - MIN(rss_pages * (uint64_t) sysconf(_SC_PAGESIZE), resident);
                res->heap_per_page = (double) res->heap_bytes / (double) res->pages;
                res->rss_per_page = (double) res->rss_bytes / (double) res->pages;
                printf("  %u VMs x %u MiB (%.2f TiB, %" PRIu64 " pages): setup %" PRIu64 " ms (%" PRIu64 " ms of CPU: discovery, heat maps, baseline passes), first residency pass %" PRIu64
                       " ms; %u cycles measured over %.1f s, %" PRIu64 " overruns, %" PRIu64 " phase switches "
                       "(%.1f ms of clock reads per cycle, subtracted)\n",
                       n_vms, opt_vm_mib, (double) res->pages * PAGE / (1024.0 * 1024 * 1024 * 1024), res->pages,
                       res->setup_ms, res->setup_cpu_ms, res->warm_sweep_ms, opt_cycles, (double) (b->mono - a->mono) / 1e9, res->overruns,
                       b->switches - a->switches, res->overhead_s * 1e3);
        }

        manager_free(m);
        the_manager = NULL;
        standin_free_all();
        remove_tree();
}

/* ---- report ---- */

static const Phase shown[] = { PH_DISCOVERY, PH_SAMPLING, PH_HEAT, PH_PLANNING, PH_PLAN_COMPUTE, PH_SLO_ESTIMATE, PH_RESIDENCY,
                               PH_MIGRATION, PH_BUS, PH_OTHER };

static double phase_of(const Result *r, Phase p) {
        if (p == PH_MIGRATION)
                return r->phase_s[PH_MIGRATION] + r->worker_s;
        if (p == PH_PLANNING)
                return r->phase_s[PH_PLANNING] + r->phase_s[PH_PLAN_COMPUTE] + r->phase_s[PH_SLO_ESTIMATE];
        return r->phase_s[p];
}

static char *bus_dir;

/* Also on the way out of a failure, or of SIGTERM/SIGINT (the manager's handlers, from the loop:
 * it blocks both once started, so a stuck setup needs SIGKILL and leaves its tree behind). */
static void at_exit(void) {
        stop_dbus();
        if (bus_dir)
                (void) nftw(bus_dir, rm_one, 4, FTW_DEPTH | FTW_PHYS);
        bus_dir = mfree(bus_dir);
        remove_tree();
}

static void report(const Result *res, size_t n) {
        double interval = opt_interval_ms / 1000.0;

        printf("\nCPU ms per cycle by phase (loop thread; migration includes the worker thread; planning includes plan_compute and slo_estimate):\n");
        printf("| VMs | RAM | ");
        for (size_t k = 0; k < ELEMENTSOF(shown); k++)
                printf("%s | ", phase_name[shown[k]]);
        printf("daemon total | %% of a core at %g s | stand-ins | modelled kernel: queries, moves |\n", interval);
        printf("|---|---|");
        for (size_t k = 0; k < ELEMENTSOF(shown) + 4; k++)
                printf("---|");
        printf("\n");
        for (size_t i = 0; i < n; i++) {
                const Result *r = &res[i];

                printf("| %u | %.0f GiB | ", r->n_vms, (double) r->pages * PAGE / (1024.0 * 1024 * 1024));
                for (size_t k = 0; k < ELEMENTSOF(shown); k++)
                        printf("%.2f | ", phase_of(r, shown[k]) * 1e3);
                printf("%.1f | %.2f %% | %.1f | %.1f, %.1f |\n", r->daemon_s * 1e3, r->daemon_s / interval * 100,
                       r->standin_s * 1e3, r->kernel_query_s * 1e3, r->kernel_move_s * 1e3);
        }

        printf("\nPer cycle: pages queried, pages moved, plans; memory; latency during the measured cycles:\n");
        printf("| VMs | queried | moved | plans | heap B/page | RSS B/page | heap | RSS | D-Bus calls | worst | p99 | longest dispatch (its CPU) | longest cycle slice |\n");
        printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (size_t i = 0; i < n; i++) {
                const Result *r = &res[i];

                printf("| %u | %.0f | %.0f | %.1f | %.4f | %.4f | %.1f MiB | %.1f MiB | %" PRIu64 " | %.1f ms | %.1f ms | %.1f ms (%.1f ms) | %.1f ms |\n",
                       r->n_vms, r->queried_pages, r->moved_pages, r->plans, r->heap_per_page, r->rss_per_page,
                       (double) r->heap_bytes / MIB, (double) r->rss_bytes / MIB, r->client_calls, r->client_worst_ms,
                       r->client_p99_ms, r->dispatch_worst_ms, r->dispatch_worst_cpu_ms, r->slice_max_ms);
        }

        if (n < 2)
                return;
        printf("\nGrowth between points, per phase: (cost ratio) / (VM ratio); 1.0 = linear, above = superlinear:\n");
        printf("| from -> to | ");
        for (size_t k = 0; k < ELEMENTSOF(shown); k++)
                printf("%s | ", phase_name[shown[k]]);
        printf("daemon total |\n|---|");
        for (size_t k = 0; k < ELEMENTSOF(shown) + 1; k++)
                printf("---|");
        printf("\n");
        for (size_t i = 1; i < n; i++) {
                double vr = (double) res[i].n_vms / res[i - 1].n_vms;

                printf("| %u -> %u | ", res[i - 1].n_vms, res[i].n_vms);
                for (size_t k = 0; k < ELEMENTSOF(shown); k++) {
                        double a = phase_of(&res[i - 1], shown[k]), b = phase_of(&res[i], shown[k]);

                        if (a > 0)
                                printf("%.2f | ", b / a / vr);
                        else
                                printf("- | ");
                }
                printf("%.2f |\n", res[i].daemon_s / res[i - 1].daemon_s / vr);
        }
}

static int parse_list(const char *s) {
        _cleanup_free_ char *copy = xstrdup(s);
        char *save = NULL;

        opt_n_points = 0;
        for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
                unsigned v;

                if (opt_n_points >= MAX_POINTS || safe_atou(w, &v) < 0 || v == 0)
                        return -EINVAL;
                opt_vms[opt_n_points++] = v;
        }
        return opt_n_points > 0 ? 0 : -EINVAL;
}

static void usage(void) {
        fprintf(stderr, "usage: scale-bench [--vms N,N,...] [--vm-mib MIB] [--interval-ms MS] [--cycles N] [--warmup N]\n"
                        "                   [--density PCT] [--thp PCT] [--shift CYCLES] [--no-bus] [--quick]\n");
        exit(2);
}

int main(int argc, char **argv) {
        Result res[MAX_POINTS];
        const char *data_dir = getenv("VTISM_TEST_DATA");

        on_loop = true;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
                unsigned *target = NULL;

                if (streq(a, "--quick")) {
                        opt_n_points = 2;
                        opt_vms[0] = 2;
                        opt_vms[1] = 8;
                        opt_vm_mib = 256;
                        opt_interval_ms = 200;
                        opt_cycles = 2;
                        opt_warmup = 1;
                        continue;
                }
                if (streq(a, "--no-bus")) {
                        opt_bus = false;
                        continue;
                }
                if (!v)
                        usage();
                if (streq(a, "--vms")) {
                        if (parse_list(v) < 0)
                                usage();
                        i++;
                        continue;
                }
                if (streq(a, "--vm-mib"))
                        target = &opt_vm_mib;
                else if (streq(a, "--interval-ms"))
                        target = &opt_interval_ms;
                else if (streq(a, "--cycles"))
                        target = &opt_cycles;
                else if (streq(a, "--warmup"))
                        target = &opt_warmup;
                else if (streq(a, "--density"))
                        target = &opt_density;
                else if (streq(a, "--thp"))
                        target = &opt_thp;
                else if (streq(a, "--shift"))
                        target = &opt_shift;
                else
                        usage();
                if (safe_atou(v, target) < 0)
                        usage();
                i++;
        }
        if (opt_vm_mib < 2 || opt_vm_mib % 2 != 0 || opt_cycles == 0 || opt_interval_ms < 100 || opt_density > 100 ||
            opt_thp > 100) {
                fprintf(stderr, "scale-bench: --vm-mib must be even and >= 2, --cycles >= 1, --interval-ms >= 100, "
                                "--density and --thp percentages\n");
                return 2;
        }
        if (!data_dir)
                data_dir = SCALE_BENCH_DATA; /* the source tree's tests/data */

        log_setup("scale-bench", LOG_TARGET_CONSOLE);
        atexit(at_exit);
        measure_move_pages();
        {
                uint64_t t0 = thread_ns();

                for (int i = 0; i < 100000; i++)
                        (void) thread_ns();
                clock_ns = (thread_ns() - t0) / 100000;
        }
        printf("scale-bench: %u MiB per VM, %u ms interval, %u %% of pages accessed per cycle (scattered), %u %% of 2 MiB "
               "blocks THP, hot sets move every %u cycles; %u warm-up + %u measured cycles per point\n",
               opt_vm_mib, opt_interval_ms, opt_density, opt_thp, opt_shift, opt_warmup, opt_cycles);
        printf("move_pages costs: query %" PRIu64 " ns per call + %" PRIu64 " ns per page, move call %" PRIu64
               " ns (measured here, on our own memory); move %" PRIu64 " ns per 4 KiB page, %" PRIu64
               " ns per THP (DESIGN.md section 8, Zen 3: not measurable on one node)\n",
               cost_query_call_ns, cost_query_page_ns, cost_move_call_ns, cost_move_page_ns, cost_move_thp_ns);
        printf("phase clock: %" PRIu64 " ns of thread CPU per read (CLOCK_THREAD_CPUTIME_ID)\n", clock_ns);

        if (opt_bus) {
                const char *tmp = getenv("TMPDIR") ?: "/var/tmp";
                _cleanup_free_ char *templ = xasprintf("%s/scale-bench-bus.XXXXXX", tmp);
                int r;

                if (!mkdtemp(templ)) {
                        fprintf(stderr, "scale-bench: mkdtemp: %m\n");
                        return EXIT_FAILURE;
                }
                bus_dir = xstrdup(templ);
                r = start_dbus(bus_dir);
                if (r < 0) {
                        fprintf(stderr, "scale-bench: no private dbus-daemon (%s): running without the bus\n", strerror(-r));
                        opt_bus = false;
                } else
                        (void) setenv("DBUS_SYSTEM_BUS_ADDRESS", bus_address, 1);
        }
        printf("D-Bus: %s\n", opt_bus ? "vtismd's bus_setup() on a private dbus-daemon; a client thread calls Properties.Get(Version) every 10 ms"
                                      : "off (no dbus-daemon or --no-bus): latency is the loop's longest dispatch only");

        for (size_t i = 0; i < opt_n_points; i++) {
                const Result *r = &res[i];

                run_point(opt_vms[i], data_dir, &res[i]);
                /* at once, so that a run stopped early keeps what it measured */
                printf("   ms per cycle:");
                for (size_t k = 0; k < ELEMENTSOF(shown); k++)
                        printf(" %s %.2f,", phase_name[shown[k]], phase_of(r, shown[k]) * 1e3);
                printf(" daemon %.1f (%.2f %% of a core), stand-ins %.1f, kernel %.1f + %.1f; heap %.4f, RSS %.4f B/page; "
                       "D-Bus worst %.1f ms, p99 %.1f ms; dispatch %.1f ms (CPU %.1f ms)\n",
                       r->daemon_s * 1e3, r->daemon_s / (opt_interval_ms / 1000.0) * 100, r->standin_s * 1e3,
                       r->kernel_query_s * 1e3, r->kernel_move_s * 1e3, r->heap_per_page, r->rss_per_page,
                       r->client_worst_ms, r->client_p99_ms, r->dispatch_worst_ms, r->dispatch_worst_cpu_ms);
                fflush(stdout);
        }
        report(res, opt_n_points);
        if (atomic_load(&client_fail) > 0)
                printf("\n%" PRIu64 " D-Bus calls failed\n", atomic_load(&client_fail));

        free(bus_address);
        return EXIT_SUCCESS;
}
