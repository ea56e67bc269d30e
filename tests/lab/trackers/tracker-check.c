/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tracker-check — run a vtism access tracker on one process for a number of cycles into a
 * HeatMap, classify the hot granules and score them against the known hot window: precision and
 * recall by bytes. Optionally trigger the workload's phase shift and score the new window.
 * Lab only in practice (the trackers need a real tiering kernel); see --help.
 *
 * Exit: 0 every phase reached the wanted precision and recall, 1 not, 2 usage, 77 the tracker is
 * not usable on this kernel (its probe reason is printed).
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "sim-trace.h"
#include "../workloads/scatter.h"
#include "vtism/heatmap.h"
#include "vtism/log.h"
#include "vtism/tracker.h"
#include "vtism/util.h"

#define WINDOWS_MAX 16

typedef struct Window {
        uint64_t start, end; /* guest-physical (= HVA when no --gpa is given) */
        /* scattered (scatter.h): only the hot units of [start, end) are hot */
        bool scatter;
        uint32_t seed, per1024, unit_pages;
} Window;

/* One process (target) and what it should show. */
typedef struct Subject {
        pid_t pid;
        uint64_t range_lo, range_hi;  /* HVA */
        uint64_t gpa;                 /* GPA of range_lo */
        bool have_gpa;
        Window hot[WINDOWS_MAX], also[WINDOWS_MAX], phase_hot[WINDOWS_MAX];
        size_t n_hot, n_also, n_phase_hot;
        /* at run time */
        HeatRangeSpec range;
        TrackerTarget target;
        HeatMap *heat;
        bool added, passed;
        /* --record */
        FILE *record;
        SimTraceWriter writer;
        uint8_t *prev_heat;
} Subject;

#define SUBJECTS_MAX 4

typedef struct Args {
        const char *tracker;
        Subject subjects[SUBJECTS_MAX]; /* [0]: --pid/--range/--hot..., or the first --memhog-info */
        size_t n_subjects;
        unsigned cycles;
        unsigned interval_ms;
        double want;
        bool phase_signal;
        bool have_mailbox;
        uint64_t mailbox_gpa;
        uint64_t granule;
        const char *proc_root, *sysfs_root;
        const char *record;
        unsigned min_cycles;
        bool verbose;
        bool keep_going;
        bool scatter;                   /* --scatter: for the --hot and --phase-hot windows */
        uint32_t seed, per1024, unit_pages;
} Args;

static volatile sig_atomic_t stop_requested = 0;

static void on_stop(int sig) {
        stop_requested = 1;
}

static void help(void) {
        printf("Usage: tracker-check --tracker NAME (--pid PID --range LO-HI | --memhog-info FILE) [OPTIONS]\n"
               "\n"
               "Run tracker NAME (idle_pages, page_idle, damon, softdirty, or auto: what vtismd would pick)\n"
               "on PID's memory [LO, HI) (host-virtual)\n"
               "for up to --cycles cycles into a heat map, and after each cycle score the hot granules\n"
               "(heat >= 128, i.e. accessed in about half of the recent cycles) against the hot window:\n"
               "recall = |hot granules ∩ window| / |window|, precision = |hot granules ∩ (window ∪ also)| /\n"
               "|hot granules|, by bytes. A phase passes once both reach --want.\n"
               "\n"
               "  --tracker NAME       idle_pages, page_idle, damon, softdirty or auto\n"
               "  --pid PID            the process\n"
               "  --range LO-HI        its memory to track (hex or decimal, 4 KiB aligned)\n"
               "  --gpa G              LO is guest-physical address G (a VM's guest RAM): windows below\n"
               "                       are then guest-physical and scored through the heat map's GPA view\n"
               "  --hot S-E            the hot window (repeatable)\n"
               "  --also S-E           memory legitimately accessed too (counts for precision only)\n"
               "  --scatter SEED:N[:UNIT]  the --hot window's hot set is scattered: units of UNIT pages (1\n"
               "                       or 512), about N in 1024 hot (tests/lab/workloads/scatter.h); the\n"
               "                       --phase-hot window uses SEED+1 (memhog --info says this itself)\n"
               "  --memhog-info FILE   take pid, range, hot window and phase window from memhog --info;\n"
               "                       repeatable: one tracker target per file, all scored (the\n"
               "                       options above then describe no further target)\n"
               "  --phase-hot S-E      after phase 1 passed, trigger the phase shift and expect this window\n"
               "  --record FILE        write what the tracker saw, cycle by cycle, as a vtism trace\n"
               "                       (bench/lib/sim-trace.h; replay: bench/policy-sim replay FILE):\n"
               "                       target 0 to FILE, target N > 0 to FILE.N\n"
               "  --min-cycles N       run at least N cycles per phase, also after it passed (default 0)\n"
               "  --phase-signal       trigger it with SIGUSR2 (memhog)\n"
               "  --phase-mailbox GPA  trigger it by writing 1 to the 32-bit guest mailbox at GPA through\n"
               "                       /proc/PID/mem (vtguest)\n"
               "  --cycles N           cycles per phase at most (default 40)\n"
               "  --interval MS        time between cycles (default 1000)\n"
               "  --granule 4k|2m      heat map granule (default 4k)\n"
               "  --want F             precision and recall wanted (default 0.9)\n"
               "  --keep-going         run all --cycles cycles of a phase even once it passed\n"
               "  --proc-root DIR, --sysfs-root DIR  (default /proc, /sys)\n"
               "  -v, --verbose        debug logging of the tracker\n");
}

static int parse_u64(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno || end == s || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_window(const char *s, Window *w) {
        _cleanup_free_ char *copy = xstrdup(s);
        char *dash = strchr(copy, '-');

        if (!dash)
                return -EINVAL;
        *dash = 0;
        if (parse_u64(copy, &w->start) < 0 || parse_u64(dash + 1, &w->end) < 0 || w->end <= w->start)
                return -EINVAL;
        return 0;
}

/* "KEY=VALUE" word of the first line starting with prefix. */
static int info_field(const char *path, const char *prefix, const char *key, char **ret) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        char line[1024];
        size_t kl = strlen(key);

        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                if (strncmp(line, prefix, strlen(prefix)) != 0)
                        continue;
                for (char *w = strtok(line, " \n"); w; w = strtok(NULL, " \n"))
                        if (strncmp(w, key, kl) == 0 && w[kl] == '=') {
                                *ret = xstrdup(w + kl + 1);
                                return 0;
                        }
                return -ENOENT;
        }
        return -ENOENT;
}

static void window_scatter(Window *w, uint32_t seed, uint32_t per1024, uint32_t unit_pages) {
        w->scatter = true;
        w->seed = seed;
        w->per1024 = per1024;
        w->unit_pages = unit_pages;
}

/* "SEED:N[:UNIT]" */
static int parse_scatter(const char *s, uint32_t *ret_seed, uint32_t *ret_per1024, uint32_t *ret_unit) {
        unsigned long long seed, n, unit = 1;
        int k, end = 0;

        k = sscanf(s, "%llu:%llu%n:%llu%n", &seed, &n, &end, &unit, &end);
        if (k < 2 || s[end] != 0 || seed > UINT32_MAX || n == 0 || n > 1024 || (unit != 1 && unit != 512))
                return -EINVAL;
        *ret_seed = (uint32_t) seed;
        *ret_per1024 = (uint32_t) n;
        *ret_unit = (uint32_t) unit;
        return 0;
}

static int parse_memhog_info(const char *path, Subject *a) {
        _cleanup_free_ char *pid = NULL, *addr = NULL, *end = NULL, *hot = NULL, *phase = NULL;
        _cleanup_free_ char *seed = NULL, *per1024 = NULL, *unit_pages = NULL;
        uint64_t v;

        if (info_field(path, "memhog: pid=", "pid", &pid) < 0 || info_field(path, "memhog: pid=", "addr", &addr) < 0 ||
            info_field(path, "memhog: pid=", "end", &end) < 0 || info_field(path, "memhog: pid=", "hot", &hot) < 0)
                return -EINVAL;
        if (parse_u64(pid, &v) < 0 || parse_u64(addr, &a->range_lo) < 0 || parse_u64(end, &a->range_hi) < 0)
                return -EINVAL;
        a->pid = (pid_t) v;
        if (a->n_hot < WINDOWS_MAX && parse_window(hot, &a->hot[a->n_hot]) >= 0)
                a->n_hot++;
        if (info_field(path, "memhog: pid=", "phase", &phase) >= 0 && a->n_phase_hot < WINDOWS_MAX &&
            parse_window(phase, &a->phase_hot[a->n_phase_hot]) >= 0)
                a->n_phase_hot++;
        if (info_field(path, "memhog: pid=", "scatter", &seed) >= 0) {
                uint64_t sd, density = 0, unit = 0;

                if (parse_u64(seed, &sd) < 0 || info_field(path, "memhog: pid=", "density", &per1024) < 0 ||
                    parse_u64(per1024, &density) < 0 || info_field(path, "memhog: pid=", "unit_pages", &unit_pages) < 0 ||
                    parse_u64(unit_pages, &unit) < 0)
                        return -EINVAL;
                for (size_t i = 0; i < a->n_hot; i++)
                        window_scatter(&a->hot[i], (uint32_t) sd, (uint32_t) density, (uint32_t) unit);
                for (size_t i = 0; i < a->n_phase_hot; i++)
                        window_scatter(&a->phase_hot[i], (uint32_t) sd + 1, (uint32_t) density, (uint32_t) unit);
        }
        return 0;
}

#define IN_SET_TARGET_OPTION(c) \
        ((c) == ARG_PID || (c) == ARG_RANGE || (c) == ARG_GPA || (c) == ARG_HOT || (c) == ARG_ALSO || \
         (c) == ARG_PHASE_HOT)

static int parse_args(int argc, char **argv, Args *a) {
        enum {
                ARG_TRACKER = 0x100, ARG_PID, ARG_RANGE, ARG_GPA, ARG_HOT, ARG_ALSO, ARG_MEMHOG_INFO,
                ARG_PHASE_HOT, ARG_PHASE_SIGNAL, ARG_PHASE_MAILBOX, ARG_CYCLES, ARG_INTERVAL,
                ARG_GRANULE, ARG_WANT, ARG_KEEP_GOING, ARG_SCATTER, ARG_PROC_ROOT, ARG_SYSFS_ROOT, ARG_RECORD,
                ARG_MIN_CYCLES,
        };
        static const struct option options[] = {
                { "tracker", required_argument, NULL, ARG_TRACKER },
                { "pid", required_argument, NULL, ARG_PID },
                { "range", required_argument, NULL, ARG_RANGE },
                { "gpa", required_argument, NULL, ARG_GPA },
                { "hot", required_argument, NULL, ARG_HOT },
                { "also", required_argument, NULL, ARG_ALSO },
                { "memhog-info", required_argument, NULL, ARG_MEMHOG_INFO },
                { "phase-hot", required_argument, NULL, ARG_PHASE_HOT },
                { "phase-signal", no_argument, NULL, ARG_PHASE_SIGNAL },
                { "phase-mailbox", required_argument, NULL, ARG_PHASE_MAILBOX },
                { "cycles", required_argument, NULL, ARG_CYCLES },
                { "interval", required_argument, NULL, ARG_INTERVAL },
                { "granule", required_argument, NULL, ARG_GRANULE },
                { "want", required_argument, NULL, ARG_WANT },
                { "keep-going", no_argument, NULL, ARG_KEEP_GOING },
                { "scatter", required_argument, NULL, ARG_SCATTER },
                { "proc-root", required_argument, NULL, ARG_PROC_ROOT },
                { "sysfs-root", required_argument, NULL, ARG_SYSFS_ROOT },
                { "record", required_argument, NULL, ARG_RECORD },
                { "min-cycles", required_argument, NULL, ARG_MIN_CYCLES },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        Subject *cur;
        bool manual = false;
        uint64_t v;
        int c;

        *a = (Args) {
                .cycles = 40,
                .interval_ms = 1000,
                .want = 0.9,
                .granule = HEATMAP_GRANULE_4K,
                .proc_root = "/proc",
                .sysfs_root = "/sys",
        };
        cur = &a->subjects[0];
        while ((c = getopt_long(argc, argv, "vh", options, NULL)) >= 0) {
                if (IN_SET_TARGET_OPTION(c))
                        manual = true;
                switch (c) {
                case ARG_TRACKER:
                        a->tracker = optarg;
                        break;
                case ARG_PID:
                        if (parse_u64(optarg, &v) < 0 || v == 0 || v > INT32_MAX)
                                goto bad;
                        cur->pid = (pid_t) v;
                        break;
                case ARG_RANGE: {
                        Window w;
                        if (parse_window(optarg, &w) < 0)
                                goto bad;
                        cur->range_lo = w.start;
                        cur->range_hi = w.end;
                        break;
                }
                case ARG_GPA:
                        if (parse_u64(optarg, &cur->gpa) < 0)
                                goto bad;
                        cur->have_gpa = true;
                        break;
                case ARG_HOT:
                case ARG_ALSO:
                case ARG_PHASE_HOT: {
                        Window *list = c == ARG_HOT ? cur->hot : c == ARG_ALSO ? cur->also : cur->phase_hot;
                        size_t *n = c == ARG_HOT ? &cur->n_hot : c == ARG_ALSO ? &cur->n_also : &cur->n_phase_hot;
                        if (*n >= WINDOWS_MAX || parse_window(optarg, &list[*n]) < 0)
                                goto bad;
                        (*n)++;
                        break;
                }
                case ARG_MEMHOG_INFO:
                        if (manual || a->n_subjects >= SUBJECTS_MAX) {
                                fprintf(stderr, "tracker-check: --memhog-info: too many targets, or mixed with --pid\n");
                                return -EINVAL;
                        }
                        if (parse_memhog_info(optarg, &a->subjects[a->n_subjects]) < 0) {
                                fprintf(stderr, "tracker-check: cannot parse memhog info file %s\n", optarg);
                                return -EINVAL;
                        }
                        a->n_subjects++;
                        break;
                case ARG_PHASE_SIGNAL:
                        a->phase_signal = true;
                        break;
                case ARG_PHASE_MAILBOX:
                        if (parse_u64(optarg, &a->mailbox_gpa) < 0)
                                goto bad;
                        a->have_mailbox = true;
                        break;
                case ARG_CYCLES:
                        if (parse_u64(optarg, &v) < 0 || v == 0 || v > 100000)
                                goto bad;
                        a->cycles = (unsigned) v;
                        break;
                case ARG_INTERVAL:
                        if (parse_u64(optarg, &v) < 0 || v > 3600000)
                                goto bad;
                        a->interval_ms = (unsigned) v;
                        break;
                case ARG_GRANULE:
                        if (streq(optarg, "4k"))
                                a->granule = HEATMAP_GRANULE_4K;
                        else if (streq(optarg, "2m"))
                                a->granule = HEATMAP_GRANULE_2M;
                        else
                                goto bad;
                        break;
                case ARG_WANT:
                        a->want = strtod(optarg, NULL);
                        if (a->want <= 0 || a->want > 1)
                                goto bad;
                        break;
                case ARG_KEEP_GOING:
                        a->keep_going = true;
                        break;
                case ARG_SCATTER:
                        if (parse_scatter(optarg, &a->seed, &a->per1024, &a->unit_pages) < 0)
                                goto bad;
                        a->scatter = true;
                        break;
                case ARG_PROC_ROOT:
                        a->proc_root = optarg;
                        break;
                case ARG_SYSFS_ROOT:
                        a->sysfs_root = optarg;
                        break;
                case ARG_RECORD:
                        a->record = optarg;
                        break;
                case ARG_MIN_CYCLES:
                        if (parse_u64(optarg, &v) < 0 || v > 100000)
                                goto bad;
                        a->min_cycles = (unsigned) v;
                        break;
                case 'v':
                        a->verbose = true;
                        break;
                case 'h':
                        help();
                        exit(EXIT_SUCCESS);
                default:
                        return -EINVAL;
                }
        }
        if (manual)
                a->n_subjects = 1;
        if (!a->tracker || a->n_subjects == 0) {
                fprintf(stderr, "tracker-check: need --tracker, --pid, --range and --hot (or --memhog-info)\n");
                return -EINVAL;
        }
        for (size_t i = 0; i < a->n_subjects; i++) {
                Subject *sub = &a->subjects[i];

                if (sub->pid <= 0 || sub->range_hi <= sub->range_lo || sub->n_hot == 0) {
                        fprintf(stderr, "tracker-check: need --pid, --range and --hot\n");
                        return -EINVAL;
                }
                if (!sub->have_gpa)
                        sub->gpa = sub->range_lo;
                if (a->scatter && manual) {
                        for (size_t k = 0; k < sub->n_hot; k++)
                                window_scatter(&sub->hot[k], a->seed, a->per1024, a->unit_pages);
                        for (size_t k = 0; k < sub->n_phase_hot; k++)
                                window_scatter(&sub->phase_hot[k], a->seed + 1, a->per1024, a->unit_pages);
                }
                if (sub->n_phase_hot > 0 && !a->phase_signal && !a->have_mailbox) {
                        fprintf(stderr, "tracker-check: --phase-hot needs --phase-signal or --phase-mailbox\n");
                        return -EINVAL;
                }
        }
        return 0;
bad:
        fprintf(stderr, "tracker-check: bad argument for --%s: %s\n", options[c - ARG_TRACKER].name, optarg);
        return -EINVAL;
}

static uint64_t overlap(uint64_t s, uint64_t e, uint64_t ws, uint64_t we) {
        uint64_t lo = MAX(s, ws), hi = MIN(e, we);
        return hi > lo ? hi - lo : 0;
}

/* Hot bytes of window w inside [s, e): all of the overlap, or its hot units' part. */
static uint64_t window_overlap(const Window *w, uint64_t s, uint64_t e) {
        uint64_t unit_bytes, lo = MAX(s, w->start), hi = MIN(e, w->end), sum = 0;

        if (!w->scatter || hi <= lo)
                return overlap(s, e, w->start, w->end);
        unit_bytes = (uint64_t) w->unit_pages * 4096;
        for (uint64_t u = (lo - w->start) / unit_bytes; w->start + u * unit_bytes < hi; u++)
                if (scatter_hot(w->seed, (uint32_t) u, w->per1024))
                        sum += overlap(lo, hi, w->start + u * unit_bytes, w->start + (u + 1) * unit_bytes);
        return sum;
}

static uint64_t window_bytes(const Window *w) {
        return window_overlap(w, w->start, w->end);
}

typedef struct Score {
        uint64_t detected, true_pos, good, hot;
        double precision, recall;
} Score;

static void score(const HeatMap *h, const Window *hot, size_t n_hot, const Window *also, size_t n_also, Score *ret) {
        const HeatParams *p = heatmap_params(h);
        Score s = {};

        for (size_t i = 0; i < n_hot; i++)
                s.hot += window_bytes(&hot[i]);

        for (size_t r = 0; r < heatmap_n_ranges(h); r++) {
                HeatRangeSpec spec;
                const uint8_t *heat;
                size_t n;

                if (heatmap_range(h, r, &spec, &heat, &n) < 0)
                        continue;
                for (size_t g = 0; g < n; g++) {
                        uint64_t gs = spec.gpa + g * spec.granule_bytes, ge = gs + spec.granule_bytes, tp = 0, ok;

                        if (heat_params_classify(p, heat[g]) != HEAT_HOT)
                                continue;
                        s.detected += spec.granule_bytes;
                        for (size_t i = 0; i < n_hot; i++)
                                tp += window_overlap(&hot[i], gs, ge);
                        ok = tp;
                        for (size_t i = 0; i < n_also; i++)
                                ok += overlap(gs, ge, also[i].start, also[i].end);
                        s.true_pos += tp;
                        s.good += MIN(ok, spec.granule_bytes);
                }
        }
        s.precision = s.detected ? (double) s.good / (double) s.detected : 0;
        s.recall = s.hot ? (double) s.true_pos / (double) s.hot : 0;
        *ret = s;
}

static uint64_t clock_usec(clockid_t clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static uint64_t now_usec(void) {
        return clock_usec(CLOCK_MONOTONIC);
}

/* CPU time of this process, user and system (the kernel's work for the tracker counts). */
static uint64_t cpu_usec(void) {
        return clock_usec(CLOCK_PROCESS_CPUTIME_ID);
}

/* Wall and CPU time of the checks and prepares so far. */
typedef struct Cost {
        uint64_t wall_usec, cpu_usec;
        unsigned cycles;
} Cost;

static void sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stop_requested)
                ;
}

static int mailbox_write(const Args *a, const Subject *sub, uint32_t cmd) {
        _cleanup_free_ char *path = xasprintf("%s/%d/mem", a->proc_root, (int) sub->pid);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        uint64_t hva = sub->range_lo + (a->mailbox_gpa - sub->gpa);

        if (fd < 0)
                return -errno;
        if (pwrite(fd, &cmd, sizeof(cmd), (off_t) hva) != (ssize_t) sizeof(cmd))
                return -errno;
        return 0;
}

static void print_windows(const char *what, const Window *w, size_t n) {
        for (size_t i = 0; i < n; i++) {
                printf("tracker-check: %s 0x%" PRIx64 "-0x%" PRIx64 " (%" PRIu64 " KiB", what, w[i].start, w[i].end,
                       window_bytes(&w[i]) / 1024);
                if (w[i].scatter)
                        printf(" scattered: seed %" PRIu32 ", %" PRIu32 " units of %" PRIu32 " KiB in 1024 hot", w[i].seed,
                               w[i].per1024, w[i].unit_pages * 4);
                printf(")\n");
        }
}

/* ---- --record: what the tracker saw, as a vtism trace (bench/lib/sim-trace.h) ---- */

static int record_open(const Args *a, Subject *sub, size_t index, const char *tracker) {
        _cleanup_free_ char *path = index == 0 ? xstrdup(a->record) : xasprintf("%s.%zu", a->record, index);
        _cleanup_free_ char *note = NULL;
        struct utsname u = {};
        int r;

        sub->record = fopen(path, "we");
        if (!sub->record)
                return -errno;
        (void) uname(&u);
        note = xasprintf("tracker-check: tracker %s, pid %d, HVA 0x%" PRIx64 " = GPA 0x%" PRIx64 ", %u ms per cycle, "
                         "kernel %s\nreplay: bench/policy-sim --interval %.3f replay FILE",
                         tracker, (int) sub->pid, sub->range.hva, sub->range.gpa, a->interval_ms, u.release,
                         a->interval_ms / 1000.0);
        r = sim_trace_writer_start(&sub->writer, sub->record, sub->range.len_bytes / 4096, a->granule, note);
        if (r < 0)
                return r;
        sub->prev_heat = xcalloc(sub->range.len_bytes / a->granule, 1);
        printf("tracker-check: recording target %zu to %s\n", index, path);
        return 0;
}

/* The phase's hot windows as pages of the target's range. */
static int record_phase(Subject *sub, const Window *w, size_t n) {
        SimRun runs[WINDOWS_MAX];
        uint64_t lo = sub->range.gpa, hi = sub->range.gpa + sub->range.len_bytes;
        size_t k = 0;

        if (!sub->record)
                return 0;
        for (size_t i = 0; i < n; i++) {
                uint64_t st = MAX(w[i].start, lo), e = MIN(w[i].end, hi);

                if (e > st)
                        runs[k++] = (SimRun) { (st - lo) / 4096, DIV_ROUND_UP(e - lo, 4096) - (st - lo) / 4096 };
        }
        return sim_trace_writer_phase(&sub->writer, runs, k);
}

static void record_before(Subject *sub) {
        const uint8_t *heat;
        size_t n;

        if (sub->record && heatmap_range(sub->heat, 0, NULL, &heat, &n) >= 0)
                memcpy(sub->prev_heat, heat, n);
}

/* The granules accessed in the cycle just ended, from the heat bytes before and after it
 * (sim_trace_writer_cycle_from_heat()): what the tracker fed the heat map, clipped to the range. */
static int record_after(Subject *sub) {
        const uint8_t *heat;
        size_t n;
        int r;

        if (!sub->record)
                return 0;
        r = heatmap_range(sub->heat, 0, NULL, &heat, &n);
        if (r < 0)
                return r;
        return sim_trace_writer_cycle_from_heat(&sub->writer, sub->prev_heat, heat, n, heatmap_params(sub->heat)->decay_percent,
                                                sub->range.granule_bytes / 4096);
}

static int record_close(Subject *sub) {
        int r = 0;

        if (!sub->record)
                return 0;
        r = sim_trace_writer_finish(&sub->writer);
        if (fclose(sub->record) != 0 && r == 0)
                r = -errno;
        sub->record = NULL;
        free(sub->prev_heat);
        sub->prev_heat = NULL;
        return r;
}

/* Cycles until every subject's window is found (0) or not within a->cycles (1); < 0 on tracker
 * errors. phase 2 scores the phase windows. With --min-cycles, a phase that passed goes on until
 * it has run that many cycles (--keep-going: all of --cycles, and it must still pass at the last). */
static int run_phase(Args *a, Tracker *t, unsigned phase, Cost *cost) {
        unsigned passed_at = 0, first_pass = 0;
        bool all = false;
        Score s = {};
        int r;

        for (size_t i = 0; i < a->n_subjects; i++) {
                Subject *sub = &a->subjects[i];

                r = phase == 1 ? record_phase(sub, sub->hot, sub->n_hot) : record_phase(sub, sub->phase_hot, sub->n_phase_hot);
                if (r < 0) {
                        fprintf(stderr, "tracker-check: --record: %s\n", strerror(-r));
                        return r;
                }
                sub->passed = false;
                printf("tracker-check: target %zu (pid %d):\n", i, (int) sub->pid);
                if (phase == 1)
                        print_windows("expect hot", sub->hot, sub->n_hot);
                else
                        print_windows("expect hot", sub->phase_hot, sub->n_phase_hot);
        }
        for (unsigned c = 1; c <= MAX(a->cycles, a->min_cycles) && !stop_requested; c++) {
                uint64_t t0, c0;

                all = true;
                sleep_ms(a->interval_ms);
                t0 = now_usec();
                c0 = cpu_usec();
                for (size_t i = 0; i < a->n_subjects; i++) {
                        Subject *sub = &a->subjects[i];

                        record_before(sub);
                        heatmap_cycle_begin(sub->heat);
                        r = t->ops->check_accesses(t, &sub->target, sub->heat);
                        heatmap_cycle_end(sub->heat);
                        if (r >= 0 && record_after(sub) < 0) {
                                fprintf(stderr, "tracker-check: --record: cannot write cycle %u\n", c);
                                return -EIO;
                        }
                        if (r < 0) {
                                fprintf(stderr, "tracker-check: cycle %u: %s check of pid %d failed: %s\n", c,
                                        t->ops->name, (int) sub->pid, strerror(-r));
                                return r;
                        }
                }
                for (size_t i = 0; i < a->n_subjects; i++) {
                        r = t->ops->prepare_access_checks(t, &a->subjects[i].target);
                        if (r < 0) {
                                fprintf(stderr, "tracker-check: cycle %u: %s prepare failed: %s\n", c,
                                        t->ops->name, strerror(-r));
                                return r;
                        }
                }
                cost->wall_usec += now_usec() - t0;
                cost->cpu_usec += cpu_usec() - c0;
                cost->cycles++;

                for (size_t i = 0; i < a->n_subjects; i++) {
                        Subject *sub = &a->subjects[i];

                        if (phase == 1)
                                score(sub->heat, sub->hot, sub->n_hot, sub->also, sub->n_also, &s);
                        else
                                score(sub->heat, sub->phase_hot, sub->n_phase_hot, sub->also, sub->n_also, &s);
                        printf("tracker-check: phase %u cycle %u target %zu: detected %" PRIu64 " KiB, precision %.3f, "
                               "recall %.3f (%.1f ms per cycle)\n", phase, c, i, s.detected / 1024, s.precision,
                               s.recall, (double) cost->wall_usec / cost->cycles / 1000.0);
                        sub->passed = s.precision >= a->want && s.recall >= a->want;
                        all = all && sub->passed;
                }
                fflush(stdout);
                if (a->keep_going) {
                        if (all && passed_at == 0)
                                passed_at = c;
                        if (!all)
                                passed_at = 0;
                        continue;
                }
                if (all && first_pass == 0) {
                        printf("tracker-check: phase %u PASS after %u cycles\n", phase, c);
                        first_pass = c;
                }
                if (first_pass > 0 && c >= a->min_cycles)
                        return 0;
                if (first_pass == 0 && c >= a->cycles)
                        break;
        }
        if (!a->keep_going && first_pass > 0)
                return 0;
        if (all && a->keep_going) {
                printf("tracker-check: phase %u PASS after %u cycles, and still at the last (%u)\n", phase, passed_at,
                       a->cycles);
                return 0;
        }
        for (size_t i = 0; i < a->n_subjects; i++)
                if (!a->subjects[i].passed)
                        printf("tracker-check: phase %u FAIL: target %zu (pid %d) not found after %u cycles "
                               "(want %.2f)\n", phase, i, (int) a->subjects[i].pid, a->cycles, a->want);
        return 1;
}

static void subjects_free(Args *a, Tracker *t) {
        for (size_t i = 0; i < a->n_subjects; i++) {
                Subject *sub = &a->subjects[i];

                if (record_close(sub) < 0)
                        fprintf(stderr, "tracker-check: --record: writing target %zu's trace failed\n", i);
                if (sub->added && t)
                        t->ops->target_remove(t, &sub->target);
                sub->added = false;
                sub->heat = heatmap_free(sub->heat);
        }
}

int main(int argc, char **argv) {
        _cleanup_(tracker_freep) Tracker *t = NULL;
        char *reasons[_TRACKER_KIND_MAX] = {};
        const TrackerOps *ops = NULL;
        TrackerContext ctx;
        HeatParams params;
        Cost cost = {};
        bool phase2 = false;
        Args a;
        int r, ret = EXIT_SUCCESS;

        if (parse_args(argc, argv, &a) < 0)
                return 2;
        log_setup("tracker-check", LOG_TARGET_CONSOLE);
        log_set_max_level(a.verbose ? LOG_DEBUG : LOG_INFO);
        signal(SIGINT, on_stop);
        signal(SIGTERM, on_stop);

        ctx = (TrackerContext) { .proc_root = a.proc_root, .sysfs_root = a.sysfs_root };
        tracker_probe_all(&ctx, reasons);
        for (int k = 0; k < _TRACKER_KIND_MAX; k++) {
                const TrackerOps *o = tracker_ops_from_kind(k);
                if (o)
                        printf("tracker-check: probe %s: %s\n", o->name, reasons[k] ?: "usable");
                if (o && streq(o->name, a.tracker))
                        ops = o;
        }
        if (streq(a.tracker, "auto")) {
                _cleanup_free_ char *why = NULL;

                r = tracker_pick(TRACKER_AUTO, reasons, &ops);
                why = tracker_pick_explain(TRACKER_AUTO, reasons, r >= 0 ? ops : NULL);
                printf("tracker-check: auto: %s\n", why);
                if (r < 0) {
                        printf("SKIP: no tracker is usable here\n");
                        return 77;
                }
        } else if (!ops) {
                fprintf(stderr, "tracker-check: unknown tracker '%s'\n", a.tracker);
                return 2;
        } else if (reasons[ops->kind]) {
                printf("SKIP: tracker %s is not usable here: %s\n", ops->name, reasons[ops->kind]);
                return 77;
        }
        for (int k = 0; k < _TRACKER_KIND_MAX; k++)
                free(reasons[k]);

        heat_params_init_default(&params);
        for (size_t i = 0; i < a.n_subjects; i++) {
                Subject *sub = &a.subjects[i];

                sub->range = (HeatRangeSpec) {
                        .gpa = sub->gpa & ~(a.granule - 1),
                        .hva = sub->range_lo & ~(a.granule - 1),
                        .granule_bytes = a.granule,
                };
                sub->range.len_bytes = DIV_ROUND_UP(sub->range_hi - sub->range.hva, a.granule) * a.granule;
                r = heatmap_new(&sub->range, 1, &params, &sub->heat);
                if (r < 0) {
                        fprintf(stderr, "tracker-check: heatmap_new: %s\n", strerror(-r));
                        subjects_free(&a, NULL);
                        return 2;
                }
                sub->target = (TrackerTarget) { .pid = sub->pid, .ranges = &sub->range, .n_ranges = 1 };
                r = proc_pid_start_time(a.proc_root, sub->pid, &sub->target.start_time);
                if (r < 0) {
                        fprintf(stderr, "tracker-check: pid %d: %s\n", (int) sub->pid, strerror(-r));
                        subjects_free(&a, NULL);
                        return 1;
                }
                phase2 = phase2 || sub->n_phase_hot > 0;
        }

        for (size_t i = 0; a.record && i < a.n_subjects; i++) {
                r = record_open(&a, &a.subjects[i], i, ops->name);
                if (r < 0) {
                        fprintf(stderr, "tracker-check: --record %s: %s\n", a.record, strerror(-r));
                        subjects_free(&a, NULL);
                        return 2;
                }
        }

        r = tracker_new(ops, &ctx, &t);
        if (r < 0) {
                fprintf(stderr, "tracker-check: %s init failed: %s\n", ops->name, strerror(-r));
                subjects_free(&a, NULL);
                return 1;
        }
        for (size_t i = 0; i < a.n_subjects; i++) {
                Subject *sub = &a.subjects[i];

                printf("tracker-check: %s target %zu: pid %d, HVA 0x%" PRIx64 "-0x%" PRIx64 " = GPA 0x%" PRIx64
                       " +%" PRIu64 " MiB, %s granules, %u ms per cycle\n", ops->name, i, (int) sub->pid,
                       sub->range.hva, sub->range.hva + sub->range.len_bytes, sub->range.gpa,
                       sub->range.len_bytes / MIB, a.granule == HEATMAP_GRANULE_2M ? "2 MiB" : "4 KiB",
                       a.interval_ms);
                print_windows("also allowed", sub->also, sub->n_also);
                r = ops->target_add(t, &sub->target);
                if (r < 0) {
                        fprintf(stderr, "tracker-check: target_add of pid %d failed: %s\n", (int) sub->pid,
                                strerror(-r));
                        subjects_free(&a, t);
                        return 1;
                }
                sub->added = true;
        }

        /* As the manager: target_add starts the first period, then check + prepare per cycle. */
        r = run_phase(&a, t, 1, &cost);
        if (r == 0 && phase2) {
                for (size_t i = 0; i < a.n_subjects && r >= 0; i++) {
                        if (a.phase_signal)
                                r = kill(a.subjects[i].pid, SIGUSR2) < 0 ? -errno : 0;
                        else
                                r = mailbox_write(&a, &a.subjects[i], 1);
                }
                if (r < 0)
                        fprintf(stderr, "tracker-check: cannot trigger the phase shift: %s\n", strerror(-r));
                else {
                        printf("tracker-check: phase shift triggered\n");
                        r = run_phase(&a, t, 2, &cost);
                }
        }
        if (r != 0)
                ret = EXIT_FAILURE;
        if (cost.cycles > 0)
                printf("tracker-check: %s: %u cycles, check+prepare %.1f ms per cycle on average, %.1f ms of it CPU\n",
                       ops->name, cost.cycles, (double) cost.wall_usec / cost.cycles / 1000.0,
                       (double) cost.cpu_usec / cost.cycles / 1000.0);
        for (size_t i = 0; i < a.n_subjects; i++)
                if (a.subjects[i].added) {
                        _cleanup_free_ char *d = tracker_describe_target(t, &a.subjects[i].target);
                        printf("tracker-check: target %zu fed by %s\n", i, d);
                }
        printf("tracker-check: %s\n", ret == EXIT_SUCCESS ? "PASS" : "FAIL");
        subjects_free(&a, t);
        return ret;
}
