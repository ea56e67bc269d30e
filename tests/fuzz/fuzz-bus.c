/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz harness for whole D-Bus calls into vtismd's bus methods and properties (src/daemon/bus.c):
 * the real vtable, exported with bus_export() on one end of a socket pair, against a real Manager
 * in a test state (a 2-node DRAM+CXL fixture sysfs, the page_idle tracker on a fixture bitmap, two
 * sampled VMs whose pids are real sleeping children). Each input is one method call built with
 * sd_bus_message_new_method_call() and sd_bus_message_append_basic()/open_container() of types the
 * input chooses, sent by a client on the other end; the server is pumped (sd_event_run on the
 * manager's loop) until the reply arrives. The caller is this process (root with CAP_SYS_ADMIN,
 * from the socket's credentials), so the mutating methods run too.
 *
 * Input:
 *   byte 0  member: GetPlan GetHeatmap GetContiguity Reload Pause Resume SetDryRun, then
 *           Properties.Get/GetAll/Set, Introspect, Peer.Ping, or a member name taken from the input
 *   byte 1  bit 0: a wrong interface, bit 1: a wrong object path
 *   then    a signature (up to a NUL, at most 32 characters), then the values it names, read from
 *           the rest of the input: integers little-endian, strings up to a NUL; a string starting
 *           with byte 0x01 k is the k-th of a few known words (the VMs' names, pid and uuid, the
 *           property names, subsystems), arrays take a count byte (at most 8 elements).
 *
 * Checked for every call: a reply arrives (no hang); an error reply has a D-Bus error name that is
 * not sd-bus's bare-errno fallback ("System.Error.*") and a non-empty message; a method return of
 * one of vtismd's methods has the signature vtismd(8) gives it; after every mutating call GetAll
 * still answers (every property readable). Seeds: tests/fuzz/corpus/bus/.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "vtism/bus-api.h"
#include "vtism/bus.h"
#include "vtism/log.h"
#include "vtism/manager.h"
#include "vtism/tracker.h"
#include "vtism/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BASE_HVA UINT64_C(0x40000000)
#define RAM_MIB 8u
#define N_PAGES (RAM_MIB * 256u)
#define PFN0 UINT64_C(0x10000)
#define PUMP_MAX 20000

static char *root, *proc_root, *sysfs_root, *conf_path;
static Manager *manager;
static sd_bus *server, *client;
static pid_t vm_pids[2];
static char *words[24];
static size_t n_words;

#define die(...)                                       \
        do {                                           \
                fprintf(stderr, "fuzz-bus: " __VA_ARGS__); \
                fputc('\n', stderr);                   \
                abort();                               \
        } while (0)

static const char good_conf[] = "global = {\n"
                                "  tracker = \"page_idle\";\n"
                                "  heat_range = \"4M\";\n"
                                "  libvirt_uri = \"qemu+unix:///system?socket=/nonexistent/fuzz-bus\";\n"
                                "};\n";

/* ---- the fixture ---- */

static void write_file(const char *path, const void *buf, size_t size, off_t offset) {
        _cleanup_free_ char *dir = xstrdup(path);
        int fd;

        for (char *p = dir + 1; (p = strchr(p, '/')); p++) {
                *p = 0;
                if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                        die("mkdir %s: %m", dir);
                *p = '/';
        }
        fd = open(path, O_RDWR | O_CREAT | (offset == 0 ? O_TRUNC : 0) | O_CLOEXEC, 0644);
        if (fd < 0 || pwrite(fd, buf, size, offset) != (ssize_t) size)
                die("cannot write %s: %m", path);
        close(fd);
}

static void copy_tree(const char *from, const char *to) {
        _cleanup_free_ char *cmd = xasprintf("cp -r '%s/.' '%s'", from, to);

        if (mkdir(to, 0755) < 0 || system(cmd) != 0)
                die("cannot copy %s to %s", from, to);
}

static void write_pid_file(pid_t pid, const char *name, const void *buf, size_t size, off_t offset) {
        _cleanup_free_ char *path = xasprintf("%s/%d/%s", proc_root, (int) pid, name);

        write_file(path, buf, size, offset);
}

static void add_vm(pid_t pid, const char *name, const char *uuid) {
        static uint64_t pagemap[N_PAGES];
        static const char status[] = "Name:\tqemu-system-x86\nUid:\t0\t0\t0\t0\n";
        _cleanup_free_ char *stat = NULL, *maps = NULL;
        char cmdline[256];
        int n;

        n = snprintf(cmdline, sizeof(cmdline), "qemu-system-x86_64%c-m%c%u%c-name%cguest=%s%c-uuid%c%s%c", 0, 0,
                     RAM_MIB, 0, 0, name, 0, 0, uuid, 0);
        write_pid_file(pid, "cmdline", cmdline, (size_t) n, 0);
        stat = xasprintf("%d (qemu-system-x86) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0\n", (int) pid,
                         1000 + (int) pid);
        write_pid_file(pid, "stat", stat, strlen(stat), 0);
        write_pid_file(pid, "status", status, strlen(status), 0);
        maps = xasprintf("%" PRIx64 "-%" PRIx64 " rw-p 00000000 00:00 0 \n", BASE_HVA, BASE_HVA + (uint64_t) RAM_MIB * MIB);
        write_pid_file(pid, "maps", maps, strlen(maps), 0);
        for (unsigned i = 0; i < N_PAGES; i++)
                pagemap[i] = (UINT64_C(1) << 63) | (PFN0 + i);
        write_pid_file(pid, "pagemap", pagemap, sizeof(pagemap), (off_t) (BASE_HVA / 4096 * 8));
}

static pid_t spawn_sleeper(void) {
        pid_t pid = fork();

        if (pid < 0)
                die("fork: %m");
        if (pid == 0) {
                /* a "QEMU" that holds none of the harness's pipes and goes when the harness does */
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                for (int fd = 0; fd <= 2; fd++)
                        (void) dup2(null, fd);
                for (;;)
                        pause();
        }
        return pid;
}

static void at_exit(void) {
        _cleanup_free_ char *cmd = NULL;

        for (size_t i = 0; i < ELEMENTSOF(vm_pids); i++)
                if (vm_pids[i] > 0)
                        (void) kill(vm_pids[i], SIGKILL);
        if (root) {
                cmd = xasprintf("rm -rf '%s'", root);
                (void) system(cmd);
        }
}

static void setup(void) {
        const char *data = getenv("VTISM_TEST_DATA");
        _cleanup_free_ char *from = NULL, *p = NULL;
        static const char *const names[] = { "vm-a", "vm-b" };
        static const char *const uuids[] = { "5c1e0c1a-0000-4000-8000-00000000000a",
                                             "5c1e0c1a-0000-4000-8000-00000000000b" };
        static const char *const fixed[] = { "sampling", "migration", "all", VTISM_BUS_INTERFACE,
                                             VTISM_PROP_MODE, VTISM_PROP_VMS, VTISM_PROP_DRY_RUN,
                                             VTISM_PROP_LAST_RELOAD_ERROR, VTISM_PROP_COUNTERS, "" };
        TrackerContext ctx;
        uint64_t zero = 0;
        int fds[2];

        if (!data)
                die("VTISM_TEST_DATA is not set: run through meson test, or set it to tests/data");
        from = xasprintf("%s/sysfs-lab2", data);
        root = xstrdup("/tmp/fuzz-bus-XXXXXX");
        if (!mkdtemp(root))
                die("mkdtemp: %m");
        atexit(at_exit);
        proc_root = xasprintf("%s/proc", root);
        sysfs_root = xasprintf("%s/sys", root);
        conf_path = xasprintf("%s/vtism.conf", root);
        copy_tree(from, sysfs_root);
        p = xasprintf("%s/kernel/mm/page_idle/bitmap", sysfs_root);
        write_file(p, &zero, sizeof(zero), (off_t) ((PFN0 + N_PAGES) / 64 * 8));
        free(p);
        p = xasprintf("%s/kpageflags", proc_root);
        write_file(p, &zero, sizeof(zero), (off_t) ((PFN0 + N_PAGES) * 8));
        write_file(conf_path, good_conf, strlen(good_conf), 0);

        log_setup("vtismd", LOG_TARGET_CONSOLE);
        log_set_max_level(LOG_CRIT);
        if (manager_new(conf_path, sysfs_root, proc_root, LOG_CRIT, &manager) < 0 || manager_load(manager) < 0 ||
            manager_vms_start(manager) < 0)
                die("cannot set up the manager");
        manager->tracker = tracker_free(manager->tracker);
        ctx = (TrackerContext) { .proc_root = proc_root, .sysfs_root = sysfs_root };
        if (tracker_new(&tracker_page_idle_ops, &ctx, &manager->tracker) < 0)
                die("cannot set up the page_idle tracker");
        for (size_t i = 0; i < ELEMENTSOF(vm_pids); i++) {
                vm_pids[i] = spawn_sleeper();
                add_vm(vm_pids[i], names[i], uuids[i]);
                words[n_words++] = xstrdup(names[i]);
                words[n_words++] = xstrdup(uuids[i]);
                words[n_words++] = xasprintf("%d", (int) vm_pids[i]);
        }
        for (size_t i = 0; i < ELEMENTSOF(fixed); i++)
                words[n_words++] = xstrdup(fixed[i]);
        for (int i = 0; i < 3; i++)
                if (manager_cycle(manager) < 0)
                        die("manager_cycle failed");
        if (manager->n_vms != 2)
                die("expected 2 VMs in the fixture, found %zu", manager->n_vms);

        /* the server end: vtismd's vtable on the manager's loop; the client end: this harness */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0)
                die("socketpair: %m");
        sd_id128_t id;
        if (sd_id128_randomize(&id) < 0 || sd_bus_new(&server) < 0 || sd_bus_set_fd(server, fds[0], fds[0]) < 0 ||
            sd_bus_set_server(server, 1, id) < 0 || sd_bus_set_anonymous(server, 1) < 0 ||
            sd_bus_negotiate_creds(server, 1, SD_BUS_CREDS_PID | SD_BUS_CREDS_EUID) < 0 || sd_bus_start(server) < 0)
                die("cannot start the server end");
        if (bus_export(manager, server) < 0)
                die("bus_export failed");
        manager->bus = sd_bus_ref(server);
        if (sd_bus_new(&client) < 0 || sd_bus_set_fd(client, fds[1], fds[1]) < 0 || sd_bus_start(client) < 0)
                die("cannot start the client end");
        /* the handshake, before any call: what the connection may carry (unix fds) is settled */
        for (unsigned i = 0; sd_bus_is_ready(client) <= 0; i++) {
                if (i > PUMP_MAX)
                        die("the client end never became ready");
                (void) sd_event_run(manager->event, 0);
                (void) sd_bus_process(client, NULL);
        }
}

/* ---- building a call from the input ---- */

typedef struct {
        const uint8_t *p, *end;
} Input;

static uint8_t take_byte(Input *in) {
        return in->p < in->end ? *in->p++ : 0;
}

static void take(Input *in, void *buf, size_t n) {
        size_t k = MIN(n, (size_t) (in->end - in->p));

        memset(buf, 0, n);
        memcpy(buf, in->p, k);
        in->p += k;
}

/* A string up to a NUL (or a known word); *ret_free is set when it must be freed. */
static const char *take_string(Input *in, char **ret_free) {
        const uint8_t *nul;

        *ret_free = NULL;
        if (in->p < in->end && *in->p == 0x01) {
                in->p++;
                return words[take_byte(in) % n_words];
        }
        nul = memchr(in->p, 0, (size_t) (in->end - in->p));
        *ret_free = strndup((const char *) in->p, nul ? (size_t) (nul - in->p) : (size_t) (in->end - in->p));
        if (!*ret_free)
                oom();
        in->p = nul ? nul + 1 : in->end;
        return *ret_free;
}

/* The end of the complete type at sig, or NULL if it is not one. */
static const char *type_end(const char *sig, unsigned depth) {
        if (depth > 8 || !*sig)
                return NULL;
        switch (*sig) {
        case 'a':
                return type_end(sig + 1, depth + 1);
        case '(': {
                const char *s = sig + 1;
                /* "()" is not a D-Bus type, but sd-bus 252 builds it: the receiving end then drops
                 * the unparseable message without a reply (a dbus-daemon would refuse it) */
                if (*s == ')')
                        return NULL;
                while (s && *s && *s != ')')
                        s = type_end(s, depth + 1);
                return s && *s == ')' ? s + 1 : NULL;
        }
        case '{': {
                const char *s = type_end(sig + 1, depth + 1);
                s = s ? type_end(s, depth + 1) : NULL;
                return s && *s == '}' ? s + 1 : NULL;
        }
        default:
                return strchr("ybnqiuxtdsogvh", *sig) ? sig + 1 : NULL;
        }
}

/* Append one value of the complete type [sig, end) from the input; < 0 if sd-bus refused it. */
static int append_value(sd_bus_message *m, Input *in, const char *sig, const char *end, unsigned depth) {
        _cleanup_free_ char *inner = NULL, *s_free = NULL;
        int r;

        switch (*sig) {
        case 'y': case 'b': case 'n': case 'q': case 'i': case 'u': case 'x': case 't': case 'd': {
                uint64_t v;
                int b;

                take(in, &v, sizeof(v));
                if (*sig == 'b') {
                        b = (int) (v & 1);
                        return sd_bus_message_append_basic(m, 'b', &b);
                }
                if (*sig == 'd') {
                        double d;
                        memcpy(&d, &v, sizeof(d));
                        return sd_bus_message_append_basic(m, 'd', &d);
                }
                return sd_bus_message_append_basic(m, *sig, &v); /* little-endian: low bytes first */
        }
        case 's': case 'o': case 'g':
                return sd_bus_message_append_basic(m, *sig, take_string(in, &s_free));
        case 'h':
                return sd_bus_message_append_basic(m, 'h', &(int) { STDERR_FILENO });
        case 'v': {
                const char *vs = take_string(in, &s_free), *ve = type_end(vs, depth + 1);

                if (!ve || *ve || depth > 4)
                        vs = "s", ve = vs + 1;
                inner = xstrdup(vs);
                r = sd_bus_message_open_container(m, 'v', inner);
                if (r >= 0)
                        r = append_value(m, in, inner, inner + strlen(inner), depth + 1);
                return r >= 0 ? sd_bus_message_close_container(m) : r;
        }
        case 'a': {
                unsigned n = take_byte(in) % 9;

                inner = strndup(sig + 1, (size_t) (end - sig - 1));
                if (!inner)
                        oom();
                r = sd_bus_message_open_container(m, 'a', inner);
                for (unsigned i = 0; r >= 0 && i < n; i++)
                        r = append_value(m, in, inner, inner + strlen(inner), depth + 1);
                return r >= 0 ? sd_bus_message_close_container(m) : r;
        }
        case '(': case '{': {
                inner = strndup(sig + 1, (size_t) (end - sig - 2));
                if (!inner)
                        oom();
                r = sd_bus_message_open_container(m, *sig == '(' ? 'r' : 'e', inner);
                for (const char *s = inner; r >= 0 && *s;) {
                        const char *e = type_end(s, depth + 1);
                        r = append_value(m, in, s, e, depth + 1);
                        s = e;
                }
                return r >= 0 ? sd_bus_message_close_container(m) : r;
        }
        }
        return -EINVAL;
}

/* ---- one call ---- */

static const struct {
        const char *interface, *member, *reply_signature;
        bool mutating;
} members[] = {
        { VTISM_BUS_INTERFACE, VTISM_METHOD_GET_PLAN, "a{sv}aa{sv}", false },
        { VTISM_BUS_INTERFACE, VTISM_METHOD_GET_HEATMAP, "a{sv}aa{sv}", false },
        { VTISM_BUS_INTERFACE, VTISM_METHOD_GET_CONTIGUITY, "a{sv}aa{sv}aa{sv}", false },
        { VTISM_BUS_INTERFACE, VTISM_METHOD_RELOAD, "", true },
        { VTISM_BUS_INTERFACE, VTISM_METHOD_PAUSE, "", true },
        { VTISM_BUS_INTERFACE, VTISM_METHOD_RESUME, "", true },
        { VTISM_BUS_INTERFACE, VTISM_METHOD_SET_DRY_RUN, "", true },
        { "org.freedesktop.DBus.Properties", "Get", "v", false },
        { "org.freedesktop.DBus.Properties", "GetAll", "a{sv}", false },
        { "org.freedesktop.DBus.Properties", "Set", NULL, true },
        { "org.freedesktop.DBus.Introspectable", "Introspect", "s", false },
        { "org.freedesktop.DBus.Peer", "Ping", "", false },
};

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        *(sd_bus_message **) userdata = sd_bus_message_ref(reply);
        return 0;
}

/* Send msg and pump both ends until its reply is in; NULL if sd-bus would not send msg. */
static sd_bus_message *call(sd_bus_message *msg) {
        sd_bus_message *reply = NULL;
        sd_bus_slot *slot = NULL;

        int r = sd_bus_call_async(client, &slot, msg, on_reply, &reply, 0);
        /* sd-bus itself refuses to send some messages it let us build (e.g. more unix fds than a
         * message may carry, -EINVAL): nothing reaches vtismd then */
        if (r < 0 && sd_bus_is_open(client) > 0 && sd_bus_is_open(server) > 0)
                return NULL;
        if (r < 0)
                die("cannot send the call: %s (client %s, server %s)", strerror(-r),
                    sd_bus_is_open(client) > 0 ? "open" : "closed", sd_bus_is_open(server) > 0 ? "open" : "closed");
        for (unsigned i = 0; !reply && i < PUMP_MAX; i++) {
                (void) sd_event_run(sd_bus_get_event(server), 0);
                while (sd_bus_process(client, NULL) > 0 && !reply)
                        ;
        }
        sd_bus_slot_unref(slot);
        if (!reply)
                die("no reply to %s.%s after %u rounds of the event loop (client %s, server %s)",
                    sd_bus_message_get_interface(msg), sd_bus_message_get_member(msg), PUMP_MAX,
                    sd_bus_is_open(client) > 0 ? "open" : "closed", sd_bus_is_open(server) > 0 ? "open" : "closed");
        return reply;
}

static void check_reply(sd_bus_message *reply, const char *interface, const char *member, const char *want_signature) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        if (e) {
                if (!e->name || !*e->name || !e->message || !*e->message)
                        die("%s.%s: an error reply without a name or message (%s)", interface, member,
                            e->name ?: "no name");
                if (strncmp(e->name, "System.Error.", 13) == 0)
                        die("%s.%s: a bare errno reached the caller: %s: %s", interface, member, e->name, e->message);
                return;
        }
        if (want_signature && !streq(sd_bus_message_get_signature(reply, true), want_signature))
                die("%s.%s: replied with signature '%s', not '%s'", interface, member,
                    sd_bus_message_get_signature(reply, true), want_signature);
}

static void check_get_all(void) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL, *reply = NULL;

        if (sd_bus_message_new_method_call(client, &msg, NULL, VTISM_BUS_PATH, "org.freedesktop.DBus.Properties",
                                           "GetAll") < 0 ||
            sd_bus_message_append(msg, "s", VTISM_BUS_INTERFACE) < 0)
                die("cannot build GetAll");
        reply = call(msg);
        if (!reply)
                die("cannot send GetAll");
        if (sd_bus_message_is_method_error(reply, NULL))
                die("GetAll failed after a mutating call: %s", sd_bus_message_get_error(reply)->message);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL, *reply = NULL;
        _cleanup_free_ char *member_free = NULL, *sig = NULL;
        const char *interface, *member, *path = VTISM_BUS_PATH, *want = NULL;
        Input in = { data, data + size };
        uint8_t which, flags;
        bool mutating, known;
        int r = 0;

        if (size > 4096)
                return 0;
        if (!manager)
                setup();
        which = take_byte(&in) % (ELEMENTSOF(members) + 1);
        flags = take_byte(&in);
        known = which < ELEMENTSOF(members);
        if (known) {
                interface = members[which].interface;
                member = members[which].member;
                want = members[which].reply_signature;
                mutating = members[which].mutating;
        } else {
                interface = VTISM_BUS_INTERFACE;
                member = take_string(&in, &member_free);
                mutating = true;
        }
        if (flags & 1)
                interface = "org.vtism1.NotAnInterface", want = NULL;
        if (flags & 2)
                path = "/org/vtism1/nothing", want = NULL;

        {
                char *free_me;
                const char *s = take_string(&in, &free_me);
                sig = strndup(s, 32);
                free(free_me);
                if (!sig)
                        oom();
        }

        if (sd_bus_message_new_method_call(client, &msg, NULL, path, interface, member) < 0)
                return 0; /* sd-bus refuses such a member or interface name before anything is sent */
        for (const char *s = sig; r >= 0 && *s;) {
                const char *e = type_end(s, 0);

                if (!e)
                        break;
                r = append_value(msg, &in, s, e, 0);
                s = e;
        }
        if (r < 0)
                goto out; /* not a message sd-bus would send (e.g. invalid UTF-8): nothing to deliver */

        reply = call(msg);
        if (!reply)
                goto out;
        check_reply(reply, interface, member, want);
        if (mutating)
                check_get_all();
out:
        return 0;
}
