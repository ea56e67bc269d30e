/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz harness for the bus layer's string hygiene (src/core/utf8.c): every string vtismd sends
 * over D-Bus passes through utf8_escape_invalid(), and strings come from anyone (a VM's name,
 * UUID or command line, the config file, error texts quoting them). Input: a string (up to the
 * first NUL, as on the bus). Checked, with sd-bus itself as the judge: the escaped string is
 * valid and sd_bus_message_append() takes it; the input is unchanged exactly when it is valid;
 * sd-bus refuses the input exactly when utf8_is_valid() says it is invalid; escaping only adds
 * "\xNN" (3 more bytes per invalid byte). Seeds: tests/fuzz/corpus/utf8/.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-bus.h>

#include "vtism/macro.h"
#include "vtism/utf8.h"
#include "vtism/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A bus object on a socket pair, made once: enough to build messages, no daemon needed. */
static sd_bus *bus_once(void) {
        static sd_bus *bus;
        int sv[2];

        if (bus)
                return bus;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 || sd_bus_new(&bus) < 0 ||
            sd_bus_set_fd(bus, sv[0], sv[0]) < 0 || sd_bus_start(bus) < 0)
                abort();
        return bus;
}

static int bus_accepts(const char *s) {
        sd_bus_message *m = NULL;
        int r;

        if (sd_bus_message_new_signal(bus_once(), &m, "/t", "t.t", "T") < 0)
                abort();
        r = sd_bus_message_append(m, "s", s);
        sd_bus_message_unref(m);
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = NULL, *e = NULL;
        size_t ls, le;
        bool valid;

        if (size > 64 * 1024)
                return 0;
        s = xmalloc(size + 1);
        if (size > 0)
                memcpy(s, data, size);
        s[size] = 0;

        valid = utf8_is_valid(s);
        e = utf8_escape_invalid(s);
        if (!e || !utf8_is_valid(e) || bus_accepts(e) < 0)
                abort();
        if (valid != streq(e, s))
                abort();
        if (valid != (bus_accepts(s) >= 0))
                abort(); /* our idea of valid differs from sd-bus's */
        ls = strlen(s);
        le = strlen(e);
        if (le < ls || (le - ls) % 3 != 0 || (!valid && le == ls))
                abort();
        return 0;
}
