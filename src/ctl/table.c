/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vtismctl's tables (table.h). */
#include <langinfo.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <wchar.h>

#include "table.h"
#include "vtism/macro.h"
#include "vtism/util.h"

struct Table {
        char **headers;
        unsigned *flags;
        size_t n_cols;
        char **cells;
        size_t n_cells;
};

Table *table_new(void) {
        return xcalloc(1, sizeof(Table));
}

void table_add_column(Table *t, const char *header, unsigned flags) {
        t->headers = xreallocarray(t->headers, t->n_cols + 1, sizeof(char *));
        t->flags = xreallocarray(t->flags, t->n_cols + 1, sizeof(unsigned));
        t->headers[t->n_cols] = xstrdup(header);
        t->flags[t->n_cols++] = flags;
}

void table_add_cell(Table *t, const char *cell) {
        t->cells = xreallocarray(t->cells, t->n_cells + 1, sizeof(char *));
        t->cells[t->n_cells++] = xstrdup(cell ?: "-");
}

void table_add_cellf(Table *t, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                oom();
        va_end(ap);
        table_add_cell(t, s);
}

size_t table_n_rows(const Table *t) {
        return t->n_cols ? t->n_cells / t->n_cols : 0;
}

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_cols; i++)
                free(t->headers[i]);
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i]);
        free(t->headers);
        free(t->flags);
        free(t->cells);
        free(t);
        return NULL;
}

/* One character of s: its length in bytes and display width. */
static size_t char_next(const char *s, size_t *ret_width) {
        mbstate_t st = {};
        wchar_t wc;
        size_t n = mbrtowc(&wc, s, MB_CUR_MAX, &st);
        int w;

        if (n == 0 || n == (size_t) -1 || n == (size_t) -2) {
                *ret_width = 1;
                return 1;
        }
        w = wcwidth(wc);
        *ret_width = w < 0 ? 1 : (size_t) w;
        return n;
}

size_t text_width(const char *s) {
        size_t width = 0, w;

        while (*s) {
                s += char_next(s, &w);
                width += w;
        }
        return width;
}

static const char *ellipsis(size_t *ret_width) {
        const char *cs = nl_langinfo(CODESET);

        if (cs && streq(cs, "UTF-8")) {
                *ret_width = 1;
                return "\u2026";
        }
        *ret_width = 3;
        return "...";
}

char *text_ellipsize(const char *s, size_t width) {
        size_t ew, used = 0, w, n;
        const char *e = ellipsis(&ew), *p = s;

        if (text_width(s) <= width)
                return xstrdup(s);
        if (width <= ew)
                return ew == 1 ? xstrdup(width > 0 ? e : "") : xasprintf("%.*s", (int) width, e);
        while (*p) {
                n = char_next(p, &w);
                if (used + w > width - ew)
                        break;
                used += w;
                p += n;
        }
        return xasprintf("%.*s%s", (int) (p - s), s, e);
}

/* $NAME if set to a positive number, else the terminal's rows or columns, else dflt. */
static size_t terminal_size(int fd, const char *name, bool columns, size_t dflt) {
        const char *e = getenv(name);
        struct winsize ws = {};
        uint64_t v;

        if (e && safe_atou64(e, &v) >= 0 && v > 0)
                return (size_t) v;
        if (ioctl(fd, TIOCGWINSZ, &ws) < 0 || (columns ? ws.ws_col : ws.ws_row) == 0)
                return dflt;
        return columns ? ws.ws_col : ws.ws_row;
}

size_t terminal_columns(int fd) {
        if (!getenv("COLUMNS") && !isatty(fd))
                return TABLE_WIDTH_UNLIMITED;
        return terminal_size(fd, "COLUMNS", true, 80);
}

size_t terminal_lines(int fd) {
        return terminal_size(fd, "LINES", false, 24);
}

#define SEPARATOR 2

void table_print(const Table *t, FILE *f, size_t width, bool header) {
        size_t n_rows = table_n_rows(t), total = 0;
        _cleanup_free_ size_t *w = NULL, *min = NULL;

        if (t->n_cols == 0)
                return;
        w = xcalloc(t->n_cols, sizeof(size_t));
        min = xcalloc(t->n_cols, sizeof(size_t));
        for (size_t c = 0; c < t->n_cols; c++) {
                min[c] = text_width(t->headers[c]);
                w[c] = header ? min[c] : 0;
                for (size_t r = 0; r < n_rows; r++)
                        w[c] = MAX(w[c], text_width(t->cells[r * t->n_cols + c]));
                min[c] = MIN(MAX(min[c], 4), w[c]);
                total += w[c] + (c > 0 ? SEPARATOR : 0);
        }

        /* Too wide: take from the widest shrinkable column, one column of text at a time. */
        while (width != TABLE_WIDTH_UNLIMITED && total > width) {
                size_t best = SIZE_MAX;

                for (size_t c = 0; c < t->n_cols; c++)
                        if ((t->flags[c] & TABLE_ELLIPSIZE) && w[c] > min[c] && (best == SIZE_MAX || w[c] > w[best]))
                                best = c;
                if (best == SIZE_MAX)
                        break;
                w[best]--;
                total--;
        }

        for (size_t r = header ? 0 : 1; r <= n_rows; r++) {
                _cleanup_free_ char *line = NULL;
                size_t len = 0;
                FILE *l = open_memstream(&line, &len);

                if (!l)
                        oom();
                for (size_t c = 0; c < t->n_cols; c++) {
                        const char *cell = r == 0 ? t->headers[c] : t->cells[(r - 1) * t->n_cols + c];
                        _cleanup_free_ char *cut = text_ellipsize(cell, w[c]);
                        size_t pad = w[c] - MIN(text_width(cut), w[c]);
                        bool last = c + 1 == t->n_cols;

                        if (c > 0)
                                fprintf(l, "%*s", SEPARATOR, "");
                        if (t->flags[c] & TABLE_RIGHT)
                                fprintf(l, "%*s%s", (int) pad, "", cut);
                        else
                                fprintf(l, "%s%*s", cut, last ? 0 : (int) pad, "");
                }
                fclose(l);
                while (len > 0 && line[len - 1] == ' ')
                        line[--len] = 0;
                fprintf(f, "%s\n", line);
        }
}
