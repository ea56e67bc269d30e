/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>

#include "vtism/config.h"
#include "vtism/macro.h"
#include "vtism/util.h"

/* Built-in defaults. conf/vtism.conf shows the same values (test-config checks it). */
#define DEFAULT_SAMPLE_INTERVAL_MS 5000
#define DEFAULT_TRACKER TRACKER_AUTO
#define DEFAULT_MIGRATE_RATE_LIMIT_MBPS 256
#define DEFAULT_LOG_LEVEL LOG_INFO
#define DEFAULT_DRAM_MIN_FREE_PERCENT 5
#define DEFAULT_DEMOTION_MIN_FREE_RATIO 10
#define DEFAULT_HEAT_DECAY_PERCENT 12
#define DEFAULT_HEAT_RANGE_BYTES GIB
#define DEFAULT_LIBVIRT_URI "qemu:///system"
#define DEFAULT_QEMU_USERS { "root", "libvirt-qemu" }
#define USER_NAME_MAX 256 /* LOGIN_NAME_MAX */
#define DEFAULT_DRAM_BUDGET_PERCENT 100
#define DEFAULT_WEIGHT 100
#define DEFAULT_CONTIGUITY_ANCHOR_BYTES (2 * MIB) /* CONTIG_ANCHOR_BYTES_DEFAULT */

#define NODE_ID_MAX 1023

#define CONFIG_NESTING_MAX 32     /* groups, lists and arrays; vtism's own need 3 */
#define ECHO_MAX_BYTES 64         /* of a string from the file, in messages */

/* ---- enum <-> string ---- */

static const char *const tracker_kind_table[_TRACKER_KIND_MAX] = {
        [TRACKER_AUTO] = "auto",
        [TRACKER_IDLE_PAGES] = "idle_pages",
        [TRACKER_DAMON] = "damon",
        [TRACKER_PAGE_IDLE] = "page_idle",
        [TRACKER_SOFTDIRTY] = "softdirty",
};
assert_cc(ELEMENTSOF(tracker_kind_table) == _TRACKER_KIND_MAX);
assert_cc(sizeof(TrackerKind) == sizeof(int));

static const char *const log_level_table[LOG_DEBUG + 1] = {
        [LOG_ERR] = "err",
        [LOG_WARNING] = "warning",
        [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info",
        [LOG_DEBUG] = "debug",
};
assert_cc(ELEMENTSOF(log_level_table) == LOG_DEBUG + 1);

static const char *const policy_match_table[_POLICY_MATCH_MAX] = {
        [POLICY_MATCH_DEFAULT] = "default",
        [POLICY_MATCH_NAME] = "name",
        [POLICY_MATCH_UUID] = "uuid",
        [POLICY_MATCH_CMDLINE] = "cmdline",
};
assert_cc(ELEMENTSOF(policy_match_table) == _POLICY_MATCH_MAX);

static const char *table_to_string(const char *const *table, size_t n, int i) {
        if (i < 0 || (size_t) i >= n)
                return NULL;
        return table[i];
}

static int table_from_string(const char *const *table, size_t n, const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (table[i] && streq(table[i], s))
                        return (int) i;
        return -EINVAL;
}

/* "a, b, c" from the non-NULL entries of a table, for error messages. */
static char *table_join(const char *const *table, size_t n) {
        char *s = xstrdup("");

        for (size_t i = 0; i < n; i++) {
                char *t;

                if (!table[i])
                        continue;
                t = xasprintf("%s%s%s", s, *s ? ", " : "", table[i]);
                free(s);
                s = t;
        }
        return s;
}

const char *tracker_kind_to_string(TrackerKind k) {
        return table_to_string(tracker_kind_table, ELEMENTSOF(tracker_kind_table), k);
}

TrackerKind tracker_kind_from_string(const char *s) {
        return (TrackerKind) table_from_string(tracker_kind_table, ELEMENTSOF(tracker_kind_table), s);
}

const char *log_level_to_string(int level) {
        return table_to_string(log_level_table, ELEMENTSOF(log_level_table), level);
}

int log_level_from_string(const char *s) {
        return table_from_string(log_level_table, ELEMENTSOF(log_level_table), s);
}

const char *policy_match_to_string(PolicyMatch m) {
        return table_to_string(policy_match_table, ELEMENTSOF(policy_match_table), m);
}

/* ---- building and freeing ---- */

static void strv_free_n(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static void policy_init_default(VtPolicy *p) {
        *p = (VtPolicy) {
                .match = POLICY_MATCH_DEFAULT,
                .budget_is_percent = true,
                .dram_budget_percent = DEFAULT_DRAM_BUDGET_PERCENT,
                .weight = DEFAULT_WEIGHT,
                .dram_max = { .is_percent = true, .percent = 100 },
        };
}

uint64_t vt_ram_size_bytes(const VtRamSize *s, uint64_t ram_bytes) {
        if (!s->is_percent)
                return s->bytes;
        /* ram * pct / 100 without overflow, rounded down to whole 4 KiB pages */
        return (ram_bytes / 100 * s->percent + ram_bytes % 100 * s->percent / 100) / 4096 * 4096;
}

VtConf *config_new_default(void) {
        VtConf *c = xcalloc(1, sizeof(VtConf));

        c->sample_interval_usec = DEFAULT_SAMPLE_INTERVAL_MS * USEC_PER_MSEC;
        c->tracker = DEFAULT_TRACKER;
        c->migrate_rate_limit_bytes = DEFAULT_MIGRATE_RATE_LIMIT_MBPS * MIB;
        c->dry_run = false;
        c->log_level = DEFAULT_LOG_LEVEL;
        c->dram_min_free_percent = DEFAULT_DRAM_MIN_FREE_PERCENT;
        c->demotion_min_free_ratio = DEFAULT_DEMOTION_MIN_FREE_RATIO;
        c->heat_decay_percent = DEFAULT_HEAT_DECAY_PERCENT;
        c->heat_range_bytes = DEFAULT_HEAT_RANGE_BYTES;
        c->libvirt_uri = xstrdup(DEFAULT_LIBVIRT_URI);
        c->contiguity_anchor_bytes = DEFAULT_CONTIGUITY_ANCHOR_BYTES;
        {
                static const char *const users[] = DEFAULT_QEMU_USERS;

                c->qemu_users = xcalloc(ELEMENTSOF(users), sizeof(char *));
                for (size_t i = 0; i < ELEMENTSOF(users); i++)
                        c->qemu_users[c->n_qemu_users++] = xstrdup(users[i]);
        }
        policy_init_default(&c->default_policy);
        return c;
}

VtConf *config_free(VtConf *c) {
        if (!c)
                return NULL;
        free(c->path);
        strv_free_n(c->dropins, c->n_dropins);
        free(c->libvirt_uri);
        free(c->metrics_textfile);
        strv_free_n(c->qemu_users, c->n_qemu_users);
        free(c->dram_nodes);
        free(c->cxl_nodes);
        free(c->default_policy.pattern);
        for (size_t i = 0; i < c->n_policies; i++)
                free(c->policies[i].pattern);
        free(c->policies);
        for (size_t i = 0; i < c->n_processes; i++) {
                free(c->processes[i].exe);
                free(c->processes[i].cmdline);
        }
        free(c->processes);
        free(c);
        return NULL;
}

/* ---- parsing: context and error reporting ---- */

typedef struct ParseContext {
        const char *name; /* file name (or string name) used in messages */
        const char *file; /* the same, owned by the VtConf being filled (NULL for a string) */
        char *error;      /* the first error, "name:line: path: message" */
        char **echoes;    /* strings made by echo(), freed with the context */
        size_t n_echoes;
} ParseContext;

static void parse_context_done(ParseContext *ctx) {
        for (size_t i = 0; i < ctx->n_echoes; i++)
                free(ctx->echoes[i]);
        free(ctx->echoes);
        free(ctx->error);
}

/*
 * A string from the file as messages show it: control characters as \xNN, and at most
 * ECHO_MAX_BYTES bytes of it, cut at a UTF-8 character boundary and followed by "..." when it is
 * longer. Messages end up on terminals, in the journal, in LastReloadError and in D-Bus errors:
 * a 1 MiB setting name must not travel whole.
 */
static char *shorten(const char *s) {
        size_t len = strlen(s), n = MIN(len, (size_t) ECHO_MAX_BYTES);
        char *out, *o;

        if (n < len)
                while (n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80)
                        n--;
        out = o = xmalloc(n * 4 + sizeof("..."));
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char) s[i];

                if (ch < 0x20 || ch == 0x7f)
                        o += sprintf(o, "\\x%02x", ch);
                else
                        *o++ = (char) ch;
        }
        if (n < len)
                o = stpcpy(o, "...");
        *o = 0;
        return out;
}

/* shorten(), owned by ctx: for the arguments of fail(). */
static const char *echo(ParseContext *ctx, const char *s) {
        char *e = shorten(s ?: "");

        ctx->echoes = xreallocarray(ctx->echoes, ctx->n_echoes + 1, sizeof(char *));
        ctx->echoes[ctx->n_echoes++] = e;
        return e;
}

_printf_(4, 5) static int fail(ParseContext *ctx, unsigned line, const char *path, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        char where[32] = "";
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                oom();
        va_end(ap);

        if (line > 0)
                snprintf(where, sizeof(where), ":%u", line);
        if (!ctx->error)
                ctx->error = xasprintf("%s%s: %s%s%s", ctx->name, where, path ?: "", path ? ": " : "", msg);
        return -EINVAL;
}

#define fail_at(ctx, setting, path, ...) \
        fail((ctx), config_setting_source_line(setting), (path), __VA_ARGS__)

static const char *setting_type_name(const config_setting_t *s) {
        switch (config_setting_type(s)) {
        case CONFIG_TYPE_GROUP:
                return "a group";
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64:
                return "an integer";
        case CONFIG_TYPE_FLOAT:
                return "a floating-point number";
        case CONFIG_TYPE_STRING:
                return "a string";
        case CONFIG_TYPE_BOOL:
                return "a boolean";
        case CONFIG_TYPE_ARRAY:
                return "an array";
        case CONFIG_TYPE_LIST:
                return "a list";
        default:
                return "an unknown type";
        }
}

static bool setting_is_integer(const config_setting_t *s) {
        int t = config_setting_type(s);
        return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

static int fail_type(ParseContext *ctx, const config_setting_t *s, const char *path, const char *expected) {
        return fail_at(ctx, s, path, "expected %s, got %s", expected, setting_type_name(s));
}

/* "2M", "1T": the largest binary unit that divides the value exactly. */
static void format_size_short(char *buf, size_t len, uint64_t v) {
        static const char units[] = "KMGT";
        int i = -1;

        while (i + 1 < (int) strlen(units) && v > 0 && v % 1024 == 0) {
                v /= 1024;
                i++;
        }
        if (i < 0)
                snprintf(buf, len, "%" PRIu64, v);
        else
                snprintf(buf, len, "%" PRIu64 "%c", v, units[i]);
}

/* ---- the key table ---- */

typedef enum Section {
        SECTION_GLOBAL,
        SECTION_TIERS,
        SECTION_POLICY, /* default_policy { } and each vm entry */
        SECTION_PROCESS, /* each processes entry */
        _SECTION_MAX,
} Section;

typedef struct ConfigKey ConfigKey;
typedef int (*KeyParser)(ParseContext *ctx, const ConfigKey *k, const config_setting_t *s, const char *path,
                         void *base);

struct ConfigKey {
        Section section;
        const char *name;
        KeyParser parse;
        size_t offset;       /* where in the section's struct (VtConf or VtPolicy) the value goes */
        int64_t min, max;    /* accepted range, in the unit written in the file */
        uint64_t scale;      /* stored value = written value * scale (ms -> usec, MiB -> bytes) */
        const char *const *table; /* enum keys: the string table, indexed by value */
        size_t table_size;
        const char *what;    /* enum keys: noun for messages ("tracker") */
        PolicyMatch match;   /* match keys: which kind; only allowed in vm entries */
};

#define FIELD(base, k, type) ((type *) ((uint8_t *) (base) + (k)->offset))

static int key_get_int64(ParseContext *ctx, const ConfigKey *k, const config_setting_t *s, const char *path,
                         int64_t *ret) {
        long long v;

        if (!setting_is_integer(s))
                return fail_type(ctx, s, path, "an integer");
        v = config_setting_get_int64(s);
        if (v < k->min || v > k->max)
                return fail_at(ctx, s, path, "%lld is out of range (%" PRIi64 "..%" PRIi64 ")", v, k->min, k->max);
        *ret = v;
        return 0;
}

static int parse_unsigned(ParseContext *ctx, const ConfigKey *k, const config_setting_t *s, const char *path,
                          void *base) {
        int64_t v = 0;
        int r;

        assert_cc(sizeof(unsigned) == 4);
        r = key_get_int64(ctx, k, s, path, &v);
        if (r < 0)
                return r;
        *FIELD(base, k, unsigned) = (unsigned) v;
        return 0;
}

static int parse_u64_scaled(ParseContext *ctx, const ConfigKey *k, const config_setting_t *s, const char *path,
                            void *base) {
        int64_t v = 0;
        int r;

        r = key_get_int64(ctx, k, s, path, &v);
        if (r < 0)
                return r;
        *FIELD(base, k, uint64_t) = (uint64_t) v * k->scale;
        return 0;
}

static int parse_bool(ParseContext *ctx, const ConfigKey *k, const config_setting_t *s, const char *path,
                      void *base) {
        if (config_setting_type(s) != CONFIG_TYPE_BOOL)
                return fail_type(ctx, s, path, "a boolean (true or false)");
        *FIELD(base, k, bool) = config_setting_get_bool(s);
        return 0;
}

static int parse_string(ParseContext *ctx, const ConfigKey *k, const config_setting_t *s, const char *path,
                        void *base) {
        const char *v;
        char **field = FIELD(base, k, char *);

        if (config_setting_type(s) != CONFIG_TYPE_STRING)
                return fail_type(ctx, s, path, "a string");
        v = config_setting_get_string(s);
        if (!v || !*v)
                return fail_at(ctx, s, path, "must not be empty");
        free(*field);
        *field = xstrdup(v);
        return 0;
}

/* An absolute path, or "" for none (stored as NULL). */
static int parse_optional_path(ParseContext *ctx, const ConfigKey *k, const config_setting_t *s, const char *path,
                               void *base) {
        char **field = FIELD(base, k, char *);
        int r;

        if (config_setting_type(s) == CONFIG_TYPE_STRING && !*config_setting_get_string(s)) {
                free(*field);
                *field = NULL;
                return 0;
        }
        r = parse_string(ctx, k, s, path, base);
        if (r < 0)
                return r;
        if (**field != '/')
                return fail_at(ctx, s, path, "'%s' is not an absolute path (or \"\" for none)", *field);
        return 0;
}

static int parse_enum(ParseContext *ctx, const ConfigKey *k, const config_setting_t *s, const char *path,
                      void *base) {
        const char *v;
        int i;

        if (config_setting_type(s) != CONFIG_TYPE_STRING)
                return fail_type(ctx, s, path, "a string");
        v = config_setting_get_string(s);
        i = table_from_string(k->table, k->table_size, v);
        if (i < 0) {
                _cleanup_free_ char *expected = table_join(k->table, k->table_size);
                return fail_at(ctx, s, path, "unknown %s '%s' (expected %s)", k->what, echo(ctx, v), expected);
        }
        *FIELD(base, k, int) = i;
        return 0;
}

/* A size: a string such as "2M" or "1G", or an integer number of bytes. */
static int setting_get_size(ParseContext *ctx, const config_setting_t *s, const char *path, uint64_t *ret,
                            char *shown, size_t shown_len) {
        if (config_setting_type(s) == CONFIG_TYPE_STRING) {
                const char *v = config_setting_get_string(s);

                if (parse_size(v, ret) < 0)
                        return fail_at(ctx, s, path, "'%s' is not a valid size (expected bytes or a number with K, M, G or T)",
                                       echo(ctx, v));
                snprintf(shown, shown_len, "'%s'", echo(ctx, v));
                return 0;
        }
        if (setting_is_integer(s)) {
                long long v = config_setting_get_int64(s);

                if (v < 0)
                        return fail_at(ctx, s, path, "%lld is not a valid size (must not be negative)", v);
                *ret = (uint64_t) v;
                snprintf(shown, shown_len, "%lld", v);
                return 0;
        }
        return fail_type(ctx, s, path, "a size (a string such as \"4G\" or an integer)");
}

/* Sizes that must be a power of two between min and max bytes (heat_range, contiguity_anchor). */
static int parse_size_pow2(ParseContext *ctx, const ConfigKey *k, const config_setting_t *s, const char *path,
                           void *base) {
        char shown[ECHO_MAX_BYTES * 4 + 8], lo[32], hi[32];
        uint64_t v;
        int r;

        r = setting_get_size(ctx, s, path, &v, shown, sizeof(shown));
        if (r < 0)
                return r;
        if (v < (uint64_t) k->min || v > (uint64_t) k->max) {
                format_size_short(lo, sizeof(lo), (uint64_t) k->min);
                format_size_short(hi, sizeof(hi), (uint64_t) k->max);
                return fail_at(ctx, s, path, "%s is out of range (%s..%s)", shown, lo, hi);
        }
        if ((v & (v - 1)) != 0)
                return fail_at(ctx, s, path, "%s is not a power of two", shown);
        *FIELD(base, k, uint64_t) = v;
        return 0;
}

/* "NN%" of guest RAM, a size string, or integer bytes (dram_budget, dram_min, dram_max). */
static int setting_get_ram_size(ParseContext *ctx, const config_setting_t *s, const char *path, VtRamSize *ret) {
        char shown[ECHO_MAX_BYTES * 4 + 8];
        uint64_t v;
        int r;

        if (config_setting_type(s) == CONFIG_TYPE_STRING) {
                const char *str = config_setting_get_string(s);
                size_t l = strlen(str);

                if (l > 0 && str[l - 1] == '%') {
                        _cleanup_free_ char *digits = strndup(str, l - 1);

                        if (!digits)
                                oom();
                        if (safe_atou64(digits, &v) < 0)
                                return fail_at(ctx, s, path, "'%s' is not a valid percentage", echo(ctx, str));
                        if (v > 100)
                                return fail_at(ctx, s, path, "'%s' is out of range (0%%..100%%)", echo(ctx, str));
                        *ret = (VtRamSize) { .is_percent = true, .percent = (unsigned) v };
                        return 0;
                }
        }
        r = setting_get_size(ctx, s, path, &v, shown, sizeof(shown));
        if (r < 0)
                return r;
        *ret = (VtRamSize) { .bytes = v };
        return 0;
}

static int parse_budget(ParseContext *ctx, const ConfigKey *k, const config_setting_t *s, const char *path,
                        void *base) {
        VtPolicy *p = base;
        VtRamSize v;
        int r;

        r = setting_get_ram_size(ctx, s, path, &v);
        if (r < 0)
                return r;
        p->budget_is_percent = v.is_percent;
        p->dram_budget_percent = v.percent;
        p->dram_budget_bytes = v.bytes;
        return 0;
}

static int parse_ram_size(ParseContext *ctx, const ConfigKey *k, const config_setting_t *s, const char *path,
                          void *base) {
        return setting_get_ram_size(ctx, s, path, FIELD(base, k, VtRamSize));
}

static bool uuid_is_valid(const char *s) {
        /* 8-4-4-4-12 hexadecimal digits */
        static const char layout[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

        if (strlen(s) != strlen(layout))
                return false;
        for (size_t i = 0; layout[i]; i++)
                if (layout[i] == '-' ? s[i] != '-' : !isxdigit((unsigned char) s[i]))
                        return false;
        return true;
}

/* name, uuid, cmdline: what a vm entry matches on. */
static int parse_match(ParseContext *ctx, const ConfigKey *k, const config_setting_t *s, const char *path,
                       void *base) {
        VtPolicy *p = base;
        const char *v;

        if (config_setting_type(s) != CONFIG_TYPE_STRING)
                return fail_type(ctx, s, path, "a string");
        v = config_setting_get_string(s);
        if (!*v)
                return fail_at(ctx, s, path, "must not be empty");
        if (k->match == POLICY_MATCH_UUID && !uuid_is_valid(v))
                return fail_at(ctx, s, path, "'%s' is not a valid UUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
                               echo(ctx, v));
        free(p->pattern);
        p->pattern = xstrdup(v);
        p->match = k->match;
        return 0;
}

static int cmp_int(const void *a, const void *b) {
        int x = *(const int *) a, y = *(const int *) b;
        return (x > y) - (x < y);
}

/* tiers.dram, tiers.cxl: an array or list of node ids; stored sorted. */
static int parse_nodes(ParseContext *ctx, const ConfigKey *k, const config_setting_t *s, const char *path,
                       void *base) {
        int **list = FIELD(base, k, int *);
        size_t *n_list = (size_t *) (list + 1);
        _cleanup_free_ int *nodes = NULL;
        int n, r;

        if (!config_setting_is_array(s) && !config_setting_is_list(s))
                return fail_type(ctx, s, path, "an array of node ids");
        n = config_setting_length(s);
        if (n > 0)
                nodes = xcalloc((size_t) n, sizeof(int));
        for (int i = 0; i < n; i++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
                _cleanup_free_ char *epath = xasprintf("%s[%d]", path, i);
                int64_t v = 0;

                r = key_get_int64(ctx, k, e, epath, &v);
                if (r < 0)
                        return r;
                for (int j = 0; j < i; j++)
                        if (nodes[j] == v)
                                return fail_at(ctx, e, epath, "node %" PRIi64 " is listed twice", v);
                nodes[i] = (int) v;
        }
        if (n > 0)
                qsort(nodes, (size_t) n, sizeof(int), cmp_int);
        free(*list);
        *list = TAKE_PTR(nodes);
        *n_list = (size_t) n;
        return 0;
}
/* parse_nodes() finds the count right after the list pointer. */
assert_cc(offsetof(VtConf, n_dram_nodes) == offsetof(VtConf, dram_nodes) + sizeof(int *));
assert_cc(offsetof(VtConf, n_cxl_nodes) == offsetof(VtConf, cxl_nodes) + sizeof(int *));

/* global.qemu_users: an array of user names or decimal uids, or [ "*" ]; stored as written. */
static int parse_users(ParseContext *ctx, const ConfigKey *k, const config_setting_t *s, const char *path,
                       void *base) {
        VtConf *c = base;
        char **users = NULL;
        size_t n_users = 0;
        int n;

        if (!config_setting_is_array(s) && !config_setting_is_list(s))
                return fail_type(ctx, s, path, "an array of user names or uids, or [ \"*\" ]");
        n = config_setting_length(s);
        if (n > 0)
                users = xcalloc((size_t) n, sizeof(char *));
        for (int i = 0; i < n; i++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
                _cleanup_free_ char *epath = xasprintf("%s[%d]", path, i);
                const char *v = NULL;
                int r = 0;

                if (config_setting_type(e) != CONFIG_TYPE_STRING)
                        r = fail_type(ctx, e, epath, "a string (a user name or a uid)");
                else {
                        v = config_setting_get_string(e);
                        if (!*v)
                                r = fail_at(ctx, e, epath, "must not be empty");
                        else if (strlen(v) >= USER_NAME_MAX || strpbrk(v, " \t\n:,"))
                                r = fail_at(ctx, e, epath, "'%.64s' is not a user name or uid", v);
                        else if (streq(v, "*") && n > 1)
                                r = fail_at(ctx, e, epath, "\"*\" (every user) must be the only entry");
                        for (size_t j = 0; r >= 0 && j < n_users; j++)
                                if (streq(users[j], v))
                                        r = fail_at(ctx, e, epath, "'%s' is listed twice", v);
                }
                if (r < 0) {
                        strv_free_n(users, n_users);
                        return r;
                }
                users[n_users++] = xstrdup(v);
        }
        strv_free_n(c->qemu_users, c->n_qemu_users);
        c->qemu_users = users;
        c->n_qemu_users = n_users;
        return 0;
}

#define GLOBAL_INT(n, field, lo, hi, mul)                                                         \
        { .section = SECTION_GLOBAL, .name = n, .parse = parse_u64_scaled,                        \
          .offset = offsetof(VtConf, field), .min = lo, .max = hi, .scale = mul }
#define GLOBAL_UINT(n, field, lo, hi)                                                             \
        { .section = SECTION_GLOBAL, .name = n, .parse = parse_unsigned,                          \
          .offset = offsetof(VtConf, field), .min = lo, .max = hi }
#define GLOBAL_ENUM(n, field, t, w)                                                               \
        { .section = SECTION_GLOBAL, .name = n, .parse = parse_enum, .offset = offsetof(VtConf, field), \
          .table = t, .table_size = ELEMENTSOF(t), .what = w }
#define POLICY_MATCH_KEY(n, m)                                                                    \
        { .section = SECTION_POLICY, .name = n, .parse = parse_match, .match = m }

static const ConfigKey config_keys[] = {
        GLOBAL_INT("sample_interval_ms", sample_interval_usec, 100, 3600000, USEC_PER_MSEC),
        GLOBAL_ENUM("tracker", tracker, tracker_kind_table, "tracker"),
        GLOBAL_INT("migrate_rate_limit_mbps", migrate_rate_limit_bytes, 0, 1048576, MIB),
        { .section = SECTION_GLOBAL, .name = "dry_run", .parse = parse_bool, .offset = offsetof(VtConf, dry_run) },
        GLOBAL_ENUM("log_level", log_level, log_level_table, "log level"),
        GLOBAL_UINT("dram_min_free_percent", dram_min_free_percent, 0, 50),
        GLOBAL_UINT("demotion_min_free_ratio", demotion_min_free_ratio, 0, 90),
        GLOBAL_UINT("heat_decay_percent", heat_decay_percent, 0, 99),
        { .section = SECTION_GLOBAL, .name = "heat_range", .parse = parse_size_pow2,
          .offset = offsetof(VtConf, heat_range_bytes), .min = 2 * MIB, .max = TIB },
        { .section = SECTION_GLOBAL, .name = "libvirt_uri", .parse = parse_string,
          .offset = offsetof(VtConf, libvirt_uri) },
        { .section = SECTION_GLOBAL, .name = "metrics_textfile", .parse = parse_optional_path,
          .offset = offsetof(VtConf, metrics_textfile) },
        { .section = SECTION_GLOBAL, .name = "qemu_users", .parse = parse_users },

        { .section = SECTION_GLOBAL, .name = "contiguity_anchor", .parse = parse_size_pow2,
          .offset = offsetof(VtConf, contiguity_anchor_bytes), .min = 4 * KIB, .max = TIB },

        { .section = SECTION_TIERS, .name = "dram", .parse = parse_nodes, .offset = offsetof(VtConf, dram_nodes),
          .min = 0, .max = NODE_ID_MAX },
        { .section = SECTION_TIERS, .name = "cxl", .parse = parse_nodes, .offset = offsetof(VtConf, cxl_nodes),
          .min = 0, .max = NODE_ID_MAX },

        POLICY_MATCH_KEY("name", POLICY_MATCH_NAME),
        POLICY_MATCH_KEY("uuid", POLICY_MATCH_UUID),
        POLICY_MATCH_KEY("cmdline", POLICY_MATCH_CMDLINE),
        { .section = SECTION_POLICY, .name = "dram_budget", .parse = parse_budget },
        { .section = SECTION_POLICY, .name = "weight", .parse = parse_unsigned, .offset = offsetof(VtPolicy, weight),
          .min = 1, .max = 10000 },
        { .section = SECTION_POLICY, .name = "pin_dram", .parse = parse_bool, .offset = offsetof(VtPolicy, pin_dram) },
        { .section = SECTION_POLICY, .name = "never_migrate", .parse = parse_bool,
          .offset = offsetof(VtPolicy, never_migrate) },
        { .section = SECTION_POLICY, .name = "cxl_access_max_percent", .parse = parse_unsigned,
          .offset = offsetof(VtPolicy, cxl_access_max_percent), .min = 0, .max = 100 },
        { .section = SECTION_POLICY, .name = "dram_min", .parse = parse_ram_size, .offset = offsetof(VtPolicy, dram_min) },
        { .section = SECTION_POLICY, .name = "dram_max", .parse = parse_ram_size, .offset = offsetof(VtPolicy, dram_max) },

        { .section = SECTION_PROCESS, .name = "pid", .parse = parse_unsigned, .offset = offsetof(VtProcess, pid),
          .min = 1, .max = 4194304 },
        { .section = SECTION_PROCESS, .name = "exe", .parse = parse_string, .offset = offsetof(VtProcess, exe) },
        { .section = SECTION_PROCESS, .name = "cmdline", .parse = parse_string,
          .offset = offsetof(VtProcess, cmdline) },
};
assert_cc(sizeof(((VtProcess *) NULL)->pid) == sizeof(unsigned));

static const ConfigKey *key_find(Section section, const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (config_keys[i].section == section && streq(config_keys[i].name, name))
                        return &config_keys[i];
        return NULL;
}

static bool key_is_match(const ConfigKey *k) {
        return k->parse == parse_match;
}

/* Parse every member of group g through the key table. */
static int parse_group(ParseContext *ctx, const config_setting_t *g, const char *path, Section section,
                       bool in_vm, void *base) {
        int n = config_setting_length(g);

        for (int i = 0; i < n; i++) {
                const config_setting_t *s = config_setting_get_elem(g, (unsigned) i);
                const char *name = config_setting_name(s);
                _cleanup_free_ char *shown = shorten(name), *kpath = xasprintf("%s.%s", path, shown);
                const ConfigKey *k;
                int r;

                k = key_find(section, name);
                if (!k)
                        return fail_at(ctx, s, kpath, "unknown key");
                if (key_is_match(k) && !in_vm)
                        return fail_at(ctx, s, kpath, "only allowed in vm entries");
                r = k->parse(ctx, k, s, kpath, base);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int policy_check(ParseContext *ctx, const config_setting_t *g, const char *path, const VtPolicy *p) {
        if (p->pin_dram && p->never_migrate)
                return fail_at(ctx, g, path, "pin_dram and never_migrate contradict each other");
        if (p->cxl_access_max_percent > 0 && (p->pin_dram || p->never_migrate))
                return fail_at(ctx, g, path,
                               "cxl_access_max_percent (a service level) and %s contradict each other "
                               "(cxl_access_max_percent = 0 turns an inherited service level off)",
                               p->pin_dram ? "pin_dram" : "never_migrate");
        if (p->cxl_access_max_percent > 0 && config_setting_get_member(g, "dram_budget")) {
                _cleanup_free_ char *kpath = xasprintf("%s.dram_budget", path);

                return fail_at(ctx, config_setting_get_member(g, "dram_budget"), kpath,
                               "does not apply to a service level (cxl_access_max_percent): its DRAM target "
                               "tunes itself within dram_min and dram_max");
        }
        if (p->dram_min.is_percent == p->dram_max.is_percent &&
            (p->dram_min.is_percent ? p->dram_min.percent > p->dram_max.percent : p->dram_min.bytes > p->dram_max.bytes)) {
                const char *key = config_setting_get_member(g, "dram_min") ? "dram_min" : "dram_max";
                const config_setting_t *at = config_setting_get_member(g, key);
                _cleanup_free_ char *kpath = xasprintf("%s.%s", path, key);

                return fail_at(ctx, at ?: g, at ? kpath : path, "dram_min is above dram_max");
        }
        return 0;
}

/* ---- top-level sections ---- */

static int section_global(ParseContext *ctx, const config_setting_t *g, VtConf *c) {
        return parse_group(ctx, g, "global", SECTION_GLOBAL, false, c);
}

static int section_tiers(ParseContext *ctx, const config_setting_t *g, VtConf *c) {
        int r;

        r = parse_group(ctx, g, "tiers", SECTION_TIERS, false, c);
        if (r < 0)
                return r;
        /* against what is in force: a drop-in may set one list and the main file the other */
        for (size_t i = 0; i < c->n_cxl_nodes && c->n_dram_nodes > 0; i++)
                if (bsearch(&c->cxl_nodes[i], c->dram_nodes, c->n_dram_nodes, sizeof(int), cmp_int)) {
                        const config_setting_t *cxl = config_setting_get_member(g, "cxl");

                        if (cxl)
                                return fail_at(ctx, cxl, "tiers.cxl", "node %d is also listed in tiers.dram",
                                               c->cxl_nodes[i]);
                        return fail_at(ctx, config_setting_get_member(g, "dram"), "tiers.dram",
                                       "node %d is also listed in tiers.cxl (set before this file)", c->cxl_nodes[i]);
                }
        return 0;
}

static int section_default_policy(ParseContext *ctx, const config_setting_t *g, VtConf *c) {
        int r;

        r = parse_group(ctx, g, "default_policy", SECTION_POLICY, false, &c->default_policy);
        if (r < 0)
                return r;
        c->default_policy.line = config_setting_source_line(g);
        return policy_check(ctx, g, "default_policy", &c->default_policy);
}

static int section_vm_entry(ParseContext *ctx, const config_setting_t *g, const char *path, VtConf *c,
                            VtPolicy *p) {
        unsigned n_match = 0;
        _cleanup_free_ char *names = NULL;
        int r;

        if (!config_setting_is_group(g))
                return fail_type(ctx, g, path, "a group");

        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (config_keys[i].section == SECTION_POLICY && key_is_match(&config_keys[i])) {
                        char *t = xasprintf("%s%s%s", names ?: "", names ? ", " : "", config_keys[i].name);

                        free(names);
                        names = t;
                        if (config_setting_get_member(g, config_keys[i].name))
                                n_match++;
                }
        if (n_match != 1)
                return fail_at(ctx, g, path, "needs exactly one of %s", names);

        /* vm entries start from default_policy and override what they set */
        *p = c->default_policy;
        p->pattern = NULL;
        r = parse_group(ctx, g, path, SECTION_POLICY, true, p);
        if (r < 0)
                return r;
        p->file = ctx->file;
        p->line = config_setting_source_line(g);
        return policy_check(ctx, g, path, p);
}

static int section_vm(ParseContext *ctx, const config_setting_t *l, VtConf *c) {
        int n;

        if (!config_setting_is_list(l))
                return fail_type(ctx, l, "vm", "a list of groups: vm = ( { ... }, ... )");
        n = config_setting_length(l);
        /* a drop-in's entries come after those of the files before it */
        if (n > 0) {
                c->policies = xreallocarray(c->policies, c->n_policies + (size_t) n, sizeof(VtPolicy));
                memset(c->policies + c->n_policies, 0, (size_t) n * sizeof(VtPolicy));
        }
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *path = xasprintf("vm[%d]", i);
                int r;

                r = section_vm_entry(ctx, config_setting_get_elem(l, (unsigned) i), path, c,
                                     &c->policies[c->n_policies]);
                /* count it even on failure, so config_free() releases its pattern */
                c->n_policies++;
                if (r < 0)
                        return r;
        }
        return 0;
}

static int section_processes(ParseContext *ctx, const config_setting_t *l, VtConf *c) {
        int n;

        if (!config_setting_is_list(l))
                return fail_type(ctx, l, "processes", "a list of groups: processes = ( { ... }, ... )");
        n = config_setting_length(l);
        if (n > 0) {
                c->processes = xreallocarray(c->processes, c->n_processes + (size_t) n, sizeof(VtProcess));
                memset(c->processes + c->n_processes, 0, (size_t) n * sizeof(VtProcess));
        }
        for (int i = 0; i < n; i++) {
                const config_setting_t *g = config_setting_get_elem(l, (unsigned) i);
                _cleanup_free_ char *path = xasprintf("processes[%d]", i);
                VtProcess *p = &c->processes[c->n_processes];
                int r;

                c->n_processes++; /* counted even on failure, so config_free() releases it */
                if (!config_setting_is_group(g))
                        return fail_type(ctx, g, path, "a group");
                if (config_setting_length(g) != 1)
                        return fail_at(ctx, g, path, "needs exactly one of pid, exe, cmdline");
                r = parse_group(ctx, g, path, SECTION_PROCESS, false, p);
                if (r < 0)
                        return r;
                p->line = config_setting_source_line(g);
        }
        return 0;
}

/* Processed in this order whatever the order in the file: vm entries inherit default_policy. */
static const struct {
        const char *name;
        int type;
        const char *type_text;
        int (*parse)(ParseContext *ctx, const config_setting_t *s, VtConf *c);
} config_sections[] = {
        { "global", CONFIG_TYPE_GROUP, "a group", section_global },
        { "tiers", CONFIG_TYPE_GROUP, "a group", section_tiers },
        { "default_policy", CONFIG_TYPE_GROUP, "a group", section_default_policy },
        { "vm", CONFIG_TYPE_LIST, "a list of groups: vm = ( { ... }, ... )", section_vm },
        { "processes", CONFIG_TYPE_LIST, "a list of groups: processes = ( { ... }, ... )", section_processes },
};

/* The top-level names and types of one file. */
static int check_root(ParseContext *ctx, const config_setting_t *root) {
        int n = config_setting_length(root);

        for (int i = 0; i < n; i++) {
                const config_setting_t *s = config_setting_get_elem(root, (unsigned) i);
                const char *name = config_setting_name(s);
                size_t j;

                for (j = 0; j < ELEMENTSOF(config_sections); j++)
                        if (streq(config_sections[j].name, name))
                                break;
                if (j >= ELEMENTSOF(config_sections))
                        return fail_at(ctx, s, echo(ctx, name),
                                       "unknown section (expected global, tiers, default_policy, vm or processes)");
                if (config_setting_type(s) != config_sections[j].type)
                        return fail_type(ctx, s, name, config_sections[j].type_text);
        }
        return 0;
}

/* One file read by libconfig: the main file or a drop-in. */
typedef struct ConfigSource {
        const char *name; /* in messages */
        const char *file; /* owned by the VtConf, NULL for a string */
        config_t cfg;
        bool read;        /* cfg needs config_destroy() */
} ConfigSource;

/*
 * Apply the files to c, section by section in config_sections' order and, within a section, the
 * files in the order given (the main file, then the drop-ins): a later file's setting replaces an
 * earlier one's, key by key; vm and processes entries are appended; and every vm entry, whatever
 * its file, starts from the default_policy that all the files together make.
 */
static int parse_sources(ParseContext *ctx, ConfigSource *src, size_t n_src, VtConf *c) {
        int r;

        for (size_t i = 0; i < n_src; i++) {
                ctx->name = src[i].name;
                r = check_root(ctx, config_root_setting(&src[i].cfg));
                if (r < 0)
                        return r;
        }
        for (size_t j = 0; j < ELEMENTSOF(config_sections); j++)
                for (size_t i = 0; i < n_src; i++) {
                        const config_setting_t *s = config_setting_get_member(config_root_setting(&src[i].cfg),
                                                                              config_sections[j].name);

                        if (!s)
                                continue;
                        ctx->name = src[i].name;
                        ctx->file = src[i].file;
                        r = config_sections[j].parse(ctx, s, c);
                        if (r < 0)
                                return r;
                }
        return 0;
}

/*
 * A pre-pass over the text, for what libconfig 1.5 gets wrong: it silently wraps integer literals
 * that do not fit in 32 bits unless they carry an L suffix (hexadecimal ones above 0x7fffffff
 * too), silently ignores the rest of the file after an unterminated comment, opens @include files
 * relative to the working directory, answers deep nesting with a bare "memory exhausted" and a
 * duplicate setting with a bare "duplicate setting name". A lexer just good enough to skip
 * comments and strings and to follow groups, lists and arrays.
 *
 * With find_duplicate it also remembers the names of every group's settings, to name the
 * duplicate libconfig found (quadratic in the settings of a group, so only after libconfig
 * reported one).
 */
typedef struct ScanScope {
        char kind;              /* 0 for the root, else '{', '(' or '[' */
        char *path;             /* find_duplicate: "global", "vm[1]"; NULL for the root */
        unsigned index;         /* lists and arrays: the element being read */
        char *last;             /* groups: the name of the setting being read */
        char **names;           /* find_duplicate: the settings of this group so far ... */
        unsigned *lines;        /* ... and their lines */
        size_t n_names;
} ScanScope;

static void scan_scope_done(ScanScope *s) {
        free(s->path);
        free(s->last);
        for (size_t i = 0; i < s->n_names; i++)
                free(s->names[i]);
        free(s->names);
        free(s->lines);
        *s = (ScanScope) {};
}

/* "parent.name" (or "name" at the root) with the name shortened for messages. */
static char *scan_join(const ScanScope *parent, const char *name) {
        _cleanup_free_ char *shown = shorten(name ?: "?");

        return parent->path ? xasprintf("%s.%s", parent->path, shown) : xstrdup(shown);
}

/* A setting name followed by '=' or ':' in a group (or the root). */
static int scan_setting(ParseContext *ctx, ScanScope *s, const char *name, size_t len, unsigned line,
                        bool find_duplicate) {
        free(s->last);
        s->last = strndup(name, len);
        if (!s->last)
                oom();
        if (!find_duplicate)
                return 0;
        for (size_t i = 0; i < s->n_names; i++)
                if (streq(s->names[i], s->last)) {
                        _cleanup_free_ char *path = scan_join(s, s->last);

                        return fail(ctx, line, path, "set twice (first on line %u)", s->lines[i]);
                }
        s->names = xreallocarray(s->names, s->n_names + 1, sizeof(char *));
        s->lines = xreallocarray(s->lines, s->n_names + 1, sizeof(unsigned));
        s->names[s->n_names] = xstrdup(s->last);
        s->lines[s->n_names++] = line;
        return 0;
}

static int scan_number(ParseContext *ctx, const char **pp, unsigned line) {
        const char *p = *pp, *start = p;
        bool negative = *p == '-', hex = false, overflow = false;
        uint64_t v = 0, max;
        _cleanup_free_ char *literal = NULL;

        if (*p == '-' || *p == '+')
                p++;
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
                hex = true;
                for (p += 2; isxdigit((unsigned char) *p); p++) {
                        unsigned d = isdigit((unsigned char) *p) ? (unsigned) (*p - '0')
                                                                 : (unsigned) (toupper((unsigned char) *p) - 'A' + 10);
                        overflow = overflow || v > (UINT64_MAX >> 4);
                        v = v << 4 | d;
                }
        } else
                for (; isdigit((unsigned char) *p); p++) {
                        unsigned d = (unsigned) (*p - '0');
                        overflow = overflow || v > (UINT64_MAX - d) / 10;
                        v = v * 10 + d;
                }
        if (!hex && (*p == '.' || *p == 'e' || *p == 'E')) {
                /* a floating-point number: not our business */
                while ((*p && (isdigit((unsigned char) *p) || strchr(".eE", *p))) ||
                       ((*p == '-' || *p == '+') && (p[-1] == 'e' || p[-1] == 'E')))
                        p++;
                *pp = p;
                return 0;
        }

        /* libconfig stores integers signed: 0xffffffff would be -1, 0xffffffffffffffffL too */
        if (*p == 'L')
                max = (uint64_t) INT64_MAX + (negative && !hex);
        else
                max = (uint64_t) INT32_MAX + (negative && !hex);
        if (overflow || v > max) {
                literal = strndup(start, (size_t) (p - start));
                if (!literal)
                        oom();
                if (*p == 'L')
                        return fail(ctx, line, NULL, "integer %s does not fit in 64 bits", echo(ctx, literal));
                return fail(ctx, line, NULL, "integer %s does not fit in 32 bits (write %sL for a 64-bit integer)",
                            echo(ctx, literal), echo(ctx, literal));
        }
        if (*p == 'L')
                p++;
        *pp = p;
        return 0;
}

static int scan_text(ParseContext *ctx, const char *text, bool find_duplicate) {
        ScanScope stack[CONFIG_NESTING_MAX + 1] = {};
        const char *p = text, *pending = NULL; /* a name that may be a setting's */
        size_t depth = 0, pending_len = 0;
        unsigned line = 1, pending_line = 0;
        int r = 0;

        while (*p && r >= 0) {
                ScanScope *s = &stack[depth];

                if (*p == '\n') {
                        line++;
                        p++;
                } else if (isspace((unsigned char) *p))
                        p++;
                else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
                        while (*p && *p != '\n')
                                p++;
                } else if (p[0] == '/' && p[1] == '*') {
                        unsigned start = line;

                        for (p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
                                if (*p == '\n')
                                        line++;
                        if (!*p)
                                r = fail(ctx, start, NULL, "unterminated comment: /* without */ (the rest of the "
                                         "file would be ignored)");
                        else
                                p += 2;
                } else if (*p == '"') {
                        pending = NULL;
                        for (p++; *p && *p != '"'; p++) {
                                if (*p == '\\' && p[1])
                                        p++;
                                if (*p == '\n')
                                        line++;
                        }
                        if (*p)
                                p++;
                } else if (*p == '@') {
                        pending = NULL;
                        if (strncmp(p, "@include", 8) == 0)
                                r = fail(ctx, line, NULL, "@include is not supported");
                        p++;
                } else if (isalpha((unsigned char) *p) || *p == '*') {
                        /* a setting name, or true/false: may contain digits */
                        pending = p;
                        pending_line = line;
                        while (*p && (isalnum((unsigned char) *p) || strchr("-_*", *p)))
                                p++;
                        pending_len = (size_t) (p - pending);
                } else if (isdigit((unsigned char) *p) || *p == '.' ||
                           ((*p == '-' || *p == '+') && (isdigit((unsigned char) p[1]) || p[1] == '.'))) {
                        pending = NULL;
                        r = scan_number(ctx, &p, line);
                } else if (*p == '=' || *p == ':') {
                        if (pending && (s->kind == 0 || s->kind == '{'))
                                r = scan_setting(ctx, s, pending, pending_len, pending_line, find_duplicate);
                        pending = NULL;
                        p++;
                } else if (*p == '{' || *p == '(' || *p == '[') {
                        pending = NULL;
                        if (depth >= CONFIG_NESTING_MAX) {
                                r = fail(ctx, line, NULL, "groups, lists and arrays nested more than %d deep",
                                         CONFIG_NESTING_MAX);
                                break;
                        }
                        stack[++depth] = (ScanScope) { .kind = *p };
                        if (find_duplicate)
                                stack[depth].path = s->kind == '(' || s->kind == '['
                                                            ? xasprintf("%s[%u]", s->path ?: "?", s->index)
                                                            : scan_join(s, s->last);
                        p++;
                } else if (*p == '}' || *p == ')' || *p == ']') {
                        /* mismatched brackets are libconfig's syntax error to report */
                        pending = NULL;
                        if (depth > 0)
                                scan_scope_done(&stack[depth--]);
                        p++;
                } else {
                        pending = NULL;
                        if (*p == ',' && (s->kind == '(' || s->kind == '['))
                                s->index++;
                        p++;
                }
        }
        for (size_t i = 0; i <= depth; i++)
                scan_scope_done(&stack[i]);
        return r;
}

/* One text through the pre-pass and libconfig into src->cfg; errors name ctx->name. */
static int read_source(ParseContext *ctx, const char *text, size_t size, ConfigSource *src) {
        const char *nul;
        int r;

        ctx->name = src->name;
        config_init(&src->cfg);
        src->read = true;

        /* libconfig would stop reading at a NUL byte and ignore the rest */
        nul = memchr(text, 0, size);
        if (nul) {
                unsigned line = 1;

                for (const char *p = text; p < nul; p++)
                        line += *p == '\n';
                return fail(ctx, line, NULL, "contains a NUL byte");
        }
        if (size > CONFIG_FILE_MAX_BYTES)
                return fail(ctx, 0, NULL, "too large (%zu bytes, at most %" PRIu64 ")", size, CONFIG_FILE_MAX_BYTES);
        r = scan_text(ctx, text, false);
        if (r < 0)
                return r;
        if (!config_read_string(&src->cfg, text)) {
                const char *e = config_error_text(&src->cfg) ?: "syntax error";

                /* name the duplicate: look for it ourselves */
                if (!streq(e, "duplicate setting name") || scan_text(ctx, text, true) >= 0)
                        return fail(ctx, (unsigned) MAX(config_error_line(&src->cfg), 0), NULL, "%s", e);
                return -EINVAL;
        }
        return 0;
}

static void config_sources_free(ConfigSource *src, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (src[i].read)
                        config_destroy(&src[i].cfg);
        free(src);
}

static int load_text(const char *text, size_t size, const char *name, const char *path, VtConf **ret,
                     char **ret_error) {
        _cleanup_(config_freep) VtConf *c = config_new_default();
        _cleanup_(parse_context_done) ParseContext ctx = { .name = name };
        ConfigSource src = { .name = name };
        int r;

        c->path = path ? xstrdup(path) : NULL;
        src.file = c->path;
        r = read_source(&ctx, text, size, &src);
        if (r >= 0)
                r = parse_sources(&ctx, &src, 1, c);
        if (src.read)
                config_destroy(&src.cfg);
        if (r < 0) {
                if (ret_error)
                        *ret_error = TAKE_PTR(ctx.error);
                return r;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

int config_load_string(const char *text, const char *name, VtConf **ret, char **ret_error) {
        if (!text || !ret)
                return -EINVAL;
        return load_text(text, strlen(text), name ?: "<string>", name, ret, ret_error);
}

static const char *file_type_name(mode_t mode) {
        switch (mode & S_IFMT) {
        case S_IFDIR:
                return "a directory";
        case S_IFIFO:
                return "a FIFO";
        case S_IFCHR:
                return "a character device";
        case S_IFBLK:
                return "a block device";
        case S_IFSOCK:
                return "a socket";
        default:
                return "not a regular file";
        }
}

/*
 * The file's contents, and only of a regular file of at most CONFIG_FILE_MAX_BYTES: opened
 * non-blocking (a FIFO would block open() until a writer comes), checked with fstat() before a
 * byte is read (/dev/zero never ends), and read to one byte past the limit (it may grow).
 */
static int read_config_file(const char *path, char **ret_text, size_t *ret_size, char **ret_error) {
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        char size_text[FORMAT_BYTES_MAX], max_text[FORMAT_BYTES_MAX];
        size_t size = 0;
        struct stat st;

        fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                int r = negative_errno();

                *ret_error = xasprintf("%s: cannot read: %s", path, strerror(-r));
                return r;
        }
        if (fstat(fd, &st) < 0) {
                int r = negative_errno();

                *ret_error = xasprintf("%s: cannot read: %s", path, strerror(-r));
                return r;
        }
        if (S_ISDIR(st.st_mode)) {
                *ret_error = xasprintf("%s: is a directory, not a configuration file", path);
                return -EISDIR;
        }
        if (!S_ISREG(st.st_mode)) {
                *ret_error = xasprintf("%s: is %s, not a regular file", path, file_type_name(st.st_mode));
                return -EINVAL;
        }
        if ((uint64_t) st.st_size > CONFIG_FILE_MAX_BYTES) {
                *ret_error = xasprintf("%s: too large (%s, at most %s)", path,
                                       format_bytes(size_text, sizeof(size_text), (uint64_t) st.st_size),
                                       format_bytes(max_text, sizeof(max_text), CONFIG_FILE_MAX_BYTES));
                return -EFBIG;
        }

        text = xmalloc(CONFIG_FILE_MAX_BYTES + 2);
        while (size <= CONFIG_FILE_MAX_BYTES) {
                ssize_t n = read(fd, text + size, CONFIG_FILE_MAX_BYTES + 1 - size);

                if (n < 0) {
                        int r;

                        if (errno == EINTR)
                                continue;
                        r = negative_errno();
                        *ret_error = xasprintf("%s: cannot read: %s", path, strerror(-r));
                        return r;
                }
                if (n == 0)
                        break;
                size += (size_t) n;
        }
        if (size > CONFIG_FILE_MAX_BYTES) {
                *ret_error = xasprintf("%s: too large (grew past %s while being read)", path,
                                       format_bytes(max_text, sizeof(max_text), CONFIG_FILE_MAX_BYTES));
                return -EFBIG;
        }
        text[size] = 0;
        *ret_text = TAKE_PTR(text);
        *ret_size = size;
        return 0;
}

static int cmp_strp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * PATH.d/\*.conf, sorted by name (strcmp: "10-a.conf" before "9-b.conf" before "a.conf"); hidden
 * files and other names are not drop-ins. No directory: none. Anything else that keeps us from
 * listing it is an error, so that a drop-in never goes unapplied silently.
 */
static int list_dropins(const char *path, char ***ret, size_t *ret_n, char **ret_error) {
        _cleanup_free_ char *dir = xasprintf("%s.d", path);
        _cleanup_(closedirp) DIR *d = NULL;
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;

        d = opendir(dir);
        if (!d) {
                int r = negative_errno();

                if (r == -ENOENT) {
                        *ret = NULL;
                        *ret_n = 0;
                        return 0;
                }
                *ret_error = r == -ENOTDIR ? xasprintf("%s: is not a directory (drop-ins go there)", dir)
                                           : xasprintf("%s: cannot list the drop-ins: %s", dir, strerror(-r));
                return r;
        }
        for (errno = 0; (de = readdir(d)); errno = 0) {
                size_t len = strlen(de->d_name);

                if (de->d_name[0] == '.' || len <= strlen(".conf") || !streq(de->d_name + len - strlen(".conf"), ".conf"))
                        continue;
                if (n >= CONFIG_DROPINS_MAX) {
                        strv_free_n(names, n);
                        *ret_error = xasprintf("%s: more than %d drop-ins", dir, CONFIG_DROPINS_MAX);
                        return -E2BIG;
                }
                names = xreallocarray(names, n + 1, sizeof(char *));
                names[n++] = xasprintf("%s/%s", dir, de->d_name);
        }
        if (errno != 0) {
                int r = negative_errno();

                strv_free_n(names, n);
                *ret_error = xasprintf("%s: cannot list the drop-ins: %s", dir, strerror(-r));
                return r;
        }
        if (n > 1)
                qsort(names, n, sizeof(char *), cmp_strp);
        *ret = names;
        *ret_n = n;
        return 0;
}

/* The main file (unless main_missing) and its drop-ins, read and applied in that order. */
static int load_files(const char *path, bool main_missing, VtConf **ret, char **ret_error) {
        _cleanup_(config_freep) VtConf *c = config_new_default();
        _cleanup_(parse_context_done) ParseContext ctx = { .name = path };
        _cleanup_free_ char *error = NULL;
        ConfigSource *src = NULL;
        size_t n_src = 0;
        int r;

        r = list_dropins(path, &c->dropins, &c->n_dropins, &error);
        if (r < 0)
                goto fail;
        if (!main_missing)
                c->path = xstrdup(path);
        src = xcalloc(1 + c->n_dropins, sizeof(ConfigSource));
        for (size_t i = 0; i < 1 + c->n_dropins; i++) {
                const char *file = i == 0 ? c->path : c->dropins[i - 1];
                _cleanup_free_ char *text = NULL;
                size_t size = 0;

                if (!file)
                        continue;
                r = read_config_file(file, &text, &size, &error);
                if (r < 0)
                        goto fail;
                src[n_src] = (ConfigSource) { .name = file, .file = file };
                r = read_source(&ctx, text, size, &src[n_src++]);
                if (r < 0)
                        goto fail;
        }
        r = parse_sources(&ctx, src, n_src, c);
        if (r < 0)
                goto fail;
        config_sources_free(src, n_src);
        *ret = TAKE_PTR(c);
        return main_missing ? 1 : 0;

fail:
        config_sources_free(src, n_src);
        if (ret_error)
                *ret_error = error ? TAKE_PTR(error) : TAKE_PTR(ctx.error);
        return r;
}

int config_load(const char *path, VtConf **ret, char **ret_error) {
        if (!path || !ret)
                return -EINVAL;
        if (!*path) {
                if (ret_error)
                        *ret_error = xstrdup("the configuration file name is empty");
                return -EINVAL;
        }
        return load_files(path, false, ret, ret_error);
}

int config_load_or_defaults(const char *path, VtConf **ret, char **ret_error) {
        struct stat st;
        int r;

        r = config_load(path, ret, ret_error);
        /* a dangling symlink is somebody's configuration gone missing, not an absent file */
        if (r != -ENOENT || lstat(path, &st) >= 0)
                return r;
        if (ret_error) {
                free(*ret_error);
                *ret_error = NULL;
        }
        /* the defaults, and the drop-ins if there are any */
        return load_files(path, true, ret, ret_error);
}

const VtPolicy *config_match_policy(const VtConf *c, const char *name, const char *uuid, const char *cmdline) {
        for (size_t i = 0; i < c->n_policies; i++) {
                const VtPolicy *p = &c->policies[i];

                switch (p->match) {
                case POLICY_MATCH_NAME:
                        if (name && fnmatch(p->pattern, name, 0) == 0)
                                return p;
                        break;
                case POLICY_MATCH_UUID:
                        if (uuid && strcasecmp(p->pattern, uuid) == 0)
                                return p;
                        break;
                case POLICY_MATCH_CMDLINE:
                        if (cmdline && fnmatch(p->pattern, cmdline, 0) == 0)
                                return p;
                        break;
                default:
                        break;
                }
        }
        return &c->default_policy;
}
