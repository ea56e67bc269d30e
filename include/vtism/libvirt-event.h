/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <systemd/sd-event.h>

/*
 * libvirt's event loop, run inside an sd-event loop: libvirt's handle and timeout callbacks
 * (virEventRegisterImpl) become sd-event io, time and defer sources. All libvirt calls must come
 * from the thread that runs that loop (vtismd: the libvirt source's own thread, vmsource-libvirt.c),
 * because libvirt calls the callbacks from the thread that calls it. Only
 * libvirt_event_abort_io() and libvirt_event_n_registered() may be called from other threads.
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

/*
 * Shut down (shutdown(2), both ways) every socket libvirt watches, from any thread: a libvirt call
 * blocked on one, such as a virConnectOpen() to a libvirtd that was stopped and never answers,
 * fails at once with an end-of-file error, and the connection is dead. libvirt watches a
 * connection's socket from the moment it is connected, so this reaches a virConnectOpen() hung
 * in its first RPC, not one still blocked in connect(2) itself. Returns the number of sockets.
 */
unsigned libvirt_event_abort_io(void);

/* libvirt's last error as -errno (e.g. -ECONNREFUSED, -ENOENT for a vanished domain), -EIO if
 * there is none that maps. */
int libvirt_last_error_errno(void);
/* libvirt's last error message, or "unknown libvirt error"; never NULL. */
const char *libvirt_last_error_message(void);
