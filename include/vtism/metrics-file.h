/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "vtism/manager.h"

/*
 * global.metrics_textfile: after every cycle, the metrics of metrics.h (made from the bus's own
 * records, bus_properties_message()) replace the file atomically: written to a temporary file
 * ".NAME.XXXXXX" in the same directory, then renamed over NAME, so node_exporter's textfile
 * collector (which reads only *.prom) never sees half a file or the temporary one. A failure is
 * logged once until a write works again, counted in Counters.metrics_file_errors, and retried
 * next cycle. When the setting is changed or turned off by a reload, the file written before is
 * removed: nobody should scrape numbers that no longer change. Returns 0, or -errno.
 */
int metrics_file_update(Manager *m);
