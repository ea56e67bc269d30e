/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <systemd/sd-event.h>

/*
 * libvirt's event loop, run inside an sd-event loop: libvirt's handle and timeout callbacks
 * (virEventRegisterImpl) become sd-event io, time and defer sources. No extra thread; all libvirt
 * calls must come from the thread that runs the loop.
 *
 * libvirt accepts one event implementation per process, so the first call registers it; later
 * calls with the same loop are no-ops, and a call with another loop is accepted only while libvirt
 * has nothing registered (e.g. a test that builds a fresh loop), else -EBUSY. Also silences
 * libvirt's own error printing: errors become debug log messages.
 */
int libvirt_event_attach(sd_event *event);

/* Run the free callbacks libvirt queued when it removed handles or timeouts (normally run from
 * the loop). Call after virConnectClose() when the loop will not run again, so nothing leaks. */
void libvirt_event_flush(void);

/* Number of handles and timeouts libvirt has registered (for tests). */
unsigned libvirt_event_n_registered(void);

/* libvirt's last error as -errno (e.g. -ECONNREFUSED, -ENOENT for a vanished domain), -EIO if
 * there is none that maps. */
int libvirt_last_error_errno(void);
/* libvirt's last error message, or "unknown libvirt error"; never NULL. */
const char *libvirt_last_error_message(void);
