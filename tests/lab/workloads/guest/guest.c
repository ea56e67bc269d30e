/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vtguest — a tiny multiboot guest kernel that produces a known hot/cold access
 * pattern over guest-PHYSICAL memory, so that the host (or the lab kernel)
 * can check what its access trackers see of a real KVM guest.
 *
 * It runs in 32-bit protected mode with paging off: every address below is a
 * guest-physical address.  What it does:
 *
 *   1. parse the multiboot command line (see README.md for the syntax):
 *        hot=START+SIZE   hot window, default 0x2000000+0x800000
 *        phase=START[@SEC] move the hot window to START after SEC seconds, or when the
 *                         host asks through the mailbox (below)
 *        mode=write|read  how the hot window is touched (default write)
 *        report=SEC       print a tick marker every SEC seconds (default 1)
 *        time=SEC         exit after SEC seconds of the hot loop (0 = never)
 *        rounds=N         exit after N rounds over the hot window (0 = never)
 *        verify=1         fill every page with a pattern of its address, so that the host can
 *                         have the guest check its memory (mailbox command 3)
 *        scatter=SEED:N[:UNIT]  only some units of UNIT pages (1 or 512, default 1) of the
 *                         window are hot, about N in 1024, spread by a hash (../scatter.h); one
 *                         page per hot unit is touched; a phase shift makes the seed SEED+1
 *      numbers are decimal or 0x-hex, with an optional K, M or G suffix;
 *   2. write one byte to every 4 KiB page from the end of its own image to
 *      the end of RAM (so the host allocates all of guest RAM), then print
 *        VTGUEST: ready mem=<bytes> lo=0x<first touched> hi=0x<end> mailbox=0x<gpa>
 *                       hot=0x<start>+0x<size> [phase=0x<start>@<sec>] mode=<m>
 *   3. loop: one "round" writes (or reads) one byte of every 4 KiB page of the
 *      hot window (of every hot unit's page with scatter=); time comes from the CMOS RTC
 *      seconds register, read once per round.  Round r of a phase writes a value derived
 *      from the page's address and r, and from the second round of a phase on first checks
 *      that the page still holds what round r-1 wrote (VTGUEST: error memory mismatch ...
 *      otherwise: the host lost or corrupted a write).  Markers:
 *        VTGUEST: tick t=<s> rounds=<n> hot=0x<start>+0x<size>
 *        VTGUEST: phase t=<s> rounds=<n> hot=0x<start>+0x<size>
 *        VTGUEST: exit t=<s> rounds=<n>
 *      and on a bad command line
 *        VTGUEST: error <reason>
 *      The host can steer the guest by writing a 32-bit command into the mailbox, a word at the
 *      guest-physical address printed in the ready line (e.g. through /proc/QEMU_PID/mem at the
 *      guest RAM's host-virtual address + that GPA); the guest reads it once per round, clears it
 *      and acts: 1 = do the phase shift now, 2 = exit, 3 = verify (with verify=1): compare every
 *      page in [lo, hi) with its pattern (all of it but the first word, which the hot rounds
 *      increment) and print
 *        VTGUEST: verify t=<s> rounds=<n> pages=<n> bad=<n> [first=0x<gpa>]
 *      (bad=0: every byte the guest wrote is still there, wherever the host moved its pages).
 *   4. exit through QEMU's isa-debug-exit device (port 0xf4): writing V makes
 *      QEMU exit with status (V << 1) | 1, so a clean exit is status 1 and an
 *      error status 3.  Without that device the guest halts.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../scatter.h"

#define PAGE_SIZE               4096u
#define MB_LOADER_MAGIC         0x2BADB002u
#define MB_INFO_MEM             (1u << 0)
#define MB_INFO_CMDLINE         (1u << 2)

#define COM1                    0x3f8
#define DEBUG_EXIT_PORT         0xf4
#define CMOS_INDEX              0x70
#define CMOS_DATA               0x71

#define HOT_DEFAULT_START       0x2000000u      /* 32 MiB */
#define HOT_DEFAULT_SIZE        0x800000u       /*  8 MiB */

#define MAILBOX_PHASE           1u
#define MAILBOX_EXIT            2u
#define MAILBOX_VERIFY          3u

/* The first fields of the multiboot information structure; we need no more. */
struct multiboot_info {
        uint32_t flags;
        uint32_t mem_lower;     /* KiB below 640 KiB */
        uint32_t mem_upper;     /* KiB from 1 MiB up to the first hole */
        uint32_t boot_device;
        uint32_t cmdline;       /* physical address of a NUL-terminated string */
};

struct guest_config {
        uint32_t hot_start;
        uint32_t hot_size;
        uint32_t phase_start;
        uint32_t phase_sec;
        bool phase;
        bool write;
        uint32_t report_sec;
        uint32_t time_sec;
        uint32_t rounds;
        bool verify;
        bool scatter;
        uint32_t seed;
        uint32_t per1024;
        uint32_t unit_pages;
};

extern char _image_end[];       /* from guest.ld, 4 KiB aligned */

/* Written by the host behind our back: hence volatile.  A page of its own, in .bss. */
static volatile uint32_t mailbox __attribute__((aligned(4096)));

void guest_main(uint32_t magic, const struct multiboot_info *mbi);

/* ---- port I/O, serial output ------------------------------------------------------------- */

static inline void outb(uint16_t port, uint8_t v) {
        __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port) {
        uint8_t v;

        __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
        return v;
}

static void serial_putc(char c) {
        /*
         * Wait for the transmit holding register to be empty (LSR bit 5), however long it takes:
         * a bounded wait overwrote characters in the lab, where the nested QEMU's serial thread can
         * lag far behind (a missing UART reads 0xff, so this cannot hang without one).
         */
        while (!(inb(COM1 + 5) & 0x20))
                ;
        outb(COM1, (uint8_t) c);
}

static void puts_(const char *s) {
        for (; *s; s++) {
                if (*s == '\n')
                        serial_putc('\r');
                serial_putc(*s);
        }
}

static void put_dec(uint32_t v) {
        char buf[11];
        int i = sizeof(buf) - 1;

        buf[i] = 0;
        do {
                buf[--i] = (char) ('0' + v % 10);
                v /= 10;
        } while (v);
        puts_(buf + i);
}

static void put_hex(uint32_t v) {
        static const char digits[] = "0123456789abcdef";
        char buf[11];
        int i = sizeof(buf) - 1;

        buf[i] = 0;
        do {
                buf[--i] = digits[v & 0xf];
                v >>= 4;
        } while (v);
        buf[--i] = 'x';
        buf[--i] = '0';
        puts_(buf + i);
}

static void put_window(const char *label, uint32_t start, uint32_t size) {
        puts_(label);
        put_hex(start);
        puts_("+");
        put_hex(size);
}

static void __attribute__((noreturn)) guest_exit(uint8_t code) {
        outb(DEBUG_EXIT_PORT, code);
        /* No isa-debug-exit device: stop the CPU. */
        for (;;)
                __asm__ volatile("cli; hlt");
}

static void __attribute__((noreturn)) fail(const char *why) {
        puts_("VTGUEST: error ");
        puts_(why);
        puts_("\n");
        guest_exit(1);
}

/* ---- the command line -------------------------------------------------------------------- */

/* Parse a number: decimal or 0x-hex, optional K/M/G suffix.  Stops at ' ', '+', '@' or NUL. */
static bool parse_u32(const char **p, uint32_t *ret) {
        const char *s = *p;
        uint64_t v = 0;
        unsigned base = 10;
        bool any = false;

        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                base = 16;
                s += 2;
        }
        for (;; s++) {
                unsigned d;

                if (*s >= '0' && *s <= '9')
                        d = (unsigned) (*s - '0');
                else if (base == 16 && *s >= 'a' && *s <= 'f')
                        d = (unsigned) (*s - 'a' + 10);
                else if (base == 16 && *s >= 'A' && *s <= 'F')
                        d = (unsigned) (*s - 'A' + 10);
                else
                        break;
                v = v * base + d;
                if (v > UINT32_MAX)
                        return false;
                any = true;
        }
        if (!any)
                return false;

        switch (*s) {
        case 'G': case 'g':
                v <<= 10;
                /* fall through */
        case 'M': case 'm':
                v <<= 10;
                /* fall through */
        case 'K': case 'k':
                v <<= 10;
                s++;
                break;
        default:
                break;
        }
        if (v > UINT32_MAX)
                return false;

        *p = s;
        *ret = (uint32_t) v;
        return true;
}

static bool key_is(const char *s, const char *key, const char **ret_value) {
        while (*key && *s == *key) {
                s++;
                key++;
        }
        if (*key || *s != '=')
                return false;
        *ret_value = s + 1;
        return true;
}

static bool at_end(const char *s) {
        return *s == 0 || *s == ' ';
}

static void parse_cmdline(const char *s, struct guest_config *c) {
        while (*s) {
                const char *v;

                while (*s == ' ')
                        s++;
                if (!*s)
                        break;

                if (key_is(s, "hot", &v)) {
                        if (!parse_u32(&v, &c->hot_start) || *v++ != '+' ||
                            !parse_u32(&v, &c->hot_size) || !at_end(v))
                                fail("bad hot=START+SIZE");
                } else if (key_is(s, "phase", &v)) {
                        c->phase_sec = 0;
                        if (!parse_u32(&v, &c->phase_start) ||
                            (*v == '@' && (v++, !parse_u32(&v, &c->phase_sec))) || !at_end(v))
                                fail("bad phase=START[@SECONDS]");
                        c->phase = true;
                } else if (key_is(s, "mode", &v)) {
                        if (v[0] == 'w' && v[1] == 'r' && v[2] == 'i' && v[3] == 't' &&
                            v[4] == 'e' && at_end(v + 5))
                                c->write = true;
                        else if (v[0] == 'r' && v[1] == 'e' && v[2] == 'a' && v[3] == 'd' &&
                                 at_end(v + 4))
                                c->write = false;
                        else
                                fail("bad mode=write|read");
                } else if (key_is(s, "report", &v)) {
                        if (!parse_u32(&v, &c->report_sec) || !at_end(v) || c->report_sec == 0)
                                fail("bad report=SECONDS");
                } else if (key_is(s, "time", &v)) {
                        if (!parse_u32(&v, &c->time_sec) || !at_end(v))
                                fail("bad time=SECONDS");
                } else if (key_is(s, "rounds", &v)) {
                        if (!parse_u32(&v, &c->rounds) || !at_end(v))
                                fail("bad rounds=N");
                } else if (key_is(s, "verify", &v)) {
                        uint32_t on;

                        if (!parse_u32(&v, &on) || !at_end(v) || on > 1)
                                fail("bad verify=0|1");
                        c->verify = on;
                } else if (key_is(s, "scatter", &v)) {
                        c->unit_pages = 1;
                        if (!parse_u32(&v, &c->seed) || *v++ != ':' || !parse_u32(&v, &c->per1024) ||
                            (*v == ':' && (v++, !parse_u32(&v, &c->unit_pages))) || !at_end(v) ||
                            c->per1024 == 0 || c->per1024 > 1024 || (c->unit_pages != 1 && c->unit_pages != 512))
                                fail("bad scatter=SEED:N[:UNIT] (N 1..1024, UNIT 1 or 512)");
                        c->scatter = true;
                }
                /* Anything else (QEMU passes the kernel file name first) is ignored. */

                while (*s && *s != ' ')
                        s++;
        }
}

/* ---- time from the CMOS RTC -------------------------------------------------------------- */

static bool rtc_binary;

static uint8_t cmos_read(uint8_t reg) {
        outb(CMOS_INDEX, reg);          /* bit 7 clear: NMI stays enabled (irrelevant here) */
        return inb(CMOS_DATA);
}

static uint32_t rtc_seconds(void) {
        uint8_t v = cmos_read(0x00);

        return rtc_binary ? v : (uint32_t) ((v >> 4) * 10 + (v & 0xf));
}

/* ---- the workload ------------------------------------------------------------------------ */

static uint8_t page_value(uint32_t a, uint32_t round) {
        return (uint8_t) ((a >> 12) * 31u + round);
}

static void __attribute__((noreturn)) mismatch(uint32_t a, uint8_t got, uint8_t want) {
        puts_("VTGUEST: error memory mismatch at ");
        put_hex(a);
        puts_(": ");
        put_hex(got);
        puts_(", expected ");
        put_hex(want);
        puts_("\n");
        guest_exit(1);
}

/* One page of the round: read it, or check what the last round wrote and write this round's. */
static uint32_t touch(uint32_t a, bool write, uint32_t round) {
        volatile uint8_t *b = (volatile uint8_t *) (uintptr_t) a;

        if (!write)
                return *b;
        if (round > 1 && *b != page_value(a, round - 1))
                mismatch(a, *b, page_value(a, round - 1));
        *b = page_value(a, round);
        return 0;
}

/* round: 1 for the first round of a phase (nothing to check yet). */
static uint32_t round_over(const struct guest_config *c, uint32_t round) {
        uint32_t sum = 0, unit_bytes = PAGE_SIZE * (c->scatter ? c->unit_pages : 1);

        for (uint32_t u = 0; u < c->hot_size / unit_bytes; u++) {
                uint32_t a = c->hot_start + u * unit_bytes;

                if (c->scatter) {
                        if (!scatter_hot(c->seed, u, c->per1024))
                                continue;
                        a += scatter_page(c->seed, u, c->unit_pages) * PAGE_SIZE;
                }
                sum += touch(a, c->write, round);
        }
        return sum;
}

/* The pattern of word i of the page at gpa (verify=1): a hash of its address. */
static inline uint32_t pattern(uint32_t gpa, uint32_t i) {
        return (gpa + i * 4u) * 2654435761u ^ 0x5a5a5a5au;
}

static void fill_pattern(uint32_t lo, uint32_t hi) {
        for (uint32_t a = lo; a < hi; a += PAGE_SIZE) {
                volatile uint32_t *w = (volatile uint32_t *) (uintptr_t) a;

                for (uint32_t i = 1; i < PAGE_SIZE / 4; i++)
                        w[i] = pattern(a, i);
        }
}

/* Pages whose pattern changed; *first: the first of them. */
static uint32_t verify_pattern(uint32_t lo, uint32_t hi, uint32_t *first) {
        uint32_t bad = 0;

        for (uint32_t a = lo; a < hi; a += PAGE_SIZE) {
                const volatile uint32_t *w = (const volatile uint32_t *) (uintptr_t) a;

                for (uint32_t i = 1; i < PAGE_SIZE / 4; i++)
                        if (w[i] != pattern(a, i)) {
                                if (bad++ == 0)
                                        *first = a;
                                break;
                        }
        }
        return bad;
}

static void check_window(uint32_t start, uint32_t size, uint32_t lo, uint32_t hi) {
        if (size == 0 || start % PAGE_SIZE || size % PAGE_SIZE)
                fail("hot window must be non-empty and 4 KiB aligned");
        if (start < lo || start > hi || size > hi - start)
                fail("hot window outside the guest RAM above the image");
}

void guest_main(uint32_t magic, const struct multiboot_info *mbi) {
        struct guest_config c = {
                .hot_start = HOT_DEFAULT_START,
                .hot_size = HOT_DEFAULT_SIZE,
                .write = true,
                .report_sec = 1,
        };
        uint32_t lo, hi, t = 0, last_sec, next_report, rounds = 0, phase_round = 0;
        volatile uint32_t sink = 0;

        if (magic != MB_LOADER_MAGIC)
                fail("not started by a multiboot loader");
        if (!(mbi->flags & MB_INFO_MEM))
                fail("no memory size from the loader");

        /* Parse before touching memory: the loader put the command line right after our image. */
        if (mbi->flags & MB_INFO_CMDLINE)
                parse_cmdline((const char *) (uintptr_t) mbi->cmdline, &c);

        lo = (uint32_t) (uintptr_t) _image_end;
        hi = 0x100000u + mbi->mem_upper * 1024u;
        hi &= ~(PAGE_SIZE - 1);
        check_window(c.hot_start, c.hot_size, lo, hi);
        if (c.scatter && (c.hot_start % (c.unit_pages * PAGE_SIZE) || c.hot_size % (c.unit_pages * PAGE_SIZE) ||
                          (c.phase && c.phase_start % (c.unit_pages * PAGE_SIZE))))
                fail("with scatter= the hot window must consist of whole units");
        if (c.phase)
                check_window(c.phase_start, c.hot_size, lo, hi);

        /* The command line has been copied into c: now touch every page above our image once. */
        for (uint32_t a = lo; a < hi; a += PAGE_SIZE)
                *(volatile uint8_t *) (uintptr_t) a = (uint8_t) (a >> 12);
        if (c.verify)
                fill_pattern(lo, hi);

        rtc_binary = cmos_read(0x0b) & 0x04;

        puts_("VTGUEST: ready mem=");
        put_dec(hi);
        puts_(" lo=");
        put_hex(lo);
        puts_(" hi=");
        put_hex(hi);
        puts_(" mailbox=");
        put_hex((uint32_t) (uintptr_t) &mailbox);
        put_window(" hot=", c.hot_start, c.hot_size);
        if (c.phase) {
                puts_(" phase=");
                put_hex(c.phase_start);
                puts_("@");
                put_dec(c.phase_sec);
        }
        if (c.scatter) {
                puts_(" scatter=");
                put_dec(c.seed);
                puts_(":");
                put_dec(c.per1024);
                puts_(":");
                put_dec(c.unit_pages);
        }
        puts_(c.write ? " mode=write" : " mode=read");
        puts_(c.verify ? " verify=1\n" : "\n");

        last_sec = rtc_seconds();
        next_report = c.report_sec;
        mailbox = 0;
        for (;;) {
                uint32_t now, delta, cmd;

                sink += round_over(&c, ++phase_round);
                rounds++;

                /* One RTC read per round (two port accesses, i.e. two VM exits under KVM). */
                now = rtc_seconds();
                delta = (now + 60 - last_sec) % 60;
                last_sec = now;
                t += delta;

                cmd = mailbox;
                if (cmd)
                        mailbox = 0;

                if (c.phase && ((c.phase_sec && t >= c.phase_sec) || cmd == MAILBOX_PHASE)) {
                        c.phase = false;
                        c.hot_start = c.phase_start;
                        c.seed++;
                        phase_round = 0;
                        puts_("VTGUEST: phase t=");
                        put_dec(t);
                        puts_(" rounds=");
                        put_dec(rounds);
                        put_window(" hot=", c.hot_start, c.hot_size);
                        puts_("\n");
                }

                if (cmd == MAILBOX_VERIFY && c.verify) {
                        uint32_t first = 0, bad = verify_pattern(lo, hi, &first);

                        puts_("VTGUEST: verify t=");
                        put_dec(t);
                        puts_(" rounds=");
                        put_dec(rounds);
                        puts_(" pages=");
                        put_dec((hi - lo) / PAGE_SIZE);
                        puts_(" bad=");
                        put_dec(bad);
                        if (bad) {
                                puts_(" first=");
                                put_hex(first);
                        }
                        puts_("\n");
                }

                if (t >= next_report) {
                        next_report = t + c.report_sec;
                        puts_("VTGUEST: tick t=");
                        put_dec(t);
                        puts_(" rounds=");
                        put_dec(rounds);
                        put_window(" hot=", c.hot_start, c.hot_size);
                        puts_("\n");
                }

                if ((c.rounds && rounds >= c.rounds) || (c.time_sec && t >= c.time_sec) ||
                    cmd == MAILBOX_EXIT) {
                        puts_("VTGUEST: exit t=");
                        put_dec(t);
                        puts_(" rounds=");
                        put_dec(rounds);
                        puts_("\n");
                        guest_exit(0);
                }
        }
}
