/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Hits, AMAT, coverage, convergence and the report of the placement benchmarks (sim-model.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim-model.h"
#include "vtism/macro.h"
#include "vtism/util.h"

void sim_latency_init(SimLatency *l, double cxl_ratio) {
        l->dram_ns = SIM_DRAM_NS_DEFAULT;
        l->cxl_ns = SIM_DRAM_NS_DEFAULT * cxl_ratio;
}

double sim_amat_ns(const SimLatency *l, double h) {
        return h * l->dram_ns + (1 - h) * l->cxl_ns;
}

void sim_tally_add(SimTally *t, const uint32_t *counts, const uint8_t *on_dram, uint64_t pages) {
        uint64_t dram = 0, total = 0;

        for (uint64_t p = 0; p < pages; p++) {
                total += counts[p];
                dram += on_dram[p] ? counts[p] : 0;
        }
        t->dram += dram;
        t->total += total;
}

double sim_tally_ratio(const SimTally *t) {
        return t->total ? (double) t->dram / (double) t->total : 0;
}

double sim_coverage(const uint8_t *in_set, const uint8_t *on_dram, uint64_t pages) {
        uint64_t n = 0, in = 0;

        for (uint64_t p = 0; p < pages; p++)
                if (in_set[p]) {
                        n++;
                        in += !!on_dram[p];
                }
        return n ? (double) in / (double) n : 1;
}

void sim_convergence_init(SimConvergence *c, double goal) {
        *c = (SimConvergence) { .goal = goal, .first_cycles = -1u };
}

void sim_convergence_observe(SimConvergence *c, unsigned cycle, unsigned phase, unsigned phase_start, double coverage) {
        if (!c->started || phase != c->phase) {
                c->started = true;
                c->phase = phase;
                c->phase_start = phase_start;
                c->reached = false;
                c->phases++;
        }
        c->last_coverage = coverage;
        if (c->reached || coverage < c->goal)
                return;
        c->reached = true;
        c->phases_reached++;
        c->sum_cycles += cycle - c->phase_start;
        c->worst_cycles = MAX(c->worst_cycles, cycle - c->phase_start);
        if (c->phases == 1)
                c->first_cycles = cycle - c->phase_start;
}

double sim_convergence_mean(const SimConvergence *c) {
        if (c->phases_reached == 0)
                return -1;
        return (double) c->sum_cycles / (double) c->phases_reached;
}

const char *sim_format_t95(const SimConvergence *c, char *buf, size_t size) {
        if (!c->started)
                snprintf(buf, size, "-");
        else if (c->phases_reached == 0)
                snprintf(buf, size, "never");
        else if (c->phases_reached < c->phases)
                snprintf(buf, size, "%.1f (%u/%u)", sim_convergence_mean(c), c->phases_reached, c->phases);
        else
                snprintf(buf, size, "%.1f", sim_convergence_mean(c));
        return buf;
}

#define ROW_FORMAT "%-30s %7s %7s %6s %7s %6s %6s %7s | %6s %6s %6s %6s %6s | %7s %7s %7s | %10s %10s %10s\n"

void sim_report_header(FILE *f) {
        fprintf(f, ROW_FORMAT, "", "policy", "oracle", "p/o", "presci-", "p/pre", "p/pre", "first", "AMAT", "p/o", "p/o", "p/o",
                "p/pre", "MiB", "MiB", "MiB", "t95", "t95", "t95");
        fprintf(f, ROW_FORMAT, "trace", "hit", "hit", "hit", "ent hit", "hit", "steady", "touch", "2.5x", "2x", "2.5x", "3x",
                "2.5x", "policy", "oracle", "presci.", "policy", "prescient", "oracle");
}

static const char *fmt_ratio(char *buf, size_t size, int decimals, double v, bool ok) {
        if (ok)
                snprintf(buf, size, "%.*f", decimals, v);
        else
                snprintf(buf, size, "-");
        return buf;
}

static double hit(const SimTally *t) {
        return sim_tally_ratio(t);
}

void sim_report_row(FILE *f, const SimReportRow *r) {
        const SimResult *p = r->policy, *o = r->oracle, *pr = r->prescient, *ft = r->first_touch;
        SimLatency l2, l25, l3;
        char b[19][32];
        double hp = hit(&p->tally), ho = hit(&o->tally), hr = pr ? hit(&pr->tally) : 0;

        sim_latency_init(&l2, 2);
        sim_latency_init(&l25, 2.5);
        sim_latency_init(&l3, 3);
        fprintf(f, ROW_FORMAT, r->name, fmt_ratio(b[0], 32, 4, hp, true), fmt_ratio(b[1], 32, 4, ho, true),
                fmt_ratio(b[2], 32, 3, hp / ho, ho > 0), fmt_ratio(b[3], 32, 4, hr, pr),
                fmt_ratio(b[4], 32, 3, hp / hr, pr && hr > 0),
                fmt_ratio(b[5], 32, 3, pr ? hit(&p->steady) / hit(&pr->steady) : 0, pr && hit(&pr->steady) > 0),
                fmt_ratio(b[6], 32, 4, ft ? hit(&ft->tally) : 0, ft), fmt_ratio(b[7], 32, 1, sim_amat_ns(&l25, hp), true),
                fmt_ratio(b[8], 32, 3, sim_amat_ns(&l2, hp) / sim_amat_ns(&l2, ho), true),
                fmt_ratio(b[9], 32, 3, sim_amat_ns(&l25, hp) / sim_amat_ns(&l25, ho), true),
                fmt_ratio(b[10], 32, 3, sim_amat_ns(&l3, hp) / sim_amat_ns(&l3, ho), true),
                fmt_ratio(b[11], 32, 3, pr ? sim_amat_ns(&l25, hp) / sim_amat_ns(&l25, hr) : 0, pr),
                fmt_ratio(b[12], 32, 0, (double) p->migrated_bytes / (double) MIB, true),
                fmt_ratio(b[13], 32, 0, (double) o->migrated_bytes / (double) MIB, true),
                fmt_ratio(b[14], 32, 0, pr ? (double) pr->migrated_bytes / (double) MIB : 0, pr),
                r->t95 ? sim_format_t95(&p->conv, b[15], 32) : "-", r->t95 && pr ? sim_format_t95(&pr->conv, b[16], 32) : "-",
                r->t95 ? sim_format_t95(&o->conv, b[17], 32) : "-");
}

void sim_series_init(SimSeries *s, const char *const *names, size_t n_columns) {
        *s = (SimSeries) { .n_columns = n_columns, .names = xcalloc(n_columns, sizeof(char *)) };
        for (size_t i = 0; i < n_columns; i++)
                s->names[i] = xstrdup(names[i]);
}

void sim_series_add(SimSeries *s, double time, const double *values) {
        size_t w = 1 + s->n_columns;

        if (s->n_rows == s->allocated) {
                s->allocated = MAX(s->allocated * 2, (size_t) 64);
                s->rows = xreallocarray(s->rows, s->allocated, w * sizeof(double));
        }
        s->rows[s->n_rows * w] = time;
        memcpy(s->rows + s->n_rows * w + 1, values, s->n_columns * sizeof(double));
        s->n_rows++;
}

void sim_series_done(SimSeries *s) {
        for (size_t i = 0; i < s->n_columns; i++)
                free(s->names[i]);
        free(s->names);
        free(s->rows);
        *s = (SimSeries) {};
}

int sim_series_write(const SimSeries *s, FILE *f) {
        size_t w = 1 + s->n_columns;

        fprintf(f, "# time");
        for (size_t i = 0; i < s->n_columns; i++)
                fprintf(f, " %s", s->names[i]);
        fprintf(f, "\n");
        for (size_t r = 0; r < s->n_rows; r++) {
                for (size_t i = 0; i < w; i++)
                        fprintf(f, i ? " %.6g" : "%.6g", s->rows[r * w + i]);
                fprintf(f, "\n");
        }
        return fflush(f) != 0 || ferror(f) ? -EIO : 0;
}

/* gnuplot strings in single quotes: a quote is doubled */
static void gp_string(FILE *f, const char *s) {
        fputc('\'', f);
        for (; *s; s++) {
                if (*s == '\'')
                        fputc('\'', f);
                fputc(*s, f);
        }
        fputc('\'', f);
}

int sim_plot_script(FILE *f, const SimSeries *s, const char *dat_path, const char *png_path, const char *title,
                    const char *xlabel, const char *ylabel, double ymin, double ymax) {
        fprintf(f, "# gnuplot script written by the vtism placement benchmarks\n");
        fprintf(f, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) { set terminal pngcairo size 960,540 } "
                   "else { set terminal png size 960,540 }\n");
        fprintf(f, "set output ");
        gp_string(f, png_path);
        fprintf(f, "\nset title ");
        gp_string(f, title);
        fprintf(f, " noenhanced\nset xlabel ");
        gp_string(f, xlabel);
        fprintf(f, "\nset ylabel ");
        gp_string(f, ylabel);
        fprintf(f, "\nset key below noenhanced\nset grid\n");
        if (ymin < ymax)
                fprintf(f, "set yrange [%g:%g]\n", ymin, ymax);
        fprintf(f, "plot");
        for (size_t i = 0; i < s->n_columns; i++) {
                fprintf(f, "%s ", i ? "," : "");
                gp_string(f, dat_path);
                fprintf(f, " using 1:%zu with lines lw 2 title ", i + 2);
                gp_string(f, s->names[i]);
        }
        fprintf(f, "\n");
        return fflush(f) != 0 || ferror(f) ? -EIO : 0;
}
