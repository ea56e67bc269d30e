/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libvirt-watch [-v] [URI]: run the libvirt VmSource in an sd-event loop and print one line per
 * event on stdout, flushed:
 *   RESYNC_BEGIN / RESYNC_END
 *   STARTED|STOPPED|CRASHED|MIGRATED_OUT|CHANGED UUID NAME PID nodes=NODESET|- cpus=CPUSET|- mem=BYTES
 *                                        [run=STATE (WHY)] (only when not running: "run=paused (libvirt:
 *                                        paused (user))", "run=migrating out (...)")
 *   DESCRIBE TEXT                        (on SIGUSR1)
 * until SIGTERM or SIGINT. -v logs at debug to stderr (libvirt's raw events included).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "vtism/log.h"
#include "vtism/macro.h"
#include "vtism/util.h"
#include "vtism/vmsource.h"

static void on_vm_event(VmSource *s, VmEvent event, const VmIdentity *vm, void *userdata) {
        if (!vm)
                printf("%s\n", vm_event_to_string(event));
        else if (vm->run_state == VM_RUN_RUNNING)
                printf("%s %s %s %d nodes=%s cpus=%s mem=%" PRIu64 "\n", vm_event_to_string(event), vm->uuid,
                       vm->name, (int) vm->pid, vm->numa_nodeset ?: "-", vm->vcpu_cpuset ?: "-",
                       vm->memory_bytes);
        else
                printf("%s %s %s %d nodes=%s cpus=%s mem=%" PRIu64 " run=%s (%s)\n", vm_event_to_string(event),
                       vm->uuid, vm->name, (int) vm->pid, vm->numa_nodeset ?: "-", vm->vcpu_cpuset ?: "-",
                       vm->memory_bytes, vm_run_state_to_string(vm->run_state) ?: "?", vm->run_state_why ?: "-");
        fflush(stdout);
}

static int on_describe(sd_event_source *es, const struct signalfd_siginfo *si, void *userdata) {
        VmSource *s = *(VmSource **) userdata;

        printf("DESCRIBE %s\n", vmsource_describe(s));
        fflush(stdout);
        return 0;
}

static int on_exit_signal(sd_event_source *es, const struct signalfd_siginfo *si, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(es), 0);
}

int main(int argc, char *argv[]) {
        _cleanup_(vmsource_freep) VmSource *source = NULL;
        sd_event *event = NULL;
        const char *uri = NULL;
        sigset_t mask;
        int r, i = 1;

        log_setup("libvirt-watch", LOG_TARGET_CONSOLE);
        if (i < argc && streq(argv[i], "-v")) {
                log_set_max_level(LOG_DEBUG);
                i++;
        }
        if (i < argc)
                uri = argv[i++];
        if (i < argc) {
                fprintf(stderr, "usage: %s [-v] [URI]\n", argv[0]);
                return 2;
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGUSR1);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        r = sd_event_new(&event);
        if (r < 0) {
                log_error_errno(r, "Failed to allocate event loop: %m");
                return 1;
        }
        (void) sd_event_add_signal(event, NULL, SIGTERM, on_exit_signal, NULL);
        (void) sd_event_add_signal(event, NULL, SIGINT, on_exit_signal, NULL);
        (void) sd_event_add_signal(event, NULL, SIGUSR1, on_describe, &source);

        r = vmsource_libvirt_new(event, uri, NULL, on_vm_event, NULL, &source);
        if (r < 0) {
                log_error_errno(r, "Failed to set up the libvirt VM source: %m");
                sd_event_unref(event);
                return 1;
        }

        r = sd_event_loop(event);
        if (r < 0)
                log_error_errno(r, "Event loop failed: %m");

        source = vmsource_free(source);
        sd_event_unref(event);
        return r < 0 ? 1 : 0;
}
