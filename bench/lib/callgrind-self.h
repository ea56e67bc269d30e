/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>

/*
 * --callgrind of the benchmarks that count instructions (heatmap-bench, plan-bench): the
 * benchmark runs itself again under valgrind's callgrind with collection on only inside one
 * function, and reads back the total.
 *
 * callgrind_self() runs `valgrind --tool=callgrind --collect-atstart=no --toggle-collect=TOGGLE
 * --callgrind-out-file=/tmp/NAME-callgrind.PID argv...`, where argv[0] is the benchmark's own
 * path (main()'s argv[0]) and NAME its last component; argv ends with NULL. The run's stdout and
 * stderr go to /dev/null; stdout is flushed first, so nothing printed is written twice. On
 * success *ret_ir is the instructions counted (the output's "summary:" or "totals:" line) and the
 * output file is removed. Returns 0, -ECHILD when valgrind is missing or the run failed, -EIO
 * when its output has no total, or another -errno.
 */
int callgrind_self(const char *toggle, const char *const *argv, uint64_t *ret_ir);
