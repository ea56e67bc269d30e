/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <string.h>

#include "vtism/macro.h"
#include "vtism/util.h"
#include "vtism/vm-metadata.h"

#define WEIGHT_MIN 1
#define WEIGHT_MAX 10000

static void xml_free_docp(xmlDoc **d) {
        if (*d)
                xmlFreeDoc(*d);
}

static void xml_freep(xmlChar **s) {
        if (*s)
                xmlFree(*s);
}

static int parse_bool_text(const char *v, bool *ret) {
        if (streq(v, "yes") || streq(v, "true") || streq(v, "1"))
                *ret = true;
        else if (streq(v, "no") || streq(v, "false") || streq(v, "0"))
                *ret = false;
        else
                return -EINVAL;
        return 0;
}

/* An attribute value as messages show it: control characters escaped, at most 64 bytes. */
static char *shown(const char *v) {
        _cleanup_free_ char *out = NULL;
        size_t n = 0;

        for (const char *p = v; *p && n < 64; p++, n++) {
                unsigned char ch = (unsigned char) *p;

                if (ch < 0x20 || ch == 0x7f)
                        strextendf(&out, "\\x%02x", ch);
                else
                        strextendf(&out, "%c", ch);
        }
        if (strlen(v) > 64)
                strextendf(&out, "...");
        return out ? TAKE_PTR(out) : xstrdup("");
}

static int fail(char **ret_error, const char *fmt, ...) _printf_(2, 3);
static int fail(char **ret_error, const char *fmt, ...) {
        va_list ap;

        if (ret_error) {
                va_start(ap, fmt);
                if (vasprintf(ret_error, fmt, ap) < 0)
                        oom();
                va_end(ap);
        }
        return -EINVAL;
}

static int parse_attribute(const char *name, const char *v, PolicyOverride *o, char **ret_error) {
        _cleanup_free_ char *s = shown(v);
        uint64_t n;

        if (streq(name, "dram_budget")) {
                size_t l = strlen(v);

                if (l > 0 && v[l - 1] == '%') {
                        _cleanup_free_ char *digits = strndup(v, l - 1);

                        if (!digits)
                                oom();
                        if (safe_atou64(digits, &n) < 0 || n > 100)
                                return fail(ret_error, "dram_budget: '%s' is not a percentage (0%%..100%%)", s);
                        o->budget_is_percent = true;
                        o->dram_budget_percent = (unsigned) n;
                        o->dram_budget_bytes = 0;
                } else {
                        if (parse_size(v, &n) < 0)
                                return fail(ret_error,
                                            "dram_budget: '%s' is not a valid size (expected bytes, a number with K, M, G "
                                            "or T, or a percentage)", s);
                        o->budget_is_percent = false;
                        o->dram_budget_bytes = n;
                        o->dram_budget_percent = 0;
                }
                o->has_dram_budget = true;
        } else if (streq(name, "weight")) {
                if (safe_atou64(v, &n) < 0 || n < WEIGHT_MIN || n > WEIGHT_MAX)
                        return fail(ret_error, "weight: '%s' is out of range (%d..%d)", s, WEIGHT_MIN, WEIGHT_MAX);
                o->weight = (unsigned) n;
                o->has_weight = true;
        } else if (streq(name, "pin_dram")) {
                if (parse_bool_text(v, &o->pin_dram) < 0)
                        return fail(ret_error, "pin_dram: '%s' is not yes or no", s);
                o->has_pin_dram = true;
        } else if (streq(name, "never_migrate")) {
                if (parse_bool_text(v, &o->never_migrate) < 0)
                        return fail(ret_error, "never_migrate: '%s' is not yes or no", s);
                o->has_never_migrate = true;
        } else {
                _cleanup_free_ char *n_shown = shown(name);

                return fail(ret_error, "unknown attribute '%s' (expected dram_budget, weight, pin_dram, never_migrate)",
                            n_shown);
        }
        return 0;
}

int policy_override_parse(const char *xml, PolicyOverride *ret, char **ret_error) {
        _cleanup_(xml_free_docp) xmlDoc *doc = NULL;
        PolicyOverride o = {};
        size_t len;
        xmlNode *root;

        if (!xml || !ret)
                return -EINVAL;
        len = strlen(xml);
        if (len > VTISM_METADATA_MAX_BYTES) {
                if (ret_error)
                        *ret_error = xasprintf("too long (%zu bytes, at most %d)", len, VTISM_METADATA_MAX_BYTES);
                return -E2BIG;
        }
        xmlInitParser();
        /* no network, no DTD loading, no entity substitution; errors not printed */
        doc = xmlReadMemory(xml, (int) len, "metadata.xml", NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        if (!doc)
                return fail(ret_error, "not well-formed XML");
        root = xmlDocGetRootElement(doc);
        if (!root || !streq((const char *) root->name, "policy"))
                return fail(ret_error, "the element is not <policy>");
        /* libvirt hands the element back without its namespace (it picked it by that) */
        if (root->ns && root->ns->href && !streq((const char *) root->ns->href, VTISM_METADATA_NS))
                return fail(ret_error, "<policy> is in another namespace than %s", VTISM_METADATA_NS);
        for (xmlNode *c = root->children; c; c = c->next)
                if (c->type == XML_ELEMENT_NODE) {
                        _cleanup_free_ char *n_shown = shown((const char *) c->name);

                        return fail(ret_error, "unexpected element <%s> in <policy> (settings are attributes)", n_shown);
                }
        for (xmlAttr *a = root->properties; a; a = a->next) {
                _cleanup_(xml_freep) xmlChar *v = xmlNodeListGetString(doc, a->children, 1);
                int r;

                r = parse_attribute((const char *) a->name, v ? (const char *) v : "", &o, ret_error);
                if (r < 0)
                        return r;
        }
        if (o.has_pin_dram && o.has_never_migrate && o.pin_dram && o.never_migrate)
                return fail(ret_error, "pin_dram and never_migrate contradict each other");
        *ret = o;
        return 0;
}

int policy_override_apply(const PolicyOverride *o, VtPolicy *p, char **ret_error) {
        VtPolicy q = *p;

        if (o->has_dram_budget) {
                q.budget_is_percent = o->budget_is_percent;
                q.dram_budget_bytes = o->dram_budget_bytes;
                q.dram_budget_percent = o->dram_budget_percent;
        }
        if (o->has_weight)
                q.weight = o->weight;
        if (o->has_pin_dram)
                q.pin_dram = o->pin_dram;
        if (o->has_never_migrate)
                q.never_migrate = o->never_migrate;
        if (q.pin_dram && q.never_migrate)
                return fail(ret_error, "%s together with the configuration's %s: they contradict each other",
                            o->has_pin_dram && o->pin_dram ? "pin_dram" : "never_migrate",
                            o->has_pin_dram && o->pin_dram ? "never_migrate" : "pin_dram");
        *p = q;
        return 0;
}

char *policy_override_describe(const PolicyOverride *o) {
        char *s = NULL;

        if (o->has_dram_budget) {
                if (o->budget_is_percent)
                        strextendf(&s, "dram_budget=%u%%", o->dram_budget_percent);
                else
                        strextendf(&s, "dram_budget=%" PRIu64, o->dram_budget_bytes);
        }
        if (o->has_weight)
                strextendf(&s, "%sweight=%u", s ? " " : "", o->weight);
        if (o->has_pin_dram)
                strextendf(&s, "%spin_dram=%s", s ? " " : "", o->pin_dram ? "yes" : "no");
        if (o->has_never_migrate)
                strextendf(&s, "%snever_migrate=%s", s ? " " : "", o->never_migrate ? "yes" : "no");
        return s ?: xstrdup("");
}
