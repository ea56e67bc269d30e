/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Long output through a pager, as systemctl does: only when standard output is a terminal. The
 * pager is $VTISM_PAGER, else $PAGER, else less, else more; "" or "cat" means none. less gets
 * LESS=FRSXMK (or $VTISM_LESS): quit if one screen, raw colours, chop long lines, keep the
 * screen, a long prompt, quit on Ctrl-C. pager_close() waits for it.
 */
void pager_open(void);
void pager_close(void);
