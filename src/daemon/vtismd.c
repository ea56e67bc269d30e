/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vtism-build.h"
#include "vtism/bus.h"
#include "vtism/config.h"
#include "vtism/log.h"
#include "vtism/manager.h"
#include "vtism/util.h"

static const char *arg_config = NULL;
static const char *arg_sysfs_root = "/sys";
static const char *arg_proc_root = "/proc";
static bool arg_check_config = false;
static int arg_log_level = -1;
static LogTarget arg_log_target = LOG_TARGET_AUTO;

static void help(void) {
        printf("Usage: vtismd [OPTIONS]\n"
               "\n"
               "Keep KVM guests' hot memory on DRAM and cold memory on CXL NUMA nodes.\n"
               "Normally started by systemd (vtismd.service); it never forks.\n"
               "\n"
               "  -c, --config=FILE        Read FILE (and FILE.d/*.conf) instead of %s\n"
               "      --check-config[=FILE] Check the configuration, print 'configuration OK'\n"
               "                           or the errors, and exit\n"
               "  -f, --foreground         Log to the terminal (stderr) even under systemd\n"
               "      --log-target=TARGET  auto (the journal when stderr is a journal stream),\n"
               "                           journal or console\n"
               "      --log-level=LEVEL    err, warning, notice, info or debug (overrides the config)\n"
               "      --sysfs-root=DIR     Read the NUMA topology below DIR instead of /sys\n"
               "      --proc-root=DIR      Look for processes below DIR instead of /proc\n"
               "  -h, --help               Show this help\n"
               "      --version            Show the version\n"
               "\n"
               "See vtismd(8), vtism.conf(5) and vtismctl(8).\n",
               VTISM_CONFIG_FILE);
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_CHECK_CONFIG = 0x100,
                ARG_LOG_LEVEL,
                ARG_LOG_TARGET,
                ARG_SYSFS_ROOT,
                ARG_PROC_ROOT,
                ARG_VERSION,
        };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "check-config", optional_argument, NULL, ARG_CHECK_CONFIG },
                { "foreground", no_argument, NULL, 'f' },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "log-target", required_argument, NULL, ARG_LOG_TARGET },
                { "sysfs-root", required_argument, NULL, ARG_SYSFS_ROOT },
                { "proc-root", required_argument, NULL, ARG_PROC_ROOT },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "c:fh", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        arg_config = optarg;
                        break;
                case ARG_CHECK_CONFIG:
                        arg_check_config = true;
                        /* Accept both --check-config=FILE and --check-config FILE. */
                        if (optarg)
                                arg_config = optarg;
                        else if (optind < argc && argv[optind][0] != '-')
                                arg_config = argv[optind++];
                        break;
                case 'f':
                        arg_log_target = LOG_TARGET_CONSOLE;
                        break;
                case ARG_LOG_LEVEL:
                        arg_log_level = log_level_from_string(optarg);
                        if (arg_log_level < 0) {
                                fprintf(stderr, "vtismd: unknown log level '%s' (expected err, warning, notice, "
                                                "info or debug)\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_LOG_TARGET:
                        if (streq(optarg, "auto"))
                                arg_log_target = LOG_TARGET_AUTO;
                        else if (streq(optarg, "journal"))
                                arg_log_target = LOG_TARGET_JOURNAL;
                        else if (streq(optarg, "console"))
                                arg_log_target = LOG_TARGET_CONSOLE;
                        else {
                                fprintf(stderr, "vtismd: unknown log target '%s' (expected auto, journal or console)\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_SYSFS_ROOT:
                        arg_sysfs_root = optarg;
                        break;
                case ARG_PROC_ROOT:
                        arg_proc_root = optarg;
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("vtismd " VTISM_VERSION "\n");
                        return 0;
                default:
                        fprintf(stderr, "Try 'vtismd --help'.\n");
                        return -EINVAL;
                }

        if (optind < argc) {
                fprintf(stderr, "vtismd: unexpected argument '%s'. Try 'vtismd --help'.\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

static int check_config(void) {
        _cleanup_(config_freep) VtConf *c = NULL;
        _cleanup_free_ char *error = NULL;
        const char *path = arg_config ?: VTISM_CONFIG_FILE;
        int r;

        /* A file named on the command line must exist; the default one is optional. */
        if (arg_config)
                r = config_load(path, &c, &error);
        else
                r = config_load_or_defaults(path, &c, &error);
        if (r < 0) {
                if (error)
                        fprintf(stderr, "%s\n", error);
                else
                        fprintf(stderr, "%s: %s\n", path, strerror(-r));
                return EXIT_FAILURE;
        }
        if (r > 0)
                printf("%s does not exist: vtismd runs on the built-in defaults%s.\n", path,
                       c->n_dropins > 0 ? " and the drop-ins" : "");
        for (size_t i = 0; i < c->n_dropins; i++)
                printf("drop-in %s\n", c->dropins[i]);
        printf("configuration OK\n");
        return EXIT_SUCCESS;
}

int main(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? 2 : EXIT_SUCCESS;

        if (arg_check_config)
                return check_config();

        log_setup("vtismd", arg_log_target);
        if (arg_log_level >= 0)
                log_set_max_level(arg_log_level);

        r = manager_new(arg_config, arg_sysfs_root, arg_proc_root, arg_log_level, &m);
        if (r < 0)
                return EXIT_FAILURE;

        r = manager_load(m);
        if (r < 0)
                return EXIT_FAILURE;

        r = bus_setup(m);
        if (r < 0)
                return EXIT_FAILURE;

        r = manager_start(m);
        if (r < 0)
                return EXIT_FAILURE;

        r = manager_run(m);
        if (r < 0) {
                log_error_errno(r, "vtismd stopped on an error (%m); exiting with failure.");
                return EXIT_FAILURE;
        }
        log_info("vtismd stopped.");
        return EXIT_SUCCESS;
}
