/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A benchmark counting its own instructions under callgrind; see callgrind-self.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "callgrind-self.h"
#include "vtism/macro.h"
#include "vtism/util.h"

int callgrind_self(const char *toggle, const char *const *argv, uint64_t *ret_ir) {
        const char *slash = strrchr(argv[0], '/');
        _cleanup_free_ char *out = xasprintf("/tmp/%s-callgrind.%d", slash ? slash + 1 : argv[0], (int) getpid());
        _cleanup_free_ char *arg_toggle = xasprintf("--toggle-collect=%s", toggle);
        _cleanup_free_ char *arg_out = xasprintf("--callgrind-out-file=%s", out);
        const char *head[] = { "valgrind", "--tool=callgrind", "--collect-atstart=no", arg_toggle, arg_out };
        _cleanup_free_ const char **args = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        char line[512];
        size_t n = 0;
        pid_t pid;
        int status;

        while (argv[n])
                n++;
        args = xcalloc(ELEMENTSOF(head) + n + 1, sizeof(char *));
        memcpy(args, head, sizeof(head));
        memcpy(args + ELEMENTSOF(head), argv, n * sizeof(char *));

        fflush(stdout);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                if (!freopen("/dev/null", "w", stderr) || !freopen("/dev/null", "w", stdout))
                        _exit(127);
                execvp("valgrind", (char *const *) args);
                _exit(127);
        }
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                (void) unlink(out);
                return -ECHILD;
        }
        f = fopen(out, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, "summary:", 8) == 0 || strncmp(line, "totals:", 7) == 0) {
                        *ret_ir = strtoull(strchr(line, ':') + 1, NULL, 10);
                        (void) unlink(out);
                        return 0;
                }
        (void) unlink(out);
        return -EIO;
}
