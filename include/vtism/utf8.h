/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * UTF-8 for what crosses D-Bus (pure). Strings that reach the bus come from processes any local
 * user controls (VM names, UUIDs, command lines), from the config file and from error texts that
 * quote them; sd-bus refuses to send a string that is not valid UTF-8, and the whole reply with
 * it. The bus layer passes every string through utf8_escape_invalid().
 *
 * Valid means what sd-bus accepts: shortest-form sequences of code points up to U+10FFFF that are
 * neither surrogates (U+D800..U+DFFF) nor noncharacters (U+FDD0..U+FDEF, U+xxFFFE, U+xxFFFF).
 * Every byte of anything else is written as the four characters \xNN (lower-case hex) and the
 * scan goes on with the next byte, so valid text around it is kept as it is. A backslash is not
 * escaped: a string that was valid crosses unchanged.
 */

bool utf8_is_valid(const char *s);

/* A new string: s itself if valid, else with each invalid byte as \xNN. Never NULL. */
char *utf8_escape_invalid(const char *s);
