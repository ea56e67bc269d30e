/* SPDX-License-Identifier: GPL-2.0-or-later */
/* proc_pid_*() on the fixture tree tests/data/proc-pid (see its README.md) and on generated files. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "vtism/macro.h"
#include "vtism/proc-pid.h"
#include "vtism/util.h"

static char *proc_root;

static void test_split(void) {
        static const struct {
                const char *buf;
                size_t size;
                size_t argc;
                const char *argv[5];
                const char *joined;
        } cases[] = {
                /* "a\0b\0"           two arguments */
                { "a\0b", 4, 2, { "a", "b" }, "a b" },
                /* "a\0\0b\0"         an empty argument in the middle */
                { "a\0\0b", 5, 3, { "a", "", "b" }, "a  b" },
                /* "kvm\0-m\0001G"    no final NUL (rewritten argv area) */
                { "kvm\0-m\0" "1G", 9, 3, { "kvm", "-m", "1G" }, "kvm -m 1G" },
                /* "\0"               one empty argument */
                { "", 1, 1, { "" }, "" },
                /* "x y\0"            a space inside an argument stays */
                { "x y", 4, 1, { "x y" }, "x y" },
                /* "\xff\0"           bytes are bytes (no UTF-8 here) */
                { "\xff", 2, 1, { "\xff" }, "\xff" },
        };
        ProcCmdline *c;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *j = NULL;

                check_int(proc_cmdline_split(cases[i].buf, cases[i].size, &c), 0);
                check_int(c->argc, cases[i].argc);
                for (size_t k = 0; k < cases[i].argc; k++)
                        check_str(c->argv[k], cases[i].argv[k]);
                check(!c->argv[c->argc]);
                j = proc_cmdline_join(c);
                check_str(j, cases[i].joined);
                proc_cmdline_free(c);
        }
        c = NULL;
        check_int(proc_cmdline_split("", 0, &c), -ENODATA);
        check(!c);
}

static void test_fixtures(void) {
        _cleanup_(proc_cmdline_freep) ProcCmdline *c = NULL;
        unsigned long long start = 1;
        ProcPidStat st;
        _cleanup_free_ int *nodes = NULL;
        size_t n_nodes = 0;
        uid_t uid = 1;

        /* 100: comm "a) b\n(c": the fields after the last ')' */
        check_int(proc_pid_stat(proc_root, 100, &st), 0);
        check_int(st.state, 'S');
        check_int(st.ppid, 1);
        check_int(st.flags, 4194560);
        check_u64(st.start_time, 123456);
        check_int(proc_pid_start_time(proc_root, 100, &start), 0);
        check_u64(start, 123456);
        check_int(proc_pid_check(proc_root, 100, 123456), 0);
        check_int(proc_pid_check(proc_root, 100, 123457), -ESRCH); /* pid reused */
        check_int(proc_pid_cmdline(proc_root, 100, &c), 0);
        check_int(c->argc, 6);
        check_str(c->argv[0], "qemu-system-x86_64");
        check_str(c->argv[2], "");
        check_str(c->argv[3], "guest=a b");
        check_str(c->argv[5], "64");
        c = proc_cmdline_free(c);
        check_int(proc_pid_uid(proc_root, 100, &uid), 0);
        check_int(uid, 1000);
        check_int(proc_pid_mems_allowed(proc_root, 100, &nodes, &n_nodes), 0);
        check_int(n_nodes, 2);
        check_int(nodes[0], 0);
        check_int(nodes[1], 2);
        free(nodes);
        nodes = NULL;

        /* 101: kernel thread */
        check_int(proc_pid_cmdline(proc_root, 101, &c), -ENODATA);
        check(!c);
        check_int(proc_pid_check(proc_root, 101, 42), 0);
        check_int(proc_pid_uid(proc_root, 101, &uid), 0);
        check_int(uid, 0);
        check_int(proc_pid_mems_allowed(proc_root, 101, &nodes, &n_nodes), -EIO); /* no such line */

        /* 102: zombie: start time readable, but gone as far as liveness goes */
        check_int(proc_pid_start_time(proc_root, 102, &start), 0);
        check_u64(start, 777);
        check_int(proc_pid_stat(proc_root, 102, &st), 0);
        check_int(st.state, 'Z');
        check_int(proc_pid_check(proc_root, 102, 777), -ESRCH);
        check_int(proc_pid_cmdline(proc_root, 102, &c), -ENODATA);

        /* 103: unreadable files: an error, never "gone" */
        check_int(proc_pid_stat(proc_root, 103, &st), -EISDIR);
        check_int(proc_pid_check(proc_root, 103, 1), -EISDIR);
        check_int(proc_pid_cmdline(proc_root, 103, &c), -EISDIR);
        check_int(proc_pid_uid(proc_root, 103, &uid), -EISDIR);

        /* 107: exiting (PF_EXITING) while its state still says R: as good as gone */
        check_int(proc_pid_stat(proc_root, 107, &st), 0);
        check_int(st.state, 'R');
        check(st.flags & PROC_PF_EXITING);
        check_int(proc_pid_check(proc_root, 107, 888), -ESRCH);

        /* 104: vanished */
        check_int(proc_pid_stat(proc_root, 104, &st), -ESRCH);
        check_int(proc_pid_check(proc_root, 104, 1), -ESRCH);
        check_int(proc_pid_cmdline(proc_root, 104, &c), -ESRCH);
        check_int(proc_pid_uid(proc_root, 104, &uid), -ESRCH);
        check_int(proc_pid_mems_allowed(proc_root, 104, &nodes, &n_nodes), -ESRCH);
        check_int(proc_pid_check(proc_root, 0, 1), -ESRCH);
        check_int(proc_pid_check(proc_root, -5, 1), -ESRCH);

        /* 105: comm ") 7 8 (" does not shift the fields; cmdline without the final NUL */
        check_int(proc_pid_stat(proc_root, 105, &st), 0);
        check_int(st.state, 'R');
        check_u64(st.start_time, 999);
        check_int(proc_pid_cmdline(proc_root, 105, &c), 0);
        check_int(c->argc, 3);
        check_str(c->argv[0], "kvm");
        check_str(c->argv[2], "1G");
        c = proc_cmdline_free(c);
        check_int(proc_pid_uid(proc_root, 105, &uid), -EIO);
        check_int(proc_pid_mems_allowed(proc_root, 105, &nodes, &n_nodes), -EIO);
        check(!nodes);

        /* 106: stat cut short: cannot tell, not gone */
        check_int(proc_pid_stat(proc_root, 106, &st), -EIO);
        check_int(proc_pid_check(proc_root, 106, 1), -EIO);
        check_int(proc_pid_cmdline(proc_root, 106, &c), 0);
        check_int(c->argc, 1);
        check_str(c->argv[0], "");
}

static void write_sized(const char *root, int pid, size_t size) {
        _cleanup_free_ char *dir = xasprintf("%s/%d", root, pid), *path = xasprintf("%s/cmdline", dir);
        _cleanup_free_ char *buf = xmalloc(size);
        _cleanup_close_ int fd = -EBADF;

        /* "qemu-system-x86_64\0-append\0xxxx…\0" */
        memset(buf, 'x', size);
        memcpy(buf, "qemu-system-x86_64\0-append", 26);
        buf[18] = 0;
        buf[26] = 0;
        buf[size - 1] = 0;
        check(mkdir(dir, 0755) == 0);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        check(fd >= 0);
        check(write(fd, buf, size) == (ssize_t) size);
}

static void test_huge(void) {
        char tmpl[] = "/tmp/test-proc-pid.XXXXXX";
        _cleanup_(proc_cmdline_freep) ProcCmdline *c = NULL;
        _cleanup_free_ char *cmd = NULL;
        const char *root = mkdtemp(tmpl);

        check(root);
        write_sized(root, 200, PROC_CMDLINE_MAX_BYTES);     /* at the limit: read whole */
        write_sized(root, 201, PROC_CMDLINE_MAX_BYTES + 1); /* one byte more: refused */
        write_sized(root, 202, 8 * PROC_CMDLINE_MAX_BYTES);

        check_int(proc_pid_cmdline(root, 200, &c), 0);
        check_int(c->size, PROC_CMDLINE_MAX_BYTES);
        check_int(c->argc, 3);
        check_str(c->argv[1], "-append");
        check_int(strlen(c->argv[2]), PROC_CMDLINE_MAX_BYTES - 28);
        c = proc_cmdline_free(c);
        check_int(proc_pid_cmdline(root, 201, &c), -E2BIG);
        check_int(proc_pid_cmdline(root, 202, &c), -E2BIG);
        check(!c);

        cmd = xasprintf("rm -rf '%s'", root);
        check(system(cmd) == 0);
}

static void test_self(void) {
        _cleanup_(proc_cmdline_freep) ProcCmdline *c = NULL;
        _cleanup_free_ int *nodes = NULL;
        unsigned long long start;
        size_t n = 0;
        uid_t uid;

        /* The real /proc, on ourselves. */
        check_int(proc_pid_start_time("/proc", getpid(), &start), 0);
        check_int(proc_pid_check("/proc", getpid(), start), 0);
        check_int(proc_pid_check(NULL, getpid(), start + 1), -ESRCH);
        check_int(proc_pid_cmdline("/proc", getpid(), &c), 0);
        check(strstr(c->argv[0], "test-proc-pid"));
        check_int(proc_pid_uid("/proc", getpid(), &uid), 0);
        check_int(uid, getuid());
        check_int(proc_pid_mems_allowed("/proc", getpid(), &nodes, &n), 0);
        check(n >= 1);
}

/* The check on a stat read once (contiguity-scan's process_gone()): what proc_pid_check() says. */
static void test_stat_check(void) {
        ProcPidStat st = { .state = 'S', .ppid = 1, .flags = 0x400100, .start_time = 500 };

        check_int(proc_pid_stat_check(&st, 500), 0);
        check_int(proc_pid_stat_check(&st, 501), -ESRCH);   /* pid reused */
        st.flags |= PROC_PF_EXITING;
        check_int(proc_pid_stat_check(&st, 500), -ESRCH);   /* exiting, state still S */
        st.flags &= ~PROC_PF_EXITING;
        st.state = 'Z';
        check_int(proc_pid_stat_check(&st, 500), -ESRCH);   /* zombie */
        st.state = 'X';
        check_int(proc_pid_stat_check(&st, 500), -ESRCH);   /* dead */
        st.state = 'D';
        check_int(proc_pid_stat_check(&st, 500), 0);
}

int main(void) {
        const char *data = getenv("VTISM_TEST_DATA");

        proc_root = xasprintf("%s/proc-pid", data ?: "tests/data");
        test_split();
        test_fixtures();
        test_stat_check();
        test_huge();
        test_self();
        free(proc_root);
        printf("test-proc-pid: OK\n");
        return EXIT_SUCCESS;
}
