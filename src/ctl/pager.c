/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vtismctl's pager (pager.h). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pager.h"
#include "vtism/util.h"

static pid_t pager_pid;

void pager_open(void) {
        const char *pager = getenv("VTISM_PAGER"), *less = getenv("VTISM_LESS");
        int fd[2];
        pid_t pid;

        if (pager_pid > 0 || !isatty(STDOUT_FILENO))
                return;
        if (!pager)
                pager = getenv("PAGER");
        if (pager && (!*pager || streq(pager, "cat")))
                return;
        if (pipe2(fd, O_CLOEXEC) < 0)
                return; /* no pager then, the output is not lost */
        fflush(stdout);
        pid = fork();
        if (pid < 0) {
                close(fd[0]);
                close(fd[1]);
                return;
        }
        if (pid == 0) {
                if (dup2(fd[0], STDIN_FILENO) < 0)
                        _exit(EXIT_FAILURE);
                setenv("LESS", less ?: "FRSXMK", 1);
                if (pager)
                        execl("/bin/sh", "sh", "-c", pager, (char *) NULL);
                execlp("less", "less", (char *) NULL);
                execlp("more", "more", (char *) NULL);
                execlp("cat", "cat", (char *) NULL);
                _exit(EXIT_FAILURE);
        }
        if (dup2(fd[1], STDOUT_FILENO) < 0) {
                close(fd[0]);
                close(fd[1]);
                kill(pid, SIGTERM);
                (void) waitpid(pid, NULL, 0);
                return;
        }
        close(fd[0]);
        close(fd[1]);
        pager_pid = pid;
        /* A pager quit early ('q' in less) is not an error of ours: writes fail with EPIPE. */
        signal(SIGPIPE, SIG_IGN);
        /* Ctrl-C is for the pager (less -K quits); we only wait for it. */
        signal(SIGINT, SIG_IGN);
}

void pager_close(void) {
        if (pager_pid <= 0)
                return;
        fflush(stdout);
        fclose(stdout);
        (void) waitpid(pager_pid, NULL, 0);
        pager_pid = 0;
}
