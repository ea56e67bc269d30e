/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer harness for the config parser: arbitrary text into config_load_string(); on success
 * the policy lookup runs too. Build: clang -fsanitize=fuzzer,address with src/core/{config,util}.c
 * and -lconfig. Seeds: tests/fuzz/corpus/config/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vtism/config.h"
#include "vtism/macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * libconfig 1.5 leaks the string it is scanning or holding when a syntax error strikes (the held
 * token fixed upstream in 1.7.3, hyperrealm/libconfig#142). Not a bug of ours: keep LeakSanitizer quiet about it.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
        /* libconfig is usually built without frame pointers: match the innermost frame */
        return "leak:strbuf_append\n"
               "leak:libconfig_yylex\n";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(config_freep) VtConf *c = NULL;
        _cleanup_free_ char *text = NULL, *error = NULL;
        int r;

        if (size > 64 * 1024) /* a config file, not a corpus of them */
                return 0;

        text = xmalloc(size + 1);
        memcpy(text, data, size);
        text[size] = 0;

        r = config_load_string(text, "fuzz.conf", &c, &error);
        if (r < 0) {
                /* failures always say where and why */
                if (!error || strncmp(error, "fuzz.conf", 9) != 0)
                        abort();
                return 0;
        }
        if (!c || error)
                abort();

        (void) config_match_policy(c, "web-1", "6f1c2a3b-4d5e-4f60-8a9b-0c1d2e3f4a5b",
                                   "/usr/bin/qemu-system-x86_64 -name guest=batch1");
        (void) config_match_policy(c, NULL, NULL, NULL);
        return 0;
}
