/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "check.h"
#include "tmptree.h"
#include "vtism/config.h"
#include "vtism/macro.h"
#include "vtism/util.h"

static const char *test_data;

static const char *source_root;

static char *mfree(char *p) {
        free(p);
        return NULL;
}

/* Parse text as "t.conf" and check it fails with exactly this message. */
#define CHECK_ERROR(text, expected) check_error(__LINE__, text, expected)
static void check_error(int line, const char *text, const char *expected) {
        _cleanup_free_ char *error = NULL;
        VtConf *c = (VtConf *) 0x1; /* must stay untouched on failure */
        int r;

        r = config_load_string(text, "t.conf", &c, &error);
        if (r != -EINVAL || c != (VtConf *) 0x1 || !streq_ptr(error, expected)) {
                fprintf(stderr, "%s:%d: config_load_string() of:\n%s\n  returned: %d (%s)\n  expected: %s\n",
                        __FILE__, line, text, r, error ?: "(no message)", expected);
                exit(EXIT_FAILURE);
        }
}

static VtConf *load_ok(const char *text) {
        _cleanup_free_ char *error = NULL;
        VtConf *c = NULL;
        int r;

        r = config_load_string(text, "t.conf", &c, &error);
        if (r < 0) {
                fprintf(stderr, "unexpected failure (%d) parsing:\n%s\n  %s\n", r, text, error ?: "(no message)");
                exit(EXIT_FAILURE);
        }
        check(c);
        check(!error);
        return c;
}

static bool policy_equal(const VtPolicy *a, const VtPolicy *b) {
        return a->match == b->match && streq_ptr(a->pattern, b->pattern) &&
               a->budget_is_percent == b->budget_is_percent &&
               a->dram_budget_bytes == b->dram_budget_bytes &&
               a->dram_budget_percent == b->dram_budget_percent && a->weight == b->weight &&
               a->pin_dram == b->pin_dram && a->never_migrate == b->never_migrate &&
               a->cxl_access_max_percent == b->cxl_access_max_percent &&
               memcmp(&a->dram_min, &b->dram_min, sizeof(VtRamSize)) == 0 &&
               memcmp(&a->dram_max, &b->dram_max, sizeof(VtRamSize)) == 0;
}

/* Everything but the path and the line numbers. */
static bool config_equal(const VtConf *a, const VtConf *b) {
        if (a->sample_interval_usec != b->sample_interval_usec || a->tracker != b->tracker ||
            a->migrate_rate_limit_bytes != b->migrate_rate_limit_bytes || a->dry_run != b->dry_run ||
            a->log_level != b->log_level || a->dram_min_free_percent != b->dram_min_free_percent ||
            a->demotion_min_free_ratio != b->demotion_min_free_ratio ||
            a->heat_decay_percent != b->heat_decay_percent || a->heat_range_bytes != b->heat_range_bytes ||
            !streq_ptr(a->libvirt_uri, b->libvirt_uri) || a->n_qemu_users != b->n_qemu_users ||
            a->contiguity_anchor_bytes != b->contiguity_anchor_bytes)
                return false;
        for (size_t i = 0; i < a->n_qemu_users; i++)
                if (!streq(a->qemu_users[i], b->qemu_users[i]))
                        return false;
        if (a->n_dram_nodes != b->n_dram_nodes || a->n_cxl_nodes != b->n_cxl_nodes ||
            (a->n_dram_nodes > 0 && memcmp(a->dram_nodes, b->dram_nodes, a->n_dram_nodes * sizeof(int)) != 0) ||
            (a->n_cxl_nodes > 0 && memcmp(a->cxl_nodes, b->cxl_nodes, a->n_cxl_nodes * sizeof(int)) != 0))
                return false;
        if (!policy_equal(&a->default_policy, &b->default_policy) || a->n_policies != b->n_policies)
                return false;
        for (size_t i = 0; i < a->n_policies; i++)
                if (!policy_equal(&a->policies[i], &b->policies[i]))
                        return false;
        return true;
}

static void test_enums(void) {
        check_str(tracker_kind_to_string(TRACKER_AUTO), "auto");
        check_str(tracker_kind_to_string(TRACKER_PAGE_IDLE), "page_idle");
        check_str(tracker_kind_to_string(TRACKER_SOFTDIRTY), "softdirty");
        check_str(tracker_kind_to_string(_TRACKER_KIND_MAX), NULL);
        check_str(tracker_kind_to_string(_TRACKER_KIND_INVALID), NULL);
        for (TrackerKind k = 0; k < _TRACKER_KIND_MAX; k++)
                check(tracker_kind_from_string(tracker_kind_to_string(k)) == k);
        check(tracker_kind_from_string("foo") == _TRACKER_KIND_INVALID);
        check(tracker_kind_from_string(NULL) == _TRACKER_KIND_INVALID);

        check_str(log_level_to_string(LOG_ERR), "err");
        check_str(log_level_to_string(LOG_DEBUG), "debug");
        check_str(log_level_to_string(LOG_CRIT), NULL);
        check_str(log_level_to_string(LOG_DEBUG + 1), NULL);
        check_str(log_level_to_string(-1), NULL);
        for (int l = LOG_ERR; l <= LOG_DEBUG; l++)
                check(log_level_from_string(log_level_to_string(l)) == l);
        check(log_level_from_string("crit") == -EINVAL);

        check_str(policy_match_to_string(POLICY_MATCH_DEFAULT), "default");
        check_str(policy_match_to_string(POLICY_MATCH_CMDLINE), "cmdline");
        check_str(policy_match_to_string(_POLICY_MATCH_MAX), NULL);
}

static void test_defaults(void) {
        _cleanup_(config_freep) VtConf *c = config_new_default(), *e = NULL;

        check(!c->path);
        check(c->sample_interval_usec == 5 * USEC_PER_SEC);
        check(c->tracker == TRACKER_AUTO);
        check(c->migrate_rate_limit_bytes == 256 * MIB);
        check(!c->dry_run);
        check(c->log_level == LOG_INFO);
        check(c->dram_min_free_percent == 5);
        check(c->demotion_min_free_ratio == 10);
        check(c->heat_decay_percent == 12);
        check(c->heat_range_bytes == GIB);
        check(c->contiguity_anchor_bytes == 2 * MIB);
        check_str(c->libvirt_uri, "qemu:///system");
        check(c->n_qemu_users == 2);
        check_str(c->qemu_users[0], "root");
        check_str(c->qemu_users[1], "libvirt-qemu");
        check(c->n_dram_nodes == 0 && !c->dram_nodes);
        check(c->n_cxl_nodes == 0 && !c->cxl_nodes);
        check(c->n_policies == 0 && !c->policies);
        check(c->default_policy.match == POLICY_MATCH_DEFAULT);
        check(!c->default_policy.pattern);
        check(c->default_policy.budget_is_percent);
        check(c->default_policy.dram_budget_percent == 100);
        check(c->default_policy.weight == 100);
        check(!c->default_policy.pin_dram && !c->default_policy.never_migrate);
        check(c->default_policy.line == 0);

        check(config_free(NULL) == NULL);

        /* an empty file, and one with only empty groups, are the defaults */
        e = load_ok("");
        check(config_equal(c, e));
        check_str(e->path, "t.conf");
        e = config_free(e);
        e = load_ok("# nothing\nglobal = { };\ntiers = { dram = [ ]; cxl = [ ]; };\ndefault_policy = { };\nvm = ( );\n");
        check(config_equal(c, e));
}

static void test_full(void) {
        _cleanup_free_ char *path = xasprintf("%s/config/full.conf", test_data), *error = NULL;
        _cleanup_(config_freep) VtConf *c = NULL;
        const VtPolicy *p;

        check(config_load(path, &c, &error) == 0);
        check(!error);
        check_str(c->path, path);
        check(c->sample_interval_usec == 1 * USEC_PER_SEC);
        check(c->tracker == TRACKER_IDLE_PAGES);
        check(c->migrate_rate_limit_bytes == GIB);
        check(c->dry_run);
        check(c->log_level == LOG_DEBUG);
        check(c->dram_min_free_percent == 10);
        check(c->demotion_min_free_ratio == 20);
        check(c->heat_decay_percent == 50);
        check(c->heat_range_bytes == 2 * MIB);
        check_str(c->libvirt_uri, "qemu+ssh://host/system");
        check(c->n_dram_nodes == 2 && c->dram_nodes[0] == 0 && c->dram_nodes[1] == 1);
        check(c->n_cxl_nodes == 2 && c->cxl_nodes[0] == 2 && c->cxl_nodes[1] == 3);

        p = &c->default_policy;
        check(p->match == POLICY_MATCH_DEFAULT && !p->pattern);
        check(p->budget_is_percent && p->dram_budget_percent == 50);
        check(p->weight == 50);
        check(!p->pin_dram && p->never_migrate);
        check(p->line == 20);

        check(c->n_policies == 4);
        p = &c->policies[0];
        check(p->match == POLICY_MATCH_NAME);
        check_str(p->pattern, "web-*");
        check(!p->budget_is_percent && p->dram_budget_bytes == 4 * GIB);
        check(p->weight == 200);
        check(!p->pin_dram && !p->never_migrate);
        check(p->line == 27);

        p = &c->policies[1];
        check(p->match == POLICY_MATCH_UUID);
        check_str(p->pattern, "6F1C2A3B-4D5E-4F60-8A9B-0C1D2E3F4A5B");
        /* what it does not set comes from default_policy */
        check(p->budget_is_percent && p->dram_budget_percent == 50);
        check(p->weight == 50);
        check(p->pin_dram && !p->never_migrate);
        check(p->line == 28);

        p = &c->policies[2];
        check(p->match == POLICY_MATCH_CMDLINE);
        check_str(p->pattern, "*-name guest=batch*");
        check(!p->budget_is_percent && p->dram_budget_bytes == 512 * MIB);
        check(p->weight == 50 && p->never_migrate);

        p = &c->policies[3];
        check(p->match == POLICY_MATCH_NAME);
        check(p->weight == 1);
        check(p->line == 30);
}

static void test_values(void) {
        _cleanup_(config_freep) VtConf *c = NULL;

        /* bounds are inclusive; int64 literals are accepted */
        c = load_ok("global = { sample_interval_ms = 100; heat_decay_percent = 0; dram_min_free_percent = 50;\n"
                    "  demotion_min_free_ratio = 90; migrate_rate_limit_mbps = 0; heat_range = 1099511627776L; };");
        check(c->sample_interval_usec == 100 * USEC_PER_MSEC);
        check(c->heat_decay_percent == 0 && c->dram_min_free_percent == 50 && c->demotion_min_free_ratio == 90);
        check(c->migrate_rate_limit_bytes == 0);
        check(c->heat_range_bytes == TIB);
        c = config_free(c);

        c = load_ok("global = { sample_interval_ms = 3600000L; migrate_rate_limit_mbps = 1048576; heat_decay_percent = 99;\n"
                    "  heat_range = 4194304; tracker = \"damon\"; log_level = \"err\"; };");
        check(c->sample_interval_usec == 3600 * USEC_PER_SEC);
        check(c->migrate_rate_limit_bytes == 1048576 * MIB);
        check(c->heat_range_bytes == 4 * MIB);
        check(c->tracker == TRACKER_DAMON && c->log_level == LOG_ERR);
        c = config_free(c);

        c = load_ok("global = { heat_range = \"1T\"; contiguity_anchor = \"1G\"; }; default_policy = { dram_budget = \"0%\"; weight = 10000; };");
        check(c->contiguity_anchor_bytes == GIB);
        check(c->heat_range_bytes == TIB);
        check(c->default_policy.budget_is_percent && c->default_policy.dram_budget_percent == 0);
        check(c->default_policy.weight == 10000);
        c = config_free(c);

        c = load_ok("default_policy = { dram_budget = 0; };\nvm = ( { name = \"a\"; dram_budget = \"100%\"; },\n"
                    "  { name = \"b\"; dram_budget = \"512MiB\"; } );");
        check(!c->default_policy.budget_is_percent && c->default_policy.dram_budget_bytes == 0);
        check(c->policies[0].budget_is_percent && c->policies[0].dram_budget_percent == 100);
        check(!c->policies[1].budget_is_percent && c->policies[1].dram_budget_bytes == 512 * MIB);
        c = config_free(c);

        /* node lists: lists as well as arrays, sorted; negative numbers, floats and hex in other places */
        c = load_ok("tiers = { dram = ( 3, 1 ); cxl = [ 1023, 0x2 ]; };\n/* comment 99999999999 */ // 99999999999\n"
                    "vm = ( { cmdline = \"-m 99999999999\"; } );");
        check(c->n_dram_nodes == 2 && c->dram_nodes[0] == 1 && c->dram_nodes[1] == 3);
        check(c->n_cxl_nodes == 2 && c->cxl_nodes[0] == 2 && c->cxl_nodes[1] == 1023);
        c = config_free(c);

        /* default_policy is applied to vm entries wherever it stands in the file */
        c = load_ok("vm = ( { name = \"x\"; } );\ndefault_policy = { weight = 7; pin_dram = true; };");
        check(c->policies[0].weight == 7 && c->policies[0].pin_dram);
        check(c->default_policy.line == 2 && c->policies[0].line == 1);
        c = config_free(c);

        /* an explicit false overrides an inherited true */
        c = load_ok("default_policy = { pin_dram = true; };\nvm = ( { name = \"x\"; pin_dram = false; never_migrate = true; } );");
        check(!c->policies[0].pin_dram && c->policies[0].never_migrate);
        c = config_free(c);

        /* a NULL name in messages and path */
        check(config_load_string("", NULL, &c, NULL) == 0);
        check(!c->path);
}

static void test_errors(void) {
        _cleanup_free_ char *error = NULL;
        VtConf *c = NULL;

        /* unknown keys and sections */
        CHECK_ERROR("global = {\n  dry_run = true;\n  bogus = 1;\n};", "t.conf:3: global.bogus: unknown key");
        CHECK_ERROR("\n\nfoo = { };", "t.conf:3: foo: unknown section (expected global, tiers, default_policy, vm or processes)");
        CHECK_ERROR("sample_interval_ms = 100;",
                    "t.conf:1: sample_interval_ms: unknown section (expected global, tiers, default_policy, vm or processes)");
        CHECK_ERROR("tiers = { numa = [ 1 ]; };", "t.conf:1: tiers.numa: unknown key");
        CHECK_ERROR("default_policy = { tracker = \"auto\"; };", "t.conf:1: default_policy.tracker: unknown key");
        CHECK_ERROR("vm = ( { name = \"a\"; },\n { name = \"b\"; wieght = 2; } );", "t.conf:2: vm[1].wieght: unknown key");
        CHECK_ERROR("default_policy = { name = \"web\"; };",
                    "t.conf:1: default_policy.name: only allowed in vm entries");

        /* wrong types */
        CHECK_ERROR("global = { sample_interval_ms = \"fast\"; };",
                    "t.conf:1: global.sample_interval_ms: expected an integer, got a string");
        CHECK_ERROR("global = { heat_decay_percent = 2.5; };",
                    "t.conf:1: global.heat_decay_percent: expected an integer, got a floating-point number");
        CHECK_ERROR("global = { dry_run = 1; };",
                    "t.conf:1: global.dry_run: expected a boolean (true or false), got an integer");
        CHECK_ERROR("global = { tracker = 1; };", "t.conf:1: global.tracker: expected a string, got an integer");
        CHECK_ERROR("global = { libvirt_uri = [ \"a\" ]; };",
                    "t.conf:1: global.libvirt_uri: expected a string, got an array");
        CHECK_ERROR("global = { heat_range = true; };",
                    "t.conf:1: global.heat_range: expected a size (a string such as \"4G\" or an integer), got a boolean");
        CHECK_ERROR("global = 1;", "t.conf:1: global: expected a group, got an integer");
        CHECK_ERROR("tiers = ( );", "t.conf:1: tiers: expected a group, got a list");
        CHECK_ERROR("vm = { name = \"a\"; };", "t.conf:1: vm: expected a list of groups: vm = ( { ... }, ... ), got a group");
        CHECK_ERROR("vm = ( { name = \"a\"; },\n  \"b\" );", "t.conf:2: vm[1]: expected a group, got a string");
        CHECK_ERROR("tiers = { dram = 1; };", "t.conf:1: tiers.dram: expected an array of node ids, got an integer");
        CHECK_ERROR("tiers = { dram = ( 1, \"2\" ); };", "t.conf:1: tiers.dram[1]: expected an integer, got a string");
        CHECK_ERROR("vm = ( { name = 5; } );", "t.conf:1: vm[0].name: expected a string, got an integer");

        /* out of range */
        CHECK_ERROR("global = {\n\n\n\n\n\n  sample_interval_ms = 50;\n};",
                    "t.conf:7: global.sample_interval_ms: 50 is out of range (100..3600000)");
        CHECK_ERROR("global = { sample_interval_ms = 3600001; };",
                    "t.conf:1: global.sample_interval_ms: 3600001 is out of range (100..3600000)");
        CHECK_ERROR("global = { sample_interval_ms = -1; };",
                    "t.conf:1: global.sample_interval_ms: -1 is out of range (100..3600000)");
        CHECK_ERROR("global = { migrate_rate_limit_mbps = 1048577; };",
                    "t.conf:1: global.migrate_rate_limit_mbps: 1048577 is out of range (0..1048576)");
        CHECK_ERROR("global = { migrate_rate_limit_mbps = 4294967552L; };",
                    "t.conf:1: global.migrate_rate_limit_mbps: 4294967552 is out of range (0..1048576)");
        CHECK_ERROR("global = { dram_min_free_percent = 51; };",
                    "t.conf:1: global.dram_min_free_percent: 51 is out of range (0..50)");
        CHECK_ERROR("global = { demotion_min_free_ratio = 91; };",
                    "t.conf:1: global.demotion_min_free_ratio: 91 is out of range (0..90)");
        CHECK_ERROR("global = { heat_decay_percent = 100; };",
                    "t.conf:1: global.heat_decay_percent: 100 is out of range (0..99)");
        CHECK_ERROR("default_policy = { weight = 0; };", "t.conf:1: default_policy.weight: 0 is out of range (1..10000)");
        CHECK_ERROR("vm = ( { uuid = \"6f1c2a3b-4d5e-4f60-8a9b-0c1d2e3f4a5b\"; weight = 10001; } );",
                    "t.conf:1: vm[0].weight: 10001 is out of range (1..10000)");
        CHECK_ERROR("tiers = { dram = [ 0,\n 1024 ]; };", "t.conf:2: tiers.dram[1]: 1024 is out of range (0..1023)");
        CHECK_ERROR("tiers = { cxl = [ -1 ]; };", "t.conf:1: tiers.cxl[0]: -1 is out of range (0..1023)");

        /* integers libconfig 1.5 would silently wrap */
        CHECK_ERROR("global = {\n  migrate_rate_limit_mbps = 4294967552;\n};",
                    "t.conf:2: integer 4294967552 does not fit in 32 bits (write 4294967552L for a 64-bit integer)");
        CHECK_ERROR("global = { sample_interval_ms = -2147483649; };",
                    "t.conf:1: integer -2147483649 does not fit in 32 bits (write -2147483649L for a 64-bit integer)");
        CHECK_ERROR("global = { sample_interval_ms = 0x100000000; };",
                    "t.conf:1: integer 0x100000000 does not fit in 32 bits (write 0x100000000L for a 64-bit integer)");
        CHECK_ERROR("global = { sample_interval_ms = 99999999999999999999L; };",
                    "t.conf:1: integer 99999999999999999999 does not fit in 64 bits");

        /* bad enums */
        CHECK_ERROR("global = {\n  tracker = \"foo\";\n};",
                    "t.conf:2: global.tracker: unknown tracker 'foo' (expected auto, idle_pages, damon, page_idle, softdirty)");
        CHECK_ERROR("global = { log_level = \"verbose\"; };",
                    "t.conf:1: global.log_level: unknown log level 'verbose' (expected err, warning, notice, info, debug)");
        CHECK_ERROR("global = { log_level = \"INFO\"; };",
                    "t.conf:1: global.log_level: unknown log level 'INFO' (expected err, warning, notice, info, debug)");

        /* strings */
        CHECK_ERROR("global = { libvirt_uri = \"\"; };", "t.conf:1: global.libvirt_uri: must not be empty");
        CHECK_ERROR("vm = ( { name = \"\"; } );", "t.conf:1: vm[0].name: must not be empty");

        /* sizes */
        CHECK_ERROR("global = { heat_range = \"2X\"; };",
                    "t.conf:1: global.heat_range: '2X' is not a valid size (expected bytes or a number with K, M, G or T)");
        CHECK_ERROR("global = { heat_range = \"G\"; };",
                    "t.conf:1: global.heat_range: 'G' is not a valid size (expected bytes or a number with K, M, G or T)");
        CHECK_ERROR("global = { heat_range = \"3M\"; };", "t.conf:1: global.heat_range: '3M' is not a power of two");
        CHECK_ERROR("global = { contiguity_anchor = \"3M\"; };", "t.conf:1: global.contiguity_anchor: '3M' is not a power of two");
        CHECK_ERROR("global = { contiguity_anchor = \"2K\"; };",
                    "t.conf:1: global.contiguity_anchor: '2K' is out of range (4K..1T)");
        CHECK_ERROR("global = { heat_range = 3145728; };", "t.conf:1: global.heat_range: 3145728 is not a power of two");
        CHECK_ERROR("global = { heat_range = \"1M\"; };", "t.conf:1: global.heat_range: '1M' is out of range (2M..1T)");
        CHECK_ERROR("global = { heat_range = \"2T\"; };", "t.conf:1: global.heat_range: '2T' is out of range (2M..1T)");
        CHECK_ERROR("global = { heat_range = -4; };",
                    "t.conf:1: global.heat_range: -4 is not a valid size (must not be negative)");
        CHECK_ERROR("default_policy = { dram_budget = \"4Q\"; };",
                    "t.conf:1: default_policy.dram_budget: '4Q' is not a valid size (expected bytes or a number with K, M, G or T)");
        CHECK_ERROR("default_policy = { dram_budget = -1; };",
                    "t.conf:1: default_policy.dram_budget: -1 is not a valid size (must not be negative)");
        CHECK_ERROR("default_policy = { dram_budget = false; };",
                    "t.conf:1: default_policy.dram_budget: expected a size (a string such as \"4G\" or an integer), got a boolean");

        /* percentages */
        CHECK_ERROR("default_policy = { dram_budget = \"150%\"; };",
                    "t.conf:1: default_policy.dram_budget: '150%' is out of range (0%..100%)");
        CHECK_ERROR("vm = ( { name = \"a\"; dram_budget = \"x%\"; } );",
                    "t.conf:1: vm[0].dram_budget: 'x%' is not a valid percentage");
        CHECK_ERROR("vm = ( { name = \"a\"; dram_budget = \"%\"; } );",
                    "t.conf:1: vm[0].dram_budget: '%' is not a valid percentage");
        CHECK_ERROR("vm = ( { name = \"a\"; dram_budget = \"-5%\"; } );",
                    "t.conf:1: vm[0].dram_budget: '-5%' is not a valid percentage");

        /* UUIDs */
        CHECK_ERROR("vm = (\n  { uuid = \"6f1c\"; }\n);",
                    "t.conf:2: vm[0].uuid: '6f1c' is not a valid UUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
        CHECK_ERROR("vm = ( { uuid = \"6f1c2a3b-4d5e-4f60-8a9b-0c1d2e3f4a5g\"; } );",
                    "t.conf:1: vm[0].uuid: '6f1c2a3b-4d5e-4f60-8a9b-0c1d2e3f4a5g' is not a valid UUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
        CHECK_ERROR("vm = ( { uuid = \"6f1c2a3b4d5e-4f60-8a9b-0c1d2e3f4a5b-\"; } );",
                    "t.conf:1: vm[0].uuid: '6f1c2a3b4d5e-4f60-8a9b-0c1d2e3f4a5b-' is not a valid UUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");

        /* tiers */
        CHECK_ERROR("tiers = {\n  dram = [ 0, 1 ];\n  cxl = [ 2, 1 ];\n};", "t.conf:3: tiers.cxl: node 1 is also listed in tiers.dram");
        CHECK_ERROR("tiers = {\n  cxl = [ 2, 1 ];\n  dram = [ 1 ];\n};", "t.conf:2: tiers.cxl: node 1 is also listed in tiers.dram");
        CHECK_ERROR("tiers = { dram = [ 1, 0, 1 ]; };", "t.conf:1: tiers.dram[2]: node 1 is listed twice");

        /* processes entries */
        CHECK_ERROR("processes = (\n  { exe = \"a\"; pid = 3; }\n);",
                    "t.conf:2: processes[0]: needs exactly one of pid, exe, cmdline");
        CHECK_ERROR("processes = ( { } );", "t.conf:1: processes[0]: needs exactly one of pid, exe, cmdline");
        CHECK_ERROR("processes = ( { comm = \"x\"; } );", "t.conf:1: processes[0].comm: unknown key");
        CHECK_ERROR("processes = ( { pid = 0; } );", "t.conf:1: processes[0].pid: 0 is out of range (1..4194304)");
        CHECK_ERROR("processes = ( { exe = \"\"; } );", "t.conf:1: processes[0].exe: must not be empty");
        CHECK_ERROR("processes = ( { exe = 5; } );", "t.conf:1: processes[0].exe: expected a string, got an integer");
        CHECK_ERROR("processes = { exe = \"x\"; };",
                    "t.conf:1: processes: expected a list of groups: processes = ( { ... }, ... ), got a group");

        /* vm entries */
        CHECK_ERROR("vm = (\n  { weight = 2; }\n);", "t.conf:2: vm[0]: needs exactly one of name, uuid, cmdline");
        CHECK_ERROR("vm = (\n  { name = \"a\"; },\n  { name = \"b\"; },\n  { name = \"c\"; cmdline = \"*c*\"; }\n);",
                    "t.conf:4: vm[2]: needs exactly one of name, uuid, cmdline");
        CHECK_ERROR("vm = ( { } );", "t.conf:1: vm[0]: needs exactly one of name, uuid, cmdline");
        CHECK_ERROR("vm = (\n  { name = \"a\";\n    pin_dram = true;\n    never_migrate = true; }\n);",
                    "t.conf:2: vm[0]: pin_dram and never_migrate contradict each other");
        CHECK_ERROR("default_policy = {\n  pin_dram = true;\n  never_migrate = true;\n};",
                    "t.conf:1: default_policy: pin_dram and never_migrate contradict each other");
        /* inherited from default_policy: still a contradiction */
        CHECK_ERROR("default_policy = { never_migrate = true; };\nvm = ( { name = \"a\"; pin_dram = true; } );",
                    "t.conf:2: vm[0]: pin_dram and never_migrate contradict each other");

        /* libconfig's own errors, with libconfig's line */
        CHECK_ERROR("global = {\n  sample_interval_ms = ;\n};", "t.conf:2: syntax error");
        CHECK_ERROR("global = {\n  dry_run = true;\n  tracker \"auto\";\n};", "t.conf:3: syntax error");
        /* duplicates: libconfig finds them, we name them */
        CHECK_ERROR("global = { dry_run = true; };\n\nglobal = { };", "t.conf:3: global: set twice (first on line 1)");
        CHECK_ERROR("global = {\n  dry_run = true;\n  tracker = \"auto\";\n  dry_run = false;\n};",
                    "t.conf:4: global.dry_run: set twice (first on line 2)");
        CHECK_ERROR("vm = ( { name = \"a\"; weight = 1; },\n  { name = \"b\";\n weight = 1; weight : 2; } );",
                    "t.conf:3: vm[1].weight: set twice (first on line 3)");
        CHECK_ERROR("tiers = { dram = [ 0 ]; };\nvm = ( { name = \"a\"; }, { uuid = \"x\"; name = \"b\"; name = \"c\"; } );",
                    "t.conf:2: vm[1].name: set twice (first on line 2)");
        CHECK_ERROR("tiers = { dram = [ 1, \"2\" ]; };", "t.conf:1: mismatched element type in array");
        CHECK_ERROR("global = {", "t.conf:1: syntax error");
        CHECK_ERROR("x = \"unterminated", "t.conf:1: syntax error");
        CHECK_ERROR("# ok\n@include \"/etc/passwd\"\n", "t.conf:2: @include is not supported");

        /* an unterminated comment would hide the rest of the file */
        CHECK_ERROR("global = { dry_run = true; };\n/* the tracker:\n\nglobal = { tracker = \"bogus\"; };\n",
                    "t.conf:2: unterminated comment: /* without */ (the rest of the file would be ignored)");
        CHECK_ERROR("/**/ /*/", "t.conf:1: unterminated comment: /* without */ (the rest of the file would be ignored)");

        /* hexadecimal integers are signed too: 0xffffffff would be -1 */
        CHECK_ERROR("global = { sample_interval_ms = 0xffffffff; };",
                    "t.conf:1: integer 0xffffffff does not fit in 32 bits (write 0xffffffffL for a 64-bit integer)");
        CHECK_ERROR("global = { sample_interval_ms = 0x80000000; };",
                    "t.conf:1: integer 0x80000000 does not fit in 32 bits (write 0x80000000L for a 64-bit integer)");
        CHECK_ERROR("global = { sample_interval_ms = 0x7fffffff; };",
                    "t.conf:1: global.sample_interval_ms: 2147483647 is out of range (100..3600000)");
        CHECK_ERROR("global = { sample_interval_ms = 0xffffffffL; };",
                    "t.conf:1: global.sample_interval_ms: 4294967295 is out of range (100..3600000)");
        CHECK_ERROR("global = { sample_interval_ms = 0xffffffffffffffffL; };",
                    "t.conf:1: integer 0xffffffffffffffff does not fit in 64 bits");
        CHECK_ERROR("global = { sample_interval_ms = 0x8000000000000000L; };",
                    "t.conf:1: integer 0x8000000000000000 does not fit in 64 bits");
        CHECK_ERROR("global = { sample_interval_ms = -2147483648; };",
                    "t.conf:1: global.sample_interval_ms: -2147483648 is out of range (100..3600000)");

        /* nesting: libconfig would say "memory exhausted" (around 10000 levels) */
        {
                _cleanup_free_ char *ok = NULL, *deep = NULL, *deeper = NULL;
                char lparen[10001], rparen[10001];

                memset(lparen, '(', sizeof(lparen) - 1);
                memset(rparen, ')', sizeof(rparen) - 1);
                lparen[10000] = rparen[10000] = 0;
                ok = xasprintf("x = %.32s%.32s;", lparen, rparen);
                CHECK_ERROR(ok, "t.conf:1: x: unknown section (expected global, tiers, default_policy, vm or processes)");
                deep = xasprintf("x = %.33s%.33s;", lparen, rparen);
                CHECK_ERROR(deep, "t.conf:1: groups, lists and arrays nested more than 32 deep");
                deeper = xasprintf("global = {\n x = [ %s%s ]; };", lparen, rparen);
                CHECK_ERROR(deeper, "t.conf:2: groups, lists and arrays nested more than 32 deep");
        }

        /* strings from the file are shortened and escaped in messages */
        {
                _cleanup_free_ char *name = xmalloc(1000001), *text = NULL, *expected = NULL, *utf8 = NULL;

                memset(name, 'k', 1000000);
                name[1000000] = 0;
                text = xasprintf("global = { %s = 1; };", name);
                expected = xasprintf("t.conf:1: global.%.64s...: unknown key", name);
                CHECK_ERROR(text, expected);
                text = mfree(text);
                expected = mfree(expected);
                text = xasprintf("%s = { };", name);
                expected = xasprintf("t.conf:1: %.64s...: unknown section (expected global, tiers, default_policy, vm or processes)", name);
                CHECK_ERROR(text, expected);
                text = mfree(text);
                expected = mfree(expected);
                text = xasprintf("global = { tracker = \"%s\"; };", name);
                expected = xasprintf("t.conf:1: global.tracker: unknown tracker '%.64s...' (expected auto, idle_pages, damon, page_idle, softdirty)", name);
                CHECK_ERROR(text, expected);
                text = mfree(text);
                expected = mfree(expected);
                memset(name, '9', 100000);
                name[100000] = 0;
                text = xasprintf("global = { sample_interval_ms = %s; };", name);
                expected = xasprintf("t.conf:1: integer %.64s... does not fit in 32 bits (write %.64s...L for a 64-bit integer)",
                                     name, name);
                CHECK_ERROR(text, expected);
                text = mfree(text);
                expected = mfree(expected);

                /* cut at a character boundary: "x" and 40 two-byte characters */
                utf8 = xstrdup("x");
                for (int i = 0; i < 40; i++) {
                        char *t = xasprintf("%s\u00e9", utf8);
                        free(utf8);
                        utf8 = t;
                }
                text = xasprintf("default_policy = { dram_budget = \"%s\"; };", utf8);
                expected = xasprintf("t.conf:1: default_policy.dram_budget: '%.63s...' is not a valid size (expected bytes or a number with K, M, G or T)", utf8);
                CHECK_ERROR(text, expected);
                text = mfree(text);
                expected = mfree(expected);
                CHECK_ERROR("vm = ( { uuid = \"\\x1b[2J\\n\"; } );",
                            "t.conf:1: vm[0].uuid: '\\x1b[2J\\x0a' is not a valid UUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
        }

        /* without a message */
        check(config_load_string("global = 1;", "t.conf", &c, NULL) == -EINVAL);
        check(!c);
        check(config_load_string(NULL, "t.conf", &c, &error) == -EINVAL);
        check(!c && !error);
}

static void test_files(void) {
        _cleanup_free_ char *path = NULL, *error = NULL;
        VtConf *c = NULL;

        path = xasprintf("%s/config/bad-tracker.conf", test_data);
        check(config_load(path, &c, &error) == -EINVAL);
        check(!c);
        free(path);
        path = xasprintf("%s/config/bad-tracker.conf:3: global.tracker: unknown tracker 'damn' "
                         "(expected auto, idle_pages, damon, page_idle, softdirty)", test_data);
        check_str(error, path);
        error = mfree(error);

        free(path);
        path = xasprintf("%s/config/bad-syntax.conf", test_data);
        check(config_load(path, &c, &error) == -EINVAL);
        free(path);
        path = xasprintf("%s/config/bad-syntax.conf:3: syntax error", test_data);
        check_str(error, path);
        error = mfree(error);

        free(path);
        path = xasprintf("%s/config/does-not-exist.conf", test_data);
        check(config_load(path, &c, &error) == -ENOENT);
        check(!c);
        free(path);
        path = xasprintf("%s/config/does-not-exist.conf: cannot read: No such file or directory", test_data);
        check_str(error, path);
        error = mfree(error);

        free(path);
        path = xasprintf("%s/config/nul-byte.conf", test_data);
        check(config_load(path, &c, &error) == -EINVAL);
        check(!c);
        free(path);
        path = xasprintf("%s/config/nul-byte.conf:2: contains a NUL byte", test_data);
        check_str(error, path);
        error = mfree(error);

        check(config_load("does/not/exist.conf", &c, NULL) == -ENOENT);
        check(!c);
}

/* Only regular files of at most 1 MiB, checked before reading; a missing file can mean defaults. */
static void test_file_kinds(void) {
        char dir[] = "/tmp/test-config.XXXXXX";
        _cleanup_free_ char *fifo = NULL, *big = NULL, *max = NULL, *missing = NULL, *dangling = NULL, *expected = NULL;
        _cleanup_free_ char *error = NULL, *text = NULL;
        VtConf *c = NULL;
        int fd;

        check(mkdtemp(dir));
        /* a FIFO used to block in open() forever: fail the test instead of hanging it */
        alarm(60);

        fifo = xasprintf("%s/fifo.conf", dir);
        check(mkfifo(fifo, 0600) == 0);
        check_int(config_load(fifo, &c, &error), -EINVAL);
        check(!c);
        expected = xasprintf("%s: is a FIFO, not a regular file", fifo);
        check_str(error, expected);
        error = mfree(error);
        expected = mfree(expected);

        /* /dev/zero used to be read to 64 MiB and more */
        check_int(config_load("/dev/zero", &c, &error), -EINVAL);
        check_str(error, "/dev/zero: is a character device, not a regular file");
        error = mfree(error);
        check_int(config_load("/dev/null", &c, &error), -EINVAL);
        check_str(error, "/dev/null: is a character device, not a regular file");
        error = mfree(error);

        check_int(config_load(dir, &c, &error), -EISDIR);
        expected = xasprintf("%s: is a directory, not a configuration file", dir);
        check_str(error, expected);
        error = mfree(error);
        expected = mfree(expected);

        /* vtismd --check-config= */
        check_int(config_load("", &c, &error), -EINVAL);
        check_str(error, "the configuration file name is empty");
        error = mfree(error);

        /* too large: refused before reading (a sparse 70 MB file) */
        big = xasprintf("%s/big.conf", dir);
        fd = open(big, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        check(fd >= 0);
        check(ftruncate(fd, 70 * 1000 * 1000) == 0);
        close(fd);
        check_int(config_load(big, &c, &error), -EFBIG);
        expected = xasprintf("%s: too large (66.8 MiB, at most 1 MiB)", big);
        check_str(error, expected);
        error = mfree(error);
        expected = mfree(expected);

        /* exactly the limit is fine, one byte more is not */
        max = xasprintf("%s/max.conf", dir);
        text = xmalloc(CONFIG_FILE_MAX_BYTES + 1);
        memset(text, ' ', CONFIG_FILE_MAX_BYTES + 1);
        memcpy(text, "global = { dry_run = true; };\n", 30);
        fd = open(max, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        check(fd >= 0);
        check(write(fd, text, CONFIG_FILE_MAX_BYTES) == (ssize_t) CONFIG_FILE_MAX_BYTES);
        check_int(config_load(max, &c, &error), 0);
        check(c->dry_run);
        c = config_free(c);
        check(write(fd, " ", 1) == 1);
        close(fd);
        check_int(config_load(max, &c, &error), -EFBIG);
        expected = xasprintf("%s: too large (1 MiB, at most 1 MiB)", max);
        check_str(error, expected);
        error = mfree(error);
        expected = mfree(expected);
        text[CONFIG_FILE_MAX_BYTES] = 0;
        check_int(config_load_string(text, "t.conf", &c, &error), 0);
        c = config_free(c);
        text = xreallocarray(text, CONFIG_FILE_MAX_BYTES + 2, 1);
        text[CONFIG_FILE_MAX_BYTES] = ' ';
        text[CONFIG_FILE_MAX_BYTES + 1] = 0;
        check_int(config_load_string(text, "t.conf", &c, &error), -EINVAL);
        check_str(error, "t.conf: too large (1048577 bytes, at most 1048576)");
        error = mfree(error);

        /* missing: an error for config_load(), the defaults for config_load_or_defaults() */
        missing = xasprintf("%s/missing.conf", dir);
        check_int(config_load(missing, &c, &error), -ENOENT);
        expected = xasprintf("%s: cannot read: No such file or directory", missing);
        check_str(error, expected);
        error = mfree(error);
        expected = mfree(expected);
        check_int(config_load_or_defaults(missing, &c, &error), 1);
        check(c && !error);
        {
                _cleanup_(config_freep) VtConf *def = config_new_default();
                check(config_equal(c, def));
                check(!c->path);
        }
        c = config_free(c);
        check_int(config_load_or_defaults(max, &c, NULL), -EFBIG);
        check(!c);
        check_int(config_load_or_defaults(fifo, &c, NULL), -EINVAL);
        check_int(config_load_or_defaults(max, &c, NULL), -EFBIG);
        /* a dangling symlink is not a missing file */
        dangling = xasprintf("%s/dangling.conf", dir);
        check(symlink(missing, dangling) == 0);
        check_int(config_load_or_defaults(dangling, &c, &error), -ENOENT);
        check(!c);
        expected = xasprintf("%s: cannot read: No such file or directory", dangling);
        check_str(error, expected);
        error = mfree(error);
        expected = mfree(expected);
        /* a symlink to a regular file is fine */
        check(unlink(dangling) == 0);
        check(symlink(max, dangling) == 0);
        check(truncate(max, 30) == 0);
        check_int(config_load_or_defaults(dangling, &c, &error), 0);
        check_str(c->path, dangling);
        c = config_free(c);

        alarm(0);
        expected = xasprintf("rm -rf '%s'", dir);
        check(system(expected) == 0);
}

static void test_match(void) {
        _cleanup_(config_freep) VtConf *c = NULL;
        const VtPolicy *p;

        c = load_ok("vm = (\n"
                    "  { name = \"web-*\"; weight = 1; },\n"
                    "  { uuid = \"6f1c2a3b-4d5e-4f60-8a9b-0c1d2e3f4a5b\"; weight = 2; },\n"
                    "  { name = \"web-[0-9]\"; weight = 3; },\n"
                    "  { cmdline = \"*-name guest=batch*\"; weight = 4; },\n"
                    "  { name = \"db\"; weight = 5; }\n"
                    ");");
        check(c->n_policies == 5);

        /* first match wins */
        p = config_match_policy(c, "web-1", "6F1C2A3B-4D5E-4F60-8A9B-0C1D2E3F4A5B", NULL);
        check(p == &c->policies[0]);
        p = config_match_policy(c, "db", "6F1C2A3B-4D5E-4F60-8A9B-0C1D2E3F4A5B", NULL);
        check(p == &c->policies[1]); /* uuid, case-insensitive, before name "db" */
        p = config_match_policy(c, "db", NULL, NULL);
        check(p == &c->policies[4]);
        p = config_match_policy(c, NULL, NULL, "/usr/bin/qemu-system-x86_64 -name guest=batch7,debug-threads=on -m 4096");
        check(p == &c->policies[3]);
        p = config_match_policy(c, "batch7", NULL, "/usr/bin/qemu-system-x86_64 -name guest=batch7");
        check(p == &c->policies[3]);

        /* otherwise the default */
        p = config_match_policy(c, "mail", "00000000-0000-0000-0000-000000000000", "qemu -name guest=mail");
        check(p == &c->default_policy);
        p = config_match_policy(c, NULL, NULL, NULL);
        check(p == &c->default_policy);
        p = config_match_policy(c, "Web-1", NULL, NULL); /* names are case-sensitive */
        check(p == &c->default_policy);
        p = config_match_policy(c, "6f1c2a3b-4d5e-4f60-8a9b-0c1d2e3f4a5b", NULL, NULL); /* a uuid is not a name */
        check(p == &c->default_policy);
        c = config_free(c);

        c = config_new_default();
        check(config_match_policy(c, "web-1", NULL, NULL) == &c->default_policy);
}

/*
 * conf/vtism.conf shows every setting commented out at its default ("#key = value;"); examples
 * follow a line starting with "# Examples". Uncommenting the defaults must give the built-in
 * defaults, so the file and the code cannot drift apart.
 */
static char *uncomment_defaults(const char *text) {
        char *out = xmalloc(strlen(text) + 1), *o = out;
        const char *p = text;
        bool examples = false;

        while (*p) {
                const char *eol = strchrnul(p, '\n'), *q = p + 1;

                if (strncmp(p, "# Examples", 10) == 0)
                        examples = true;
                while (q < eol && (*q == ' ' || *q == '\t'))
                        q++;
                if (!examples && *p == '#' &&
                    (islower((unsigned char) *q) || *q == '}' || *q == ')')) {
                        const char *n = q;

                        while (islower((unsigned char) *n) || *n == '_')
                                n++;
                        while (*n == ' ')
                                n++;
                        if (*q == '}' || *q == ')' || *n == '=')
                                p++; /* drop the '#' */
                }
                memcpy(o, p, (size_t) (eol - p));
                o += eol - p;
                if (*eol)
                        *o++ = '\n';
                p = *eol ? eol + 1 : eol;
        }
        *o = 0;
        return out;
}

/* The example lines after "# Examples" in conf/vtism.conf ("#   tiers = ..."), uncommented. */
static char *conf_examples(const char *text) {
        const char *p = strstr(text, "\n# Examples");
        char *out = xstrdup("");

        check(p);
        for (p++; *p;) {
                const char *eol = strchrnul(p, '\n');

                if (strncmp(p, "#   ", 4) == 0) {
                        char *t = xasprintf("%s%.*s\n", out, (int) (eol - p - 1), p + 1);
                        free(out);
                        out = t;
                }
                p = *eol ? eol + 1 : eol;
        }
        return out;
}

/* The first .EX/.EE block of the EXAMPLES section of the man page, with "\-" unescaped. */
static char *man_example(const char *text) {
        const char *p = strstr(text, "\n.SH EXAMPLES\n"), *b, *e;
        char *out, *o;

        check(p);
        b = strstr(p, "\n.EX\n");
        check(b);
        b += 5;
        e = strstr(b, "\n.EE\n");
        check(e);
        out = o = xmalloc((size_t) (e - b) + 1);
        for (; b < e; b++) {
                if (b[0] == '\\' && b[1] == '-')
                        b++;
                *o++ = *b;
        }
        *o = 0;
        return out;
}

/* Service levels: cxl_access_max_percent, dram_min, dram_max, and what they contradict. */
static void test_slo(void) {
        _cleanup_(config_freep) VtConf *c = NULL;
        const VtPolicy *p;

        c = load_ok("default_policy = { cxl_access_max_percent = 5; dram_min = \"1G\"; };\n"
                    "vm = ( { name = \"a\"; dram_max = \"50%\"; },\n"
                    "       { name = \"b\"; cxl_access_max_percent = 0; dram_budget = \"2G\"; },\n"
                    "       { name = \"c\"; cxl_access_max_percent = 0; pin_dram = true; } );");
        p = &c->default_policy;
        check_int(p->cxl_access_max_percent, 5);
        check(!p->dram_min.is_percent && p->dram_min.bytes == UINT64_C(1) << 30);
        check(p->dram_max.is_percent && p->dram_max.percent == 100);
        p = &c->policies[0];
        check_int(p->cxl_access_max_percent, 5); /* inherited */
        check(!p->dram_min.is_percent && p->dram_min.bytes == UINT64_C(1) << 30);
        check(p->dram_max.is_percent && p->dram_max.percent == 50);
        check_int(c->policies[1].cxl_access_max_percent, 0);
        check(!c->policies[1].budget_is_percent && c->policies[1].dram_budget_bytes == UINT64_C(2) << 30);
        check(c->policies[2].pin_dram);
        /* resolved against guest RAM */
        check_u64(vt_ram_size_bytes(&(VtRamSize) { .is_percent = true, .percent = 50 }, (UINT64_C(1) << 30) + 4096),
                  UINT64_C(1) << 29);
        check_u64(vt_ram_size_bytes(&(VtRamSize) { .bytes = 12345 }, 1), 12345);
        /* the default: no service level, dram_min 0, dram_max 100% */
        c = config_free(c);
        c = config_new_default();
        check_int(c->default_policy.cxl_access_max_percent, 0);
        check(c->default_policy.dram_max.is_percent && c->default_policy.dram_max.percent == 100);

        CHECK_ERROR("default_policy = {\n  cxl_access_max_percent = 101;\n};",
                    "t.conf:2: default_policy.cxl_access_max_percent: 101 is out of range (0..100)");
        CHECK_ERROR("default_policy = {\n  dram_min = \"120%\";\n};",
                    "t.conf:2: default_policy.dram_min: '120%' is out of range (0%..100%)");
        CHECK_ERROR("default_policy = {\n  dram_max = \"lots\";\n};",
                    "t.conf:2: default_policy.dram_max: 'lots' is not a valid size (expected bytes or a number with K, M, G or T)");
        CHECK_ERROR("vm = (\n  { name = \"a\";\n    dram_min = \"60%\";\n    dram_max = \"50%\"; }\n);",
                    "t.conf:3: vm[0].dram_min: dram_min is above dram_max");
        CHECK_ERROR("default_policy = { cxl_access_max_percent = 5; };\nvm = (\n  { name = \"a\"; pin_dram = true; }\n);",
                    "t.conf:3: vm[0]: cxl_access_max_percent (a service level) and pin_dram contradict each other "
                    "(cxl_access_max_percent = 0 turns an inherited service level off)");
        CHECK_ERROR("default_policy = { cxl_access_max_percent = 5; never_migrate = true; };",
                    "t.conf:1: default_policy: cxl_access_max_percent (a service level) and never_migrate contradict each other "
                    "(cxl_access_max_percent = 0 turns an inherited service level off)");
        CHECK_ERROR("default_policy = { cxl_access_max_percent = 5; };\nvm = (\n  { name = \"a\";\n    dram_budget = \"1G\"; }\n);",
                    "t.conf:4: vm[0].dram_budget: does not apply to a service level (cxl_access_max_percent): its DRAM "
                    "target tunes itself within dram_min and dram_max");
}

static const char *const all_keys[] = {
        "global.sample_interval_ms",
        "global.tracker",
        "global.migrate_rate_limit_mbps",
        "global.dry_run",
        "global.log_level",
        "global.dram_min_free_percent",
        "global.demotion_min_free_ratio",
        "global.heat_decay_percent",
        "global.heat_range",
        "global.libvirt_uri",
        "global.qemu_users",
        "global.contiguity_anchor",
        "tiers.dram",
        "tiers.cxl",
        "default_policy.dram_budget",
        "default_policy.weight",
        "default_policy.pin_dram",
        "default_policy.never_migrate",
        "default_policy.cxl_access_max_percent",
        "default_policy.dram_min",
        "default_policy.dram_max",
        "vm",
};

static void test_shipped_conf(void) {
        _cleanup_free_ char *path = xasprintf("%s/conf/vtism.conf", source_root), *error = NULL;
        _cleanup_free_ char *text = NULL, *uncommented = NULL, *man = NULL;
        _cleanup_(config_freep) VtConf *def = config_new_default(), *c = NULL;
        config_t cfg;

        /* as shipped: everything commented out */
        if (config_load(path, &c, &error) < 0) {
                fprintf(stderr, "%s\n", error);
                exit(EXIT_FAILURE);
        }
        check(config_equal(def, c));
        c = config_free(c);

        /* with the defaults uncommented */
        check(read_file_at(NULL, path, &text) == 0);
        uncommented = uncomment_defaults(text);
        if (config_load_string(uncommented, "conf/vtism.conf (uncommented)", &c, &error) < 0) {
                fprintf(stderr, "%s\n%s\n", uncommented, error);
                exit(EXIT_FAILURE);
        }
        check(config_equal(def, c));
        check(c->default_policy.line > 0); /* default_policy was really there */

        /* ... and every key is in it, and in the man page */
        config_init(&cfg);
        check(config_read_string(&cfg, uncommented));
        man = xasprintf("%s/man/vtism.conf.5", source_root);
        free(text);
        check(read_file_at(NULL, man, &text) == 0);
        for (size_t i = 0; i < ELEMENTSOF(all_keys); i++) {
                const char *leaf = strrchr(all_keys[i], '.');
                _cleanup_free_ char *roff = NULL;

                if (!config_lookup(&cfg, all_keys[i])) {
                        fprintf(stderr, "conf/vtism.conf does not show %s\n", all_keys[i]);
                        exit(EXIT_FAILURE);
                }
                roff = xasprintf(".B %s", leaf ? leaf + 1 : all_keys[i]);
                if (!strstr(text, roff)) {
                        fprintf(stderr, "man/vtism.conf.5 does not document %s\n", all_keys[i]);
                        exit(EXIT_FAILURE);
                }
        }
        config_destroy(&cfg);
        c = config_free(c);

        /* the examples in both parse */
        free(uncommented);
        uncommented = man_example(text);
        c = load_ok(uncommented);
        check(c->n_dram_nodes == 2 && c->n_cxl_nodes == 2 && c->n_policies == 3);
        check(c->policies[1].pin_dram);
        c = config_free(c);

        free(text);
        check(read_file_at(NULL, path, &text) == 0);
        free(uncommented);
        uncommented = conf_examples(text);
        c = load_ok(uncommented);
        check(c->n_dram_nodes == 2 && c->n_cxl_nodes == 2 && c->n_policies == 3);
        check(c->policies[2].never_migrate);
}

static void test_qemu_users(void) {
        _cleanup_(config_freep) VtConf *c = NULL;

        c = load_ok("global = { qemu_users = [ \"root\", \"1000\", \"alice\" ]; };");
        check(c->n_qemu_users == 3);
        check_str(c->qemu_users[0], "root");
        check_str(c->qemu_users[1], "1000");
        check_str(c->qemu_users[2], "alice");
        c = config_free(c);

        c = load_ok("global = { qemu_users = ( \"*\" ); };"); /* a list is fine too */
        check(c->n_qemu_users == 1);
        check_str(c->qemu_users[0], "*");
        c = config_free(c);

        c = load_ok("global = { qemu_users = [ ]; };"); /* nobody's: only libvirt domains */
        check(c->n_qemu_users == 0 && !c->qemu_users);
        c = config_free(c);

        CHECK_ERROR("global = { qemu_users = \"root\"; };",
                    "t.conf:1: global.qemu_users: expected an array of user names or uids, or [ \"*\" ], got a string");
        CHECK_ERROR("global = { qemu_users = [ 0 ]; };",
                    "t.conf:1: global.qemu_users[0]: expected a string (a user name or a uid), got an integer");
        CHECK_ERROR("global = { qemu_users = [ \"root\", \"\" ]; };",
                    "t.conf:1: global.qemu_users[1]: must not be empty");
        CHECK_ERROR("global = { qemu_users = [ \"root\", \"*\" ]; };",
                    "t.conf:1: global.qemu_users[1]: \"*\" (every user) must be the only entry");
        CHECK_ERROR("global = { qemu_users = [ \"a b\" ]; };",
                    "t.conf:1: global.qemu_users[0]: 'a b' is not a user name or uid");
        CHECK_ERROR("global = {\n qemu_users = [ \"root\",\n \"root\" ]; };",
                    "t.conf:3: global.qemu_users[1]: 'root' is listed twice");
}

static void test_processes(void) {
        _cleanup_(config_freep) VtConf *c = NULL;
        _cleanup_free_ char *error = NULL;

        check(config_load_string("processes = (\n  { exe = \"*/memhog\"; },\n  { cmdline = \"*--hot *\"; },\n"
                                 "  { pid = 4242; }\n);", "p.conf", &c, &error) == 0);
        check(c->n_processes == 3);
        check_str(c->processes[0].exe, "*/memhog");
        check(c->processes[0].line == 2);
        check_str(c->processes[1].cmdline, "*--hot *");
        check(c->processes[2].pid == 4242);
        check(!c->processes[2].exe && !c->processes[2].cmdline);
}

/* Drop-ins: PATH.d/\*.conf after the main file, in name order; keys replaced, vm/processes appended,
 * vm entries inheriting the final default_policy, errors naming the drop-in. */
static void test_dropins(void) {
        char *root = tmptree_new("test-config-dropins");
        _cleanup_free_ char *main_conf = xasprintf("%s/v.conf", root), *expected = NULL, *error = NULL;
        _cleanup_free_ char *a = xasprintf("%s/v.conf.d/10-a.conf", root), *b = xasprintf("%s/v.conf.d/20-b.conf", root);
        VtConf *c = NULL;
        const VtPolicy *p;

        tmptree_write_str(root, "v.conf",
                          "global = { sample_interval_ms = 1000; tracker = \"damon\"; };\n"
                          "default_policy = { weight = 50; };\n"
                          "tiers = { cxl = [ 1 ]; };\n"
                          "vm = ( { name = \"web*\"; dram_budget = \"1G\"; } );\n");
        /* named so that strcmp order differs from creation order and from "natural" order */
        tmptree_write_str(root, "v.conf.d/20-b.conf",
                          "global = { sample_interval_ms = 3000; };\n"
                          "default_policy = { weight = 200; };\n"
                          "\n"
                          "vm = ( { name = \"db1\"; weight = 300; },\n"
                          "       { name = \"web1\"; pin_dram = true; } );\n");
        tmptree_write_str(root, "v.conf.d/10-a.conf",
                          "global = { sample_interval_ms = 2000; migrate_rate_limit_mbps = 10; };\n"
                          "processes = ( { exe = \"*/memhog\"; } );\n");
        /* not drop-ins: hidden, other suffixes, a bare ".conf" */
        tmptree_write_str(root, "v.conf.d/.hidden.conf", "this is not read");
        tmptree_write_str(root, "v.conf.d/README", "this is not read");
        tmptree_write_str(root, "v.conf.d/30-c.conf.disabled", "this is not read");
        tmptree_write_str(root, "v.conf.d/.conf", "this is not read");

        check_int(config_load(main_conf, &c, &error), 0);
        check_str(c->path, main_conf);
        check_int(c->n_dropins, 2);
        check_str(c->dropins[0], a);
        check_str(c->dropins[1], b);
        check_u64(c->sample_interval_usec, 3 * USEC_PER_SEC); /* the last file's */
        check_u64(c->migrate_rate_limit_bytes, 10 * (UINT64_C(1) << 20)); /* only 10-a set it */
        check_int(c->tracker, TRACKER_DAMON);                 /* only the main file set it */
        check_int(c->n_cxl_nodes, 1);
        check_int(c->default_policy.weight, 200);
        check_int(c->n_processes, 1);
        check_str(c->processes[0].exe, "*/memhog");
        check_int(c->n_policies, 3);
        /* main file's entry first, with the final default_policy's weight; then 20-b's */
        check_str(c->policies[0].pattern, "web*");
        check_str(c->policies[0].file, main_conf);
        check_int(c->policies[0].line, 4);
        check_int(c->policies[0].weight, 200);
        check_u64(c->policies[0].dram_budget_bytes, UINT64_C(1) << 30);
        check_str(c->policies[1].pattern, "db1");
        check_str(c->policies[1].file, b);
        check_int(c->policies[1].line, 4);
        check_int(c->policies[1].weight, 300);
        check_str(c->policies[2].file, b);
        check_int(c->policies[2].line, 5);
        /* the first match wins: the main file's web* before the drop-in's web1 */
        p = config_match_policy(c, "web1", NULL, NULL);
        check(p == &c->policies[0]);
        check(!p->pin_dram);
        p = config_match_policy(c, "db1", NULL, NULL);
        check(p == &c->policies[1]);
        c = config_free(c);

        /* an error in a drop-in names the drop-in and its line, and fails the whole load */
        static const struct {
                const char *text, *error; /* error: after "ROOT/v.conf.d/15-bad.conf:" */
                bool prefix;              /* error is the start of the message */
        } bad[] = {
                { "# a comment\nvm = ( { name = \"x\"; weight = 0; } );\n", "2: vm[0].weight: ", true },
                { "global = {\n  sample_interval_ms = = 100;\n};\n", "2: syntax error", false },
                { "bogus = 1;\n", "1: bogus: unknown section (expected global, tiers, default_policy, vm or processes)", false },
                /* checks across files: a drop-in's tiers.dram against the main file's tiers.cxl */
                { "\ntiers = { dram = [ 0, 1 ]; };\n", "2: tiers.dram: node 1 is also listed in tiers.cxl (set before this file)",
                  false },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                tmptree_write_str(root, "v.conf.d/15-bad.conf", bad[i].text);
                check_int(config_load(main_conf, &c, &error), -EINVAL);
                check(!c);
                expected = xasprintf("%s/v.conf.d/15-bad.conf:%s", root, bad[i].error);
                if (bad[i].prefix)
                        check(error && strncmp(error, expected, strlen(expected)) == 0);
                else
                        check_str(error, expected);
                error = mfree(error);
                expected = mfree(expected);
        }
        /* a drop-in that is not a regular file */
        expected = xasprintf("%s/v.conf.d/15-bad.conf", root);
        check(unlink(expected) == 0);
        check(mkdir(expected, 0755) == 0);
        check_int(config_load(main_conf, &c, &error), -EISDIR);
        free(expected);
        expected = xasprintf("%s/v.conf.d/15-bad.conf: is a directory, not a configuration file", root);
        check_str(error, expected);
        error = mfree(error);
        expected = mfree(expected);
        expected = xasprintf("%s/v.conf.d/15-bad.conf", root);
        check(rmdir(expected) == 0);
        expected = mfree(expected);

        /* the main file missing: defaults plus the drop-ins (config_load_or_defaults only) */
        check(unlink(main_conf) == 0);
        check_int(config_load(main_conf, &c, &error), -ENOENT);
        error = mfree(error);
        check_int(config_load_or_defaults(main_conf, &c, &error), 1);
        check(!c->path);
        check_int(c->n_dropins, 2);
        check_u64(c->sample_interval_usec, 3 * USEC_PER_SEC);
        check_int(c->tracker, TRACKER_AUTO);
        check_int(c->n_policies, 2);
        c = config_free(c);

        /* PATH.d that is not a directory is an error, not "no drop-ins" */
        tmptree_write_str(root, "w.conf", "global = { dry_run = true; };\n");
        tmptree_write_str(root, "w.conf.d", "a file where the drop-in directory should be\n");
        free(main_conf);
        main_conf = xasprintf("%s/w.conf", root);
        check_int(config_load(main_conf, &c, &error), -ENOTDIR);
        expected = xasprintf("%s/w.conf.d: is not a directory (drop-ins go there)", root);
        check_str(error, expected);
        error = mfree(error);
        expected = mfree(expected);

        /* no PATH.d: no drop-ins */
        tmptree_write_str(root, "x.conf", "global = { dry_run = true; };\n");
        free(main_conf);
        main_conf = xasprintf("%s/x.conf", root);
        check_int(config_load(main_conf, &c, &error), 0);
        check_int(c->n_dropins, 0);
        check(c->dry_run);
        c = config_free(c);
        tmptree_remove(root);
}

int main(void) {
        test_data = getenv("VTISM_TEST_DATA");
        source_root = getenv("VTISM_SOURCE_ROOT");
        if (!test_data || !source_root) {
                fprintf(stderr, "VTISM_TEST_DATA and VTISM_SOURCE_ROOT must be set (run through meson test), skipping\n");
                return 77;
        }

        test_enums();
        test_defaults();
        test_qemu_users();
        test_full();
        test_values();
        test_errors();
        test_files();
        test_file_kinds();
        test_match();
        test_processes();
        test_slo();
        test_dropins();
        test_shipped_conf();
        return 0;
}
