/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "vtism/libvirt-event.h"
#include "vtism/log.h"
#include "vtism/macro.h"

/*
 * One record per handle or timeout libvirt registered. A removed record stays on the list, its
 * sd-event source already gone, until the reaper has called libvirt's free callback: libvirt
 * requires that callback to run later, outside the remove call, because the caller may hold the
 * lock the free callback takes.
 */
typedef struct LvWatch LvWatch;
struct LvWatch {
        int id;
        bool is_timeout;
        bool removed;
        int fd;                 /* handles */
        int abort_fd;           /* handles on a socket: a dup, for libvirt_event_abort_io(); -EBADF */
        int events;             /* handles: VIR_EVENT_HANDLE_* */
        int interval_msec;      /* timeouts: -1 off, 0 every loop iteration, > 0 period */
        virEventHandleCallback handle_cb;
        virEventTimeoutCallback timeout_cb;
        void *opaque;
        virFreeCallback ff;
        sd_event_source *source;
        LvWatch *next;
};

static struct {
        sd_event *event;        /* not referenced: the sources keep it alive while they exist */
        LvWatch *watches;
        sd_event_source *reaper;
        int last_id;
        unsigned n_live;
        bool registered;
} lv;

/*
 * The only state another thread touches (libvirt_event_abort_io(), libvirt_event_attach()): the
 * list's links and each handle's abort_fd, and n_live. The thread that runs the loop changes
 * them under this lock; it reads them without (nobody else writes).
 */
static pthread_mutex_t lv_lock = PTHREAD_MUTEX_INITIALIZER;

static void lock(void) {
        (void) pthread_mutex_lock(&lv_lock);
}

static void unlock(void) {
        (void) pthread_mutex_unlock(&lv_lock);
}

#define TIMEOUT_ACCURACY_USEC (1 * USEC_PER_MSEC)

static LvWatch *watch_find(int id, bool is_timeout) {
        for (LvWatch *w = lv.watches; w; w = w->next)
                if (w->id == id && w->is_timeout == is_timeout && !w->removed)
                        return w;
        return NULL;
}

static uint32_t events_to_epoll(int events) {
        uint32_t e = 0;

        if (events & VIR_EVENT_HANDLE_READABLE)
                e |= EPOLLIN;
        if (events & VIR_EVENT_HANDLE_WRITABLE)
                e |= EPOLLOUT;
        return e;
}

static int events_from_epoll(uint32_t revents) {
        int e = 0;

        if (revents & EPOLLIN)
                e |= VIR_EVENT_HANDLE_READABLE;
        if (revents & EPOLLOUT)
                e |= VIR_EVENT_HANDLE_WRITABLE;
        if (revents & EPOLLERR)
                e |= VIR_EVENT_HANDLE_ERROR;
        if (revents & EPOLLHUP)
                e |= VIR_EVENT_HANDLE_HANGUP;
        return e;
}

static void reap(void) {
        LvWatch *dead = NULL, **p = &lv.watches;

        lv.reaper = sd_event_source_disable_unref(lv.reaper);

        /* Unlink first: a free callback may call back into libvirt and add or remove watches. */
        lock();
        while (*p) {
                LvWatch *w = *p;

                if (w->removed) {
                        *p = w->next;
                        w->next = dead;
                        dead = w;
                } else
                        p = &w->next;
        }
        unlock();
        while (dead) {
                LvWatch *w = dead;

                dead = w->next;
                if (w->ff)
                        w->ff(w->opaque);
                free(w);
        }
}

static int on_reap(sd_event_source *s, void *userdata) {
        reap();
        return 0;
}

static void schedule_reap(void) {
        int r;

        if (lv.reaper)
                return;
        r = sd_event_add_defer(lv.event, &lv.reaper, on_reap, NULL);
        if (r < 0) {
                /* -ESTALE: the loop has finished (libvirt connections closed at exit). The free
                 * callbacks then run at the next libvirt_event_flush(). */
                if (r != -ESTALE)
                        log_debug_errno(r, "Failed to schedule libvirt free callbacks: %m");
                return;
        }
        (void) sd_event_source_set_priority(lv.reaper, SD_EVENT_PRIORITY_IDLE);
        (void) sd_event_source_set_description(lv.reaper, "libvirt-reaper");
}

static void watch_remove(LvWatch *w) {
        w->source = sd_event_source_disable_unref(w->source);
        lock();
        w->removed = true;
        if (w->abort_fd >= 0)
                (void) close(w->abort_fd);
        w->abort_fd = -EBADF;
        lv.n_live--;
        unlock();
        schedule_reap();
}

static LvWatch *watch_new(bool is_timeout, void *opaque, virFreeCallback ff) {
        LvWatch *w = xcalloc(1, sizeof(LvWatch));

        if (lv.last_id == INT32_MAX)
                lv.last_id = 0;
        w->id = ++lv.last_id;
        w->is_timeout = is_timeout;
        w->fd = -EBADF;
        w->abort_fd = -EBADF;
        w->opaque = opaque;
        w->ff = ff;
        lock();
        w->next = lv.watches;
        lv.watches = w;
        lv.n_live++;
        unlock();
        return w;
}

/* Unlink a record that never got a source (setup failed); libvirt keeps ownership of opaque. */
static void watch_discard(LvWatch *w) {
        lock();
        for (LvWatch **p = &lv.watches; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        break;
                }
        if (w->abort_fd >= 0)
                (void) close(w->abort_fd);
        lv.n_live--;
        unlock();
        sd_event_source_unref(w->source);
        free(w);
}

/* A second descriptor of a socket libvirt watches, for libvirt_event_abort_io(): shutdown()
 * through it reaches the same socket, and while it is open the number cannot be reused for
 * another file, so a late abort never hits a stranger. Not for pipes and other files. */
static int dup_if_socket(int fd) {
        int type;
        socklen_t len = sizeof(type);

        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
                return -EBADF;
        fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        return fd < 0 ? -EBADF : fd;
}

/* ---- handles ---- */

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        LvWatch *w = userdata;

        w->handle_cb(w->id, fd, events_from_epoll(revents), w->opaque);
        return 0;
}

static int handle_apply(LvWatch *w) {
        int r;

        if (w->events == 0)
                /* libvirt's own loop does not poll such an fd at all, not even for errors. */
                return sd_event_source_set_enabled(w->source, SD_EVENT_OFF);
        r = sd_event_source_set_io_events(w->source, events_to_epoll(w->events));
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(w->source, SD_EVENT_ON);
}

static int lv_add_handle(int fd, int events, virEventHandleCallback cb, void *opaque, virFreeCallback ff) {
        LvWatch *w;
        int r;

        w = watch_new(false, opaque, ff);
        w->fd = fd;
        w->events = events;
        w->handle_cb = cb;
        r = dup_if_socket(fd);
        lock();
        w->abort_fd = r;
        unlock();

        r = sd_event_add_io(lv.event, &w->source, fd, events_to_epoll(events), on_io, w);
        if (r >= 0) {
                (void) sd_event_source_set_description(w->source, "libvirt-io");
                r = handle_apply(w);
        }
        if (r < 0) {
                log_debug_errno(r, "Failed to watch fd %d for libvirt: %m", fd);
                watch_discard(w);
                return -1;
        }
        return w->id;
}

static void lv_update_handle(int id, int events) {
        LvWatch *w = watch_find(id, false);
        int r;

        if (!w)
                return;
        w->events = events;
        r = handle_apply(w);
        if (r < 0 && r != -ESTALE) /* -ESTALE: the loop has finished, nothing will run anyway */
                log_debug_errno(r, "Failed to update libvirt watch %d on fd %d: %m", id, w->fd);
}

static int lv_remove_handle(int id) {
        LvWatch *w = watch_find(id, false);

        if (!w)
                return -1;
        watch_remove(w);
        return 0;
}

/* ---- timeouts ---- */

static void timeout_dispatch(LvWatch *w) {
        w->timeout_cb(w->id, w->opaque);
}

static int on_time(sd_event_source *s, uint64_t usec, void *userdata) {
        LvWatch *w = userdata;
        int r;

        /* Re-arm before the callback, which may change or remove the timeout itself. */
        r = sd_event_source_set_time_relative(s, (usec_t) w->interval_msec * USEC_PER_MSEC);
        if (r < 0)
                log_debug_errno(r, "Failed to re-arm libvirt timeout %d: %m", w->id);
        timeout_dispatch(w);
        return 0;
}

static int on_every_iteration(sd_event_source *s, void *userdata) {
        timeout_dispatch(userdata);
        return 0;
}

/* Interval 0 maps to a defer source (runs on every iteration), > 0 to a repeating monotonic
 * timer, -1 to no source at all. */
static int timeout_apply(LvWatch *w) {
        int r;

        w->source = sd_event_source_disable_unref(w->source);
        if (w->interval_msec < 0)
                return 0;
        if (w->interval_msec == 0)
                r = sd_event_add_defer(lv.event, &w->source, on_every_iteration, w);
        else
                r = sd_event_add_time_relative(lv.event, &w->source, CLOCK_MONOTONIC,
                                               (usec_t) w->interval_msec * USEC_PER_MSEC,
                                               TIMEOUT_ACCURACY_USEC, on_time, w);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(w->source, "libvirt-timeout");
        return sd_event_source_set_enabled(w->source, SD_EVENT_ON);
}

static int lv_add_timeout(int interval_msec, virEventTimeoutCallback cb, void *opaque, virFreeCallback ff) {
        LvWatch *w;
        int r;

        w = watch_new(true, opaque, ff);
        w->interval_msec = interval_msec;
        w->timeout_cb = cb;

        r = timeout_apply(w);
        if (r < 0) {
                log_debug_errno(r, "Failed to add libvirt timeout: %m");
                watch_discard(w);
                return -1;
        }
        return w->id;
}

static void lv_update_timeout(int id, int interval_msec) {
        LvWatch *w = watch_find(id, true);
        int r;

        if (!w)
                return;
        /* As in libvirt's own loop, an update restarts the period even when it is unchanged. */
        w->interval_msec = interval_msec;
        r = timeout_apply(w);
        if (r < 0 && r != -ESTALE)
                log_debug_errno(r, "Failed to update libvirt timeout %d: %m", id);
}

static int lv_remove_timeout(int id) {
        LvWatch *w = watch_find(id, true);

        if (!w)
                return -1;
        watch_remove(w);
        return 0;
}

/* ---- errors ---- */

static void on_libvirt_error(void *userdata, virErrorPtr e) {
        if (e && e->message)
                log_debug("libvirt: %s", e->message);
}

int libvirt_last_error_errno(void) {
        virErrorPtr e = virGetLastError();

        if (!e)
                return -EIO;
        switch (e->code) {
        case VIR_ERR_OK:
                return -EIO;
        case VIR_ERR_NO_MEMORY:
                oom();
        case VIR_ERR_SYSTEM_ERROR:
                return e->int1 > 0 ? -e->int1 : -EIO;
        case VIR_ERR_NO_DOMAIN:
                return -ENOENT;
        case VIR_ERR_OPERATION_INVALID: /* e.g. the domain is not running (any more) */
                return -ESRCH;
        case VIR_ERR_NO_CONNECT:
                return -ENOTCONN;
        case VIR_ERR_AUTH_FAILED:
        case VIR_ERR_AUTH_CANCELLED:
        case VIR_ERR_AUTH_UNAVAILABLE:
                return -EACCES;
        case VIR_ERR_OPERATION_DENIED:
                return -EPERM;
        case VIR_ERR_NO_SUPPORT:
        case VIR_ERR_OPERATION_UNSUPPORTED:
                return -EOPNOTSUPP;
        case VIR_ERR_INVALID_ARG:
                return -EINVAL;
        case VIR_ERR_OPERATION_TIMEOUT:
                return -ETIMEDOUT;
        case VIR_ERR_RPC:
                return -EPROTO;
        default:
                return -EIO;
        }
}

const char *libvirt_last_error_message(void) {
        virErrorPtr e = virGetLastError();

        return e && e->message ? e->message : "unknown libvirt error";
}

/* ---- setup ---- */

int libvirt_event_attach(sd_event *event) {
        unsigned n_live;

        if (!event)
                return -EINVAL;

        if (!lv.registered) {
                if (virInitialize() < 0)
                        return -EIO;
                virSetErrorFunc(NULL, on_libvirt_error);
                virEventRegisterImpl(lv_add_handle, lv_update_handle, lv_remove_handle,
                                     lv_add_timeout, lv_update_timeout, lv_remove_timeout);
                lv.registered = true;
                lv.event = event;
                return 0;
        }

        if (lv.event == event)
                return 0;
        lock();
        n_live = lv.n_live;
        unlock();
        if (n_live > 0)
                return -EBUSY;

        libvirt_event_flush();
        lv.event = event;
        return 0;
}

void libvirt_event_flush(void) {
        reap();
}

unsigned libvirt_event_n_registered(void) {
        unsigned n;

        lock();
        n = lv.n_live;
        unlock();
        return n;
}

unsigned libvirt_event_abort_io(void) {
        unsigned n = 0;

        lock();
        for (LvWatch *w = lv.watches; w; w = w->next)
                if (!w->removed && w->abort_fd >= 0 && shutdown(w->abort_fd, SHUT_RDWR) >= 0)
                        n++;
        unlock();
        return n;
}
