/* Shared by the C extensions (_speedups.c, _listpack.c): Redis's string2ll
 * and the listpack back-length encoder, in one place so that the RDB/DUMP
 * writer and the in-memory listpacks can never disagree on what an integer
 * entry is or how an entry's length is written backwards. */

#ifndef PYREDIS_LPCOMMON_H
#define PYREDIS_LPCOMMON_H

#include <stdint.h>
#include <stddef.h>

/* Redis's string2ll (util.c) / lpStringToInt64: the canonical decimal
 * spelling of a signed 64-bit integer only - no sign but '-', no leading
 * zeros, no "-0", no spaces, at most 20 characters. 1 on success. */
static inline int parse_int64(const unsigned char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 20)
        return 0;
    if (len == 1 && s[0] == '0') {
        *out = 0;
        return 1;
    }
    int neg = 0;
    if (*s == '-') {
        neg = 1;
        s++;
        len--;
        if (!len)
            return 0;
    }
    if (*s < '1' || *s > '9')
        return 0;
    uint64_t v = 0;
    for (; len; len--, s++) {
        if (*s < '0' || *s > '9')
            return 0;
        unsigned d = *s - '0';
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return 0;
        *out = (int64_t)(0 - v);
    } else {
        if (v > (uint64_t)INT64_MAX)
            return 0;
        *out = (int64_t)v;
    }
    return 1;
}

/* A listpack entry's back-length: its size in 7-bit groups, read backwards. */
static inline size_t backlen_size(size_t n)
{
    if (n <= 127) return 1;
    if (n < 16383) return 2;
    if (n < 2097151) return 3;
    if (n < 268435455) return 4;
    return 5;
}

static inline void put_backlen(unsigned char *p, size_t n)
{
    size_t k = backlen_size(n);
    /* Most significant 7-bit group first; all but the first carry bit 7. */
    for (size_t i = 0; i < k; i++) {
        size_t shift = 7 * (k - 1 - i);
        unsigned char b = (unsigned char)((n >> shift) & 127);
        if (i > 0)
            b |= 128;
        p[i] = b;
    }
}

#endif
