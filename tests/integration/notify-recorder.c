/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test helper: plays systemd's side of sd_notify(3). Binds an AF_UNIX datagram socket at PATH and
 * appends every message received to stdout, one "FIELD=value" per line, each datagram followed by
 * a line "--". With TIMES-FILE, also appends there one line per datagram: the CLOCK_MONOTONIC
 * time of its arrival in milliseconds and its first line ("12345 WATCHDOG=1"), so that a test can
 * measure the gaps between watchdog pings. Runs until SIGTERM. "notify-recorder --now" prints
 * the CLOCK_MONOTONIC time in milliseconds, for the test's side of those measurements. Bound at a
 * root's /run/systemd/journal/socket it records journald's native protocol the same way (lib.sh's
 * start_journal).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char *argv[]) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        FILE *times = NULL;
        static char buf[65536]; /* also journald's native protocol: one entry per datagram */
        int fd;

        if (argc == 2 && strcmp(argv[1], "--now") == 0) {
                struct timespec ts;

                clock_gettime(CLOCK_MONOTONIC, &ts);
                printf("%lld\n", (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
                return 0;
        }
        if (argc < 2 || argc > 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "usage: notify-recorder SOCKET-PATH [TIMES-FILE]\n");
                return 2;
        }
        if (argc == 3) {
                times = fopen(argv[2], "ae");
                if (!times) {
                        fprintf(stderr, "notify-recorder: %s: %s\n", argv[2], strerror(errno));
                        return 1;
                }
                setvbuf(times, NULL, _IOLBF, 0);
        }
        strcpy(sa.sun_path, argv[1]);
        (void) unlink(sa.sun_path);

        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                fprintf(stderr, "notify-recorder: %s: %s\n", argv[1], strerror(errno));
                return 1;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);

        for (;;) {
                ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "notify-recorder: recv: %s\n", strerror(errno));
                        return 1;
                }
                buf[n] = 0;
                printf("%s%s--\n", buf, n > 0 && buf[n - 1] == '\n' ? "" : "\n");
                if (times) {
                        struct timespec ts;

                        clock_gettime(CLOCK_MONOTONIC, &ts);
                        fprintf(times, "%lld %.*s\n", (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
                                (int) strcspn(buf, "\n"), buf);
                }
        }
}
