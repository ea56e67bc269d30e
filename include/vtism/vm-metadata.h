/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vtism/config.h"

/*
 * A VM's policy in its libvirt domain XML, under <metadata> in vtism's namespace:
 *
 *     <metadata>
 *       <vtism:policy xmlns:vtism="urn:vtism:policy:1" dram_budget="4G" weight="200"/>
 *     </metadata>
 *
 * set with `virsh metadata DOMAIN --uri urn:vtism:policy:1 --key vtism --set
 * '<policy dram_budget="4G" weight="200"/>'` (add --live and/or --config). Attributes, each
 * optional, as in the config file's vm entries: dram_budget (bytes, "4G", "512M" or "50%" of guest
 * RAM), weight (1..10000), pin_dram and never_migrate (yes/no, true/false, 1/0). What the element
 * sets replaces the policy the config file gives that VM, key by key; what it does not set comes
 * from there (vtism.conf(5) says so). Anything else (another attribute, a child element, a value
 * out of range, pin_dram and never_migrate both on) is an error: the whole element is ignored and
 * the config file's policy applies.
 *
 * Pure: libxml2 parses the string (no network, no DTD, no entities); nothing is logged. The input
 * comes from libvirt users who may edit the domain, not from the guest.
 */

#define VTISM_METADATA_NS "urn:vtism:policy:1"
#define VTISM_METADATA_PREFIX "vtism"
/* Longest element accepted (libvirt hands back what a domain editor set) */
#define VTISM_METADATA_MAX_BYTES 4096

typedef struct PolicyOverride {
        bool has_dram_budget, has_weight, has_pin_dram, has_never_migrate;
        bool budget_is_percent;
        uint64_t dram_budget_bytes;
        unsigned dram_budget_percent;
        unsigned weight;
        bool pin_dram, never_migrate;
} PolicyOverride;

/*
 * Parse the element libvirt returns for VTISM_METADATA_NS (virDomainGetMetadata(...,
 * VIR_DOMAIN_METADATA_ELEMENT, ...): "<policy weight="200"/>", without the namespace, which libvirt
 * selected it by; an element in VTISM_METADATA_NS is fine too, one in another is not). 0 and *ret on success; -EINVAL and, if ret_error is non-NULL,
 * a message naming the attribute ("weight: '0' is out of range (1..10000)") otherwise; -E2BIG for
 * more than VTISM_METADATA_MAX_BYTES.
 */
int policy_override_parse(const char *xml, PolicyOverride *ret, char **ret_error);

/* Apply o over p, key by key. -EINVAL (p unchanged) when the result would have both pin_dram and
 * never_migrate, with a message. */
int policy_override_apply(const PolicyOverride *o, VtPolicy *p, char **ret_error);

/* "dram_budget=4G weight=200" for messages: what it sets (never NULL; "" for nothing). */
char *policy_override_describe(const PolicyOverride *o);
