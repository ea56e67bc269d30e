/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * move-probe PID RAM_BYTES [NODE]
 *
 * What move_pages(2) says about another process's guest RAM, as vtismd would see it: finds the
 * anonymous mapping of exactly RAM_BYTES in /proc/PID/maps (QEMU's guest RAM), first touches
 * nothing, queries where its first 256 pages are ("query: node0=N ... enoent=N"), and with NODE
 * asks to move them there and prints the outcome: "move to node N: ok moved=M failed=F" or
 * "move to node N: error EACCES" (the call failed as a whole, errno by name). Then it prints
 * the target's Mems_allowed_list and the mapping's policy from /proc/PID/numa_maps
 * ("policy: bind:0"). Exit 0 whatever move_pages said; 1 if the mapping is not found.
 */
#include <errno.h>
#include <inttypes.h>
#include <numaif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_PAGES 256
#define PAGE 4096UL

static const char *errno_name(int e) {
        switch (e) {
        case EACCES: return "EACCES";
        case ENODEV: return "ENODEV";
        case EPERM: return "EPERM";
        case EINVAL: return "EINVAL";
        case ENOENT: return "ENOENT";
        case ESRCH: return "ESRCH";
        case EBUSY: return "EBUSY";
        case EFAULT: return "EFAULT";
        case ENOMEM: return "ENOMEM";
        case E2BIG: return "E2BIG";
        default: return strerror(e);
        }
}

static int find_ram(int pid, unsigned long size, unsigned long *ret_start) {
        char path[64], line[512];
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/maps", pid);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                unsigned long a, b;
                char perms[8];
                int n = 0;

                if (sscanf(line, "%lx-%lx %7s %*s %*s %*s%n", &a, &b, perms, &n) < 3)
                        continue;
                /* anonymous: no path after the inode */
                while (line[n] == ' ')
                        n++;
                if (b - a == size && perms[0] == 'r' && perms[1] == 'w' && (line[n] == '\n' || line[n] == 0)) {
                        *ret_start = a;
                        fclose(f);
                        return 0;
                }
        }
        fclose(f);
        return -ENOENT;
}

static void print_status_line(int pid, const char *key) {
        char path[64], line[512];
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", pid);
        f = fopen(path, "re");
        if (!f)
                return;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, key, strlen(key)) == 0)
                        printf("%s", line);
        fclose(f);
}

static void print_policy(int pid, unsigned long start) {
        char path[64], line[4096], want[32];
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/numa_maps", pid);
        snprintf(want, sizeof(want), "%lx ", start);
        f = fopen(path, "re");
        if (!f)
                return;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, want, strlen(want)) == 0) {
                        char policy[64] = "";

                        sscanf(line + strlen(want), "%63s", policy);
                        printf("policy: %s\n", policy);
                }
        fclose(f);
}

static void query(int pid, void **pages, const char *what) {
        int status[N_PAGES], counts[64] = {}, enoent = 0, other = 0;

        if (move_pages(pid, N_PAGES, pages, NULL, status, 0) < 0) {
                printf("%s: error %s\n", what, errno_name(errno));
                return;
        }
        for (int i = 0; i < N_PAGES; i++)
                if (status[i] >= 0 && status[i] < 64)
                        counts[status[i]]++;
                else if (status[i] == -ENOENT)
                        enoent++;
                else
                        other++;
        printf("%s:", what);
        for (int n = 0; n < 64; n++)
                if (counts[n])
                        printf(" node%d=%d", n, counts[n]);
        printf(" enoent=%d other=%d\n", enoent, other);
}

int main(int argc, char **argv) {
        void *pages[N_PAGES];
        int nodes[N_PAGES], status[N_PAGES];
        unsigned long start = 0, size;
        int pid, r;

        if (argc < 3) {
                fprintf(stderr, "usage: move-probe PID RAM_BYTES [NODE]\n");
                return 2;
        }
        pid = atoi(argv[1]);
        size = strtoul(argv[2], NULL, 0);
        r = find_ram(pid, size, &start);
        if (r < 0) {
                fprintf(stderr, "move-probe: no anonymous mapping of %lu bytes in pid %d: %s\n", size, pid, strerror(-r));
                return 1;
        }
        printf("guest RAM at 0x%lx\n", start);
        for (int i = 0; i < N_PAGES; i++)
                pages[i] = (void *) (start + i * PAGE);
        query(pid, pages, "query");
        if (argc > 3) {
                int node = atoi(argv[3]), moved = 0, failed = 0;

                for (int i = 0; i < N_PAGES; i++)
                        nodes[i] = node;
                if (move_pages(pid, N_PAGES, pages, nodes, status, MPOL_MF_MOVE) < 0)
                        printf("move to node %d: error %s\n", node, errno_name(errno));
                else {
                        for (int i = 0; i < N_PAGES; i++)
                                if (status[i] == node)
                                        moved++;
                                else if (status[i] != -ENOENT)
                                        failed++;
                        printf("move to node %d: ok moved=%d failed=%d\n", node, moved, failed);
                }
                query(pid, pages, "after");
        }
        print_status_line(pid, "Mems_allowed_list:");
        print_policy(pid, start);
        return 0;
}
