/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * h2h-work — the workload of bench/h2h-lab: a process that knows its own hot set and counts its
 * own accesses, so that every tiering contender is judged by the same ground truth.
 *
 * It maps SIZE of anonymous 4 KiB memory and places it itself before the first access: the first
 * DRAM bytes on node 0 and the rest on node 1 (a task policy MPOL_BIND while touching, then
 * MPOL_DEFAULT: one VMA, the default policy, so that any agent may move it).  Every contender therefore starts from the same placement.
 * Then it writes one byte of one page per access, paced at RATE accesses a second (a guest does
 * not spin on all of its memory either, and a paced workload leaves the lab's two CPUs to the
 * agents), drawing pages from:
 *   zipf   Zipf(s) over the ranks 1..N, ranks mapped to pages by a seeded random permutation
 *          (a scattered hot set); the true hot set is the HOT bytes of the lowest ranks;
 *   shift  a window of HOT bytes taking SHARE of the accesses (uniform within), the rest
 *          uniform over the mapping; every PHASE seconds the window moves to the next HOT-sized
 *          slot above the initial DRAM part (wrapping), so each new window starts on node 1.
 * Every INTERVAL seconds it asks move_pages(2) where each of its pages is and prints one JSON
 * line: accesses and their busy time in the interval, how many of those accesses went to pages
 * on node 0 and how many to pages on node 1, the CXL node (counted per page, judged by the
 * placement at the end of the interval), the share of the hot set on node 0, and the
 * access-probability mass on node 0.
 * --cap=PCT (zipf, the SLO workload of bench/h2h-lab): the true hot set is instead the fewest
 * lowest ranks that take at least 100 - PCT % of the accesses (the least DRAM that keeps the
 * accesses from CXL within a cap of PCT %), and the oracle leaves only that set on node 0
 * (demoting every other page there): the DRAM a perfect agent would give a VM with that cap.  --oracle: at the start of
 * each phase it moves the true hot set to node 0 itself, swapping out as many cold pages of node
 * 0 as it brings in (the placement a perfect agent with the same DRAM would reach).
 * Churn: each report also counts the pages whose node changed since the report before (up: to
 * node 0, down: to node 1) and how many of those changes were a page's second or later ("back":
 * a page moved back and forth); the exit line has the pages moved once, twice, three times or
 * more, and for zipf the changes per rank band (the hot set, the rest of the initial DRAM's
 * size, the next such size, the tail). A page moved and moved back within one report interval
 * is not seen.
 * --all-dram: every page on node 0 (the reference: the same pattern, no CXL access).
 * --idle: only map, touch (preferring node 0) and wait: the DRAM filler of bench/h2h-lab.
 * At the end it prints its own CPU time (getrusage): the faults and hint faults agents cause
 * run in its context.  --wait-go: after placing its pages it waits for SIGUSR1 (the runner starts
 * the contender first); --linger: after --duration it waits for SIGTERM, so that the agent can
 * still be asked about it.
 *
 * Busy time is measured around the batches of accesses (between the pacing sleeps), so it holds
 * the faults, TLB refills and migration stalls the agents cause; QEMU TCG does not emulate a
 * slower CXL node, so in the lab it shows the agents' intrusion, not memory latency.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <numaif.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define PAGE            4096UL
#define MIN(a, b)       ((a) < (b) ? (a) : (b))
#define MIB             (1UL << 20)
#define QUERY_BATCH     4096
#define SCRATCH_PAGES   64              /* unmapping > 33 pages flushes the whole TLB */
#define TICK_SEC        0.05            /* pacing: one batch of accesses per tick */
#define FLUSH_TICKS     5               /* a TLB flush every 0.25 s: far shorter than any agent's interval */

typedef enum Pattern { PATTERN_ZIPF, PATTERN_SHIFT } Pattern;

typedef struct Args {
        Pattern pattern;
        uint64_t size, dram, hot;
        double zipf_s, share, phase_sec, interval_sec, duration_sec, rate;
        uint64_t seed;
        double cap;                     /* --cap: percent, 0: none */
        bool oracle, idle, all_dram, wait_go, linger;
} Args;

typedef struct Work {
        Args a;
        uint8_t *mem, *scratch;
        size_t npages, nhot;
        uint32_t *perm;                 /* zipf: rank -> page */
        double *cdf;                    /* zipf: P(rank <= r) */
        double *weight;                 /* per page: probability of an access */
        uint8_t *hot;                   /* per page: in the true hot set */
        uint32_t *count;                /* per page: accesses this interval */
        int *node;                      /* per page: last queried node (< 0: error) */
        int *prev;                      /* per page: the node at the report before */
        uint16_t *moves;                /* per page: node changes seen between reports */
        uint64_t up, down, back;        /* since the start: node 1 -> 0, 0 -> 1, a page's 2nd+ change */
        size_t window;                  /* shift: first page of the window */
        unsigned phase;
        uint64_t rng;
} Work;

static volatile sig_atomic_t stop, go;

static void on_signal(int sig) {
        if (sig == SIGUSR1)
                go = 1;
        else
                stop = 1;
}

static double now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static uint64_t rng_next(uint64_t *s) {     /* splitmix64 */
        uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s) {
        return (double) (rng_next(s) >> 11) / 9007199254740992.0;
}

static int parse_mib(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || end == s || *end != 0 || *s == '-' || v > (1ULL << 24))
                return -EINVAL;
        *ret = v * MIB;
        return 0;
}

static int parse_num(const char *s, double *ret) {
        char *end;

        errno = 0;
        *ret = strtod(s, &end);
        return errno != 0 || end == s || *end != 0 || !(*ret >= 0) ? -EINVAL : 0;
}

static void help(void) {
        printf("Usage: h2h-work [OPTIONS]\n\n"
               "  --pattern=zipf|shift   access pattern (default zipf)\n"
               "  --size=MIB             mapping (default 512)\n"
               "  --dram=MIB             initial part on node 0, the rest on node 1 (default 128)\n"
               "  --hot=MIB              true hot set: zipf's lowest ranks, shift's window (default 96)\n"
               "  --zipf-s=S             Zipf exponent (default 1.0)\n"
               "  --share=F              shift: share of accesses in the window (default 0.9)\n"
               "  --phase=SEC            shift: seconds between moves of the window (default 60)\n"
               "  --rate=N               accesses per second (default 50000)\n"
               "  --interval=SEC         seconds between reports (default 5)\n"
               "  --duration=SEC         run time after the first touch (default: until SIGTERM)\n"
               "  --seed=N               seed of the permutation and the draws (default 1)\n"
               "  --cap=PCT              zipf: the hot set is the fewest hottest pages taking >= 100-PCT %% of\n"
               "                         the accesses, and the oracle keeps only those on node 0\n"
               "  --oracle               place the true hot set on node 0 at each phase start\n"
               "  --all-dram             place every page on node 0 (the same pattern otherwise)\n"
               "  --wait-go              after placing its pages, wait for SIGUSR1 before the first access\n"
               "  --linger               after --duration, print the exit line and wait for SIGTERM\n"
               "  --idle                 only map, touch (node 0 preferred) and wait: a DRAM filler\n");
}

static int parse_args(int argc, char *argv[], Args *a) {
        enum { O_PATTERN = 0x100, O_SIZE, O_DRAM, O_HOT, O_S, O_SHARE, O_PHASE, O_RATE,
               O_INTERVAL, O_DURATION, O_SEED, O_CAP, O_ORACLE, O_IDLE, O_ALL_DRAM, O_WAIT_GO, O_LINGER, O_HELP };
        static const struct option opts[] = {
                { "pattern", required_argument, NULL, O_PATTERN },
                { "size", required_argument, NULL, O_SIZE },
                { "dram", required_argument, NULL, O_DRAM },
                { "hot", required_argument, NULL, O_HOT },
                { "zipf-s", required_argument, NULL, O_S },
                { "share", required_argument, NULL, O_SHARE },
                { "phase", required_argument, NULL, O_PHASE },
                { "rate", required_argument, NULL, O_RATE },
                { "interval", required_argument, NULL, O_INTERVAL },
                { "duration", required_argument, NULL, O_DURATION },
                { "seed", required_argument, NULL, O_SEED },
                { "cap", required_argument, NULL, O_CAP },
                { "oracle", no_argument, NULL, O_ORACLE },
                { "idle", no_argument, NULL, O_IDLE },
                { "all-dram", no_argument, NULL, O_ALL_DRAM },
                { "wait-go", no_argument, NULL, O_WAIT_GO },
                { "linger", no_argument, NULL, O_LINGER },
                { "help", no_argument, NULL, O_HELP },
                {}
        };
        double seed = 1;
        int c, r = 0;

        *a = (Args) { .pattern = PATTERN_ZIPF, .size = 512 * MIB, .dram = 128 * MIB, .hot = 96 * MIB,
                      .zipf_s = 1.0, .share = 0.9, .phase_sec = 60, .interval_sec = 5, .rate = 50000 };
        while (r == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case O_PATTERN:
                        if (strcmp(optarg, "zipf") == 0)
                                a->pattern = PATTERN_ZIPF;
                        else if (strcmp(optarg, "shift") == 0)
                                a->pattern = PATTERN_SHIFT;
                        else
                                r = -EINVAL;
                        break;
                case O_SIZE: r = parse_mib(optarg, &a->size); break;
                case O_DRAM: r = parse_mib(optarg, &a->dram); break;
                case O_HOT: r = parse_mib(optarg, &a->hot); break;
                case O_S: r = parse_num(optarg, &a->zipf_s); break;
                case O_SHARE: r = parse_num(optarg, &a->share); break;
                case O_PHASE: r = parse_num(optarg, &a->phase_sec); break;
                case O_RATE: r = parse_num(optarg, &a->rate); break;
                case O_INTERVAL: r = parse_num(optarg, &a->interval_sec); break;
                case O_DURATION: r = parse_num(optarg, &a->duration_sec); break;
                case O_SEED: r = parse_num(optarg, &seed); break;
                case O_CAP: r = parse_num(optarg, &a->cap); break;
                case O_ORACLE: a->oracle = true; break;
                case O_IDLE: a->idle = true; break;
                case O_ALL_DRAM: a->all_dram = true; break;
                case O_WAIT_GO: a->wait_go = true; break;
                case O_LINGER: a->linger = true; break;
                case O_HELP: help(); exit(0);
                default: return -EINVAL;
                }
                if (r < 0)
                        fprintf(stderr, "h2h-work: invalid value '%s' for --%s\n", optarg, opts[c - O_PATTERN].name);
        }
        if (r < 0)
                return r;
        if (optind < argc) {
                fprintf(stderr, "h2h-work: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        a->seed = (uint64_t) seed;
        if (a->cap > 0 && (a->cap >= 100 || a->pattern != PATTERN_ZIPF)) {
                fprintf(stderr, "h2h-work: --cap needs --pattern=zipf and 0 < PCT < 100\n");
                return -EINVAL;
        }
        if (a->cap > 0)
                a->hot = PAGE;          /* set from the ranks once the distribution is known */
        if (a->size < 2 * MIB || a->dram > a->size || a->hot < PAGE || a->hot > a->size - a->dram ||
            a->share > 1 || a->rate < 1 || a->interval_sec < 0.1 || a->phase_sec < 1) {
                fprintf(stderr, "h2h-work: need 2 <= size, dram <= size, 0 < hot <= size - dram, share <= 1, "
                        "rate >= 1, interval >= 0.1, phase >= 1\n");
                return -EINVAL;
        }
        return 0;
}

/* Touch [from, to) pages under the task memory policy MODE on NODE (MPOL_BIND, MPOL_PREFERRED),
 * then back to the default policy. A task policy, not mbind(): a VMA policy would split the
 * mapping into VMAs that fault in with their own anon_vma and never merge again, and an agent
 * that tiers a process by its largest mapping (vtismd does: for QEMU that is guest RAM) would see
 * only part of it. */
static int place(Work *w, size_t from, size_t to, int mode, int node) {
        unsigned long mask = 1UL << node;

        if (to <= from)
                return 0;
        if (set_mempolicy(mode, &mask, sizeof(mask) * 8) < 0) {
                fprintf(stderr, "h2h-work: set_mempolicy(node %d): %m\n", node);
                return -errno;
        }
        for (size_t i = from; i < to; i++)
                w->mem[i * PAGE] = 1;
        if (set_mempolicy(MPOL_DEFAULT, NULL, 0) < 0) {
                fprintf(stderr, "h2h-work: set_mempolicy(MPOL_DEFAULT): %m\n");
                return -errno;
        }
        return 0;
}

/* The number of VMAs the mapping spans (1: an agent sees all of it as one range). */
static int count_vmas(Work *w) {
        uintptr_t lo = (uintptr_t) w->mem, hi = lo + w->npages * PAGE;
        unsigned long long a, b;
        char line[512];
        int n = 0;
        FILE *f;

        f = fopen("/proc/self/maps", "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "%llx-%llx", &a, &b) == 2 && a < hi && b > lo)
                        n++;
        fclose(f);
        return n;
}

static int query(Work *w) {
        void *addr[QUERY_BATCH];

        for (size_t i = 0; i < w->npages; i += QUERY_BATCH) {
                size_t n = w->npages - i < QUERY_BATCH ? w->npages - i : QUERY_BATCH;

                for (size_t j = 0; j < n; j++)
                        addr[j] = w->mem + (i + j) * PAGE;
                if (move_pages(0, n, addr, NULL, w->node + i, 0) < 0) {
                        fprintf(stderr, "h2h-work: move_pages (query): %m\n");
                        return -errno;
                }
        }
        return 0;
}

/* The hot set and the per-page probabilities of the current phase. */
static void set_phase(Work *w) {
        memset(w->hot, 0, w->npages);
        if (w->a.pattern == PATTERN_ZIPF) {
                double prev = 0;

                for (size_t r = 0; r < w->npages; r++) {
                        w->weight[w->perm[r]] = w->cdf[r] - prev;
                        prev = w->cdf[r];
                        if (r < w->nhot)
                                w->hot[w->perm[r]] = 1;
                }
                return;
        }
        size_t dram = w->a.dram / PAGE, slots = (w->npages - dram) / w->nhot;

        w->window = dram + (w->phase % (slots ? slots : 1)) * w->nhot;
        for (size_t i = 0; i < w->npages; i++) {
                w->weight[i] = (1 - w->a.share) / (double) w->npages;
                if (i >= w->window && i < w->window + w->nhot) {
                        w->hot[i] = 1;
                        w->weight[i] += w->a.share / (double) w->nhot;
                }
        }
}

/* Oracle: the hot set to node 0, as many cold pages of node 0 to node 1 first. */
static int oracle(Work *w, uint64_t *moved) {
        size_t nup = 0, ndown = 0, n = w->npages;
        void **addr = calloc(n, sizeof(void *));
        int *nodes = calloc(n, sizeof(int)), *status = calloc(n, sizeof(int));
        int r = -ENOMEM;

        if (!addr || !nodes || !status)
                goto out;
        if ((r = query(w)) < 0)
                goto out;
        for (size_t i = 0; i < n; i++)
                if (w->hot[i] && w->node[i] != 0)
                        nup++;
        /* demote the coldest pages on node 0 that are not hot: zipf by rank, shift any; with a
         * cap every one of them (only the hot set stays on node 0) */
        for (size_t k = 0; k < n && (ndown < nup || w->a.cap > 0); k++) {
                size_t i = w->a.pattern == PATTERN_ZIPF ? w->perm[n - 1 - k] : k;

                if (!w->hot[i] && w->node[i] == 0) {
                        addr[ndown] = w->mem + i * PAGE;
                        nodes[ndown++] = 1;
                }
        }
        if (ndown && move_pages(0, ndown, addr, nodes, status, MPOL_MF_MOVE) < 0)
                goto fail;
        nup = 0;
        for (size_t i = 0; i < n; i++)
                if (w->hot[i] && w->node[i] != 0) {
                        addr[nup] = w->mem + i * PAGE;
                        nodes[nup++] = 0;
                }
        if (nup && move_pages(0, nup, addr, nodes, status, MPOL_MF_MOVE) < 0)
                goto fail;
        *moved += ndown + nup;
        r = 0;
        goto out;
fail:
        r = -errno;
        fprintf(stderr, "h2h-work: move_pages (oracle): %m\n");
out:
        free(addr);
        free(nodes);
        free(status);
        return r;
}

static size_t draw(Work *w) {
        double u = rng_unit(&w->rng);

        if (w->a.pattern == PATTERN_ZIPF) {
                size_t lo = 0, hi = w->npages - 1;

                while (lo < hi) {
                        size_t mid = (lo + hi) / 2;

                        if (w->cdf[mid] < u)
                                lo = mid + 1;
                        else
                                hi = mid;
                }
                return w->perm[lo];
        }
        if (u < w->a.share)
                return w->window + (size_t) (rng_unit(&w->rng) * (double) w->nhot) % w->nhot;
        return (size_t) (rng_unit(&w->rng) * (double) w->npages) % w->npages;
}

static void flush_tlb(Work *w) {
        for (size_t i = 0; i < SCRATCH_PAGES; i++)
                w->scratch[i * PAGE] = 1;
        madvise(w->scratch, SCRATCH_PAGES * PAGE, MADV_DONTNEED);
}

static int report(Work *w, double t, uint64_t ops, double busy, uint64_t moved) {
        uint64_t acc_dram = 0, acc_cxl = 0, hot_dram = 0, node0 = 0, node1 = 0, other = 0;
        double wdram = 0;
        int r;

        if ((r = query(w)) < 0)
                return r;
        for (size_t i = 0; i < w->npages; i++) {
                if (w->prev[i] >= 0 && w->node[i] >= 0 && w->prev[i] != w->node[i]) {
                        if (w->node[i] == 0)
                                w->up++;
                        else
                                w->down++;
                        if (w->moves[i] < UINT16_MAX && ++w->moves[i] >= 2)
                                w->back++;
                }
                w->prev[i] = w->node[i];
                if (w->node[i] == 0) {
                        node0++;
                        acc_dram += w->count[i];
                        hot_dram += w->hot[i];
                        wdram += w->weight[i];
                } else if (w->node[i] == 1) {
                        node1++;
                        acc_cxl += w->count[i];
                } else
                        other++;
                w->count[i] = 0;
        }
        printf("{\"t\":%.3f,\"phase\":%u,\"ops\":%" PRIu64 ",\"busy_s\":%.4f,\"acc_dram\":%" PRIu64
               ",\"acc_cxl\":%" PRIu64 ",\"hot_pages\":%zu,\"hot_dram\":%" PRIu64 ",\"w_dram\":%.5f,\"node0\":%" PRIu64
               ",\"node1\":%" PRIu64 ",\"other\":%" PRIu64 ",\"oracle_moved\":%" PRIu64
               ",\"up\":%" PRIu64 ",\"down\":%" PRIu64 ",\"back\":%" PRIu64 "}\n",
               t, w->phase, ops, busy, acc_dram, acc_cxl, w->nhot, hot_dram, wdram, node0, node1, other, moved,
               w->up, w->down, w->back);
        fflush(stdout);
        return 0;
}

static int setup(Work *w) {
        Args *a = &w->a;

        w->npages = a->size / PAGE;
        w->nhot = a->hot / PAGE;
        w->rng = a->seed * 0x2545f4914f6cdd1dULL + 1;
        w->mem = mmap(NULL, w->npages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        w->scratch = mmap(NULL, SCRATCH_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (w->mem == MAP_FAILED || w->scratch == MAP_FAILED) {
                fprintf(stderr, "h2h-work: mmap: %m\n");
                return -ENOMEM;
        }
        (void) madvise(w->mem, w->npages * PAGE, MADV_NOHUGEPAGE);
        if (a->idle) {
                int r = place(w, 0, w->npages, MPOL_PREFERRED, 0);

                return r < 0 ? r : count_vmas(w);
        }
        w->perm = calloc(w->npages, sizeof(*w->perm));
        w->cdf = calloc(w->npages, sizeof(*w->cdf));
        w->weight = calloc(w->npages, sizeof(*w->weight));
        w->hot = calloc(w->npages, 1);
        w->count = calloc(w->npages, sizeof(*w->count));
        w->node = calloc(w->npages, sizeof(*w->node));
        w->prev = malloc(w->npages * sizeof(*w->prev));
        w->moves = calloc(w->npages, sizeof(*w->moves));
        if (!w->perm || !w->cdf || !w->weight || !w->hot || !w->count || !w->node || !w->prev || !w->moves)
                return -ENOMEM;
        for (size_t i = 0; i < w->npages; i++)
                w->prev[i] = -1;        /* the first report sets the starting placement */
        /* a seeded permutation, the same for every contender */
        for (size_t i = 0; i < w->npages; i++)
                w->perm[i] = (uint32_t) i;
        for (size_t i = w->npages - 1; i > 0; i--) {
                size_t j = rng_next(&w->rng) % (i + 1);
                uint32_t t = w->perm[i];

                w->perm[i] = w->perm[j];
                w->perm[j] = t;
        }
        double sum = 0;
        for (size_t r = 0; r < w->npages; r++)
                sum += pow((double) (r + 1), -a->zipf_s);
        double acc = 0;
        for (size_t r = 0; r < w->npages; r++) {
                acc += pow((double) (r + 1), -a->zipf_s) / sum;
                w->cdf[r] = acc;
        }
        w->cdf[w->npages - 1] = 1.0;
        if (a->cap > 0) {
                w->nhot = 1;
                while (w->nhot < w->npages && w->cdf[w->nhot - 1] < 1 - a->cap / 100)
                        w->nhot++;
        }
        size_t dram = a->all_dram ? w->npages : a->dram / PAGE;
        int r = place(w, 0, dram, MPOL_BIND, 0);
        if (r >= 0)
                r = place(w, dram, w->npages, MPOL_BIND, 1);
        return r < 0 ? r : count_vmas(w);
}

int main(int argc, char *argv[]) {
        Work w = {};
        int r;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (parse_args(argc, argv, &w.a) < 0)
                return 2;
        sigset_t usr1, old;

        sigemptyset(&usr1);
        sigaddset(&usr1, SIGUSR1);
        sigprocmask(SIG_BLOCK, &usr1, &old);    /* no SIGUSR1 lost before we wait for it */
        signal(SIGTERM, on_signal);
        signal(SIGINT, on_signal);
        signal(SIGUSR1, on_signal);
        if ((r = setup(&w)) < 0) {
                fprintf(stderr, "h2h-work: setup failed: %s\n", strerror(-r));
                return 1;
        }
        printf("{\"ready\":true,\"pid\":%d,\"pages\":%zu,\"hot_pages\":%zu,\"vmas\":%d,\"t\":%.3f}\n",
               (int) getpid(), w.npages, w.nhot, r, now());
        if (w.a.idle) {
                while (!stop)
                        sigsuspend(&old);
                return 0;
        }
        while (w.a.wait_go && !go && !stop)
                sigsuspend(&old);
        sigprocmask(SIG_SETMASK, &old, NULL);

        double start = now(), next_tick = start, next_report = start, busy = 0;
        uint64_t ops = 0, moved = 0, ticks = 0, per_tick = (uint64_t) (w.a.rate * TICK_SEC + 0.5);

        set_phase(&w);
        if (w.a.oracle && (r = oracle(&w, &moved)) < 0)
                return 1;
        if (report(&w, start, 0, 0, moved) < 0)
                return 1;
        next_report += w.a.interval_sec;
        while (!stop) {
                double t = now();

                if (w.a.duration_sec > 0 && t - start >= w.a.duration_sec)
                        break;
                if (w.a.pattern == PATTERN_SHIFT && t - start >= (w.phase + 1) * w.a.phase_sec) {
                        w.phase++;
                        set_phase(&w);
                        if (w.a.oracle && oracle(&w, &moved) < 0)
                                return 1;
                }
                if (t >= next_report) {
                        if (report(&w, t, ops, busy, moved) < 0)
                                return 1;
                        ops = 0;
                        busy = 0;
                        next_report += w.a.interval_sec;
                        if (next_report < t)
                                next_report = t + w.a.interval_sec;
                        continue;
                }
                double b0 = now();
                for (uint64_t k = 0; k < per_tick; k++) {
                        size_t p = draw(&w);

                        w.count[p]++;
                        w.mem[p * PAGE + (k & 63) * 64] += 1;
                }
                if (++ticks % FLUSH_TICKS == 0)
                        flush_tlb(&w);
                busy += now() - b0;
                ops += per_tick;
                next_tick += TICK_SEC;
                if (next_tick > now()) {
                        struct timespec ts = { .tv_sec = (time_t) next_tick,
                                               .tv_nsec = (long) ((next_tick - (double) (time_t) next_tick) * 1e9) };
                        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
                } else if (now() - next_tick > 1.0)
                        next_tick = now();      /* fell behind by a second: do not try to catch up */
        }
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        /* churn: pages by number of node changes; zipf: changes per rank band */
        uint64_t once = 0, twice = 0, more = 0, band[4] = {};
        size_t dram_pages = w.a.dram / PAGE;

        for (size_t rank = 0; rank < w.npages; rank++) {
                unsigned m = w.moves[w.perm[rank]];

                once += m == 1;
                twice += m == 2;
                more += m >= 3;
                band[rank < w.nhot ? 0 : rank < dram_pages ? 1 : rank < 2 * dram_pages ? 2 : 3] += m;
        }
        printf("{\"exit\":true,\"t\":%.3f,\"utime_s\":%.3f,\"stime_s\":%.3f,\"minflt\":%ld,"
               "\"moved_once\":%" PRIu64 ",\"moved_twice\":%" PRIu64 ",\"moved_3plus\":%" PRIu64 ",\"changes_by_band\":[%"
               PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "],\"band_pages\":[%zu,%zu,%zu,%zu]}\n", now(),
               (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6,
               (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6, ru.ru_minflt,
               once, twice, more, band[0], band[1], band[2], band[3],
               w.nhot, dram_pages > w.nhot ? dram_pages - w.nhot : 0,
               MIN(dram_pages, w.npages - MIN(w.npages, dram_pages)),
               w.npages - MIN(w.npages, 2 * dram_pages));
        while (w.a.linger && !stop)
                pause();
        return 0;
}
