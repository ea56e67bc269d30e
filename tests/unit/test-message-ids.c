/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The journal MESSAGE_IDs (message-ids.h) against themselves and the catalog: each string form is
 * the binary form as sd-id128 prints it, no two are equal, none is null, and systemd/vtism.catalog
 * has exactly one "-- ID" entry for each, with a Subject:, and no entry for an ID we do not use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vtism/message-ids.h"

static const struct {
        const char *name, *str;
        sd_id128_t id;
} ids[] = {
        { "VM_FOUND", VTISM_MESSAGE_VM_FOUND_STR, VTISM_MESSAGE_VM_FOUND },
        { "VM_LOST", VTISM_MESSAGE_VM_LOST_STR, VTISM_MESSAGE_VM_LOST },
        { "MIGRATION_ROUND", VTISM_MESSAGE_MIGRATION_ROUND_STR, VTISM_MESSAGE_MIGRATION_ROUND },
        { "RELOAD_FAILED", VTISM_MESSAGE_RELOAD_FAILED_STR, VTISM_MESSAGE_RELOAD_FAILED },
        { "TRACKER_CHANGED", VTISM_MESSAGE_TRACKER_CHANGED_STR, VTISM_MESSAGE_TRACKER_CHANGED },
        { "SLO_NOT_MET", VTISM_MESSAGE_SLO_NOT_MET_STR, VTISM_MESSAGE_SLO_NOT_MET },
        { "SLO_MET", VTISM_MESSAGE_SLO_MET_STR, VTISM_MESSAGE_SLO_MET },
        { "VM_PAUSED", VTISM_MESSAGE_VM_PAUSED_STR, VTISM_MESSAGE_VM_PAUSED },
        { "VM_RESUMED", VTISM_MESSAGE_VM_RESUMED_STR, VTISM_MESSAGE_VM_RESUMED },
        { "VM_MIGRATING_OUT", VTISM_MESSAGE_VM_MIGRATING_OUT_STR, VTISM_MESSAGE_VM_MIGRATING_OUT },
        { "VM_MIGRATION_ABORTED", VTISM_MESSAGE_VM_MIGRATION_ABORTED_STR, VTISM_MESSAGE_VM_MIGRATION_ABORTED },
        { "VM_MIGRATING_IN", VTISM_MESSAGE_VM_MIGRATING_IN_STR, VTISM_MESSAGE_VM_MIGRATING_IN },
        { "VM_MIGRATED_IN", VTISM_MESSAGE_VM_MIGRATED_IN_STR, VTISM_MESSAGE_VM_MIGRATED_IN },
};

int main(void) {
        const char *src = getenv("VTISM_SOURCE_ROOT");
        unsigned entries[sizeof(ids) / sizeof(ids[0])] = {}, subjects[sizeof(ids) / sizeof(ids[0])] = {};
        char path[4096], line[1024];
        size_t current = SIZE_MAX;
        unsigned n_entries = 0;
        FILE *f;

        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                char s[SD_ID128_STRING_MAX];

                check(!sd_id128_is_null(ids[i].id));
                check_str(sd_id128_to_string(ids[i].id, s), ids[i].str);
                for (size_t j = 0; j < i; j++)
                        check(!sd_id128_equal(ids[i].id, ids[j].id));
        }

        if (!src) {
                fprintf(stderr, "SKIP: VTISM_SOURCE_ROOT is not set (run through meson test)\n");
                return 77;
        }
        snprintf(path, sizeof(path), "%s/systemd/vtism.catalog", src);
        f = fopen(path, "re");
        check(f);
        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = 0;
                if (strncmp(line, "-- ", 3) == 0) {
                        n_entries++;
                        current = SIZE_MAX;
                        for (size_t i = 0; i < ELEMENTSOF(ids); i++)
                                if (streq(line + 3, ids[i].str))
                                        current = i;
                        if (current == SIZE_MAX) {
                                fprintf(stderr, "%s: an entry for an ID message-ids.h lacks: %s\n", path, line);
                                return EXIT_FAILURE;
                        }
                        entries[current]++;
                } else if (current != SIZE_MAX && strncmp(line, "Subject: ", 9) == 0)
                        subjects[current]++;
        }
        fclose(f);
        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                if (entries[i] != 1 || subjects[i] != 1) {
                        fprintf(stderr, "%s: VTISM_MESSAGE_%s (%s): %u entries, %u Subject: lines; expected 1 and 1\n",
                                path, ids[i].name, ids[i].str, entries[i], subjects[i]);
                        return EXIT_FAILURE;
                }
        }
        check_int(n_entries, ELEMENTSOF(ids));
        printf("PASS: %zu message IDs, each with one catalog entry\n", ELEMENTSOF(ids));
        return 0;
}
