/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>

#include "check.h"
#include "vtism/macro.h"
#include "vtism/util.h"

static void test_int_list(void) {
        _cleanup_free_ int *l = NULL;
        _cleanup_free_ char *f = NULL, *j = NULL;
        size_t n;

        check_int(parse_int_list("0-3,8,10-11\n", &l, &n), 0);
        check_int(n, 7);
        f = format_int_list(l, n);
        check_str(f, "0-3,8,10-11");
        free(l);
        l = NULL;
        check_int(parse_int_list("5,1,3-4,1", &l, &n), 0); /* sorted, deduplicated */
        check_int(n, 4);
        check_int(l[0], 1);
        check_int(l[3], 5);
        free(l);
        l = NULL;
        check_int(parse_int_list("", &l, &n), 0);
        check_int(n, 0);
        free(l);
        l = NULL;
        check_int(parse_int_list("3-1", &l, &n), -EINVAL);
        check_int(parse_int_list("a", &l, &n), -EINVAL);
        check_int(parse_int_list("1;2", &l, &n), -EINVAL);
        check(!l);

        check(int_list_contains((const int[]) { 3, 2 }, 2, 2));
        check(!int_list_contains((const int[]) { 3, 2 }, 2, 1));
        check(!int_list_contains(NULL, 0, 0));
        j = join_int_list((const int[]) { 3, 2 }, 2, " ");
        check_str(j, "3 2");
}

static void test_sizes(void) {
        uint64_t v;

        check_int(parse_size("4096", &v), 0);
        check_u64(v, 4096);
        check_int(parse_size("4G", &v), 0);
        check_u64(v, 4 * GIB);
        check_int(parse_size("512MiB", &v), 0);
        check_u64(v, 512 * MIB);
        check_int(parse_size("2 KB", &v), 0);
        check_u64(v, 2048);
        check_int(parse_size("7B", &v), 0);
        check_u64(v, 7);
        check_int(parse_size("1P", &v), 0);
        check_u64(v, UINT64_C(1) << 50);
        check_int(parse_size("16E", &v), -ERANGE);
        check_int(parse_size("1Q", &v), -EINVAL);
        check_int(parse_size("1BB", &v), -EINVAL);
        check_int(parse_size("-1", &v), -EINVAL);
        check_int(parse_size("", &v), -EINVAL);
        /* QEMU's -m: a bare number is MiB */
        check_int(parse_size_unit("256", MIB, &v), 0);
        check_u64(v, 256 * MIB);
        check_int(parse_size_unit("262144k", MIB, &v), 0);
        check_u64(v, 256 * MIB);
}

static void test_format_bytes(void) {
        char buf[FORMAT_BYTES_MAX];

        check_str(format_bytes(buf, sizeof(buf), 0), "0 B");
        check_str(format_bytes(buf, sizeof(buf), 1023), "1023 B");
        check_str(format_bytes(buf, sizeof(buf), 1024), "1 KiB");
        check_str(format_bytes(buf, sizeof(buf), 1536 * KIB), "1.5 MiB");
        check_str(format_bytes(buf, sizeof(buf), 64 * MIB), "64 MiB");
        check_str(format_bytes(buf, sizeof(buf), UINT64_MAX), "16384 PiB");
}

static void test_atoi(void) {
        uint64_t u;
        int i;

        check_int(safe_atoi("-12", &i), 0);
        check_int(i, -12);
        check_int(safe_atoi("12x", &i), -EINVAL);
        check_int(safe_atoi("99999999999", &i), -ERANGE);
        check_int(safe_atou64("18446744073709551615", &u), 0);
        check_u64(u, UINT64_MAX);
        check_int(safe_atou64("18446744073709551616", &u), -ERANGE);
        check_int(safe_atou64("-1", &u), -EINVAL);
}

static void test_strextendf(void) {
        char *s = NULL;

        check_str(strextendf(&s, "%s", ""), "");
        check_str(strextendf(&s, "a%d", 1), "a1");
        check_str(strextendf(&s, "; %s", "b"), "a1; b");
        check_str(s, "a1; b");
        free(s);
}

static void test_pread_full(void) {
        char path[] = "/tmp/test-util-pread.XXXXXX";
        uint8_t buf[8];
        size_t done = 99;
        int fd = mkstemp(path);

        check(fd >= 0);
        check(write(fd, "abcde", 5) == 5);
        memset(buf, 0xff, sizeof(buf));
        check_int(pread_full(fd, buf, sizeof(buf), 2, &done), 0);
        check_int(done, 3);
        check(memcmp(buf, "cde\0\0\0\0\0", 8) == 0);
        check_int(pread_full(fd, buf, 4, 100, NULL), 0);
        check(memcmp(buf, "\0\0\0\0", 4) == 0);
        check_int(pread_full(-1, buf, 4, 0, NULL), -EBADF);
        close(fd);
        unlink(path);
}

int main(void) {
        test_int_list();
        test_sizes();
        test_format_bytes();
        test_atoi();
        test_strextendf();
        test_pread_full();
        printf("test-util: ok\n");
        return 0;
}
