/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The libvirt metadata policy element: what parses to what, what is refused and why, and how it
 * lies over the config file's policy (vm-metadata.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vtism/vm-metadata.h"

#define NS "xmlns=\"" VTISM_METADATA_NS "\""
#define NS_PREFIXED "xmlns:vtism=\"" VTISM_METADATA_NS "\""

static const struct {
        const char *xml;
        int r;
        const char *error;    /* exact message on failure */
        const char *describe; /* policy_override_describe() on success */
} cases[] = {
        /* what libvirt hands back: the element without its namespace (virsh metadata --uri shows it) */
        { "<policy dram_budget=\"32M\" weight=\"300\"/>", 0, NULL, "dram_budget=33554432 weight=300" },
        /* ... or in it, default or prefixed */
        { "<policy " NS " dram_budget=\"4G\" weight=\"200\"/>", 0, NULL, "dram_budget=4294967296 weight=200" },
        { "<vtism:policy " NS_PREFIXED " vtism:x=\"1\"/>", -EINVAL,
          "unknown attribute 'x' (expected dram_budget, weight, pin_dram, never_migrate)", NULL },
        { "<vtism:policy " NS_PREFIXED " dram_budget=\"50%\" pin_dram=\"yes\"/>", 0, NULL, "dram_budget=50% pin_dram=yes" },
        { "<policy " NS "/>", 0, NULL, "" },
        { "<policy " NS ">\n  <!-- a comment -->\n</policy>", 0, NULL, "" },
        { "<policy " NS " never_migrate=\"true\" pin_dram=\"false\"/>", 0, NULL, "pin_dram=no never_migrate=yes" },
        { "<policy " NS " dram_budget=\"1048576\" weight=\"1\"/>", 0, NULL, "dram_budget=1048576 weight=1" },
        { "<policy " NS " weight=\"10000\" never_migrate=\"0\"/>", 0, NULL, "weight=10000 never_migrate=no" },
        { "<policy " NS " dram_budget=\"0%\"/>", 0, NULL, "dram_budget=0%" },
        /* refused */
        { "<policy " NS " weight=\"0\"/>", -EINVAL, "weight: '0' is out of range (1..10000)", NULL },
        { "<policy " NS " weight=\"10001\"/>", -EINVAL, "weight: '10001' is out of range (1..10000)", NULL },
        { "<policy " NS " weight=\"-5\"/>", -EINVAL, "weight: '-5' is out of range (1..10000)", NULL },
        { "<policy " NS " weight=\"\"/>", -EINVAL, "weight: '' is out of range (1..10000)", NULL },
        { "<policy " NS " dram_budget=\"101%\"/>", -EINVAL, "dram_budget: '101%' is not a percentage (0%..100%)", NULL },
        { "<policy " NS " dram_budget=\"lots\"/>", -EINVAL,
          "dram_budget: 'lots' is not a valid size (expected bytes, a number with K, M, G or T, or a percentage)", NULL },
        { "<policy " NS " pin_dram=\"maybe\"/>", -EINVAL, "pin_dram: 'maybe' is not yes or no", NULL },
        { "<policy " NS " never_migrate=\"on\"/>", -EINVAL, "never_migrate: 'on' is not yes or no", NULL },
        { "<policy " NS " pin_dram=\"yes\" never_migrate=\"yes\"/>", -EINVAL,
          "pin_dram and never_migrate contradict each other", NULL },
        { "<policy " NS " colour=\"blue\"/>", -EINVAL,
          "unknown attribute 'colour' (expected dram_budget, weight, pin_dram, never_migrate)", NULL },
        { "<policy " NS "><weight>5</weight></policy>", -EINVAL,
          "unexpected element <weight> in <policy> (settings are attributes)", NULL },
        { "<policy xmlns=\"urn:someone:else\" weight=\"5\"/>", -EINVAL,
          "<policy> is in another namespace than " VTISM_METADATA_NS, NULL },
        { "<other:policy xmlns:other=\"urn:someone:else\" weight=\"5\"/>", -EINVAL,
          "<policy> is in another namespace than " VTISM_METADATA_NS, NULL },
        { "<budget " NS "/>", -EINVAL, "the element is not <policy>", NULL },
        { "<policy " NS " weight=\"5\">", -EINVAL, "not well-formed XML", NULL },
        { "", -EINVAL, "not well-formed XML", NULL },
        { "<policy " NS " weight=\"5\"/><policy " NS "/>", -EINVAL, "not well-formed XML", NULL },
        /* an internal entity is what it says (libxml2 bounds their expansion); an external DTD is not
         * fetched (XML_PARSE_NONET, no DTD loading) */
        { "<!DOCTYPE p [<!ENTITY w \"200\">]><policy " NS " weight=\"&w;\"/>", 0, NULL, "weight=200" },
        { "<!DOCTYPE p SYSTEM \"http://127.0.0.1:1/x.dtd\"><policy " NS " weight=\"7\"/>", 0, NULL, "weight=7" },
        /* what a local user put in the domain reaches messages escaped and cut */
        { "<policy " NS " weight=\"1&#9;2\"/>", -EINVAL, "weight: '1\\x092' is out of range (1..10000)", NULL },
};

static void test_parse(void) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *error = NULL, *d = NULL;
                PolicyOverride o = { .weight = 12345 };
                int r = policy_override_parse(cases[i].xml, &o, &error);

                if (r != cases[i].r || !streq_ptr(error, cases[i].error)) {
                        fprintf(stderr, "case %zu (%s): r=%d error='%s', expected r=%d '%s'\n", i, cases[i].xml, r,
                                error ?: "(null)", cases[i].r, cases[i].error ?: "(null)");
                        exit(EXIT_FAILURE);
                }
                if (r < 0) {
                        check_int(o.weight, 12345); /* untouched on failure */
                        continue;
                }
                d = policy_override_describe(&o);
                check_str(d, cases[i].describe);
        }
}

static void test_limits(void) {
        _cleanup_free_ char *big = xmalloc(VTISM_METADATA_MAX_BYTES + 2), *error = NULL, *name = NULL;
        PolicyOverride o;

        memset(big, ' ', VTISM_METADATA_MAX_BYTES + 1);
        big[VTISM_METADATA_MAX_BYTES + 1] = 0;
        check_int(policy_override_parse(big, &o, &error), -E2BIG);
        check_str(error, "too long (4097 bytes, at most 4096)");
        free(error);
        error = NULL;

        /* a long attribute name is cut in the message */
        name = xasprintf("<policy " NS " %0100d=\"1\"/>", 0);
        for (char *p = strstr(name, "\" ") + 2; *p == '0'; p++)
                *p = 'a';
        check_int(policy_override_parse(name, &o, &error), -EINVAL);
        check(strstr(error, "...' (expected"));
        check(strlen(error) < 200);
        check_int(policy_override_parse(NULL, &o, NULL), -EINVAL);
}

static void test_apply(void) {
        VtPolicy base = { .weight = 100, .dram_budget_percent = 100, .budget_is_percent = true }, p;
        PolicyOverride o = {};
        _cleanup_free_ char *error = NULL;

        /* nothing set: nothing changes */
        p = base;
        check_int(policy_override_apply(&o, &p, NULL), 0);
        check(memcmp(&p, &base, sizeof(p)) == 0);

        /* key by key: the budget and weight replaced, the rest kept */
        check_int(policy_override_parse("<policy " NS " dram_budget=\"2G\" weight=\"300\"/>", &o, NULL), 0);
        base.pin_dram = true;
        p = base;
        check_int(policy_override_apply(&o, &p, NULL), 0);
        check(!p.budget_is_percent);
        check_u64(p.dram_budget_bytes, UINT64_C(2) << 30);
        check_int(p.dram_budget_percent, 0);
        check_int(p.weight, 300);
        check(p.pin_dram);

        /* never_migrate from the metadata against the config's pin_dram: refused, p untouched */
        check_int(policy_override_parse("<policy " NS " never_migrate=\"yes\"/>", &o, NULL), 0);
        p = base;
        check_int(policy_override_apply(&o, &p, &error), -EINVAL);
        check_str(error, "never_migrate together with the configuration's pin_dram: they contradict each other");
        check(memcmp(&p, &base, sizeof(p)) == 0);
        /* ... but fine when the metadata turns pin_dram off too */
        check_int(policy_override_parse("<policy " NS " never_migrate=\"yes\" pin_dram=\"no\"/>", &o, NULL), 0);
        check_int(policy_override_apply(&o, &p, NULL), 0);
        check(p.never_migrate && !p.pin_dram);
}

int main(void) {
        test_parse();
        test_limits();
        test_apply();
        printf("PASS: %zu metadata cases\n", ELEMENTSOF(cases));
        return 0;
}
