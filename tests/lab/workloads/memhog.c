/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * memhog — a process workload with a known hot/cold access pattern.
 *
 * Maps SIZE of anonymous memory (2 MiB aligned), touches all of it once, then loops over a hot
 * window [OFFSET, OFFSET+HOT), reading or writing one byte per 4 KiB page per pass.  After
 * --phase-after seconds (or on SIGUSR2) the hot window moves to --phase-offset, and takes the size
 * --phase-hot if given (a hot set that shrinks: the guest went idle).  With --scatter only some units
 * of the window are hot, spread by a hash (scatter.h): one byte of one page per hot unit.  It can report where its pages
 * are (per NUMA node, via a move_pages(2) query) on SIGUSR1, at start and at exit.
 *
 * Everything it prints for machines starts with "memhog: " and is made of key=value words.
 * See README.md in this directory, or --help.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <numa.h>
#include <numaif.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "scatter.h"

#define PAGE_BYTES              4096ULL
#define HUGE_BYTES              (2ULL << 20)
#define MIB                     (1ULL << 20)
#define QUERY_BATCH             4096
#define FLUSH_SCRATCH_PAGES     64      /* > the kernel's 33-page single-flush ceiling */
#define REPORT_NODES            4       /* nodes counted in the "report" totals line */

typedef enum ThpMode {
        THP_DEFAULT,
        THP_ON,
        THP_OFF,
} ThpMode;

static const char *const thp_mode_table[] = {
        [THP_DEFAULT] = "default",
        [THP_ON] = "on",
        [THP_OFF] = "off",
};

typedef struct Args {
        uint64_t size_bytes;
        uint64_t hot_offset_bytes;
        uint64_t hot_bytes;
        uint64_t phase_offset_bytes;
        uint64_t phase_hot_bytes;       /* the hot window's size after the shift (--phase-hot, else hot_bytes) */
        bool phase;                     /* --phase-offset given: shift on SIGUSR2 or after phase_after_sec */
        double phase_after_sec;         /* < 0: only on SIGUSR2 */
        double duration_sec;            /* <= 0: until SIGTERM */
        bool write;
        ThpMode thp;
        int bind_node;                  /* < 0: no binding */
        const char *info_path;
        bool report;
        bool flush_tlb;
        unsigned pause_usec;
        double report_every_sec;        /* > 0: a placement report this often */
        bool scatter;                   /* --scatter: hot units spread over the window */
        uint32_t seed;                  /* +1 at the phase shift */
        uint32_t per1024;               /* hot units per 1024 */
        uint32_t unit_pages;            /* 1 (4 KiB) or 512 (2 MiB) */
} Args;

static volatile sig_atomic_t arrived_usr1 = 0;
static volatile sig_atomic_t arrived_usr2 = 0;
static volatile sig_atomic_t arrived_term = 0;

static void on_signal(int sig) {
        if (sig == SIGUSR1)
                arrived_usr1 = 1;
        else if (sig == SIGUSR2)
                arrived_usr2 = 1;
        else
                arrived_term = 1;
}

static double now_sec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* A size: bare numbers are MiB; K, M, G suffixes (optionally followed by "iB" or "B"). */
static int parse_size(const char *s, uint64_t *ret_bytes) {
        char *end;
        unsigned long long v;
        uint64_t mult = MIB;

        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno != 0 || end == s || *s == '-')
                return -EINVAL;
        switch (*end) {
        case 'k': case 'K': mult = 1ULL << 10; end++; break;
        case 'm': case 'M': mult = 1ULL << 20; end++; break;
        case 'g': case 'G': mult = 1ULL << 30; end++; break;
        case 'b': case 'B': mult = 1; end++; break;
        default: break;
        }
        if (mult != 1 && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
                end += strlen(end);
        if (*end != 0)
                return -EINVAL;
        if (v > UINT64_MAX / mult)
                return -ERANGE;
        *ret_bytes = v * mult;
        return 0;
}

static int parse_seconds(const char *s, double *ret) {
        char *end;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno != 0 || end == s || *end != 0 || v < 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

static void help(void) {
        printf("Usage: memhog [OPTIONS]\n\n"
               "Map SIZE of anonymous memory, touch it all once, then keep touching a hot window.\n"
               "Sizes and offsets are MiB unless suffixed with K, M, G or B.\n\n"
               "  -s, --size=SIZE           mapping size (default 256)\n"
               "  -H, --hot=SIZE            hot window size (default 32)\n"
               "  -o, --offset=OFFSET       hot window offset in the mapping (default 0)\n"
               "  -O, --phase-offset=OFFSET move the hot window here after --phase-after or on SIGUSR2\n"
               "  -T, --phase-after=SEC     seconds of hot loop before the phase shift\n"
               "      --phase-hot=SIZE      the hot window's size after the phase shift (default: --hot)\n"
               "  -m, --mode=read|write     how the hot window is touched (default write)\n"
               "      --thp=on|off|default  madvise(MADV_HUGEPAGE / MADV_NOHUGEPAGE) or leave as is\n"
               "  -b, --bind=NODE           bind the mapping to NODE (mbind MPOL_BIND) before touching\n"
               "  -i, --info=FILE           write the start line to FILE; reports are appended to it\n"
               "  -r, --report              report placement after the first touch and at exit\n"
               "  -d, --duration=SEC        run SEC seconds (default: until SIGTERM/SIGINT)\n"
               "      --flush-tlb           flush this process' TLB after each pass (for emulators\n"
               "                            such as QEMU TCG that set accessed bits on TLB fills only)\n"
               "      --pause-us=USEC       sleep USEC microseconds after each pass\n"
               "      --report-every=SEC    a placement report every SEC seconds (after a pass)\n"
               "      --scatter=SEED        only some units of the hot window are hot, spread by a hash\n"
               "                            (tests/lab/workloads/scatter.h); the phase shift makes it SEED+1\n"
               "      --density=N           hot units per 1024 with --scatter (default 128)\n"
               "      --scatter-unit=4K|2M  unit of --scatter (default 4K); one page per hot unit is touched\n"
               "  -h, --help                this text\n\n"
               "SIGUSR1 prints a placement report (move_pages query per node, hot window and rest).\n"
               "SIGUSR2 makes the phase shift happen now (needs --phase-offset).\n");
}

static int parse_args(int argc, char *argv[], Args *a) {
        enum {
                ARG_THP = 0x100,
                ARG_FLUSH_TLB,
                ARG_PAUSE_US,
                ARG_REPORT_EVERY,
                ARG_SCATTER,
                ARG_DENSITY,
                ARG_SCATTER_UNIT,
                ARG_PHASE_HOT,
        };
        static const struct option options[] = {
                { "size",         required_argument, NULL, 's'          },
                { "hot",          required_argument, NULL, 'H'          },
                { "offset",       required_argument, NULL, 'o'          },
                { "phase-offset", required_argument, NULL, 'O'          },
                { "phase-after",  required_argument, NULL, 'T'          },
                { "mode",         required_argument, NULL, 'm'          },
                { "thp",          required_argument, NULL, ARG_THP      },
                { "bind",         required_argument, NULL, 'b'          },
                { "info",         required_argument, NULL, 'i'          },
                { "report",       no_argument,       NULL, 'r'          },
                { "duration",     required_argument, NULL, 'd'          },
                { "flush-tlb",    no_argument,       NULL, ARG_FLUSH_TLB },
                { "pause-us",     required_argument, NULL, ARG_PAUSE_US },
                { "report-every", required_argument, NULL, ARG_REPORT_EVERY },
                { "scatter",      required_argument, NULL, ARG_SCATTER  },
                { "density",      required_argument, NULL, ARG_DENSITY  },
                { "scatter-unit", required_argument, NULL, ARG_SCATTER_UNIT },
                { "phase-hot",    required_argument, NULL, ARG_PHASE_HOT },
                { "help",         no_argument,       NULL, 'h'          },
                {}
        };
        bool have_phase_offset = false;
        int c, r = 0;

        *a = (Args) {
                .size_bytes = 256 * MIB,
                .hot_bytes = 32 * MIB,
                .phase_after_sec = -1,
                .write = true,
                .thp = THP_DEFAULT,
                .bind_node = -1,
                .per1024 = 128,
                .unit_pages = 1,
        };

        while ((c = getopt_long(argc, argv, "s:H:o:O:T:m:b:i:rd:h", options, NULL)) >= 0) {
                switch (c) {
                case 's':
                        r = parse_size(optarg, &a->size_bytes);
                        break;
                case 'H':
                        r = parse_size(optarg, &a->hot_bytes);
                        break;
                case 'o':
                        r = parse_size(optarg, &a->hot_offset_bytes);
                        break;
                case 'O':
                        r = parse_size(optarg, &a->phase_offset_bytes);
                        have_phase_offset = true;
                        break;
                case 'T':
                        r = parse_seconds(optarg, &a->phase_after_sec);
                        break;
                case 'm':
                        if (strcmp(optarg, "write") == 0)
                                a->write = true;
                        else if (strcmp(optarg, "read") == 0)
                                a->write = false;
                        else
                                r = -EINVAL;
                        break;
                case ARG_THP:
                        r = -EINVAL;
                        for (size_t i = 0; i < sizeof(thp_mode_table) / sizeof(thp_mode_table[0]); i++)
                                if (strcmp(optarg, thp_mode_table[i]) == 0) {
                                        a->thp = (ThpMode) i;
                                        r = 0;
                                }
                        break;
                case 'b': {
                        char *end;
                        long n;

                        errno = 0;
                        n = strtol(optarg, &end, 10);
                        if (errno != 0 || end == optarg || *end != 0 || n < 0 || n > 1023)
                                r = -EINVAL;
                        else
                                a->bind_node = (int) n;
                        break;
                }
                case 'i':
                        a->info_path = optarg;
                        break;
                case 'r':
                        a->report = true;
                        break;
                case 'd':
                        r = parse_seconds(optarg, &a->duration_sec);
                        break;
                case ARG_FLUSH_TLB:
                        a->flush_tlb = true;
                        break;
                case ARG_PAUSE_US: {
                        char *end;
                        unsigned long n;

                        errno = 0;
                        n = strtoul(optarg, &end, 10);
                        if (errno != 0 || end == optarg || *end != 0 || n > 10000000)
                                r = -EINVAL;
                        else
                                a->pause_usec = (unsigned) n;
                        break;
                }
                case ARG_REPORT_EVERY:
                        r = parse_seconds(optarg, &a->report_every_sec);
                        break;
                case ARG_SCATTER:
                case ARG_DENSITY: {
                        char *end;
                        unsigned long n;

                        errno = 0;
                        n = strtoul(optarg, &end, 0);
                        if (errno != 0 || end == optarg || *end != 0 || n > UINT32_MAX ||
                            (c == ARG_DENSITY && (n == 0 || n > 1024)))
                                r = -EINVAL;
                        else if (c == ARG_SCATTER) {
                                a->scatter = true;
                                a->seed = (uint32_t) n;
                        } else
                                a->per1024 = (uint32_t) n;
                        break;
                }
                case ARG_PHASE_HOT:
                        r = parse_size(optarg, &a->phase_hot_bytes);
                        if (r >= 0 && a->phase_hot_bytes == 0)
                                r = -EINVAL;
                        break;
                case ARG_SCATTER_UNIT:
                        if (strcmp(optarg, "4K") == 0 || strcmp(optarg, "4k") == 0)
                                a->unit_pages = 1;
                        else if (strcmp(optarg, "2M") == 0 || strcmp(optarg, "2m") == 0)
                                a->unit_pages = (uint32_t) (HUGE_BYTES / PAGE_BYTES);
                        else
                                r = -EINVAL;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        return -EINVAL;
                }
                if (r < 0) {
                        fprintf(stderr, "memhog: invalid argument for option %s: %s\n",
                                argv[optind - 1], optarg);
                        return r;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "memhog: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }

        if (a->phase_hot_bytes == 0)
                a->phase_hot_bytes = a->hot_bytes;
        if (a->size_bytes == 0 || a->size_bytes % PAGE_BYTES || a->phase_hot_bytes % PAGE_BYTES ||
            a->hot_bytes == 0 || a->hot_bytes % PAGE_BYTES ||
            a->hot_offset_bytes % PAGE_BYTES || a->phase_offset_bytes % PAGE_BYTES) {
                fprintf(stderr, "memhog: sizes and offsets must be 4 KiB multiples, size and hot non-zero\n");
                return -EINVAL;
        }
        if (a->hot_offset_bytes > a->size_bytes || a->hot_bytes > a->size_bytes - a->hot_offset_bytes ||
            a->phase_offset_bytes > a->size_bytes || a->phase_hot_bytes > a->size_bytes - a->phase_offset_bytes) {
                fprintf(stderr, "memhog: the hot window must lie inside the mapping\n");
                return -EINVAL;
        }
        if (a->scatter && (a->hot_bytes % (a->unit_pages * PAGE_BYTES) ||
                           a->hot_offset_bytes % (a->unit_pages * PAGE_BYTES) ||
                           a->phase_offset_bytes % (a->unit_pages * PAGE_BYTES) ||
                           a->phase_hot_bytes % (a->unit_pages * PAGE_BYTES))) {
                fprintf(stderr, "memhog: with --scatter the hot window must consist of whole units\n");
                return -EINVAL;
        }
        if (a->phase_hot_bytes != a->hot_bytes && !have_phase_offset) {
                fprintf(stderr, "memhog: --phase-hot needs --phase-offset\n");
                return -EINVAL;
        }
        if (a->phase_after_sec >= 0 && !have_phase_offset) {
                fprintf(stderr, "memhog: --phase-after needs --phase-offset\n");
                return -EINVAL;
        }
        a->phase = have_phase_offset;
        return 1;
}

/* Append (or, with truncate, atomically replace) one line in the info file. */
static void info_write(const Args *a, const char *line, bool truncate) {
        FILE *f;

        if (!a->info_path)
                return;

        if (truncate) {
                char tmp[4096];

                snprintf(tmp, sizeof(tmp), "%s.tmp.%d", a->info_path, (int) getpid());
                f = fopen(tmp, "we");
                if (!f || fputs(line, f) < 0 || fclose(f) != 0 || rename(tmp, a->info_path) < 0)
                        fprintf(stderr, "memhog: cannot write %s: %m\n", a->info_path);
                return;
        }

        f = fopen(a->info_path, "ae");
        if (!f || fputs(line, f) < 0 || fclose(f) != 0)
                fprintf(stderr, "memhog: cannot append to %s: %m\n", a->info_path);
}

static void emit(const Args *a, const char *line, bool truncate) {
        fputs(line, stdout);
        fflush(stdout);
        info_write(a, line, truncate);
}

/* Count where the pages of [start, start+bytes) are: per node, absent (never faulted), error. */
static int report_range(const Args *a, const char *name, uint8_t *start, uint64_t bytes, uint64_t *total) {
        int nr_nodes = numa_available() >= 0 ? numa_max_node() + 1 : 1;
        uint64_t *per_node, absent = 0, failed = 0, pages = bytes / PAGE_BYTES;
        void *addrs[QUERY_BATCH];
        int status[QUERY_BATCH];
        char line[8192];
        size_t n;

        per_node = calloc((size_t) nr_nodes, sizeof(uint64_t));
        if (!per_node)
                abort();

        for (uint64_t done = 0; done < pages; ) {
                unsigned long count = (unsigned long) (pages - done < QUERY_BATCH ? pages - done : QUERY_BATCH);

                for (unsigned long i = 0; i < count; i++)
                        addrs[i] = start + (done + i) * PAGE_BYTES;
                if (move_pages(0, count, addrs, NULL, status, 0) < 0) {
                        int r = -errno;

                        fprintf(stderr, "memhog: move_pages query failed: %m\n");
                        free(per_node);
                        return r;
                }
                for (unsigned long i = 0; i < count; i++) {
                        if (status[i] >= 0 && status[i] < nr_nodes) {
                                per_node[status[i]]++;
                                if (status[i] < REPORT_NODES)
                                        total[status[i]]++;
                        }
                        else if (status[i] == -ENOENT)
                                absent++;
                        else
                                failed++;
                }
                done += count;
        }

        n = (size_t) snprintf(line, sizeof(line), "memhog: placement pid=%d region=%s start=%p pages=%" PRIu64,
                              (int) getpid(), name, (void *) start, pages);
        for (int i = 0; i < nr_nodes && n < sizeof(line) - 64; i++)
                n += (size_t) snprintf(line + n, sizeof(line) - n, " node%d=%" PRIu64, i, per_node[i]);
        snprintf(line + n, sizeof(line) - n, " absent=%" PRIu64 " error=%" PRIu64 "\n", absent, failed);
        emit(a, line, false);

        free(per_node);
        return 0;
}

/* One report: a line per region, then a "report" line with the totals per node and the hot
 * window's, so that a reader waiting for a report knows it is complete. */
static void report(const Args *a, uint8_t *base, uint64_t hot_offset) {
        static unsigned seq;
        uint64_t hot_end = hot_offset + a->hot_bytes, total[REPORT_NODES] = {}, hot[REPORT_NODES] = {};
        char line[512];
        size_t n;

        report_range(a, "hot", base + hot_offset, a->hot_bytes, hot);
        for (unsigned i = 0; i < REPORT_NODES; i++)
                total[i] = hot[i];
        /* "rest" is everything but the current hot window, possibly two pieces. */
        if (hot_offset > 0)
                report_range(a, "rest-low", base, hot_offset, total);
        if (hot_end < a->size_bytes)
                report_range(a, "rest-high", base + hot_end, a->size_bytes - hot_end, total);

        n = (size_t) snprintf(line, sizeof(line), "memhog: report pid=%d seq=%u t=%.3f hot_offset=%" PRIu64,
                              (int) getpid(), ++seq, now_sec(), hot_offset);
        for (unsigned i = 0; i < REPORT_NODES; i++)
                n += (size_t) snprintf(line + n, sizeof(line) - n, " node%u=%" PRIu64, i, total[i]);
        for (unsigned i = 0; i < REPORT_NODES; i++)
                n += (size_t) snprintf(line + n, sizeof(line) - n, " hot_node%u=%" PRIu64, i, hot[i]);
        snprintf(line + n, sizeof(line) - n, "\n");
        emit(a, line, false);
}

static uint8_t *map_aligned(uint64_t bytes) {
        uint8_t *raw, *p;
        uint64_t lead;

        raw = mmap(NULL, bytes + HUGE_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (raw == MAP_FAILED)
                return NULL;

        p = (uint8_t *) (((uintptr_t) raw + HUGE_BYTES - 1) & ~(uintptr_t) (HUGE_BYTES - 1));
        lead = (uint64_t) (p - raw);
        if (lead > 0)
                munmap(raw, lead);
        if (HUGE_BYTES - lead > 0)
                munmap(p + bytes, HUGE_BYTES - lead);
        return p;
}

/* Unmapping > 33 populated pages makes the kernel flush this mm's whole TLB (a CR3 reload). */
static void flush_tlb(uint8_t *scratch) {
        for (unsigned i = 0; i < FLUSH_SCRATCH_PAGES; i++)
                scratch[i * PAGE_BYTES] = 1;
        (void) madvise(scratch, FLUSH_SCRATCH_PAGES * PAGE_BYTES, MADV_DONTNEED);
}

static uint64_t pass(uint8_t *start, uint64_t bytes, bool write) {
        uint64_t sum = 0;

        for (uint64_t off = 0; off < bytes; off += PAGE_BYTES) {
                volatile uint8_t *b = start + off;

                if (write)
                        *b = (uint8_t) (*b + 1);
                else
                        sum += *b;
        }
        return sum;
}

/* --scatter: the offsets (from the mapping's start) of the pages touched per pass. */
static uint64_t *hot_list(const Args *a, uint64_t window_offset, uint32_t seed, size_t *ret_n) {
        uint64_t unit_bytes = a->unit_pages * PAGE_BYTES, units = a->hot_bytes / unit_bytes;
        uint64_t *list = malloc((size_t) units * sizeof(uint64_t) + 1);
        size_t n = 0;

        if (!list)
                abort();
        for (uint64_t u = 0; u < units; u++)
                if (scatter_hot(seed, (uint32_t) u, a->per1024))
                        list[n++] = window_offset + u * unit_bytes +
                                    (uint64_t) scatter_page(seed, (uint32_t) u, a->unit_pages) * PAGE_BYTES;
        *ret_n = n;
        return list;
}

static uint64_t pass_list(uint8_t *base, const uint64_t *list, size_t n, bool write) {
        uint64_t sum = 0;

        for (size_t i = 0; i < n; i++) {
                volatile uint8_t *b = base + list[i];

                if (write)
                        *b = (uint8_t) (*b + 1);
                else
                        sum += *b;
        }
        return sum;
}

static void format_start_line(const Args *a, uint8_t *base, uint64_t hot_offset, char *buf, size_t size) {
        size_t n;

        n = (size_t) snprintf(buf, size,
                              "memhog: pid=%d addr=%p size=%" PRIu64 " end=%p hot=%p-%p hot_offset=%" PRIu64
                              " hot_size=%" PRIu64,
                              (int) getpid(), (void *) base, a->size_bytes, (void *) (base + a->size_bytes),
                              (void *) (base + hot_offset), (void *) (base + hot_offset + a->hot_bytes),
                              hot_offset, a->hot_bytes);
        if (a->phase)
                n += (size_t) snprintf(buf + n, size - n, " phase=%p-%p phase_after=%g",
                                       (void *) (base + a->phase_offset_bytes),
                                       (void *) (base + a->phase_offset_bytes + a->phase_hot_bytes),
                                       a->phase_after_sec);
        if (a->scatter)
                n += (size_t) snprintf(buf + n, size - n, " scatter=%" PRIu32 " density=%" PRIu32 " unit_pages=%" PRIu32,
                                       a->seed, a->per1024, a->unit_pages);
        snprintf(buf + n, size - n, " thp=%s mode=%s bind=%d t=%.3f\n",
                 thp_mode_table[a->thp], a->write ? "write" : "read", a->bind_node, now_sec());
}

/* Where read passes leave their sum, so they are not optimised away. */
volatile uint64_t memhog_sink;

int main(int argc, char *argv[]) {
        struct sigaction sa = { .sa_handler = on_signal };
        uint8_t *base, *scratch = NULL;
        uint64_t hot_offset, *list = NULL;
        size_t n_list = 0;
        uint32_t seed;
        double start, phase_at, end_at, next_report;
        bool phase_pending;
        Args a;
        char line[1024];
        int r;

        r = parse_args(argc, argv, &a);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGUSR1, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0 ||
            sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGUSR2, &sa, NULL) < 0) {
                fprintf(stderr, "memhog: sigaction: %m\n");
                return EXIT_FAILURE;
        }

        base = map_aligned(a.size_bytes);
        if (!base) {
                fprintf(stderr, "memhog: cannot map %" PRIu64 " bytes: %m\n", a.size_bytes);
                return EXIT_FAILURE;
        }
        if (a.thp != THP_DEFAULT &&
            madvise(base, a.size_bytes, a.thp == THP_ON ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) < 0) {
                fprintf(stderr, "memhog: madvise(%s): %m\n", a.thp == THP_ON ? "MADV_HUGEPAGE" : "MADV_NOHUGEPAGE");
                return EXIT_FAILURE;
        }
        if (a.bind_node >= 0) {
                unsigned long mask[1024 / (8 * sizeof(unsigned long))] = {};

                mask[a.bind_node / (8 * sizeof(unsigned long))] |= 1UL << (a.bind_node % (8 * sizeof(unsigned long)));
                if (mbind(base, a.size_bytes, MPOL_BIND, mask, 1024, 0) < 0) {
                        fprintf(stderr, "memhog: mbind to node %d: %m\n", a.bind_node);
                        return EXIT_FAILURE;
                }
        }
        if (a.flush_tlb) {
                scratch = mmap(NULL, FLUSH_SCRATCH_PAGES * PAGE_BYTES, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (scratch == MAP_FAILED) {
                        fprintf(stderr, "memhog: cannot map the TLB flush scratch area: %m\n");
                        return EXIT_FAILURE;
                }
        }

        /* First touch: every page gets allocated (by a write, so not the shared zero page). */
        for (uint64_t off = 0; off < a.size_bytes; off += PAGE_BYTES)
                base[off] = (uint8_t) (off >> 12);

        hot_offset = a.hot_offset_bytes;
        seed = a.seed;
        if (a.scatter)
                list = hot_list(&a, hot_offset, seed, &n_list);
        format_start_line(&a, base, hot_offset, line, sizeof(line));
        emit(&a, line, true);
        if (a.report)
                report(&a, base, hot_offset);

        start = now_sec();
        phase_pending = a.phase;
        phase_at = a.phase_after_sec >= 0 ? start + a.phase_after_sec : 0;
        end_at = a.duration_sec > 0 ? start + a.duration_sec : 0;
        next_report = a.report_every_sec > 0 ? start + a.report_every_sec : 0;

        while (!arrived_term) {
                double now;

                if (list)
                        memhog_sink += pass_list(base, list, n_list, a.write);
                else
                        memhog_sink += pass(base + hot_offset, a.hot_bytes, a.write);
                if (scratch)
                        flush_tlb(scratch);
                if (a.pause_usec > 0)
                        usleep(a.pause_usec);

                now = now_sec();
                if (phase_pending && (arrived_usr2 || (phase_at > 0 && now >= phase_at))) {
                        phase_pending = false;
                        hot_offset = a.phase_offset_bytes;
                        a.hot_bytes = a.phase_hot_bytes;
                        if (list) {
                                free(list);
                                list = hot_list(&a, hot_offset, ++seed, &n_list);
                        }
                        snprintf(line, sizeof(line), "memhog: phase pid=%d t=%.1f hot=%p-%p hot_offset=%" PRIu64
                                 " hot_size=%" PRIu64 " scatter=%" PRIu32 " at=%.3f\n", (int) getpid(), now - start,
                                 (void *) (base + hot_offset), (void *) (base + hot_offset + a.hot_bytes), hot_offset,
                                 a.hot_bytes, seed, now);
                        emit(&a, line, false);
                }
                if (arrived_usr1 || (next_report > 0 && now >= next_report)) {
                        arrived_usr1 = 0;
                        report(&a, base, hot_offset);
                        if (next_report > 0)
                                next_report = now_sec() + a.report_every_sec;
                }
                if (end_at > 0 && now >= end_at)
                        break;
        }

        if (a.report)
                report(&a, base, hot_offset);
        free(list);
        snprintf(line, sizeof(line), "memhog: exit pid=%d t=%.1f\n", (int) getpid(), now_sec() - start);
        emit(&a, line, false);
        return EXIT_SUCCESS;
}
