/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A fake libvirt source for tests of the real manager (manager-fixture.h) and identity-bench:
 * link with -Wl,--wrap=vmsource_libvirt_new and give its vtism.conf a libvirt_uri; the manager's
 * vmsource_libvirt_new() then makes this source, and the caller calls the manager's handler
 * itself (libvirt_tell()), as the real source's loop side does with what libvirt said.
 */
#pragma once

#include "check.h"
#include "vtism/util.h"
#include "vtism/vmsource.h"

typedef struct FakeLibvirt {
        VmSource base;
        VmSourceHandler handler;
        void *userdata;
} FakeLibvirt;

static FakeLibvirt *libvirt;

static inline void fake_libvirt_free(VmSource *s) {
        if (&libvirt->base == s)
                libvirt = NULL;
        free(s);
}

static inline const char *fake_libvirt_describe(VmSource *s) {
        (void) s;
        return "connected (a test's fake)";
}

static const VmSourceVTable fake_libvirt_vtable = {
        .name = "libvirt",
        .free = fake_libvirt_free,
        .describe = fake_libvirt_describe,
};

int __wrap_vmsource_libvirt_new(sd_event *event, const char *uri, const char *proc_root_, VmSourceHandler handler,
                                void *userdata, VmSource **ret);

int __wrap_vmsource_libvirt_new(sd_event *event, const char *uri, const char *proc_root_, VmSourceHandler handler,
                                void *userdata, VmSource **ret) {
        (void) event;
        (void) uri;
        (void) proc_root_;
        check(!libvirt);
        libvirt = xcalloc(1, sizeof(*libvirt));
        libvirt->base.vtable = &fake_libvirt_vtable;
        libvirt->handler = handler;
        libvirt->userdata = userdata;
        *ret = &libvirt->base;
        return 0;
}

/* What libvirt says of the running domain name (uuid) whose QEMU is pid, with start_time and
 * memory_bytes as the fixture's (the test may set more before libvirt_tell()). */
static inline VmIdentity libvirt_domain(pid_t pid, const char *uuid, const char *name, unsigned long long start_time,
                                        uint64_t memory_bytes) {
        return (VmIdentity) {
                .uuid = uuid,
                .name = name,
                .uid = (uid_t) -1,
                .pid = pid,
                .start_time = start_time,
                .memory_bytes = memory_bytes,
                .run_state = VM_RUN_RUNNING,
        };
}

/* libvirt says event about id (NULL for RESYNC_BEGIN and RESYNC_END). */
static inline void libvirt_tell(VmEvent event, const VmIdentity *id) {
        check(libvirt);
        libvirt->handler(&libvirt->base, event, id, libvirt->userdata);
}
