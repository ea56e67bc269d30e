/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "vtism/macro.h"
#include "vtism/procmaps.h"
#include "vtism/util.h"

static const char *data_dir(void) {
        const char *d = getenv("VTISM_TEST_DATA");
        return d ?: "tests/data";
}

static ProcMaps *load(const char *name) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        ProcMaps *m = NULL;
        unsigned line = 0;

        path = xasprintf("procmaps/%s", name);
        if (read_file_at(data_dir(), path, &text) < 0) {
                fprintf(stderr, "cannot read %s/%s, skipping (set VTISM_TEST_DATA)\n", data_dir(), path);
                exit(77);
        }
        check_int(procmaps_parse_string(text, &m, &line), 0);
        check_int(line, 0);
        return m;
}

static const ProcMapping *at(const ProcMaps *m, uint64_t start) {
        const ProcMapping *x = procmaps_find(m, start);

        check(x);
        check_int(x->start_hva, start);
        return x;
}

static void test_weird(void) {
        _cleanup_(procmaps_freep) ProcMaps *m = load("synthetic-weird.maps");
        const ProcMapping *x;

        check_int(m->n, 22);

        x = &m->mappings[0];
        check_int(x->start_hva, 0x08048000);
        check_int(x->end_hva, 0x08049000);
        check(x->read && !x->write && x->exec && !x->shared);
        check_int(x->dev_major, 8);
        check_int(x->dev_minor, 1);
        check_int(x->inode, 131);
        check_str(x->path, "/bin/tiny32");
        check_int(x->kind, MAPPING_FILE);

        check_int(at(m, 0x55e0a0000000)->kind, MAPPING_HEAP);

        x = at(m, 0x7f0000000000);
        check_str(x->path, "/tmp/my dir/guest ram");
        check(!x->deleted && x->shared && x->read && x->write && !x->exec);
        check_int(x->kind, MAPPING_FILE);
        check_int(proc_mapping_len(x), UINT64_C(1) << 30);
        check_int(x->dev_major, 0xfe);

        x = at(m, 0x7f0040000000);
        check_str(x->path, "/memfd:memory-backend-memfd");
        check(x->deleted);
        check_int(x->kind, MAPPING_MEMFD);

        x = at(m, 0x7f0040200000);
        check_str(x->path, "/dev/hugepages/libvirt/qemu/1-vm/qemu_back_mem.ram-node0.Abc123");
        check(x->deleted);
        check_int(x->kind, MAPPING_HUGETLBFS);

        check_int(at(m, 0x7f0040400000)->kind, MAPPING_HUGETLBFS);
        check_int(at(m, 0x7f0040600000)->kind, MAPPING_SHM);
        check_int(at(m, 0x7f0040601000)->kind, MAPPING_SHM);
        x = at(m, 0x7f0040602000);
        check_str(x->path, "[anon:qemu guest ram]");
        check_int(x->kind, MAPPING_ANON);
        check_int(at(m, 0x7f0040603000)->kind, MAPPING_SHM);
        check_int(at(m, 0x7f0040604000)->kind, MAPPING_SPECIAL);
        x = at(m, 0x7f0040605000);
        check_str(x->path, "/tmp/odd\\012name");
        check_int(x->offset_bytes, 0x1000);
        check_str(at(m, 0x7f0040606000)->path, "/tmp/trailing spaces  ");
        x = at(m, 0x7f0040607000);
        check_str(x->path, "/tmp/x (deleted)");
        check(x->deleted);
        x = at(m, 0x7f0040608000);
        check_str(x->path, "/tmp/(deleted)");
        check(!x->deleted);
        check_int(at(m, 0x7f0040609000)->kind, MAPPING_HUGETLBFS);
        check_int(at(m, 0x7f004060a000)->kind, MAPPING_HUGETLBFS); /* the heuristic errs here, documented */
        check_int(at(m, 0x7f004060b000)->kind, MAPPING_FILE);
        x = at(m, 0x7f004060c000);
        check(!x->path);
        check(!x->read && !x->write && !x->exec);
        check_int(x->kind, MAPPING_ANON);
        check_int(at(m, 0x7ffd00000000)->kind, MAPPING_STACK);
        check_int(at(m, 0x7ffd00021000)->kind, MAPPING_STACK);
        x = at(m, 0xffffffffff600000);
        check_int(x->kind, MAPPING_SPECIAL);
        check_int(x->end_hva, 0xffffffffff601000);

        check(!procmaps_find(m, 0));
        check(!procmaps_find(m, 0x08049000));
        check(procmaps_find(m, 0x08048fff));
        check(!procmaps_find(m, UINT64_MAX));

        for (unsigned k = 0; k < _MAPPING_KIND_MAX; k++)
                check_int(mapping_kind_from_string(mapping_kind_to_string(k)), k);
        check_int(mapping_kind_from_string("nope"), _MAPPING_KIND_INVALID);
        check_int(mapping_kind_from_string(NULL), _MAPPING_KIND_INVALID);
        check(!mapping_kind_to_string(_MAPPING_KIND_MAX));
}

static void test_qemu_fixtures(void) {
        static const struct {
                const char *name;
                unsigned n_guest_sized;
                uint64_t size;
        } cases[] = {
                { "qemu72-pc256.maps", 1, UINT64_C(256) << 20 },
                { "qemu72-pc4g.maps", 1, UINT64_C(4) << 30 },
                { "qemu72-q35_3n.maps", 3, UINT64_C(2) << 30 },
                { "qemu72-pc2x1g.maps", 2, UINT64_C(1) << 30 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(procmaps_freep) ProcMaps *m = load(cases[i].name);
                unsigned found = 0;

                check(m->n > 100);
                for (size_t j = 0; j < m->n; j++) {
                        const ProcMapping *x = &m->mappings[j];

                        if (j > 0)
                                check(x->start_hva >= m->mappings[j - 1].end_hva);
                        if (x->kind == MAPPING_ANON && x->read && x->write && !x->exec && proc_mapping_len(x) == cases[i].size)
                                found++;
                }
                check_int(found, cases[i].n_guest_sized);
        }

        {
                _cleanup_(procmaps_freep) ProcMaps *m = load("qemu72-q35_2n_memfd.maps");
                const ProcMapping *x = at(m, 0x7f5cd7fff000);

                check_int(x->kind, MAPPING_MEMFD);
                check(x->deleted && x->shared);
                check_int(proc_mapping_len(x), UINT64_C(1) << 30);
                check_int(x->dev_major, 0);
                check_int(x->dev_minor, 1);
                check_int(x->inode, 32);
        }
        {
                _cleanup_(procmaps_freep) ProcMaps *m = load("qemu72-pc_file.maps");
                const ProcMapping *x = at(m, 0x7efd7ffff000);

                check_str(x->path, "/tmp/qx/ramfile/guest ram");
                check_int(x->kind, MAPPING_FILE);
        }
}

static int parse_error(const char *text, unsigned expect_line) {
        ProcMaps *m = NULL;
        unsigned line = 0;
        int r;

        r = procmaps_parse_string(text, &m, &line);
        check(r < 0);
        check(!m);
        check_int(line, expect_line);
        return r;
}

static void test_malformed(void) {
        static const char *const bad[] = {
                "",                                                   /* (placeholder, skipped) */
                "zz-1000 rw-p 00000000 00:00 0",
                "1000 rw-p 00000000 00:00 0",
                "1000-2000",
                "1000-2000 rw-q 00000000 00:00 0",
                "1000-2000 rwx 00000000 00:00 0",
                "1000-2000 rw-p 00000000 0000 0",
                "1000-2000 rw-p 00000000 00:00",
                "1000-2000 rw-p 00000000 00:00 x",
                "1000-2000 rw-p 00000000 00:00 0x /path",
                "2000-1000 rw-p 00000000 00:00 0",
                "1000-1000 rw-p 00000000 00:00 0",
                "11112222333344445-ffffffffffffffff rw-p 00000000 00:00 0",
                "1000-2000 rw-p 00000000 00:00 99999999999999999999999",
                "1000-2000 rw-p 00000000 100000000:00 0",
        };

        for (size_t i = 1; i < ELEMENTSOF(bad); i++)
                check_int(parse_error(bad[i], 1), -EBADMSG);

        /* error on line 3; blank lines count */
        check_int(parse_error("1000-2000 rw-p 00000000 00:00 0\n\nbogus\n", 3), -EBADMSG);
        /* overlapping / descending */
        check_int(parse_error("1000-3000 rw-p 00000000 00:00 0\n2000-4000 rw-p 00000000 00:00 0\n", 2), -EBADMSG);

        {
                _cleanup_(procmaps_freep) ProcMaps *m = NULL;

                check_int(procmaps_parse_string("", &m, NULL), 0);
                check_int(m->n, 0);
                m = procmaps_free(m);
                /* no final newline, tabs as padding, upper-case hex */
                check_int(procmaps_parse_string("1000-2000 rw-p 00000000 00:00 0\n3000-4FFF r--s 0000ABCD FE:01 12\t\t/x y", &m, NULL), 0);
                check_int(m->n, 2);
                check_int(m->mappings[1].end_hva, 0x4fff);
                check_int(m->mappings[1].offset_bytes, 0xabcd);
                check_str(m->mappings[1].path, "/x y");
                check(!m->mappings[0].path);
        }
}

static void test_long(void) {
        _cleanup_(procmaps_freep) ProcMaps *m = NULL;
        _cleanup_free_ char *text = NULL, *longpath = NULL;
        size_t n = 100000, l = 0, allocated = n * 100 + 8192;

        longpath = xmalloc(4097);
        longpath[0] = '/';
        memset(longpath + 1, 'a', 4095);
        longpath[4096] = 0;

        text = xmalloc(allocated);
        for (size_t i = 0; i < n; i++)
                l += (size_t) snprintf(text + l, allocated - l, "%zx-%zx rw-p %08zx fd:%02zx %zu%*s/file %zu\n",
                                       (i + 1) * 0x10000, (i + 1) * 0x10000 + 0x1000, i, i % 256, i, 20, "", i);
        l += (size_t) snprintf(text + l, allocated - l, "ffff0000000-ffff0001000 r--p 00000000 00:00 0 %s\n", longpath);

        check_int(procmaps_parse_string(text, &m, NULL), 0);
        check_int(m->n, n + 1);
        check_int(m->mappings[n - 1].inode, n - 1);
        check_str(m->mappings[77777].path, "/file 77777");
        check_int(strlen(m->mappings[n].path), 4096);
        check(procmaps_find(m, 0x10000 * 5000 + 0x10));
        check(!procmaps_find(m, 0x10000 * 5000 + 0x1000));
}

static void test_read_self(void) {
        _cleanup_(procmaps_freep) ProcMaps *m = NULL;
        int r;

        r = procmaps_read(NULL, getpid(), &m);
        if (r == -ENOENT || r == -EACCES) {
                fprintf(stderr, "no /proc here, skipping the live read\n");
                return;
        }
        check_int(r, 0);
        check(procmaps_find(m, (uint64_t) (uintptr_t) &test_read_self));
        /* our stack: "[stack]" normally, an anonymous mapping under valgrind */
        check(procmaps_find(m, (uint64_t) (uintptr_t) &m));
        check(procmaps_find(m, (uint64_t) (uintptr_t) &m)->write);

        check_int(procmaps_read("/nonexistent-root", getpid(), &m), -ENOENT);
        check_int(procmaps_read(NULL, 0, &m), -EINVAL);
}

int main(void) {
        test_weird();
        test_qemu_fixtures();
        test_malformed();
        test_long();
        test_read_self();
        printf("test-procmaps: OK\n");
        return 0;
}
