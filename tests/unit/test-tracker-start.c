/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tracker_start(): a tracker that probes fine but fails to start makes 'auto' fall back to the
 * next usable one (vtismd used to exit 1, a restart loop under Restart=on-failure); a tracker
 * asked for by name does not fall back. Fixture: page_idle probes fine (its bitmap a regular
 * file, our own pagemap, kpageflags readable) but cannot start (kpageflags is a socket: open()
 * fails with ENXIO); DAMON is there with no kdamond; no idle_pages.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "vtism/tracker.h"
#include "vtism/util.h"

static char root[] = "/tmp/test-tracker-start.XXXXXX";

static void put(const char *rel, const char *value) {
        _cleanup_free_ char *path = xasprintf("%s/%s", root, rel), *cmd = NULL;
        int fd;

        cmd = xasprintf("mkdir -p \"$(dirname '%s')\"", path);
        check(system(cmd) == 0);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        check(fd >= 0);
        check(write(fd, value, strlen(value)) == (ssize_t) strlen(value));
        close(fd);
}

static void clear(char *reasons[_TRACKER_KIND_MAX]) {
        for (int k = 0; k < _TRACKER_KIND_MAX; k++) {
                free(reasons[k]);
                reasons[k] = NULL;
        }
}

int main(void) {
        _cleanup_free_ char *proc = NULL, *sys = NULL, *sock = NULL, *pagemap = NULL, *cmd = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char *reasons[_TRACKER_KIND_MAX] = {};
        TrackerContext ctx;
        Tracker *t = NULL;
        int fd;

        check(mkdtemp(root));
        proc = xasprintf("%s/proc", root);
        sys = xasprintf("%s/sys", root);
        ctx = (TrackerContext) { .proc_root = proc, .sysfs_root = sys };

        put("sys/kernel/mm/page_idle/bitmap", "");
        put("sys/kernel/mm/damon/admin/kdamonds/nr_kdamonds", "0\n");
        put("proc/kallsyms", "0000000000000000 t damon_va_check_accesses\n");
        pagemap = xasprintf("%s/self/pagemap", proc);
        put("proc/self/.keep", "");
        check(symlink("/proc/self/pagemap", pagemap) == 0);
        sock = xasprintf("%s/kpageflags", proc);
        check(strlen(sock) < sizeof(sa.sun_path));
        strcpy(sa.sun_path, sock);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        check(fd >= 0);
        check(bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0);

        tracker_probe_all(&ctx, reasons);
        check(reasons[TRACKER_IDLE_PAGES]);
        check(!reasons[TRACKER_DAMON]);
        if (reasons[TRACKER_PAGE_IDLE]) {
                fprintf(stderr, "page_idle does not probe as usable here (%s): needs root with CAP_SYS_ADMIN, skipping\n",
                        reasons[TRACKER_PAGE_IDLE]);
                clear(reasons);
                cmd = xasprintf("rm -rf '%s'", root);
                check(system(cmd) == 0);
                return 77;
        }

        /* auto: page_idle is preferred, fails to start, DAMON takes over */
        check_int(tracker_start(TRACKER_AUTO, &ctx, reasons, &t), 0);
        check(t && t->ops == &tracker_damon_ops);
        check_str(reasons[TRACKER_PAGE_IDLE], "failed to start: No such device or address");
        t = tracker_free(t);

        /* asked for by name: no fallback */
        clear(reasons);
        tracker_probe_all(&ctx, reasons);
        check_int(tracker_start(TRACKER_PAGE_IDLE, &ctx, reasons, &t), -EOPNOTSUPP);
        check(!t);
        check_str(reasons[TRACKER_PAGE_IDLE], "failed to start: No such device or address");

        /* auto with nothing left to fall back to */
        clear(reasons);
        put("sys/kernel/mm/damon/admin/kdamonds/nr_kdamonds", "1\n");
        tracker_probe_all(&ctx, reasons);
        check(reasons[TRACKER_DAMON]);
        check_int(tracker_start(TRACKER_AUTO, &ctx, reasons, &t), -EOPNOTSUPP);
        check(!t);
        check_str(reasons[TRACKER_PAGE_IDLE], "failed to start: No such device or address");

        clear(reasons);
        close(fd);
        cmd = xasprintf("rm -rf '%s'", root);
        check(system(cmd) == 0);
        printf("test-tracker-start: OK\n");
        return EXIT_SUCCESS;
}
