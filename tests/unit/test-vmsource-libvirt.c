/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The libvirt VmSource's records of the domains it announced, found by uuid through its index
 * (vmsource-libvirt.c, Worker.by_uuid) when lifecycle and metadata events come: against libvirt's
 * own test driver (test:///default, in this process: the source's connection and ours share its
 * domains), no libvirtd, no QEMU. 300 domains started, half destroyed in a random order, some
 * started again, metadata changed, all destroyed; among them three pairs of uuids whose keys in
 * the index are the same (found by a search here, with the source's key function): the second of
 * each pair is kept out of the index and found by a scan, and takes the first's place there when
 * that one goes. Every event must name the domain it is about (uuid and name), never a record
 * with the same key; each STOPPED must find its record (else it sends nothing).
 *
 * libvirt may only be called from the thread that runs its event loop (libvirt-event.h; the test
 * driver updates the loop's timer from the caller's thread), here the source's own:
 * virConnectOpen() is wrapped at link time, and the source's call adds a libvirt timeout on that
 * thread which makes this test's operations (start, stop, metadata), queued by the main thread.
 */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "check.h"
#include "splitmix.h"
#include "vtism/log.h"
#include "vtism/pid-index.h"
#include "vtism/util.h"
#include "vtism/vm-metadata.h"
#include "vtism/vmsource.h"

#define N_DOMAINS 300u
#define N_PAIRS 3u

typedef struct Dom {
        char uuid[VIR_UUID_STRING_BUFLEN];
        char name[32];
        bool running;                   /* the main thread's word: started and not stopped */
        unsigned started, stopped, changed;
} Dom;

static Dom doms[N_DOMAINS];
static unsigned n_resync_end, n_events;
static sd_event *ev;

/* The operations, queued by the main thread, made on the source's thread (ops_tick()). */
typedef enum { OP_START, OP_STOP, OP_METADATA, OP_CLOSE } OpKind;
typedef struct Op {
        OpKind kind;
        unsigned dom;
} Op;

static pthread_mutex_t ops_lock = PTHREAD_MUTEX_INITIALIZER;
static Op ops[4 * N_DOMAINS];
static unsigned n_ops, n_ops_done;      /* under ops_lock */
static virDomainPtr lv_doms[N_DOMAINS]; /* the source's thread only */
static virConnectPtr lv_conn;
static int ops_timer = -1;

virConnectPtr __real_virConnectOpen(const char *name);
virConnectPtr __wrap_virConnectOpen(const char *name);

/* The source's key of a uuid in its index (vmsource-libvirt.c, uuid_key()). */
static pid_t uuid_key(const char *uuid) {
        return (pid_t) (string_hash(uuid, false) % INT32_MAX) + 1;
}

static Dom *dom_by_uuid(const char *uuid) {
        for (size_t i = 0; i < N_DOMAINS; i++)
                if (streq(doms[i].uuid, uuid))
                        return &doms[i];
        return NULL;
}

static void on_vm(VmSource *s, VmEvent event, const VmIdentity *vm, void *userdata) {
        Dom *d;

        if (!vm) {
                n_resync_end += event == VM_EVENT_RESYNC_END;
                return;
        }
        d = dom_by_uuid(vm->uuid);
        if (!d) {
                check(streq(vm->name, "test")); /* the test driver's own */
                return;
        }
        n_events++;
        check_str(vm->name, d->name);
        switch (event) {
        case VM_EVENT_STARTED:
                check(d->running);
                d->started++;
                break;
        case VM_EVENT_STOPPED:
                check(!d->running);
                d->stopped++;
                break;
        case VM_EVENT_CHANGED:
                check(d->running && vm->policy_xml);
                d->changed++;
                break;
        default:
                check(false);
        }
}

static void candidate_uuid(char *buf, size_t k) {
        snprintf(buf, VIR_UUID_STRING_BUFLEN, "6f1c2a3b-4d5e-4f60-8a9b-%012zx", k);
}

/* Uuids 0..N_DOMAINS-1, the first 2 N_PAIRS of them in pairs with the same key (a birthday
 * search: ~110,000 candidates for three pairs of 31-bit keys). */
static void make_uuids(void) {
        PidIndex seen = {};
        size_t n = 0;

        for (size_t k = 0; n < 2 * N_PAIRS; k++) {
                char uuid[VIR_UUID_STRING_BUFLEN];
                size_t other;

                candidate_uuid(uuid, k);
                if (pid_index_add(&seen, uuid_key(uuid), k) == -EEXIST) {
                        check(pid_index_get(&seen, uuid_key(uuid), &other));
                        candidate_uuid(doms[n++].uuid, other);
                        candidate_uuid(doms[n++].uuid, k);
                        check_int(uuid_key(doms[n - 2].uuid), uuid_key(doms[n - 1].uuid));
                }
        }
        for (unsigned i = n; i < N_DOMAINS; i++)
                snprintf(doms[i].uuid, sizeof(doms[i].uuid), "0a0b0c0d-0000-4000-8000-%012x", i);
        for (unsigned i = 0; i < N_DOMAINS; i++)
                snprintf(doms[i].name, sizeof(doms[i].name), "d%u", i);
        pid_index_clear(&seen);
}

/* On the source's thread: the queued operations. */
static void ops_tick(int timer, void *opaque) {
        unsigned from, to;

        (void) pthread_mutex_lock(&ops_lock);
        from = n_ops_done;
        to = n_ops;
        (void) pthread_mutex_unlock(&ops_lock);
        for (unsigned i = from; i < to; i++) {
                unsigned k = ops[i].dom;
                _cleanup_free_ char *xml = NULL;

                switch (ops[i].kind) {
                case OP_START:
                        xml = xasprintf("<domain type='test'><name>%s</name><uuid>%s</uuid><memory unit='MiB'>64</memory>"
                                        "<os><type>hvm</type></os></domain>", doms[k].name, doms[k].uuid);
                        check(!lv_doms[k]);
                        lv_doms[k] = virDomainCreateXML(lv_conn, xml, 0);
                        check(lv_doms[k]);
                        break;
                case OP_STOP:
                        check(virDomainDestroy(lv_doms[k]) == 0);
                        check(virDomainFree(lv_doms[k]) == 0);
                        lv_doms[k] = NULL;
                        break;
                case OP_METADATA:
                        check(virDomainSetMetadata(lv_doms[k], VIR_DOMAIN_METADATA_ELEMENT, "<policy tier='auto'/>",
                                                   "vtism", VTISM_METADATA_NS, VIR_DOMAIN_AFFECT_LIVE) == 0);
                        break;
                case OP_CLOSE:
                        check(virEventRemoveTimeout(ops_timer) == 0);
                        check(virConnectClose(lv_conn) >= 0);
                        lv_conn = NULL;
                        break;
                }
        }
        (void) pthread_mutex_lock(&ops_lock);
        n_ops_done = to;
        (void) pthread_mutex_unlock(&ops_lock);
}

/* The source connects (on its thread): ours too, once, and the operations' timer (every 10 ms). */
virConnectPtr __wrap_virConnectOpen(const char *name) {
        virConnectPtr c = __real_virConnectOpen(name);

        if (c && !lv_conn && ops_timer < 0) {
                lv_conn = __real_virConnectOpen(name);
                check(lv_conn);
                ops_timer = virEventAddTimeout(10, ops_tick, NULL, NULL);
                check(ops_timer >= 0);
        }
        return c;
}

static void op(OpKind kind, unsigned k) {
        (void) pthread_mutex_lock(&ops_lock);
        check(n_ops < ELEMENTSOF(ops));
        ops[n_ops++] = (Op) { kind, k };
        (void) pthread_mutex_unlock(&ops_lock);
        if (kind == OP_START || kind == OP_STOP) {
                check(doms[k].running == (kind == OP_STOP));
                doms[k].running = kind == OP_START;
        }
}

static void start(Dom *d) {
        op(OP_START, (unsigned) (d - doms));
}

static void stop(Dom *d) {
        op(OP_STOP, (unsigned) (d - doms));
}

/* Run the loop until `events` events about our domains have come. */
static void run_until(unsigned events) {
        usec_t deadline = clock_now_usec(CLOCK_MONOTONIC) + 60 * USEC_PER_SEC;

        while (n_events < events) {
                check(clock_now_usec(CLOCK_MONOTONIC) < deadline);
                check(sd_event_run(ev, 100 * USEC_PER_MSEC) >= 0);
        }
        /* and nothing more */
        for (int i = 0; i < 5; i++)
                check(sd_event_run(ev, 20 * USEC_PER_MSEC) >= 0);
        check_int(n_events, events);
}

int main(void) {
        _cleanup_(vmsource_freep) VmSource *src = NULL;
        virConnectPtr conn;
        unsigned order[N_DOMAINS], expect = 0, done;
        uint64_t seed = 7;
        usec_t deadline;
        int r;

        log_set_max_level(LOG_WARNING);
        make_uuids();
        /* before the source's thread exists: is there a test driver? */
        conn = __real_virConnectOpen("test:///default");
        if (!conn) {
                printf("test-vmsource-libvirt: SKIP: no libvirt test driver (test:///default)\n");
                return 77;
        }
        check(virConnectClose(conn) == 0);
        check_int(sd_event_new(&ev), 0);
        r = vmsource_libvirt_new(ev, "test:///default", NULL, on_vm, NULL, &src);
        check_int(r, 0);
        deadline = clock_now_usec(CLOCK_MONOTONIC) + 60 * USEC_PER_SEC;
        while (n_resync_end == 0) {
                check(clock_now_usec(CLOCK_MONOTONIC) < deadline);
                check(sd_event_run(ev, 100 * USEC_PER_MSEC) >= 0);
        }

        /* all started: the second of each pair shares its key */
        for (unsigned i = 0; i < N_DOMAINS; i++)
                start(&doms[i]);
        run_until(expect += N_DOMAINS);

        /* half destroyed in a random order (the first of each pair with them: its partner takes
         * its place in the index) */
        splitmix_permutation(order, N_DOMAINS, &seed);
        for (unsigned i = 0; i < N_PAIRS; i++)
                stop(&doms[2 * i]);
        for (unsigned i = 0; i < N_DOMAINS / 2; i++)
                if (doms[order[i]].running)
                        stop(&doms[order[i]]);
        for (unsigned i = 0; i < N_DOMAINS; i++)
                expect += !doms[i].running;
        run_until(expect);

        /* metadata of every one running */
        for (unsigned i = 0; i < N_DOMAINS; i++)
                if (doms[i].running) {
                        op(OP_METADATA, i);
                        expect++;
                }
        run_until(expect);

        /* a third of the stopped ones again, the first of each pair among them (its key is held
         * now: out of the index) */
        for (unsigned i = 0; i < N_DOMAINS; i++)
                if (!doms[i].running && (i < 2 * N_PAIRS || i % 3 == 0)) {
                        start(&doms[i]);
                        expect++;
                }
        run_until(expect);

        /* all gone, in another order */
        splitmix_permutation(order, N_DOMAINS, &seed);
        for (unsigned i = 0; i < N_DOMAINS; i++)
                if (doms[order[i]].running) {
                        stop(&doms[order[i]]);
                        expect++;
                }
        run_until(expect);

        for (unsigned i = 0; i < N_DOMAINS; i++) {
                check_int(doms[i].started, doms[i].stopped);
                check(doms[i].started >= 1 && doms[i].started <= 2);
                check(doms[i].changed <= 1);
        }
        for (unsigned i = 0; i < 2 * N_PAIRS; i++)
                check_int(doms[i].started, 2);
        check_str(vmsource_describe(src), "connected to test:///default, 1 domain");

        /* our connection closed on the source's thread, then the source */
        op(OP_CLOSE, 0);
        deadline = clock_now_usec(CLOCK_MONOTONIC) + 60 * USEC_PER_SEC;
        do {
                check(clock_now_usec(CLOCK_MONOTONIC) < deadline);
                check(sd_event_run(ev, 20 * USEC_PER_MSEC) >= 0);
                (void) pthread_mutex_lock(&ops_lock);
                done = n_ops_done;
                (void) pthread_mutex_unlock(&ops_lock);
        } while (done < n_ops);
        src = vmsource_free(src);
        ev = sd_event_unref(ev);
        printf("test-vmsource-libvirt: OK\n");
        return 0;
}
