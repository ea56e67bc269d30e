/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where log lines go: to stderr with their level when there is no journal ("vtismd: err: ..."),
 * with a "<N>" priority prefix when stderr is a journal stream whose native socket is gone, and
 * nowhere when below the maximum level. stderr is a scratch file here; the journal socket a path
 * that does not exist.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "vtism/log.h"
#include "vtism/util.h"

static char path[] = "/tmp/test-log.XXXXXX";
static int saved_stderr = -1;

/* Point stderr at a fresh, empty scratch file. */
static void capture(void) {
        int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);

        check(fd >= 0);
        check(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
        close(fd);
}

/* What was logged since capture(); stderr back to the terminal. */
static char *captured(void) {
        char *text = NULL;

        check(dup2(saved_stderr, STDERR_FILENO) == STDERR_FILENO);
        check(read_file_at(NULL, path, &text) == 0);
        return text;
}

int main(void) {
        _cleanup_free_ char *text = NULL, *stream = NULL;
        struct stat st;
        int fd;

        fd = mkstemp(path);
        check(fd >= 0);
        close(fd);
        saved_stderr = dup(STDERR_FILENO);
        check(saved_stderr >= 0);
        unsetenv("JOURNAL_STREAM");
        log_set_journal_socket("/nonexistent/journal/socket");

        /* the journal asked for, but no journald: stderr, with levels */
        capture();
        log_setup("t", LOG_TARGET_JOURNAL);
        log_set_max_level(LOG_DEBUG);
        log_error("boom %d", 1);
        log_info("hello");
        (void) log_debug_errno(-ENOENT, "gone: %m");
        text = captured();
        check_str(text, "t: err: boom 1\nt: info: hello\nt: debug: gone: No such file or directory\n");
        free(text);

        /* the console (--foreground), below the maximum level: nothing */
        capture();
        log_setup("t", LOG_TARGET_CONSOLE);
        log_set_max_level(LOG_NOTICE);
        log_warning("w");
        log_notice("n");
        log_info("i");
        log_debug("d");
        log_fields(LOG_NOTICE, FIELDS({ "VTISM_VM", "x" }), "vm %s", "x");
        text = captured();
        check_str(text, "t: warning: w\nt: notice: n\nt: notice: vm x\n");
        free(text);

        /* stderr is a journal stream (JOURNAL_STREAM names it) but the native socket is gone */
        check(stat(path, &st) == 0);
        stream = xasprintf("%llu:%llu", (unsigned long long) st.st_dev, (unsigned long long) st.st_ino);
        check(setenv("JOURNAL_STREAM", stream, 1) == 0);
        capture();
        log_setup("t", LOG_TARGET_AUTO);
        log_error("lost?");
        log_notice("not lost");
        log_info("filtered");
        text = captured();
        check_str(text, "<3>lost?\n<5>not lost\n");
        free(text);
        text = NULL;

        unlink(path);
        printf("test-log: OK\n");
        return EXIT_SUCCESS;
}
