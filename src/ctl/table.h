/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * vtismctl's tables: columns as wide as their widest cell (or header), two spaces apart, the
 * last column not padded. When the table is wider than the width it is given, the columns marked
 * TABLE_ELLIPSIZE give up space (the widest first, never below their header) and their cells end
 * in an ellipsis, as systemctl does on a terminal; given TABLE_WIDTH_UNLIMITED (not a terminal,
 * --full) every cell is printed whole. Widths are display columns of UTF-8 text.
 */

enum {
        TABLE_RIGHT = 1 << 0,     /* numbers */
        TABLE_ELLIPSIZE = 1 << 1, /* may be shortened to fit */
};

#define TABLE_WIDTH_UNLIMITED ((size_t) -1)

typedef struct Table Table;

/* Columns: header, flags; then add rows of exactly that many cells. */
Table *table_new(void);
void table_add_column(Table *t, const char *header, unsigned flags);
/* Copies the cell; NULL prints as "-". Cells fill rows left to right. */
void table_add_cell(Table *t, const char *cell);
void table_add_cellf(Table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t table_n_rows(const Table *t);
/* Print with or without the header row, to fit width. */
void table_print(const Table *t, FILE *f, size_t width, bool header);
Table *table_free(Table *t);
static inline void table_freep(Table **t) {
        table_free(*t);
}

/* Display width of UTF-8 text (invalid bytes count one column each). */
size_t text_width(const char *s);
/* s cut to at most width display columns, ending in an ellipsis when cut (newly allocated). */
char *text_ellipsize(const char *s, size_t width);
/* The terminal's width on fd, $COLUMNS if set, or TABLE_WIDTH_UNLIMITED if fd is no terminal. */
size_t terminal_columns(int fd);
size_t terminal_lines(int fd);
