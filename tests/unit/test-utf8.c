/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * utf8_escape_invalid(): table of valid and invalid strings, and sd-bus itself as the judge:
 * every escaped string must be accepted by sd_bus_message_append(), every invalid input refused.
 */
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-bus.h>

#include "check.h"
#include "vtism/macro.h"
#include "vtism/utf8.h"

static const struct {
        const char *in;
        const char *out; /* NULL: valid, unchanged */
} cases[] = {
        { "", NULL },
        { "guest-1", NULL },
        { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", NULL },          /* é € 😀 */
        { "back\\slash \\xff", NULL },                                   /* a valid "\xff" text stays */
        { "evil\xff", "evil\\xff" },
        { "\xff\xfe", "\\xff\\xfe" },
        { "a\x80z", "a\\x80z" },                                         /* lone continuation byte */
        { "\xe2\x82", "\\xe2\\x82" },                                    /* truncated at the end */
        { "\xe2\x82z\xc3\xa9", "\\xe2\\x82z\xc3\xa9" },                  /* truncated, then valid again */
        { "\xc0\xaf", "\\xc0\\xaf" },                                    /* overlong '/' */
        { "\xe0\x80\xaf", "\\xe0\\x80\\xaf" },                           /* overlong, 3 bytes */
        { "\xed\xa0\x80", "\\xed\\xa0\\x80" },                           /* surrogate U+D800 */
        { "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80" },                  /* U+110000 */
        { "\xef\xbf\xbe", "\\xef\\xbf\\xbe" },                           /* noncharacter U+FFFE */
        { "\xef\xb7\x90", "\\xef\\xb7\\x90" },                           /* noncharacter U+FDD0 */
        { "\xf4\x8f\xbf\xbf", "\\xf4\\x8f\\xbf\\xbf" },                  /* noncharacter U+10FFFF */
        { "\xef\xbf\xbd", NULL },                                        /* U+FFFD is fine */
        { "\xf8\x88\x80\x80\x80", "\\xf8\\x88\\x80\\x80\\x80" },         /* 5-byte form */
};

static int bus_accepts(sd_bus *bus, const char *s) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_signal(bus, &m, "/t", "t.t", "T");
        check_int(r, 0);
        return sd_bus_message_append(m, "s", s);
}

int main(void) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int sv[2];

        /* A bus object on a socket pair: enough to build messages, no daemon needed. */
        check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        check_int(sd_bus_new(&bus), 0);
        check_int(sd_bus_set_fd(bus, sv[0], sv[0]), 0);
        check_int(sd_bus_start(bus), 0);

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *e = utf8_escape_invalid(cases[i].in);

                check_int(utf8_is_valid(cases[i].in), !cases[i].out);
                check_str(e, cases[i].out ?: cases[i].in);
                check(utf8_is_valid(e));
                check(bus_accepts(bus, e) >= 0);
                if (cases[i].out)
                        check_int(bus_accepts(bus, cases[i].in), -EINVAL);
        }
        close(sv[1]);
        printf("test-utf8: OK\n");
        return EXIT_SUCCESS;
}
