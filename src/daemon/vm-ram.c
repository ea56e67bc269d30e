/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where a VM's guest RAM is: the QEMU command line names the memory backends and their sizes in
 * guest-physical order, /proc/PID/maps shows the mappings that hold them, and the machine type
 * fixes the guest-physical layout (guest-layout.h has the rules and their limits). A process that
 * is not QEMU (a configured "processes" entry) is described by its largest anonymous private
 * mapping, laid out from guest-physical address 0, once that is at least PROCESS_RAM_MIN_BYTES:
 * until then the process has not mapped its memory yet (what a fresh one has are the loader's
 * and libc's few pages), and a heat map built on those would stay on them for its whole life.
 */
#include <inttypes.h>
#include <string.h>

#include "vtism/guest-layout.h"
#include "vtism/log.h"
#include "vtism/proc-pid.h"
#include "vtism/procmaps.h"
#include "vtism/qemu-cmdline.h"
#include "vtism/util.h"
#include "vtism/vm.h"

static int read_maps(const char *proc_root, pid_t pid, ProcMaps **ret) {
        _cleanup_free_ char *path = xasprintf("%d/maps", (int) pid), *text = NULL;
        unsigned line;
        int r;

        r = read_file_at(proc_root, path, &text);
        if (r == -ENOENT)
                return -ESRCH;
        if (r < 0)
                return r;
        return procmaps_parse_string(text, ret, &line);
}

/* One huge page: less than that is not memory worth tiering, nor anyone's guest RAM. */
#define PROCESS_RAM_MIN_BYTES (UINT64_C(2) << 20)

static uint64_t granule_for(MappingKind backing) {
        return backing == MAPPING_HUGETLBFS ? HEATMAP_GRANULE_2M : HEATMAP_GRANULE_4K;
}

static int cmp_range_hva(const void *a, const void *b) {
        const HeatRangeSpec *x = a, *y = b;
        return (x->hva > y->hva) - (x->hva < y->hva);
}

static void set_ranges(Vm *vm, HeatRangeSpec *ranges, size_t n) {
        uint64_t total = 0;

        free(vm->ranges);
        free(vm->target_ranges);
        vm->ranges = ranges;
        vm->n_ranges = n;
        for (size_t i = 0; i < n; i++)
                total += ranges[i].len_bytes;
        vm->ram_bytes = total;
        /* Trackers walk address spaces upwards: give them the ranges by hva. */
        vm->target_ranges = xcalloc(n, sizeof(HeatRangeSpec));
        memcpy(vm->target_ranges, ranges, n * sizeof(HeatRangeSpec));
        qsort(vm->target_ranges, n, sizeof(HeatRangeSpec), cmp_range_hva);
        vm->target.ranges = vm->target_ranges;
        vm->target.n_ranges = n;
}

static int locate_qemu(Vm *vm, const QemuCmdline *c, const ProcMaps *maps, char **ret_reason) {
        _cleanup_free_ const QemuBackend **backends = NULL;
        _cleanup_free_ GuestBackend *gb = NULL;
        _cleanup_free_ GuestRamRange *ranges = NULL;
        HeatRangeSpec *specs;
        GuestLayoutSpec spec = {};
        size_t n_backends, n;
        int r;

        r = qemu_cmdline_ram_backends(c, &backends, &n_backends);
        if (r < 0) {
                *ret_reason = xstrdup("its command line's memory backends do not add up to its RAM size");
                return r;
        }
        r = guest_machine_from_string(c->machine ?: "pc", &spec.machine);
        if (r < 0) {
                *ret_reason = xasprintf("machine type '%s' has no known guest-physical layout", c->machine);
                return r;
        }
        gb = xcalloc(n_backends, sizeof(GuestBackend));
        for (size_t i = 0; i < n_backends; i++)
                gb[i] = (GuestBackend) { .size_bytes = backends[i]->size_bytes, .path = backends[i]->mem_path };
        spec.backends = gb;
        spec.n_backends = n_backends;
        spec.max_ram_below_4g_bytes = c->max_ram_below_4g_bytes;

        r = guest_layout_compute(&spec, maps, &ranges, &n);
        if (r == -ENOENT) {
                *ret_reason = xstrdup("no mapping of its guest RAM size in its address space (QEMU still starting?)");
                return r;
        }
        if (r < 0) {
                *ret_reason = xasprintf("cannot lay out its guest RAM: %s", strerror(-r));
                return r;
        }

        specs = xcalloc(n, sizeof(HeatRangeSpec));
        for (size_t i = 0; i < n; i++)
                specs[i] = (HeatRangeSpec) {
                        .gpa = ranges[i].gpa,
                        .hva = ranges[i].hva,
                        .len_bytes = ranges[i].len_bytes,
                        .granule_bytes = granule_for(ranges[i].backing),
                };
        set_ranges(vm, specs, n);
        free(vm->machine);
        vm->machine = xstrdup(guest_machine_to_string(spec.machine));
        return 0;
}

static int locate_process(Vm *vm, const ProcMaps *maps, char **ret_reason) {
        const ProcMapping *best = NULL;
        HeatRangeSpec *spec;

        for (size_t i = 0; i < maps->n; i++) {
                const ProcMapping *m = &maps->mappings[i];

                if (m->kind != MAPPING_ANON || m->shared || !m->write)
                        continue;
                if (!best || proc_mapping_len(m) > proc_mapping_len(best))
                        best = m;
        }
        if (!best) {
                *ret_reason = xstrdup("it has no anonymous private writable mapping (it has not mapped its memory yet)");
                return -ENOENT;
        }
        if (proc_mapping_len(best) < PROCESS_RAM_MIN_BYTES) {
                *ret_reason = xasprintf("it has not mapped its memory yet: its largest anonymous private writable mapping "
                                        "is %" PRIu64 " KiB, less than %" PRIu64 " MiB",
                                        proc_mapping_len(best) >> 10, PROCESS_RAM_MIN_BYTES >> 20);
                return -ENOENT;
        }
        spec = xcalloc(1, sizeof(HeatRangeSpec));
        *spec = (HeatRangeSpec) {
                .gpa = 0,
                .hva = best->start_hva,
                .len_bytes = proc_mapping_len(best),
                .granule_bytes = HEATMAP_GRANULE_4K,
        };
        set_ranges(vm, spec, 1);
        free(vm->machine);
        vm->machine = xstrdup("process");
        return 0;
}

int vm_locate_ram(Vm *vm, const char *proc_root, char **ret_reason) {
        _cleanup_(proc_cmdline_freep) ProcCmdline *cmdline = NULL;
        _cleanup_(qemu_cmdline_freep) QemuCmdline *c = NULL;
        _cleanup_(procmaps_freep) ProcMaps *maps = NULL;
        int r;

        r = proc_pid_cmdline(proc_root, vm->pid, &cmdline);
        if (r == -ESRCH)
                return r;
        if (r == -ENODATA) {
                *ret_reason = xstrdup("its command line is empty (is it exiting?)");
                return r;
        }
        if (r < 0) {
                *ret_reason = xasprintf("cannot read its command line: %s", strerror(-r));
                return r;
        }
        r = read_maps(proc_root, vm->pid, &maps);
        if (r == -ESRCH)
                return r;
        if (r < 0) {
                *ret_reason = xasprintf("cannot read its memory mappings: %s", strerror(-r));
                return r;
        }

        if (!qemu_cmdline_is_qemu(cmdline->argv[0]))
                return locate_process(vm, maps, ret_reason);

        r = qemu_cmdline_parse(cmdline->argv, cmdline->argc, &c);
        if (r < 0) {
                *ret_reason = xstrdup("its QEMU command line cannot be parsed");
                return r;
        }
        return locate_qemu(vm, c, maps, ret_reason);
}
