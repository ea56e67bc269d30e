/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The /proc VM source alone (vmsource-proc.c) on a fixture tree (manager-fixture.h's QEMUs; no
 * manager): what each scan reports, by bursts.
 *   1. The first scan: 200 QEMUs and a process that is none, in a resync; each QEMU once.
 *   2. 100 new QEMUs whose pids lie between the known ones (merged, not inserted one by one) and
 *      72 gone, in one scan: each new one STARTED once, the gone ones STOPPED once each, in pid
 *      order; nothing else. A scan with nothing new reports nothing.
 *   3. Forgotten pids (vmsource_proc_forget(), the manager's verdict: gone or reused): one a new
 *      QEMU has (another start time), one forgotten twice, one a process that is no QEMU now, one
 *      whose directory is gone: the next scan reports the first two STARTED again and says nothing
 *      of the others (no STOPPED: the consumer dropped them); then each is an ordinary pid again.
 *   4. Every directory gone: every pid known STOPPED once, in ascending order (the entries stayed
 *      sorted through the merges, the in-place replacements and the one-pass removals).
 */
#include <errno.h>

#define RAM_MIB 4u
#include "manager-fixture.h"
#include "vtism/vmsource.h"

#define PID0 10000
#define N_FIRST 200   /* pids PID0 + 2k */
#define N_NEW 100     /* pids PID0 + 2k + 1 */

typedef struct Event {
        VmEvent event;
        pid_t pid;
        unsigned long long start_time;
} Event;

static Event events[1024];
static size_t n_events;

static void on_event(VmSource *s, VmEvent event, const VmIdentity *id, void *userdata) {
        (void) s;
        (void) userdata;
        check(n_events < ELEMENTSOF(events));
        events[n_events++] = (Event) { .event = event, .pid = id ? id->pid : 0, .start_time = id ? id->start_time : 0 };
}

/* How often event was reported for pid since the last scan. */
static unsigned reported(VmEvent event, pid_t pid) {
        unsigned n = 0;

        for (size_t i = 0; i < n_events; i++)
                n += events[i].event == event && events[i].pid == pid;
        return n;
}

static void scan(VmSource *s) {
        n_events = 0;
        check_int(vmsource_proc_scan(s), 0);
}

/* The STOPPED events of the last scan came in ascending pid order; how many there were. */
static size_t stopped_in_order(void) {
        size_t n = 0;
        pid_t last = 0;

        for (size_t i = 0; i < n_events; i++)
                if (events[i].event == VM_EVENT_STOPPED) {
                        check(events[i].pid > last);
                        last = events[i].pid;
                        n++;
                }
        return n;
}

static void check_described(VmSource *s, unsigned n) {
        _cleanup_free_ char *want = xasprintf("%u QEMU processes found in", n);

        check(strstr(vmsource_describe(s), want));
}

/* Gone in 2.: 32 of the first 160, and the last 40 */
static bool gone_in_2(unsigned k) {
        return k % 5 == 2 || k >= 160;
}

static void remove_if_there(pid_t pid) {
        _cleanup_free_ char *dir = xasprintf("%s/%d", proc_root, (int) pid);

        if (access(dir, F_OK) == 0)
                remove_pid_dir(pid);
}

int main(void) {
        _cleanup_(vmsource_freep) VmSource *s = NULL;
        static const char not_qemu[] = "sleep\0" "1000\0";
        const pid_t reused = PID0 + 2, twice = PID0 + 6, no_qemu = PID0 + 8, gone = PID0 + 10;
        size_t n_known;

        test_data_dir();
        build_fixture("test-vmsource-proc", "sysfs-1node", "");
        check_int(vmsource_proc_new(proc_root, NULL, on_event, NULL, &s), 0);

        for (unsigned k = 0; k < N_FIRST; k++)
                add_vm(PID0 + 2 * (pid_t) k, "q");
        write_pid_file(PID0 - 1, "cmdline", not_qemu, sizeof(not_qemu));
        scan(s);
        check(n_events == N_FIRST + 2 && events[0].event == VM_EVENT_RESYNC_BEGIN &&
              events[n_events - 1].event == VM_EVENT_RESYNC_END);
        for (unsigned k = 0; k < N_FIRST; k++)
                check_int(reported(VM_EVENT_STARTED, PID0 + 2 * (pid_t) k), 1);
        check_int(reported(VM_EVENT_STARTED, PID0 - 1), 0);
        check_described(s, N_FIRST);
        printf("1. first scan: %u QEMUs, each once, in a resync\n", N_FIRST);

        for (unsigned k = 0; k < N_NEW; k++)
                add_vm(PID0 + 2 * (pid_t) k + 1, "new");
        n_known = N_FIRST;
        for (unsigned k = 0; k < N_FIRST; k++)
                if (gone_in_2(k)) {
                        remove_pid_dir(PID0 + 2 * (pid_t) k);
                        n_known--;
                }
        scan(s);
        for (unsigned k = 0; k < N_NEW; k++)
                check_int(reported(VM_EVENT_STARTED, PID0 + 2 * (pid_t) k + 1), 1);
        for (unsigned k = 0; k < N_FIRST; k++)
                check_int(reported(VM_EVENT_STOPPED, PID0 + 2 * (pid_t) k), gone_in_2(k) ? 1 : 0);
        check_u64(stopped_in_order(), N_FIRST - n_known);
        check_u64(n_events, N_NEW + N_FIRST - n_known);
        n_known += N_NEW;
        check_described(s, (unsigned) n_known);
        scan(s);
        check_u64(n_events, 0);
        printf("2. %u new between the known ones and %u gone in one scan: each reported once, the gone in pid order\n", N_NEW,
               N_FIRST + N_NEW - (unsigned) n_known);

        /* the manager's verdicts */
        remove_pid_dir(reused);
        add_vm(reused, "again");
        {
                _cleanup_free_ char *stat = xasprintf("%d (qemu-system-x86) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0\n",
                                                      (int) reused);

                write_pid_file(reused, "stat", stat, strlen(stat));
        }
        remove_pid_dir(no_qemu);
        write_pid_file(no_qemu, "cmdline", not_qemu, sizeof(not_qemu));
        remove_pid_dir(gone);
        vmsource_proc_forget(s, reused);
        vmsource_proc_forget(s, twice);
        vmsource_proc_forget(s, twice);
        vmsource_proc_forget(s, no_qemu);
        vmsource_proc_forget(s, gone);
        vmsource_proc_forget(s, PID0 - 1); /* not known: nothing */
        check_described(s, (unsigned) n_known - 4);
        scan(s);
        check_u64(n_events, 2);
        check_int(reported(VM_EVENT_STARTED, reused), 1);
        check(events[0].pid != reused || events[0].start_time == 777);
        check(events[1].pid != reused || events[1].start_time == 777);
        check_int(reported(VM_EVENT_STARTED, twice), 1);
        n_known -= 2;
        check_described(s, (unsigned) n_known);
        scan(s);
        check_u64(n_events, 0);
        remove_pid_dir(reused);
        scan(s);
        check_u64(n_events, 1);
        check_int(reported(VM_EVENT_STOPPED, reused), 1);
        n_known--;
        printf("3. forgotten: a reused pid and one forgotten twice found again, the others dropped without an event\n");

        for (unsigned k = 0; k < N_FIRST; k++)
                remove_if_there(PID0 + 2 * (pid_t) k);
        for (unsigned k = 0; k < N_NEW; k++)
                remove_if_there(PID0 + 2 * (pid_t) k + 1);
        scan(s);
        check_u64(stopped_in_order(), n_known);
        check_u64(n_events, n_known);
        check_described(s, 0);
        printf("4. every QEMU gone: %zu STOPPED, in ascending pid order\n", n_known);

        s = vmsource_free(s);
        tmptree_remove(root);
        printf("test-vmsource-proc: OK\n");
        return EXIT_SUCCESS;
}
