/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vtismd's node_exporter textfile (metrics-file.h). */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vtism/bus-snapshot.h"
#include "vtism/bus.h"
#include "vtism/log.h"
#include "vtism/metrics-file.h"
#include "vtism/metrics.h"
#include "vtism/util.h"

static char *written_path;  /* the file we last wrote, to remove when the setting changes */
static bool failing;        /* logged the current streak of failures already */

static int write_atomically(const char *path, const BusSnapshot *s) {
        _cleanup_free_ char *copy_dir = xstrdup(path), *copy_base = xstrdup(path), *tmp = NULL;
        FILE *f;
        int fd, r;

        tmp = xasprintf("%s/.%s.XXXXXX", dirname(copy_dir), basename(copy_base));
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        f = fdopen(fd, "w");
        if (!f) {
                r = -errno;
                close(fd);
                (void) unlink(tmp);
                return r;
        }
        r = metrics_format(s, f);
        if (r >= 0 && fchmod(fd, 0644) < 0)
                r = -errno;
        if (fclose(f) != 0 && r >= 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

int metrics_file_update(Manager *m) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        _cleanup_(bus_snapshot_done) BusSnapshot s = {};
        const char *path = m->config ? m->config->metrics_textfile : NULL;
        int r;

        if (written_path && !streq_ptr(written_path, path)) {
                if (unlink(written_path) < 0 && errno != ENOENT)
                        log_warning_errno(errno, "Failed to remove the old metrics file %s: %m", written_path);
                free(written_path);
                written_path = NULL;
                failing = false;
        }
        if (!path)
                return 0;

        r = bus_properties_message(m, &msg);
        if (r >= 0)
                r = bus_snapshot_read(msg, &s);
        if (r >= 0)
                r = write_atomically(path, &s);
        if (r < 0) {
                m->counters.metrics_file_errors++;
                if (!failing)
                        log_warning_errno(r, "Failed to write the metrics file %s (retrying every cycle): %m", path);
                failing = true;
                return r;
        }
        if (failing)
                log_info("Metrics file %s written again.", path);
        failing = false;
        if (!written_path)
                written_path = xstrdup(path);
        return 0;
}
