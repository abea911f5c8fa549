/*
 * Hot loops of the RDB format in C: CRC64 (Jones polynomial, the Redis
 * variant) and LZF compression/decompression; and the request parser
 * (parse_requests) for the strict form of requests every client sends.
 *
 * Both are pure byte crunching that Python runs about a hundred times too
 * slowly for a dataset of a gigabyte. pyredis/crc64.py and pyredis/lzf.py
 * import this module when it is built and fall back to pure Python
 * otherwise, so the functions here must give exactly the same results as
 * those fallbacks (the tests compare them).
 *
 *   crc64(data, crc=0) -> int      running CRC64 over a bytes-like object
 *   lzf_compress(data) -> bytes | None
 *       compressed form, or None when it would not save at least 4 bytes
 *       (rdbSaveLzfStringObject's rule); the match finder is LZF's
 *       "very fast" variant with a 2^16 hash table, so the output is the
 *       same bytes Redis writes, which keeps DUMP payloads identical.
 *   lzf_decompress(data, expected_len) -> bytes   (ValueError if corrupt)
 *   lp_build(items) -> bytes        a listpack of bytes elements
 *   lp_items(blob) -> [bytes]       a listpack's elements (ValueError if bad)
 *   quicklist_nodes(items, fill) -> [bytes]   a list split into listpacks
 *       the way RPUSH fills quicklist nodes
 *   rdb_read_string(buf, pos, end) -> (bytes, newpos)   rdbGenericLoadStringObject
 *   rdb_encode_string(s, compress=True) -> bytes        rdbSaveRawString
 *   load_string_records(...)    the loader's fast path for plain string keys
 *   parse_requests(buf, max_bulk, inline=False) -> (requests, consumed, need)
 *       the whole requests at the start of buf in the strict form clients
 *       send (multibulk, and plain inline lines), and what follows them
 *   run_requests(client, reqs, i) -> (i, status)
 *       the trusted request path's loop over those requests: the one
 *       inlined copy of Server.call's common case (see the function)
 *   set_command_names({name: name})   the command names it hands out
 *   remember_keys(table, cid, argv, first, last, step) -> int
 *       CLIENT TRACKING's table: a read's keys remembered for a client
 *   integer_reply(n) -> bytes   b':%d\r\n' % n      (n a 64-bit integer)
 *   decimal(n) -> bytes         b'%d' % n
 *   mset_pairs(data, lru, argv, clock)   MSET's stores, data[k] = v, lru[k] = clock
 *   bulk_reply(v) -> bytes      b'$%d\r\n%s\r\n' % (len(v), v)   (v bytes-like)
 *       what Python's bytes formatting does, for the integers every counter
 *       and length reply carries, at a fraction of its cost
 *   incr_value(value, by) -> (bytes, bytes) | None | False
 *       INCRBY's arithmetic on a string value: the new value and the reply
 *   pack_commands(argvs) -> bytes
 *       commands (lists or tuples of bytes) as RESP multibulks, back to back:
 *       what the AOF and the replication stream append for each write
 *   incr_store(data, lru, key, by, clock) -> bytes | None
 *       INCRBY's common case: the lookup, the arithmetic and both stores
 *   hdr_record(cmd, us, n=1)   latency-tracking's count of n calls of us
 *       microseconds in cmd.hist (hdr.record_py's counts, in C)
 *   KeyGuard(pos, prefixes, proc, denied)
 *       the proc of a restricted ACL user's command with one key (acl.py's
 *       Guard): called as (client, argv), it runs proc(client, argv) when
 *       argv[pos] starts with one of the prefixes (a tuple of bytes), else
 *       denied(client, argv), which decides with the full check. The same as
 *       acl.py's Python closure, without its frame and method calls.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "lpcommon.h"
#include "pyattr.h"
#include "keyspace.h"
#include <structmember.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

/* ---- CRC64: reflected, polynomial 0xad93d23594c935a9, init 0, no xorout.
 * Slicing-by-8: eight tables let the loop consume a 64-bit word per step. */

#define CRC64_REFLECTED_POLY 0x95ac9329ac4bc9b5ULL

static uint64_t crc_tables[8][256];

static void crc64_init_tables(void)
{
    for (int n = 0; n < 256; n++) {
        uint64_t c = (uint64_t)n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC64_REFLECTED_POLY : c >> 1;
        crc_tables[0][n] = c;
    }
    for (int n = 0; n < 256; n++) {
        uint64_t c = crc_tables[0][n];
        for (int t = 1; t < 8; t++) {
            c = crc_tables[0][c & 0xff] ^ (c >> 8);
            crc_tables[t][n] = c;
        }
    }
}

static uint64_t crc64_update(uint64_t crc, const unsigned char *p, size_t len)
{
    while (len && ((uintptr_t)p & 7)) {
        crc = crc_tables[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        len--;
    }
    while (len >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        word = __builtin_bswap64(word);
#endif
        crc ^= word;
        crc = crc_tables[7][crc & 0xff] ^
              crc_tables[6][(crc >> 8) & 0xff] ^
              crc_tables[5][(crc >> 16) & 0xff] ^
              crc_tables[4][(crc >> 24) & 0xff] ^
              crc_tables[3][(crc >> 32) & 0xff] ^
              crc_tables[2][(crc >> 40) & 0xff] ^
              crc_tables[1][(crc >> 48) & 0xff] ^
              crc_tables[0][crc >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = crc_tables[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

static PyObject *py_crc64(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    unsigned long long crc = 0;
    if (!PyArg_ParseTuple(args, "y*|K", &buf, &crc))
        return NULL;
    uint64_t result;
    Py_BEGIN_ALLOW_THREADS
    result = crc64_update((uint64_t)crc, (const unsigned char *)buf.buf, (size_t)buf.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    return PyLong_FromUnsignedLongLong(result);
}

/* ---- Cluster hash slots -----------------------------------------------------
 * keyHashSlot of cluster.c: CRC16 (XMODEM: poly 0x1021, init 0, as crc16.c)
 * of the key, or of the part between the first '{' and the first '}' after
 * it when that part is not empty; modulo 16384. The Python reference is
 * pyredis/cluster/slots.py (tests compare the two). */

static uint16_t crc16_table[256];

static void crc16_init_table(void)
{
    for (int i = 0; i < 256; i++) {
        uint16_t crc = (uint16_t)(i << 8);
        for (int j = 0; j < 8; j++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
        crc16_table[i] = crc;
    }
}

static unsigned int key_hash_slot(const unsigned char *key, Py_ssize_t len)
{
    Py_ssize_t s, e, start = 0, end = len;
    for (s = 0; s < len; s++)
        if (key[s] == '{')
            break;
    if (s < len) {
        for (e = s + 1; e < len; e++)
            if (key[e] == '}')
                break;
        if (e < len && e != s + 1) {
            start = s + 1;
            end = e;
        }
    }
    uint16_t crc = 0;
    for (Py_ssize_t i = start; i < end; i++)
        crc = (uint16_t)((crc << 8) ^ crc16_table[((crc >> 8) ^ key[i]) & 0xff]);
    return crc & 16383;
}

static PyObject *py_keyslot(PyObject *self, PyObject *arg)
{
    Py_buffer buf;
    if (PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE) < 0)
        return NULL;
    unsigned int slot = key_hash_slot((const unsigned char *)buf.buf, buf.len);
    PyBuffer_Release(&buf);
    return PyLong_FromLong((long)slot);
}

/* ---- LZF ------------------------------------------------------------------
 * Format: 000LLLLL + L+1 literal bytes; LLLooooo oooooooo: back reference of
 * L+2 bytes at distance o+1; 111ooooo LLLLLLLL oooooooo: L+9 bytes. */

#define LZF_HASH_BITS 16
#define LZF_HASH_SIZE (1 << LZF_HASH_BITS)
#define LZF_MAX_LITERAL 32
#define LZF_MAX_OFFSET (1 << 13)
#define LZF_MAX_REF ((1 << 8) + (1 << 3))

static inline unsigned lzf_slot(unsigned h)
{
    return ((h >> (24 - LZF_HASH_BITS)) - h * 5) & (LZF_HASH_SIZE - 1);
}

/* Returns the compressed length, or 0 when it does not fit in out_cap. */
/* The hash table: slot -> position of the last occurrence of a 3-byte
 * prefix, valid only when its generation stamp is the current call's. The
 * stamps spare us clearing 256 KB per call (most strings are short), and
 * unlike Redis's uninitialised stack table they keep the output a pure
 * function of the input. Only used with the GIL held. */
static uint32_t lzf_pos[LZF_HASH_SIZE];
static uint32_t lzf_gen[LZF_HASH_SIZE];
static uint32_t lzf_generation = 0;

static size_t lzf_compress_buf(const unsigned char *in, size_t in_len,
                               unsigned char *out, size_t out_cap)
{
    if (++lzf_generation == 0) {
        memset(lzf_gen, 0, sizeof(lzf_gen));
        lzf_generation = 1;
    }
    const uint32_t gen = lzf_generation;
    const unsigned char *ip = in, *in_end = in + in_len;
    unsigned char *op = out, *out_end = out + out_cap;
    if (!in_len || !out_cap)
        return 0;
    int lit = 0;
    op++;                                   /* room for the literal run header */
    unsigned hval = (ip[0] << 8) | ip[1];
    while (ip < in_end - 2) {
        hval = (hval << 8) | ip[2];
        unsigned slot = lzf_slot(hval);
        const unsigned char *ref = lzf_gen[slot] == gen ? in + lzf_pos[slot] : NULL;
        lzf_pos[slot] = (uint32_t)(ip - in);
        lzf_gen[slot] = gen;
        size_t off;
        if (ref && ref > in && (off = (size_t)(ip - ref - 1)) < LZF_MAX_OFFSET
                && ref[2] == ip[2] && ref[0] == ip[0] && ref[1] == ip[1]) {
            size_t len = 2;
            size_t maxlen = (size_t)(in_end - ip) - len;
            if (maxlen > LZF_MAX_REF)
                maxlen = LZF_MAX_REF;
            if (op + 3 + 1 >= out_end && op - !lit + 3 + 1 >= out_end)
                return 0;
            op[-lit - 1] = (unsigned char)(lit - 1);     /* close the literal run */
            op -= !lit;                                  /* drop it if empty */
            /* Same stopping rule as the reference match loop, which checks
             * 16 bytes unconditionally when more than 16 remain: that can
             * make a match 1 byte longer than maxlen, and the output must be
             * the same bytes. */
            int stopped = 0;
            if (maxlen > 16) {
                for (int k = 0; k < 16; k++) {
                    len++;
                    if (ref[len] != ip[len]) { stopped = 1; break; }
                }
            }
            if (!stopped) {
                do
                    len++;
                while (len < maxlen && ref[len] == ip[len]);
            }
            len -= 2;
            ip++;
            if (len < 7) {
                *op++ = (unsigned char)((off >> 8) + (len << 5));
            } else {
                *op++ = (unsigned char)((off >> 8) + (7 << 5));
                *op++ = (unsigned char)(len - 7);
            }
            *op++ = (unsigned char)off;
            lit = 0;
            op++;
            ip += len + 1;
            if (ip >= in_end - 2)
                break;
            /* Hash the two positions just before ip, as the reference
             * implementation's "very fast" mode does. */
            ip -= 2;
            hval = (ip[0] << 8) | ip[1];
            hval = (hval << 8) | ip[2];
            slot = lzf_slot(hval);
            lzf_pos[slot] = (uint32_t)(ip - in);
            lzf_gen[slot] = gen;
            ip++;
            hval = (hval << 8) | ip[2];
            slot = lzf_slot(hval);
            lzf_pos[slot] = (uint32_t)(ip - in);
            lzf_gen[slot] = gen;
            ip++;
        } else {
            if (op >= out_end)
                return 0;
            lit++;
            *op++ = *ip++;
            if (lit == LZF_MAX_LITERAL) {
                op[-lit - 1] = (unsigned char)(lit - 1);
                lit = 0;
                op++;
            }
        }
    }
    if (op + 3 > out_end)
        return 0;
    while (ip < in_end) {
        lit++;
        *op++ = *ip++;
        if (lit == LZF_MAX_LITERAL) {
            op[-lit - 1] = (unsigned char)(lit - 1);
            lit = 0;
            op++;
        }
    }
    op[-lit - 1] = (unsigned char)(lit - 1);
    op -= !lit;
    return (size_t)(op - out);
}

static PyObject *py_lzf_compress(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "y*", &buf))
        return NULL;
    if (buf.len <= 4) {
        PyBuffer_Release(&buf);
        Py_RETURN_NONE;
    }
    size_t cap = (size_t)buf.len - 4;
    unsigned char stack_out[512];
    unsigned char *out = cap < sizeof(stack_out) ? stack_out : malloc(cap + 1);
    if (!out) {
        PyBuffer_Release(&buf);
        return PyErr_NoMemory();
    }
    /* The GIL stays held: the hash table is shared. */
    size_t n = lzf_compress_buf((const unsigned char *)buf.buf, (size_t)buf.len, out, cap);
    PyBuffer_Release(&buf);
    PyObject *result;
    if (n == 0) {
        Py_INCREF(Py_None);
        result = Py_None;
    } else {
        result = PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)n);
    }
    if (out != stack_out)
        free(out);
    return result;
}

/* ---- listpack ---------------------------------------------------------------
 * The encodings of every RDB value but strings: building them from a
 * sequence of bytes (integers spelled canonically become integer entries,
 * as lpAppend does) and reading them back, with every length checked. The
 * pure-Python versions in pyredis/rdb.py define the behaviour. */

typedef struct {
    unsigned char *p;
    size_t len, cap;
} Buf;

static int buf_reserve(Buf *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < b->len + extra)
        cap *= 2;
    unsigned char *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int lp_put_entry(Buf *b, const unsigned char *s, size_t n)
{
    if (buf_reserve(b, n + 16) < 0)
        return -1;
    unsigned char *p = b->p + b->len;
    int64_t v;
    if (parse_int64(s, n, &v)) {
        uint64_t u = (uint64_t)v;
        if (v >= 0 && v <= 127) {
            p[0] = (unsigned char)v; p[1] = 1; b->len += 2;
        } else if (v >= -4096 && v <= 4095) {
            uint64_t w = v < 0 ? (uint64_t)((1 << 13) + v) : u;
            p[0] = (unsigned char)(0xc0 | (w >> 8)); p[1] = (unsigned char)(w & 0xff); p[2] = 2;
            b->len += 3;
        } else {
            int width;
            if (v >= -32768 && v <= 32767) { p[0] = 0xf1; width = 2; }
            else if (v >= -8388608 && v <= 8388607) { p[0] = 0xf2; width = 3; }
            else if (v >= -2147483648LL && v <= 2147483647LL) { p[0] = 0xf3; width = 4; }
            else { p[0] = 0xf4; width = 8; }
            for (int i = 0; i < width; i++)
                p[1 + i] = (unsigned char)(u >> (8 * i));
            p[1 + width] = (unsigned char)(1 + width);
            b->len += 2 + width;
        }
        return 0;
    }
    size_t head;
    if (n < 64) {
        p[0] = (unsigned char)(0x80 | n);
        head = 1;
    } else if (n < 4096) {
        p[0] = (unsigned char)(0xe0 | (n >> 8));
        p[1] = (unsigned char)(n & 0xff);
        head = 2;
    } else {
        p[0] = 0xf0;
        for (int i = 0; i < 4; i++)
            p[1 + i] = (unsigned char)(n >> (8 * i));
        head = 5;
    }
    memcpy(p + head, s, n);
    put_backlen(p + head + n, head + n);
    b->len += head + n + backlen_size(head + n);
    return 0;
}

static PyObject *lp_finish(Buf *b, size_t count)
{
    /* b->p holds 6 reserved header bytes then the entries. */
    if (buf_reserve(b, 1) < 0) {
        free(b->p);
        return PyErr_NoMemory();
    }
    b->p[b->len++] = 0xff;
    size_t total = b->len;
    for (int i = 0; i < 4; i++)
        b->p[i] = (unsigned char)(total >> (8 * i));
    size_t c = count < 65535 ? count : 65535;
    b->p[4] = (unsigned char)(c & 0xff);
    b->p[5] = (unsigned char)(c >> 8);
    PyObject *r = PyBytes_FromStringAndSize((const char *)b->p, (Py_ssize_t)total);
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    return r;
}

static int buf_start(Buf *b)
{
    b->p = NULL;
    b->len = b->cap = 0;
    if (buf_reserve(b, 256) < 0)
        return -1;
    b->len = 6;
    return 0;
}

/* lp_build(items) -> bytes: a listpack of the given bytes elements. */
static PyObject *py_lp_build(PyObject *self, PyObject *arg)
{
    PyObject *seq = PySequence_Fast(arg, "lp_build expects a sequence");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    Buf b;
    if (buf_start(&b) < 0) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        char *s;
        Py_ssize_t len;
        if (PyBytes_AsStringAndSize(items[i], &s, &len) < 0) {
            free(b.p);
            Py_DECREF(seq);
            return NULL;
        }
        if (lp_put_entry(&b, (const unsigned char *)s, (size_t)len) < 0) {
            free(b.p);
            Py_DECREF(seq);
            return PyErr_NoMemory();
        }
    }
    Py_DECREF(seq);
    return lp_finish(&b, (size_t)n);
}

/* quicklist_nodes(items, fill) -> [listpack bytes]: split a list into
 * nodes with quicklist.c's _quicklistNodeAllowInsert (7.0) rule, as
 * pushing the elements at the tail one by one builds them. */
static const size_t optimization_level[] = {4096, 8192, 16384, 32768, 65536};

static int node_allows_insert(size_t node_sz, size_t count, long fill, size_t sz)
{
    size_t new_sz = node_sz + sz + 8;
    if (fill < 0) {
        size_t offset = (size_t)(-fill) - 1;
        if (offset < sizeof(optimization_level) / sizeof(*optimization_level)
                && new_sz <= optimization_level[offset])
            return 1;
    }
    if (new_sz > 8192)
        return 0;
    return (long)count < fill;
}

static PyObject *py_quicklist_nodes(PyObject *self, PyObject *args)
{
    PyObject *arg;
    long fill;
    if (!PyArg_ParseTuple(args, "Ol", &arg, &fill))
        return NULL;
    PyObject *seq = PySequence_Fast(arg, "quicklist_nodes expects a sequence");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *nodes = PyList_New(0);
    Buf b = {NULL, 0, 0};
    size_t count = 0;
    if (!nodes)
        goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        char *s;
        Py_ssize_t len;
        if (PyBytes_AsStringAndSize(items[i], &s, &len) < 0)
            goto fail;
        if (!(count && node_allows_insert(b.len + 1, count, fill, (size_t)len))) {
            if (count) {
                PyObject *lp = lp_finish(&b, count);
                if (!lp || PyList_Append(nodes, lp) < 0) {
                    Py_XDECREF(lp);
                    goto fail;
                }
                Py_DECREF(lp);
            }
            if (buf_start(&b) < 0) {
                PyErr_NoMemory();
                goto fail;
            }
            count = 0;
        }
        if (lp_put_entry(&b, (const unsigned char *)s, (size_t)len) < 0) {
            PyErr_NoMemory();
            goto fail;
        }
        count++;
    }
    if (count) {
        PyObject *lp = lp_finish(&b, count);
        if (!lp || PyList_Append(nodes, lp) < 0) {
            Py_XDECREF(lp);
            goto fail;
        }
        Py_DECREF(lp);
    }
    Py_DECREF(seq);
    return nodes;
fail:
    free(b.p);
    Py_XDECREF(nodes);
    Py_DECREF(seq);
    return NULL;
}

/* -- shared integers -------------------------------------------------------------
 *
 * OBJ_SHARED_INTEGERS: Redis keeps one object for each integer 0..9999 and
 * stores it for every value that is one (tryObjectEncoding), so a dataset
 * of small counters costs no value allocation per key. Here the same: an
 * argument read from a request, an INCR result or an RDB integer string that
 * is the canonical decimal of 10..9999 is one shared bytes object (bytes are
 * immutable, so sharing is safe; the one-character ones are CPython's own
 * singletons already). It also saves the allocation on the request path. */
#define SHARED_INTEGERS 10000
static PyObject *shared_integers[SHARED_INTEGERS];

static PyObject *shared_integer(int v, const char *s, Py_ssize_t len)
{
    PyObject *o = shared_integers[v];
    if (o == NULL) {
        o = PyBytes_FromStringAndSize(s, len);
        if (o == NULL)
            return NULL;
        shared_integers[v] = o;     /* (the table's reference, kept for good) */
    }
    Py_INCREF(o);
    return o;
}

/* A bytes object for s[:len]: the shared one when s is "10".."9999". */
static PyObject *string_bytes(const char *s, Py_ssize_t len)
{
    if (len >= 2 && len <= 4 && s[0] >= '1' && s[0] <= '9') {
        int v = s[0] - '0';
        for (Py_ssize_t i = 1; i < len; i++) {
            unsigned d = (unsigned char)s[i] - '0';
            if (d > 9)
                return PyBytes_FromStringAndSize(s, len);
            v = v * 10 + (int)d;
        }
        return shared_integer(v, s, len);
    }
    return PyBytes_FromStringAndSize(s, len);
}

static PyObject *int_bytes(int64_t v)
{
    char tmp[24];
    int k = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
    return string_bytes(tmp, k);
}

/* lp_items(blob) -> [bytes]; ValueError when the listpack is malformed. */
static PyObject *py_lp_items(PyObject *self, PyObject *arg)
{
    Py_buffer buf;
    if (PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *blob = buf.buf;
    size_t n = (size_t)buf.len;
    const char *err = NULL;
    PyObject *out = NULL;
    if (n < 7) { err = "listpack too short"; goto done; }
    size_t total = blob[0] | (blob[1] << 8) | (blob[2] << 16) | ((size_t)blob[3] << 24);
    if (total != n) { err = "listpack size mismatch"; goto done; }
    if (blob[n - 1] != 0xff) { err = "listpack not terminated"; goto done; }
    size_t count = blob[4] | (blob[5] << 8);
    out = PyList_New(0);
    if (!out)
        goto done;
    size_t p = 6, end = n - 1;
    while (p < end) {
        unsigned b = blob[p];
        PyObject *item;
        if (b < 0x80) {
            item = int_bytes(b);
            p += 2;
        } else if (b < 0xc0) {
            size_t ln = b & 0x3f;
            if (p + 1 + ln > end) { err = "listpack entry overflow"; goto done; }
            item = PyBytes_FromStringAndSize((const char *)blob + p + 1, (Py_ssize_t)ln);
            p += 1 + ln + backlen_size(1 + ln);
        } else if (b < 0xe0) {
            if (p + 2 > end) { err = "listpack entry overflow"; goto done; }
            int64_t v = ((b & 0x1f) << 8) | blob[p + 1];
            if (v >= (1 << 12))
                v -= (1 << 13);
            item = int_bytes(v);
            p += 3;
        } else if (b < 0xf0) {
            if (p + 2 > end) { err = "listpack entry overflow"; goto done; }
            size_t ln = ((b & 0x0f) << 8) | blob[p + 1];
            if (p + 2 + ln > end) { err = "listpack entry overflow"; goto done; }
            item = PyBytes_FromStringAndSize((const char *)blob + p + 2, (Py_ssize_t)ln);
            p += 2 + ln + backlen_size(2 + ln);
        } else if (b == 0xf0) {
            if (p + 5 > end) { err = "listpack entry overflow"; goto done; }
            size_t ln = blob[p + 1] | (blob[p + 2] << 8) | (blob[p + 3] << 16)
                        | ((size_t)blob[p + 4] << 24);
            if (ln > end || p + 5 + ln > end) { err = "listpack entry overflow"; goto done; }
            item = PyBytes_FromStringAndSize((const char *)blob + p + 5, (Py_ssize_t)ln);
            p += 5 + ln + backlen_size(5 + ln);
        } else if (b >= 0xf1 && b <= 0xf4) {
            int width = b == 0xf1 ? 2 : b == 0xf2 ? 3 : b == 0xf3 ? 4 : 8;
            if (p + 1 + width > end) { err = "listpack entry overflow"; goto done; }
            uint64_t u = 0;
            for (int i = 0; i < width; i++)
                u |= (uint64_t)blob[p + 1 + i] << (8 * i);
            if (width < 8 && (u >> (8 * width - 1)) & 1)
                u |= ~(uint64_t)0 << (8 * width);        /* sign-extend */
            item = int_bytes((int64_t)u);
            p += 2 + width;
        } else {
            err = "invalid listpack encoding";
            goto done;
        }
        if (!item || PyList_Append(out, item) < 0) {
            Py_XDECREF(item);
            Py_CLEAR(out);
            goto done;
        }
        Py_DECREF(item);
    }
    if (p != end) { err = "listpack entries overflow"; goto done; }
    if (count != 65535 && count != (size_t)PyList_GET_SIZE(out)) {
        err = "listpack count mismatch";
        goto done;
    }
done:
    PyBuffer_Release(&buf);
    if (err) {
        Py_XDECREF(out);
        PyErr_SetString(PyExc_ValueError, err);
        return NULL;
    }
    return out;
}

/* Decompress into out[out_len]; NULL on success, else what went wrong. */
static const char *lzf_decompress_into(const unsigned char *ip, size_t in_len,
                                       unsigned char *out, size_t out_len)
{
    const unsigned char *in_end = ip + in_len;
    unsigned char *op = out, *out_end = out + out_len;
    while (ip < in_end) {
        unsigned ctrl = *ip++;
        if (ctrl < (1 << 5)) {
            ctrl++;
            if (op + ctrl > out_end) return "LZF output overflow";
            if (ip + ctrl > in_end) return "LZF input truncated";
            memcpy(op, ip, ctrl);
            op += ctrl;
            ip += ctrl;
        } else {
            size_t len = ctrl >> 5;
            if (len == 7) {
                if (ip >= in_end) return "LZF input truncated";
                len += *ip++;
            }
            if (ip >= in_end) return "LZF input truncated";
            size_t back = ((ctrl & 0x1f) << 8) + 1 + *ip++;
            len += 2;
            if (op + len > out_end) return "LZF output overflow";
            if (back > (size_t)(op - out)) return "LZF back reference out of range";
            const unsigned char *ref = op - back;
            /* Byte by byte: the source may overlap the destination. */
            while (len--)
                *op++ = *ref++;
        }
    }
    if (op != out_end)
        return "LZF length mismatch";
    return NULL;
}

static PyObject *py_lzf_decompress(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    Py_ssize_t expected;
    if (!PyArg_ParseTuple(args, "y*n", &buf, &expected))
        return NULL;
    if (expected < 0) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "invalid LZF length");
        return NULL;
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, expected);
    if (!result) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    const char *err = lzf_decompress_into(buf.buf, (size_t)buf.len,
                                          (unsigned char *)PyBytes_AS_STRING(result),
                                          (size_t)expected);
    PyBuffer_Release(&buf);
    if (err) {
        Py_DECREF(result);
        PyErr_SetString(PyExc_ValueError, err);
        return NULL;
    }
    return result;
}

/* ---- RDB strings ----------------------------------------------------------
 * The two calls made for nearly every key: reading a length-prefixed (or
 * integer- or LZF-encoded) string, and writing one. */

/* rdb_read_length(buf, pos, end) -> (value, encoded, newpos) */
static int read_length(const unsigned char *p, size_t pos, size_t end,
                       uint64_t *value, int *encoded, size_t *newpos, const char **err)
{
    if (pos >= end) { *err = "Unexpected EOF reading RDB file"; return -1; }
    unsigned b = p[pos];
    unsigned kind = b >> 6;
    *encoded = 0;
    if (kind == 0) {
        *value = b & 0x3f;
        *newpos = pos + 1;
    } else if (kind == 1) {
        if (pos + 2 > end) { *err = "Unexpected EOF reading RDB file"; return -1; }
        *value = ((b & 0x3f) << 8) | p[pos + 1];
        *newpos = pos + 2;
    } else if (kind == 3) {
        *value = b & 0x3f;
        *encoded = 1;
        *newpos = pos + 1;
    } else if (b == 0x80) {
        if (pos + 5 > end) { *err = "Unexpected EOF reading RDB file"; return -1; }
        *value = ((uint64_t)p[pos + 1] << 24) | (p[pos + 2] << 16) | (p[pos + 3] << 8) | p[pos + 4];
        *newpos = pos + 5;
    } else if (b == 0x81) {
        if (pos + 9 > end) { *err = "Unexpected EOF reading RDB file"; return -1; }
        uint64_t v = 0;
        for (int i = 1; i <= 8; i++)
            v = (v << 8) | p[pos + i];
        *value = v;
        *newpos = pos + 9;
    } else {
        *err = "Unknown length encoding in rdbLoadLen()";
        return -1;
    }
    return 0;
}

/* One RDB string at *pos (advanced past it); NULL with *err set (or a
 * Python exception pending, *err NULL) on failure. */
static PyObject *read_rdb_string(const unsigned char *p, size_t *ppos, size_t end,
                                 const char **err)
{
    size_t pos = *ppos;
    PyObject *value = NULL;
    uint64_t n;
    int encoded;
    if (read_length(p, pos, end, &n, &encoded, &pos, err) < 0)
        return NULL;
    if (!encoded) {
        if (n > end - pos) { *err = "Unexpected EOF reading RDB file"; return NULL; }
        value = PyBytes_FromStringAndSize((const char *)p + pos, (Py_ssize_t)n);
        pos += n;
    } else if (n <= 2) {
        size_t width = n == 0 ? 1 : n == 1 ? 2 : 4;
        if (pos + width > end) { *err = "Unexpected EOF reading RDB file"; return NULL; }
        int64_t v;
        if (width == 1) v = (int8_t)p[pos];
        else if (width == 2) v = (int16_t)(p[pos] | (p[pos + 1] << 8));
        else v = (int32_t)((uint32_t)p[pos] | ((uint32_t)p[pos + 1] << 8) |
                           ((uint32_t)p[pos + 2] << 16) | ((uint32_t)p[pos + 3] << 24));
        value = int_bytes(v);
        pos += width;
    } else if (n == 3) {
        uint64_t clen, ulen;
        int enc2;
        if (read_length(p, pos, end, &clen, &enc2, &pos, err) < 0) return NULL;
        if (enc2) { *err = "Unexpected encoded length"; return NULL; }
        if (read_length(p, pos, end, &ulen, &enc2, &pos, err) < 0) return NULL;
        if (enc2) { *err = "Unexpected encoded length"; return NULL; }
        if (clen > end - pos) { *err = "Unexpected EOF reading RDB file"; return NULL; }
        if (ulen > ((uint64_t)1 << 40)) { *err = "Invalid LZF compressed string"; return NULL; }
        value = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)ulen);
        if (!value) return NULL;
        *err = lzf_decompress_into(p + pos, (size_t)clen,
                                   (unsigned char *)PyBytes_AS_STRING(value), (size_t)ulen);
        if (*err) { Py_DECREF(value); return NULL; }
        pos += clen;
    } else {
        *err = "Unknown RDB string encoding type";
        return NULL;
    }
    if (value)
        *ppos = pos;
    return value;
}

static PyObject *py_rdb_read_string(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    Py_ssize_t spos, send;
    if (!PyArg_ParseTuple(args, "y*nn", &buf, &spos, &send))
        return NULL;
    size_t end = (size_t)send <= (size_t)buf.len ? (size_t)send : (size_t)buf.len;
    size_t pos = (size_t)spos;
    const char *err = NULL;
    PyObject *value = read_rdb_string(buf.buf, &pos, end, &err);
    PyBuffer_Release(&buf);
    if (!value) {
        if (err)
            PyErr_SetString(PyExc_ValueError, err);
        return NULL;
    }
    return Py_BuildValue("(Nn)", value, (Py_ssize_t)pos);
}

/* pyredis._keyspace's functions (keyspace.h), NULL without it. */
static KeyspaceCAPI *keyspace_api;

/* Whether data and lru are a database's plain Keyspace and its LruView, which
 * the C paths below store into directly (one insert sets the value and the
 * access time). Anything else - a dict without the extension, cluster mode's
 * SlotKeyspace, an LFU policy's LFUField - goes through its own methods. */
static inline int plain_keyspace(PyObject *data, PyObject *lru)
{
    return keyspace_api != NULL && Py_IS_TYPE(data, keyspace_api->keyspace_type)
        && Py_IS_TYPE(lru, keyspace_api->lru_view_type);
}

/* load_string_records(buf, pos, limit, end, keyspace, lrus, expires,
 *                     lruclock, now_ms, skip_expired) -> (pos, loaded, expired)
 *
 * The loader's fast path: consecutive plain string records (type 0, with or
 * without an EXPIRETIME_MS before them) go straight into the three dicts.
 * It stops before anything else - another type or opcode, a key already
 * present, malformed data - and returns where it stopped, so the Python
 * loader handles that record (and reports errors) itself. */
static PyObject *py_load_string_records(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    Py_ssize_t spos, slimit, send;
    PyObject *keyspace, *lrus, *expires, *lruclock;
    long long now_ms;
    int skip_expired;
    if (!PyArg_ParseTuple(args, "y*nnnOOOOLp", &buf, &spos, &slimit, &send,
                          &keyspace, &lrus, &expires, &lruclock, &now_ms, &skip_expired))
        return NULL;
    int plain = plain_keyspace(keyspace, lrus)
        && Py_IS_TYPE(expires, keyspace_api->keyspace_type);
    if (!plain && (!PyDict_CheckExact(keyspace) || !PyDict_CheckExact(lrus)
                   || !PyDict_CheckExact(expires))) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_TypeError, "load_string_records needs a plain keyspace");
        return NULL;
    }
    const unsigned char *p = buf.buf;
    size_t end = (size_t)send <= (size_t)buf.len ? (size_t)send : (size_t)buf.len;
    size_t limit = (size_t)slimit < end ? (size_t)slimit : end;
    size_t pos = (size_t)spos;
    Py_ssize_t loaded = 0, expired = 0;
    int failed = 0;
    while (pos < limit) {
        size_t q = pos;
        int has_expire = 0;
        int64_t when = 0;
        if (p[q] == 252) {
            if (q + 10 > end)
                break;
            uint64_t u = 0;
            for (int i = 0; i < 8; i++)
                u |= (uint64_t)p[q + 1 + i] << (8 * i);
            when = (int64_t)u;
            has_expire = 1;
            q += 9;
        }
        if (p[q] != 0)
            break;
        q++;
        const char *err = NULL;
        PyObject *key = read_rdb_string(p, &q, end, &err);
        if (!key) {
            if (!err) failed = 1;
            else PyErr_Clear();
            break;
        }
        PyObject *value = read_rdb_string(p, &q, end, &err);
        if (!value) {
            Py_DECREF(key);
            if (!err) failed = 1;
            else PyErr_Clear();
            break;
        }
        int present;
        if (plain)
            present = keyspace_api->get(keyspace, key) != NULL ? 1 : PyErr_Occurred() ? -1 : 0;
        else
            present = PyDict_Contains(keyspace, key);
        if (present != 0) {
            Py_DECREF(key);
            Py_DECREF(value);
            if (present < 0) failed = 1;
            break;
        }
        if (has_expire && skip_expired && when < now_ms) {
            expired++;
        } else {
            if (plain ? keyspace_api->set(keyspace, key, value, lruclock) < 0
                      : (PyDict_SetItem(keyspace, key, value) < 0 ||
                         PyDict_SetItem(lrus, key, lruclock) < 0)) {
                Py_DECREF(key);
                Py_DECREF(value);
                failed = 1;
                break;
            }
            if (has_expire) {
                PyObject *w = PyLong_FromLongLong(when);
                if (!w || (plain ? keyspace_api->set(expires, key, w, NULL)
                                 : PyDict_SetItem(expires, key, w)) < 0) {
                    Py_XDECREF(w);
                    Py_DECREF(key);
                    Py_DECREF(value);
                    failed = 1;
                    break;
                }
                Py_DECREF(w);
            }
            loaded++;
        }
        Py_DECREF(key);
        Py_DECREF(value);
        pos = q;
    }
    PyBuffer_Release(&buf);
    if (failed)
        return NULL;
    return Py_BuildValue("(nnn)", (Py_ssize_t)pos, loaded, expired);
}

static size_t put_len(unsigned char *p, uint64_t n)
{
    if (n < 64) { p[0] = (unsigned char)n; return 1; }
    if (n < 16384) { p[0] = (unsigned char)(0x40 | (n >> 8)); p[1] = (unsigned char)(n & 0xff); return 2; }
    if (n <= 0xffffffffULL) {
        p[0] = 0x80;
        for (int i = 0; i < 4; i++) p[1 + i] = (unsigned char)(n >> (24 - 8 * i));
        return 5;
    }
    p[0] = 0x81;
    for (int i = 0; i < 8; i++) p[1 + i] = (unsigned char)(n >> (56 - 8 * i));
    return 9;
}

/* rdb_encode_string(s, compress) -> bytes (rdbSaveRawString) */
static PyObject *py_rdb_encode_string(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    int compress = 1;
    if (!PyArg_ParseTuple(args, "y*|p", &buf, &compress))
        return NULL;
    const unsigned char *s = buf.buf;
    size_t n = (size_t)buf.len;
    unsigned char head[24];
    PyObject *r = NULL;
    if (n <= 11 && n > 0) {
        int64_t v;
        if (parse_int64(s, n, &v) && v >= -2147483648LL && v <= 2147483647LL) {
            size_t k;
            uint64_t u = (uint64_t)v;
            if (v >= -128 && v <= 127) { head[0] = 0xc0; k = 1; }
            else if (v >= -32768 && v <= 32767) { head[0] = 0xc1; k = 2; }
            else { head[0] = 0xc2; k = 4; }
            for (size_t i = 0; i < k; i++) head[1 + i] = (unsigned char)(u >> (8 * i));
            PyBuffer_Release(&buf);
            return PyBytes_FromStringAndSize((const char *)head, (Py_ssize_t)(1 + k));
        }
    }
    if (compress && n > 20) {
        size_t cap = n - 4;
        unsigned char *out = malloc(cap + 32);
        if (!out) {
            PyBuffer_Release(&buf);
            return PyErr_NoMemory();
        }
        size_t c = lzf_compress_buf(s, n, out + 32, cap);
        if (c) {
            size_t h = 0;
            head[h++] = 0xc3;
            h += put_len(head + h, c);
            h += put_len(head + h, n);
            memcpy(out + 32 - h, head, h);
            r = PyBytes_FromStringAndSize((const char *)out + 32 - h, (Py_ssize_t)(h + c));
            free(out);
            PyBuffer_Release(&buf);
            return r;
        }
        free(out);
    }
    size_t h = put_len(head, n);
    r = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(h + n));
    if (r) {
        memcpy(PyBytes_AS_STRING(r), head, h);
        memcpy(PyBytes_AS_STRING(r) + h, s, n);
    }
    PyBuffer_Release(&buf);
    return r;
}

/* A request count or bulk length as Redis's string2ll reads it, in the
 * strict spelling only (digits, no sign, no leading zero but "0" itself,
 * at most 18 digits), followed by CRLF. Returns the position after the CRLF;
 * NULL with *cut set when the input ends before the number does (it may
 * still become strict), NULL with *cut clear when it is not in that form. */
static const unsigned char *scan_number(const unsigned char *p, const unsigned char *e,
                                        long long *out, int *cut)
{
    const unsigned char *start = p;
    long long v = 0;
    *cut = 0;
    while (p < e && *p >= '0' && *p <= '9') {
        v = v * 10 + (*p - '0');
        p++;
        if (p - start > 18)
            return NULL;
    }
    if (p > start + 1 && *start == '0')
        return NULL;
    if (p == e || (p + 1 == e && *p == '\r')) {
        *cut = 1;
        return NULL;
    }
    if (p == start || p[0] != '\r' || p[1] != '\n')
        return NULL;
    *out = v;
    return p + 2;
}

/* PROTO_INLINE_MAX_SIZE: the longest inline line taken here. */
#define INLINE_MAX 65536

/* Whether an inline line's argument ends at c (sdssplitargs ends an unquoted
 * argument at a space, tab, CR, LF or NUL; LF and NUL never get here). */
#define INLINE_SPACE(c) ((c) == ' ' || (c) == '\t' || (c) == '\r')

/* The inline request starting at p (*p != '*'), in the strict form: a line
 * ended by LF within INLINE_MAX bytes, with at least one argument, the
 * first not starting with '*', and none of what sdssplitargs reads its own
 * way (quotes, NUL, which ends Redis's search for the LF, vertical tab and
 * form feed, which it skips between arguments but keeps in one). Then the
 * arguments are what splitting the line on spaces, tabs and CRs gives, as
 * processInlineBuffer gets them. Returns the position after the LF and the
 * argument count in *argc, or NULL (not in that form, or cut by e). */
static const unsigned char *scan_inline(const unsigned char *p, const unsigned char *e,
                                        Py_ssize_t *argc)
{
    const unsigned char *lim = e - p > INLINE_MAX ? p + INLINE_MAX + 1 : e;
    Py_ssize_t n = 0;
    int in_arg = 0;
    for (; p < lim && *p != '\n'; p++) {
        unsigned char c = *p;
        if (INLINE_SPACE(c)) {
            in_arg = 0;
        } else if (c == '"' || c == '\'' || c == 0 || c == '\v' || c == '\f') {
            return NULL;
        } else if (!in_arg) {
            if (n == 0 && c == '*')
                return NULL;
            n++;
            in_arg = 1;
        }
    }
    if (p == lim || n == 0)
        return NULL;
    *argc = n;
    return p + 1;
}

/* Scans [s, e) for whole requests of the form "*<n>\r\n" followed by n
 * times "$<len>\r\n<len bytes>\r\n", with 1 <= n <= INT_MAX and
 * len <= max_bulk, and, when inline is set, of the inline form scan_inline
 * takes. Returns the end of the longest prefix made of them, their
 * number in *count, and in *need what follows that prefix:
 *   0   nothing: the prefix is the whole input;
 *   >0  the start of a request in that form, cut by the end of the input:
 *       no request can complete before the input is *need bytes long (the
 *       end of the payload being read, or one more byte);
 *   -1  anything else (an inline command not in that form or cut by the
 *       end of the input, another RESP type, a count or a length out of
 *       range or not in the strict spelling, a missing CRLF): the exact
 *       parser's input, which answers as Redis does. */
static const unsigned char *scan_prefix(const unsigned char *s, const unsigned char *e,
                                        long long max_bulk, int inline_ok, Py_ssize_t *count,
                                        Py_ssize_t *need)
{
    const unsigned char *p = s, *end = s;
    long long n, len;
    int cut;
    Py_ssize_t requests = 0, argc;
    *need = -1;
    while (p < e) {
        if (*p != '*') {
            if (!inline_ok || (p = scan_inline(p, e, &argc)) == NULL)
                goto done;
            end = p;
            requests++;
            continue;
        }
        p = scan_number(p + 1, e, &n, &cut);
        if (p == NULL)
            goto stopped;
        if (n < 1 || n > INT_MAX)
            goto done;
        while (n--) {
            if (p == e) {
                cut = 1;
                goto stopped;
            }
            if (*p != '$')
                goto done;
            p = scan_number(p + 1, e, &len, &cut);
            if (p == NULL)
                goto stopped;
            if (len > max_bulk)
                goto done;
            if (e - p < len + 2) {
                /* The payload is still arriving: a request that is one
                 * large argument is scanned once, not once per read. */
                if (e - p > len && p[len] != '\r')
                    goto done;
                *need = (p - s) + len + 2;
                goto finish;
            }
            if (p[len] != '\r' || p[len + 1] != '\n')
                goto done;
            p += len + 2;
        }
        end = p;
        requests++;
    }
    *need = 0;
    goto finish;
stopped:
    if (cut)
        *need = (e - s) + 1;
done:
finish:
    *count = requests;
    return end;
}

/* Command names repeat on every request: a small cache hands out the same
 * bytes object for the same name, which saves its allocation and, as a
 * bytes object caches its hash, the hashing of the command-table lookup.
 * When the command table's own key objects were registered
 * (set_command_names), those are the ones handed out, so the lookup
 * matches by identity without comparing the bytes. (Sharing is safe:
 * bytes are immutable.) */
#define NAME_CACHE_SIZE 256
static PyObject *name_cache[NAME_CACHE_SIZE];
static PyObject *canonical_names;      /* {name: name} or NULL */

static PyObject *command_name(const unsigned char *s, Py_ssize_t len)
{
    if (len == 0 || len > 24)
        return PyBytes_FromStringAndSize((const char *)s, len);
    unsigned h = (unsigned)len;
    for (Py_ssize_t i = 0; i < len; i++)
        h = h * 31 + s[i];
    h &= NAME_CACHE_SIZE - 1;
    PyObject *o = name_cache[h];
    if (o != NULL && PyBytes_GET_SIZE(o) == len && memcmp(PyBytes_AS_STRING(o), s, len) == 0) {
        Py_INCREF(o);
        return o;
    }
    o = PyBytes_FromStringAndSize((const char *)s, len);
    if (o == NULL)
        return NULL;
    if (canonical_names != NULL) {
        PyObject *canon = PyDict_GetItemWithError(canonical_names, o);
        if (canon != NULL && PyBytes_CheckExact(canon)) {
            Py_INCREF(canon);
            Py_DECREF(o);
            o = canon;
        } else if (PyErr_Occurred()) {
            Py_DECREF(o);
            return NULL;
        }
    }
    Py_XDECREF(name_cache[h]);
    Py_INCREF(o);
    name_cache[h] = o;
    return o;
}

/* set_command_names({name: name}) registers the command table's key
 * objects for command_name to hand out; None unregisters. */
static PyObject *py_set_command_names(PyObject *self, PyObject *arg)
{
    if (arg != Py_None && !PyDict_CheckExact(arg)) {
        PyErr_SetString(PyExc_TypeError, "set_command_names(dict or None)");
        return NULL;
    }
    for (int i = 0; i < NAME_CACHE_SIZE; i++)
        Py_CLEAR(name_cache[i]);
    Py_XDECREF(canonical_names);
    canonical_names = NULL;
    if (arg != Py_None) {
        Py_INCREF(arg);
        canonical_names = arg;
    }
    Py_RETURN_NONE;
}

/* parse_requests(buf, max_bulk, inline=False) -> (requests, consumed, need)
 *
 * The whole requests at the start of buf (bytes or bytearray) in the strict
 * form (scan_prefix; inline requests too when ``inline`` is true: a client's
 * input, not the master's stream), as lists of bytes; how many bytes they take; what
 * follows them (scan_prefix's *need: 0 nothing, >0 a request cut by the end
 * of the read, -1 input for the exact parser). This parser is stricter than
 * Redis's, so whatever it accepts Redis reads the same way; a request split
 * across reads stays here (the caller keeps the tail and calls again when
 * it is need bytes long), and only what it refuses goes to the exact parser. */
static PyObject *py_parse_requests(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    const unsigned char *s;
    Py_ssize_t size;
    if ((nargs == 2 || nargs == 3) && PyBytes_Check(args[0])) {
        s = (const unsigned char *)PyBytes_AS_STRING(args[0]);
        size = PyBytes_GET_SIZE(args[0]);
    } else if ((nargs == 2 || nargs == 3) && PyByteArray_Check(args[0])) {
        s = (const unsigned char *)PyByteArray_AS_STRING(args[0]);
        size = PyByteArray_GET_SIZE(args[0]);
    } else {
        PyErr_SetString(PyExc_TypeError, "parse_requests(bytes or bytearray, int[, inline])");
        return NULL;
    }
    long long max_bulk = PyLong_AsLongLong(args[1]);
    if (max_bulk == -1 && PyErr_Occurred())
        return NULL;
    int inline_ok = nargs == 3 ? PyObject_IsTrue(args[2]) : 0;
    if (inline_ok < 0)
        return NULL;
    Py_ssize_t count, need;
    const unsigned char *end = scan_prefix(s, s + size, max_bulk, inline_ok, &count, &need);
    PyObject *out = PyList_New(count);
    if (out == NULL)
        return NULL;
    /* The scan vouched for the form: the numbers need no checks here. */
    const unsigned char *p = s;
    for (Py_ssize_t r = 0; r < count; r++) {
        if (*p != '*') {
            /* An inline line: its arguments, split on spaces, tabs, CRs. */
            Py_ssize_t argc = 0, k = 0;
            scan_inline(p, end, &argc);
            PyObject *argv = PyList_New(argc);
            if (argv == NULL)
                goto error;
            PyList_SET_ITEM(out, r, argv);
            while (*p != '\n') {
                if (INLINE_SPACE(*p)) {
                    p++;
                    continue;
                }
                const unsigned char *a = p;
                while (*p != '\n' && !INLINE_SPACE(*p))
                    p++;
                PyObject *arg = k == 0 ? command_name(a, p - a)
                                       : string_bytes((const char *)a, p - a);
                if (arg == NULL)
                    goto error;
                PyList_SET_ITEM(argv, k++, arg);
            }
            p++;
            continue;
        }
        Py_ssize_t n = 0;
        for (p++; *p != '\r'; p++)
            n = n * 10 + (*p - '0');
        p += 2;
        PyObject *argv = PyList_New(n);
        if (argv == NULL)
            goto error;
        PyList_SET_ITEM(out, r, argv);
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_ssize_t len = 0;
            for (p++; *p != '\r'; p++)
                len = len * 10 + (*p - '0');
            p += 2;
            PyObject *arg = i == 0 ? command_name(p, len)
                                   : string_bytes((const char *)p, len);
            if (arg == NULL)
                goto error;
            PyList_SET_ITEM(argv, i, arg);
            p += len + 2;
        }
    }
    PyObject *result = PyTuple_New(3);
    PyObject *used = PyLong_FromSsize_t(end - s);
    PyObject *more = PyLong_FromSsize_t(need);
    if (result == NULL || used == NULL || more == NULL) {
        Py_XDECREF(result);
        Py_XDECREF(used);
        Py_XDECREF(more);
        goto error;
    }
    PyTuple_SET_ITEM(result, 0, out);
    PyTuple_SET_ITEM(result, 1, used);
    PyTuple_SET_ITEM(result, 2, more);
    return result;

error:
    Py_DECREF(out);
    return NULL;
}

static Py_ssize_t decimal_len(Py_ssize_t v)
{
    if (v < 10)
        return 1;
    Py_ssize_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

static char *put_line(char *p, char type, Py_ssize_t v)
{
    char tmp[24];
    int n = 0;
    *p++ = type;
    if (v < 100) {
        /* Argument counts and most argument lengths: no division loop. */
        if (v >= 10)
            *p++ = (char)('0' + v / 10);
        *p++ = (char)('0' + v % 10);
    } else {
        do {
            tmp[n++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        while (n)
            *p++ = tmp[--n];
    }
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* Writes v in decimal at p (room for 20 characters); returns the end. */
static char *put_decimal(char *p, long long v)
{
    char tmp[24];
    int n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *p++ = '-';
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* Writes ":<v>\r\n" at p (room for 23 characters); returns the end. */
static char *put_integer_reply(char *p, long long v)
{
    *p++ = ':';
    p = put_decimal(p, v);
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

static PyObject *py_integer_reply(PyObject *self, PyObject *arg)
{
    long long v = PyLong_AsLongLong(arg);
    if (v == -1 && PyErr_Occurred())
        return NULL;
    char buf[32];
    return PyBytes_FromStringAndSize(buf, put_integer_reply(buf, v) - buf);
}

/* mset_pairs(data, lru, argv, clock): data[k] = v and lru[k] = clock for
 * each key and value pair of argv[1:] in order (MSET's plain case: one C
 * loop instead of slicing the arguments twice, zipping them and building
 * a dict of the clocks). A mapping that is not exactly a dict (cluster
 * mode's SlotKeyspace, which indexes its keys by slot) gets its own
 * __setitem__. */
static PyObject *py_mset_pairs(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyList_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "mset_pairs(data, lru, list, clock)");
        return NULL;
    }
    PyObject *data = args[0], *lru = args[1], *argv = args[2], *clock = args[3];
    int data_exact = PyDict_CheckExact(data), lru_exact = PyDict_CheckExact(lru);
    int plain = plain_keyspace(data, lru);
    for (Py_ssize_t i = 1; i + 1 < PyList_GET_SIZE(argv); i += 2) {
        PyObject *k = PyList_GET_ITEM(argv, i), *v = PyList_GET_ITEM(argv, i + 1);
        Py_INCREF(k);
        Py_INCREF(v);
        int r;
        if (plain)
            r = keyspace_api->set(data, k, v, clock);
        else {
            r = data_exact ? PyDict_SetItem(data, k, v) : PyObject_SetItem(data, k, v);
            if (r == 0)
                r = lru_exact ? PyDict_SetItem(lru, k, clock) : PyObject_SetItem(lru, k, clock);
        }
        Py_DECREF(k);
        Py_DECREF(v);
        if (r < 0)
            return NULL;
    }
    Py_RETURN_NONE;
}

/* bulk_reply(v) -> b'$%d\r\n%s\r\n' % (len(v), v) for a bytes-like v:
 * the reply of GET and every other single string, built with one copy. */
static PyObject *py_bulk_reply(PyObject *self, PyObject *arg)
{
    const char *s;
    Py_ssize_t n;
    if (PyBytes_Check(arg)) {
        s = PyBytes_AS_STRING(arg);
        n = PyBytes_GET_SIZE(arg);
    } else if (PyByteArray_Check(arg)) {
        s = PyByteArray_AS_STRING(arg);
        n = PyByteArray_GET_SIZE(arg);
    } else {
        /* Any other bytes-like object, as %s takes it. */
        Py_buffer view;
        if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
            return NULL;
        PyObject *copy = PyBytes_FromStringAndSize(view.buf, view.len);
        PyBuffer_Release(&view);
        if (copy == NULL)
            return NULL;
        PyObject *out = py_bulk_reply(self, copy);
        Py_DECREF(copy);
        return out;
    }
    char head[32];
    Py_ssize_t h = put_line(head, '$', n) - head;
    PyObject *out = PyBytes_FromStringAndSize(NULL, h + n + 2);
    if (out == NULL)
        return NULL;
    char *p = PyBytes_AS_STRING(out);
    memcpy(p, head, (size_t)h);
    memcpy(p + h, s, (size_t)n);
    p[h + n] = '\r';
    p[h + n + 1] = '\n';
    return out;
}

static PyObject *py_decimal(PyObject *self, PyObject *arg)
{
    long long v = PyLong_AsLongLong(arg);
    if (v == -1 && PyErr_Occurred())
        return NULL;
    char buf[24];
    return PyBytes_FromStringAndSize(buf, put_decimal(buf, v) - buf);
}

/* incrDecrCommand's arithmetic: cur + by as the stored value and the
 * integer reply. 1 with both set, 0 when it would overflow, -1 on error. */
static int incr_format(int64_t cur, long long by, PyObject **stored, PyObject **reply)
{
    if ((by < 0 && cur < 0 && by < LLONG_MIN - cur) ||
            (by > 0 && cur > 0 && by > LLONG_MAX - cur))
        return 0;
    char buf[32], *p = put_integer_reply(buf, cur + by);
    *stored = string_bytes(buf + 1, p - buf - 3);
    if (*stored == NULL)
        return -1;
    *reply = PyBytes_FromStringAndSize(buf, p - buf);
    if (*reply == NULL) {
        Py_CLEAR(*stored);
        return -1;
    }
    return 1;
}

/* incr_value(value, by) -> (new_value, reply) | None | False
 *
 * INCR/DECR/INCRBY/DECRBY on a string value (bytes): the new value as
 * stored and the integer reply, both formatted here - one call for what
 * takes a parse, an overflow check and two formattings in Python. None
 * when the value is not an integer, False when the result would overflow
 * (incrDecrCommand's two errors). */
static PyObject *py_incr_value(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyBytes_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "incr_value(bytes, int)");
        return NULL;
    }
    long long by = PyLong_AsLongLong(args[1]);
    if (by == -1 && PyErr_Occurred())
        return NULL;
    int64_t cur;
    if (!parse_int64((const unsigned char *)PyBytes_AS_STRING(args[0]),
                     (size_t)PyBytes_GET_SIZE(args[0]), &cur))
        Py_RETURN_NONE;
    PyObject *stored, *reply;
    int r = incr_format(cur, by, &stored, &reply);
    if (r <= 0) {
        if (r < 0)
            return NULL;
        Py_RETURN_FALSE;
    }
    PyObject *t = PyTuple_New(2);
    if (t == NULL) {
        Py_DECREF(stored);
        Py_DECREF(reply);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, stored);
    PyTuple_SET_ITEM(t, 1, reply);
    return t;
}

/* pack_commands(argvs) -> bytes
 *
 * Each argv (a list or tuple of bytes) as "*<n>\r\n" and n bulks, all
 * concatenated. Every write with the AOF on or replicas attached is
 * encoded this way; a Python or hiredis encoder costs several times the
 * command itself. TypeError for anything but exact bytes arguments (the
 * callers fall back to their general encoder). Two passes: sizes, then one
 * allocation filled in place. */
static PyObject *py_pack_commands(PyObject *self, PyObject *arg)
{
    PyObject *seq = PySequence_Fast(arg, "pack_commands() expects a sequence of commands");
    if (seq == NULL)
        return NULL;
    Py_ssize_t ncmds = PySequence_Fast_GET_SIZE(seq), total = 0;
    PyObject **cmds = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < ncmds; i++) {
        PyObject *argv = cmds[i];
        if (!PyList_Check(argv) && !PyTuple_Check(argv))
            goto type_error;
        Py_ssize_t argc = PySequence_Fast_GET_SIZE(argv);
        PyObject **args = PySequence_Fast_ITEMS(argv);
        total += 3 + decimal_len(argc);
        for (Py_ssize_t j = 0; j < argc; j++) {
            if (!PyBytes_CheckExact(args[j]))
                goto type_error;
            Py_ssize_t len = PyBytes_GET_SIZE(args[j]);
            total += 5 + decimal_len(len) + len;
        }
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, total);
    if (out == NULL) {
        Py_DECREF(seq);
        return NULL;
    }
    char *p = PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < ncmds; i++) {
        PyObject *argv = cmds[i];
        Py_ssize_t argc = PySequence_Fast_GET_SIZE(argv);
        PyObject **args = PySequence_Fast_ITEMS(argv);
        p = put_line(p, '*', argc);
        for (Py_ssize_t j = 0; j < argc; j++) {
            Py_ssize_t len = PyBytes_GET_SIZE(args[j]);
            p = put_line(p, '$', len);
            memcpy(p, PyBytes_AS_STRING(args[j]), (size_t)len);
            p += len;
            *p++ = '\r';
            *p++ = '\n';
        }
    }
    Py_DECREF(seq);
    return out;

type_error:
    Py_DECREF(seq);
    PyErr_SetString(PyExc_TypeError, "pack_commands() takes lists or tuples of bytes");
    return NULL;
}

/* -- run_requests: the trusted request path's loop ----------------------------------
 *
 * run_requests(client, reqs, i) -> (i, status)
 *
 * Runs the requests of reqs (what parse_requests returned) from index i, as
 * networking.py's Client._process_input describes: the common case of
 * Server.process_command and Server.call inlined, for a client no gate
 * applies to. This is that inlined copy (there is no other one): it calls
 * the same handlers and the same Python helpers for every effect
 * (Server.error_replied, Server._internal_error, Client._propagate_inline,
 * Server.slow_call), and only the loop's own bookkeeping - the table
 * lookup, the arity and gate tests, the timing, appending the reply -
 * is done here, because in Python it cost about as much as a GET's handler.
 * tests/test_call_paths.py pins it to call(). A client in CLIENT TRACKING
 * runs here too: each of its commands is followed by what tracking.py asks
 * (tracked_ran; tests/test_tracking.py pins it to call() and redis-server).
 *
 * It stops at the first request it does not run itself and returns its
 * index with status 1 (the caller gives it to process_command and calls
 * again after it), or after a request that left the client closing or paused
 * (status 2, i past that request), or at the end (status 0).
 *
 * Each request is timed on its own, as call() times each command (Redis's
 * call()), and its duration goes to the slow log and the latency monitor
 * (Server.slow_call) when it reaches server.slow_ns, and to the command's
 * latency histogram. The clock is CLOCK_MONOTONIC, which clock_gettime reads in
 * the vDSO (about 20 ns), read once per request: a request's time runs from
 * just before its handler to just before the next request's handler (or the end
 * of the loop), so it also holds the bookkeeping of its reply (error
 * statistics, the append, propagation, tracking) and the next request's table
 * lookup, which call() leaves out (reading the clock after each handler too
 * cost 20-40 ns more per request at -P 16), and the durations of a run add up
 * to exactly the time it took. What is nobody's command is left out: a run's
 * start and end (start_run, end_run) and a slow-log entry are each followed by
 * a fresh reading. What Python objects hold is written once per run of
 * consecutive requests of one command instead of once per request: the run's
 * sum of durations and its count go to the command's counters, and its
 * histogram counts, kept here by microsecond below RUN_HIST_US (a longer
 * request is counted at once), go to cmd.hist, when the run ends, which is
 * always before this returns. (INFO, which reads them, does not run here.)
 */

static PyObject *rr_command_error;      /* resp.CommandError */
static PyObject *rr_replies_type;       /* networking.Replies: a plain list */
static PyObject *s_server, *s_dispatch, *s_out, *s_gated, *s_closing, *s_paused_reading,
                *s_inline_min, *s_inline_max, *s_denyoom, *s_proc, *s_oom_check,
                *s_oom_passes, *s_propagate_targets, *s_dirty, *s_propagate_argv,
                *s_also_propagated, *s_error_replied, *s_failed_calls, *s_internal_error,
                *s_propagate_inline, *s_duration, *s_calls, *s_last_cmd, *s_slow_ns,
                *s_slow_call, *s_reply, *s_append, *s_latency_tracking, *s_tracked, *s_id,
                *s_tracking, *s_current_client, *s_table, *s_finders, *s_fast_state, *s_items,
                *s_limit, *s_after_call, *s_after_command, *s_pending, *s_flush_pending,
                *s_config, *s_max_keys;

/* The offsets of Client's slots that are read for every request
 * (LOAD_ATTR_SLOT's shortcut): gated, closing, paused_reading. */
static PyTypeObject *rr_client_type;
static Py_ssize_t off_gated, off_closing, off_paused_reading, off_last_cmd;
/* And Command's counters, written after every run of a command: found from
 * the first command timed (the command table holds one class). */
static PyTypeObject *rr_command_type;
static Py_ssize_t off_duration, off_calls;

static int attr_true(PyObject *obj, PyObject *name);

/* client.<slot> truthiness, for the slot at ``off`` named ``name``. */
static inline int slot_true(PyObject *client, Py_ssize_t off, PyObject *name)
{
    if (Py_TYPE(client) == rr_client_type) {
        PyObject *v = *(PyObject **)((char *)client + off);
        if (v != NULL)
            return truth(v);
    }
    return attr_true(client, name);
}

static int slot_offset(PyObject *type, const char *name, Py_ssize_t *off)
{
    PyObject *descr = PyObject_GetAttrString(type, name);
    if (descr == NULL)
        return -1;
    int ok = Py_IS_TYPE(descr, &PyMemberDescr_Type)
             && ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX;
    if (ok)
        *off = ((PyMemberDescrObject *)descr)->d_member->offset;
    Py_DECREF(descr);
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%s is not a slot", name);
        return -1;
    }
    return 0;
}

/* obj.name truthiness; -1 on error. */
static int attr_true(PyObject *obj, PyObject *name)
{
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL)
        return -1;
    int r = truth(v);
    Py_DECREF(v);
    return r;
}

/* obj.name += n for a Python integer attribute. */
static int attr_add(PyObject *obj, PyObject *name, long long n)
{
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL)
        return -1;
    PyObject *sum = int_plus(v, n);
    Py_DECREF(v);
    if (sum == NULL)
        return -1;
    int r = PyObject_SetAttr(obj, name, sum);
    Py_DECREF(sum);
    return r;
}

/* obj.<slot at off> += n, for an int slot; 1 when done, 0 when the slot
 * is not a plain int (the caller then takes the attribute protocol). */
static int slot_add(PyObject *obj, Py_ssize_t off, long long n)
{
    PyObject **p = (PyObject **)((char *)obj + off);
    if (*p == NULL || !PyLong_CheckExact(*p))
        return 0;
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(*p, &overflow);
    if (overflow || (v > 0 && n > LLONG_MAX - v))
        return 0;
    PyObject *sum = PyLong_FromLongLong(v + n);
    if (sum == NULL)
        return -1;
    Py_XSETREF(*p, sum);
    return 1;
}

static int hdr_count(PyObject *cmd, long long us, long long n);

/* The histogram counts of a run by whole microseconds below this (a run of
 * ordinary commands lands in a few of them); a longer call is counted in
 * cmd.hist at once. */
#define RUN_HIST_US 32

/* A run of requests of one command: what call() adds up for each of them,
 * added to the command once the run ends (end_run). */
typedef struct {
    PyObject *cmd;              /* NULL: no run */
    long long calls, duration;  /* duration: the exact sum, in ns */
    long long slow_ns;          /* server.slow_ns when the run started */
    int tracking;               /* server.latency_tracking when it started */
    int hist_top;               /* hist[0:hist_top] may hold counts */
    long long hist[RUN_HIST_US];
} Run;

/* A run of ``cmd`` starts: the settings it is timed against. Commands
 * that change them (CONFIG SET, RESETSTAT) do not run here, so they hold
 * for the run. */
static int start_run(Run *run, PyObject *server, PyObject *cmd)
{
    int tracking = attr_true(server, s_latency_tracking);
    if (tracking < 0)
        return -1;
    PyObject *slow = PyObject_GetAttr(server, s_slow_ns);
    if (slow == NULL)
        return -1;
    int overflow;
    long long slow_ns = PyLong_AsLongLongAndOverflow(slow, &overflow);
    Py_DECREF(slow);
    if (slow_ns == -1 && PyErr_Occurred())
        return -1;
    run->slow_ns = overflow > 0 ? LLONG_MAX : slow_ns;
    run->tracking = tracking;
    run->calls = run->duration = 0;
    run->hist_top = 0;
    Py_INCREF(cmd);
    Py_XSETREF(run->cmd, cmd);
    return 0;
}

/* One request of the run took ``d`` ns (call()'s bookkeeping for that one
 * call but the counters'): the histogram, the slow log and the latency
 * monitor. 1 when it went to the slow log (Server.slow_call), 0 when not,
 * -1 on error. */
static int time_call(Run *run, PyObject *client, PyObject *server, PyObject *req, long long d)
{
    run->calls++;
    run->duration += d;
    if (run->tracking) {
        long long us = d / 1000;
        if (us < RUN_HIST_US) {
            if (us >= run->hist_top) {
                memset(run->hist + run->hist_top, 0,
                       (us + 1 - run->hist_top) * sizeof(run->hist[0]));
                run->hist_top = (int)us + 1;
            }
            run->hist[us]++;
        } else if (hdr_count(run->cmd, us, 1) < 0) {
            return -1;
        }
    }
    if (d >= run->slow_ns) {
        PyObject *dd = PyLong_FromLongLong(d);
        if (dd == NULL)
            return -1;
        PyObject *r = PyObject_CallMethodObjArgs(server, s_slow_call, client, run->cmd, req,
                                                 dd, NULL);
        Py_DECREF(dd);
        if (r == NULL)
            return -1;
        Py_DECREF(r);
        return 1;
    }
    return 0;
}

/* The end of a run: its calls and their summed duration in the command's
 * counters, its histogram counts in cmd.hist, the command as the client's
 * last. Command's and Client's slots are written at their offsets (this
 * runs for every read at -P 1, where the attribute protocol cost ~3k
 * instructions). */
static int end_run(Run *run, PyObject *client)
{
    PyObject *cmd = run->cmd;
    if (cmd == NULL)
        return 0;
    run->cmd = NULL;
    int r = -1;
    if (rr_command_type == NULL) {
        PyObject *type = (PyObject *)Py_TYPE(cmd);
        if (slot_offset(type, "duration", &off_duration) < 0
                || slot_offset(type, "calls", &off_calls) < 0)
            PyErr_Clear();          /* (not slots: the attribute protocol) */
        else
            rr_command_type = (PyTypeObject *)Py_NewRef(type);
    }
    int a = 0, b = 0;
    if (Py_TYPE(cmd) == rr_command_type
            && ((a = slot_add(cmd, off_duration, run->duration)) < 0
                || (b = slot_add(cmd, off_calls, run->calls)) < 0))
        goto done;
    if ((!a && attr_add(cmd, s_duration, run->duration) < 0)
            || (!b && attr_add(cmd, s_calls, run->calls) < 0))
        goto done;
    if (Py_TYPE(client) == rr_client_type) {
        Py_INCREF(cmd);
        Py_XSETREF(*(PyObject **)((char *)client + off_last_cmd), cmd);
    } else if (PyObject_SetAttr(client, s_last_cmd, cmd) < 0) {
        goto done;
    }
    for (int us = 0; us < run->hist_top; us++)
        if (run->hist[us] && hdr_count(cmd, us, run->hist[us]) < 0)
            goto done;
    r = 0;
done:
    Py_DECREF(cmd);
    return r;
}

/* -- CLIENT TRACKING on the trusted path ------------------------------------------
 *
 * remember_keys(table, cid, argv, first, last, step) -> added
 *   table[argv[pos]][cid] = None for pos in range(first, last + 1, step)
 *   (last < 0 counts from the end, as the legacy key positions do; positions
 *   past argv are left out); returns how many keys' sets cid was added to.
 *   tracking.py's after_call puts a read's keys in the tracking table with
 *   it, and run_requests does for a tracking client's reads.
 *
 * What a tracking client's command entails besides call()'s common case is
 * tracking.py's: run_requests only asks it (Tracking.fast_state: are reads
 * remembered now, must after_command follow every command), looks up the
 * command's key finder there (Tracking.finders: a (first, last, step) range
 * is done here with remember_keys; anything else, or a command not seen yet,
 * is Tracking.after_call's), and calls Tracking.after_command when a message
 * waits for the client's reply (pending, flush_pending) or that state says
 * so. The client is server.current_client while its requests run, as
 * process_command makes it. */

static Py_ssize_t remember_range(PyObject *table, PyObject *cid, PyObject *argv,
                                 Py_ssize_t first, Py_ssize_t last, Py_ssize_t step)
{
    if (!PyDict_Check(table) || step < 1) {
        PyErr_SetString(PyExc_ValueError, "remember_keys(dict, cid, argv, first, last, step >= 1)");
        return -1;
    }
    PyObject *seq = PySequence_Fast(argv, "remember_keys: argv must be a sequence");
    if (seq == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq), added = 0;
    PyObject **items = PySequence_Fast_ITEMS(seq);
    if (last < 0)
        last += n;
    if (last > n - 1)
        last = n - 1;
    for (Py_ssize_t pos = first < 0 ? 0 : first; pos <= last; pos += step) {
        PyObject *key = items[pos];
        PyObject *ids = PyDict_GetItemWithError(table, key);
        if (ids == NULL) {
            if (PyErr_Occurred())
                goto error;
            ids = PyDict_New();
            if (ids == NULL)
                goto error;
            int r = PyDict_SetItem(table, key, ids);
            Py_DECREF(ids);     /* (the table holds it) */
            if (r < 0)
                goto error;
        }
        int has = PyDict_Contains(ids, cid);
        if (has < 0)
            goto error;
        if (!has) {
            if (PyDict_SetItem(ids, cid, Py_None) < 0)
                goto error;
            added++;
        }
    }
    Py_DECREF(seq);
    return added;
error:
    Py_DECREF(seq);
    return -1;
}

static PyObject *py_remember_keys(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "remember_keys(table, cid, argv, first, last, step)");
        return NULL;
    }
    Py_ssize_t first = PyLong_AsSsize_t(args[3]), last = PyLong_AsSsize_t(args[4]),
               step = PyLong_AsSsize_t(args[5]);
    if (PyErr_Occurred())
        return NULL;
    Py_ssize_t added = remember_range(args[0], args[1], args[2], first, last, step);
    return added < 0 ? NULL : PyLong_FromSsize_t(added);
}

/* A tracking client's state for one run_requests call; t is NULL when the
 * client does not track (then nothing else is set). */
typedef struct {
    PyObject *t;                /* its tracking.ClientTracking */
    PyObject *server, *tracking, *cid, *table, *finders, *previous;
    long long limit;            /* tracking-table-max-keys */
    int remember, always;       /* Tracking.fast_state */
} Tracked;

/* table, finders and fast_state, again after tracking.py ran. */
static int tracked_refresh(Tracked *tr)
{
    PyObject *table = PyObject_GetAttr(tr->tracking, s_table);
    PyObject *finders = table ? PyObject_GetAttr(tr->tracking, s_finders) : NULL;
    PyObject *st = finders ? PyObject_CallMethodOneArg(tr->tracking, s_fast_state, tr->t) : NULL;
    Py_XSETREF(tr->table, table);
    Py_XSETREF(tr->finders, finders);
    if (st == NULL)
        return -1;
    if (!PyDict_Check(table) || !PyDict_Check(finders) || !PyTuple_Check(st)
            || PyTuple_GET_SIZE(st) != 2) {
        Py_DECREF(st);
        PyErr_SetString(PyExc_TypeError, "tracking: unexpected table, finders or fast_state");
        return -1;
    }
    tr->remember = PyObject_IsTrue(PyTuple_GET_ITEM(st, 0));
    tr->always = PyObject_IsTrue(PyTuple_GET_ITEM(st, 1));
    Py_DECREF(st);
    return tr->remember < 0 || tr->always < 0 ? -1 : 0;
}

/* Whether the client tracks (server.tracked holds its id): one dict size
 * test for the others. */
static int tracked_start(Tracked *tr, PyObject *server, PyObject *client)
{
    memset(tr, 0, sizeof(*tr));
    PyObject *tracked = PyObject_GetAttr(server, s_tracked);
    if (tracked == NULL)
        return -1;
    if (!PyDict_Check(tracked) || PyDict_GET_SIZE(tracked) == 0) {
        Py_DECREF(tracked);
        return 0;
    }
    PyObject *cid = PyObject_GetAttr(client, s_id);
    PyObject *t = cid ? PyDict_GetItemWithError(tracked, cid) : NULL;
    Py_XINCREF(t);
    Py_DECREF(tracked);
    if (t == NULL) {
        Py_XDECREF(cid);
        return PyErr_Occurred() ? -1 : 0;
    }
    tr->t = t;
    tr->cid = cid;
    Py_INCREF(server);
    tr->server = server;
    tr->tracking = PyObject_GetAttr(server, s_tracking);
    if (tr->tracking == NULL)
        return -1;
    PyObject *config = PyObject_GetAttr(server, s_config);
    PyObject *limit = config ? PyObject_GetAttr(config, s_max_keys) : NULL;
    Py_XDECREF(config);
    if (limit == NULL)
        return -1;
    tr->limit = PyLong_AsLongLong(limit);
    Py_DECREF(limit);
    if (tr->limit == -1 && PyErr_Occurred())
        return -1;
    tr->previous = PyObject_GetAttr(server, s_current_client);
    if (tr->previous == NULL || PyObject_SetAttr(server, s_current_client, client) < 0)
        return -1;
    return tracked_refresh(tr);
}

/* The end of the run: current_client put back, whatever error is pending. */
static void tracked_end(Tracked *tr)
{
    if (tr->t == NULL)
        return;
    if (tr->previous != NULL) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        if (PyObject_SetAttr(tr->server, s_current_client, tr->previous) < 0)
            PyErr_WriteUnraisable(tr->server);
        PyErr_Restore(type, value, tb);
    }
    Py_CLEAR(tr->t);
    Py_CLEAR(tr->server);
    Py_CLEAR(tr->tracking);
    Py_CLEAR(tr->cid);
    Py_CLEAR(tr->table);
    Py_CLEAR(tr->finders);
    Py_CLEAR(tr->previous);
}

/* After a tracking client's command (its reply queued): what call() and
 * process_command do for it (tracking.py's after_call and after_command). */
static int tracked_ran(Tracked *tr, PyObject *client, PyObject *cmd, PyObject *req)
{
    if (tr->remember) {
        PyObject *f = PyDict_GetItemWithError(tr->finders, cmd);
        if (f == NULL && PyErr_Occurred())
            return -1;
        if (f != NULL && PyTuple_CheckExact(f) && PyTuple_GET_SIZE(f) == 3) {
            Py_ssize_t first = PyLong_AsSsize_t(PyTuple_GET_ITEM(f, 0));
            Py_ssize_t last = PyLong_AsSsize_t(PyTuple_GET_ITEM(f, 1));
            Py_ssize_t step = PyLong_AsSsize_t(PyTuple_GET_ITEM(f, 2));
            if (PyErr_Occurred())
                return -1;
            Py_ssize_t added = remember_range(tr->table, tr->cid, req, first, last, step);
            if (added < 0 || (added && attr_add(tr->tracking, s_items, added) < 0))
                return -1;
            if (tr->limit > 0 && PyDict_GET_SIZE(tr->table) > tr->limit) {
                PyObject *lim = PyLong_FromLongLong(tr->limit);
                PyObject *r = lim ? PyObject_CallMethodObjArgs(tr->tracking, s_limit, lim, NULL)
                                  : NULL;
                Py_XDECREF(lim);
                if (r == NULL)
                    return -1;
                Py_DECREF(r);
            }
        } else if (f != Py_None) {
            /* Keys found by the key specs, or a command not seen yet. */
            PyObject *r = PyObject_CallMethodObjArgs(tr->tracking, s_after_call, client, cmd,
                                                     req, NULL);
            if (r == NULL)
                return -1;
            Py_DECREF(r);
        }
    }
    int after = tr->always;
    if (!after) {
        PyObject *pending = PyObject_GetAttr(tr->tracking, s_pending);
        if (pending == NULL)
            return -1;
        after = PyList_Check(pending) ? PyList_GET_SIZE(pending) > 0 : PyObject_IsTrue(pending);
        Py_DECREF(pending);
        if (after == 0)
            after = attr_true(tr->tracking, s_flush_pending);
        if (after < 0)
            return -1;
    }
    if (after) {
        PyObject *r = PyObject_CallMethodObjArgs(tr->tracking, s_after_command, client, cmd, NULL);
        if (r == NULL)
            return -1;
        Py_DECREF(r);
        return tracked_refresh(tr);
    }
    return 0;
}

static PyObject *py_run_requests(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyList_Check(args[1]) || rr_command_error == NULL) {
        PyErr_SetString(PyExc_TypeError,
                        "run_requests(client, reqs, i) after set_request_context()");
        return NULL;
    }
    PyObject *client = args[0], *reqs = args[1];
    Py_ssize_t i = PyLong_AsSsize_t(args[2]);
    if (i == -1 && PyErr_Occurred())
        return NULL;
    PyObject *server = NULL, *dispatch = NULL, *out = NULL, *targets = NULL;
    PyObject *cur = NULL, *proc = NULL;     /* the command whose attributes are read */
    PyObject *dirty = NULL, *result = NULL;
    long long cur_min = 0, cur_max = -1;
    int cur_denyoom = 0, has_targets, status = 0;
    int oom_checked = -1;   /* server.oom_check is set (-1: not read yet) */
    Run run;                /* the run of the command being timed */
    PyObject *timed_req = NULL; /* its request whose time runs (borrowed from reqs) */
    long long start = 0;    /* when that request's time started */
    Tracked tr;

    run.cmd = NULL;
    tr.t = NULL;
    server = PyObject_GetAttr(client, s_server);
    if (server == NULL)
        goto error;
    if (tracked_start(&tr, server, client) < 0)
        goto error;
    /* The client's table (its user's), the reply list and whether anything
     * listens for propagation: none of them changes under an inline command
     * (Command.inline); process_command, which may change them, runs between
     * two calls of this function. */
    dispatch = PyObject_GetAttr(client, s_dispatch);
    out = PyObject_GetAttr(client, s_out);
    if (dispatch == NULL || out == NULL)
        goto error;
    if (!PyDict_Check(dispatch)) {
        PyErr_SetString(PyExc_TypeError, "client.dispatch must be a dict");
        goto error;
    }
    targets = PyObject_GetAttr(server, s_propagate_targets);
    if (targets == NULL || (has_targets = PyObject_IsTrue(targets)) < 0)
        goto error;

    for (; i < PyList_GET_SIZE(reqs); i++) {
        PyObject *req = PyList_GET_ITEM(reqs, i);
        if (!PyList_Check(req) || PyList_GET_SIZE(req) < 1) {
            status = 1;
            break;
        }
        Py_ssize_t argc = PyList_GET_SIZE(req);
        PyObject *cmd = PyDict_GetItemWithError(dispatch, PyList_GET_ITEM(req, 0));
        if (cmd == NULL) {
            if (PyErr_Occurred())
                goto error;
            status = 1;
            break;
        }
        if (cmd != cur) {
            PyObject *lo = PyObject_GetAttr(cmd, s_inline_min);
            PyObject *hi = lo ? PyObject_GetAttr(cmd, s_inline_max) : NULL;
            PyObject *p = hi ? PyObject_GetAttr(cmd, s_proc) : NULL;
            int deny = p ? attr_true(cmd, s_denyoom) : -1;
            long long mn = lo ? PyLong_AsLongLong(lo) : -1;
            long long mx = hi ? PyLong_AsLongLong(hi) : -1;
            Py_XDECREF(lo);
            Py_XDECREF(hi);
            if (deny < 0 || PyErr_Occurred()) {
                Py_XDECREF(p);
                goto error;
            }
            Py_XSETREF(proc, p);
            Py_INCREF(cmd);
            Py_XSETREF(cur, cmd);
            cur_min = mn;
            cur_max = mx;
            cur_denyoom = deny;
        }
        int gated = slot_true(client, off_gated, s_gated);
        if (gated < 0)
            goto error;
        if (gated || argc < cur_min || argc > cur_max) {
            status = 1;
            break;
        }
        if (cur_denyoom) {
            /* maxmemory: the OOM gate's common case, a pass left on the
             * estimate, is taken here; the rest is process_command's.
             * Whether there is a limit is read once per call: only CONFIG
             * SET changes it, which runs in process_command. */
            if (oom_checked < 0) {
                PyObject *oom = PyObject_GetAttr(server, s_oom_check);
                if (oom == NULL)
                    goto error;
                oom_checked = oom != Py_None;
                Py_DECREF(oom);
            }
            if (oom_checked) {
                PyObject *passes = PyObject_GetAttr(server, s_oom_passes);
                if (passes == NULL)
                    goto error;
                PyObject *pass = PyIter_Next(passes);
                Py_DECREF(passes);
                int ok = 0;
                if (pass != NULL) {
                    ok = PyObject_IsTrue(pass);
                    Py_DECREF(pass);
                }
                if (ok < 0 || PyErr_Occurred())
                    goto error;
                if (!ok) {
                    status = 1;
                    break;
                }
            }
        }
        /* The previous request's time ends where this one's starts (one
         * clock reading per request in a run), but for what is no
         * command's (a run's bookkeeping, the slow log's entry). */
        if (cmd == run.cmd) {
            long long now = monotonic_ns();
            int logged = time_call(&run, client, server, timed_req, now - start);
            if (logged < 0)
                goto error;
            start = logged ? monotonic_ns() : now;
        } else {
            if (run.cmd != NULL
                    && time_call(&run, client, server, timed_req, monotonic_ns() - start) < 0)
                goto error;
            if (end_run(&run, client) < 0 || start_run(&run, server, cmd) < 0)
                goto error;
            start = monotonic_ns();
        }
        timed_req = req;
        if (has_targets) {
            Py_XSETREF(dirty, PyObject_GetAttr(server, s_dirty));
            if (dirty == NULL || PyObject_SetAttr(client, s_propagate_argv, Py_None) < 0)
                goto error;
        }
        PyObject *callargs[2] = {client, req};
        PyObject *reply = PyObject_Vectorcall(proc, callargs, 2, NULL);
        if (reply == NULL) {
            if (PyErr_ExceptionMatches(rr_command_error)) {
                PyObject *type, *value, *tb;
                PyErr_Fetch(&type, &value, &tb);
                PyErr_NormalizeException(&type, &value, &tb);
                reply = value ? PyObject_GetAttr(value, s_reply) : NULL;
                Py_XDECREF(type);
                Py_XDECREF(value);
                Py_XDECREF(tb);
            } else if (PyErr_ExceptionMatches(PyExc_Exception)) {
                /* A handler bug must not take the server down. */
                PyObject *type, *value, *tb;
                PyErr_Fetch(&type, &value, &tb);
                PyErr_NormalizeException(&type, &value, &tb);
                if (tb != NULL && value != NULL)
                    PyException_SetTraceback(value, tb);
#if PY_VERSION_HEX >= 0x030B0000
                /* Being handled, as in an except clause: the log shows its
                 * traceback (traceback.format_exc). */
                PyObject *outer = PyErr_GetHandledException();
                PyErr_SetHandledException(value);
#endif
                reply = value ? PyObject_CallMethodObjArgs(server, s_internal_error, client, cmd,
                                                           value, NULL) : NULL;
#if PY_VERSION_HEX >= 0x030B0000
                PyErr_SetHandledException(outer);
                Py_XDECREF(outer);
#endif
                Py_XDECREF(type);
                Py_XDECREF(value);
                Py_XDECREF(tb);
            }
            if (reply == NULL)
                goto error;
        }
        if (reply != Py_None) {
            int err;
            if (PyBytes_Check(reply))
                err = PyBytes_GET_SIZE(reply) > 0 && PyBytes_AS_STRING(reply)[0] == '-';
            else if (PyByteArray_Check(reply))
                err = PyByteArray_GET_SIZE(reply) > 0 && PyByteArray_AS_STRING(reply)[0] == '-';
            else
                err = 0;
            if (err) {
                PyObject *r = PyObject_CallMethodOneArg(server, s_error_replied, reply);
                if (r == NULL || attr_add(cmd, s_failed_calls, 1) < 0) {
                    Py_XDECREF(r);
                    Py_DECREF(reply);
                    goto error;
                }
                Py_DECREF(r);
            }
            int appended;
            if (Py_TYPE(out) == (PyTypeObject *)rr_replies_type) {
                appended = PyList_Append(out, reply);
            } else {
                /* LimitedReplies counts each reply against the limits. */
                PyObject *r = PyObject_CallMethodOneArg(out, s_append, reply);
                appended = r == NULL ? -1 : 0;
                Py_XDECREF(r);
            }
            if (appended < 0) {
                Py_DECREF(reply);
                goto error;
            }
        }
        Py_DECREF(reply);
        if (has_targets) {
            PyObject *now_dirty = PyObject_GetAttr(server, s_dirty);
            if (now_dirty == NULL)
                goto error;
            int changed = PyObject_RichCompareBool(now_dirty, dirty, Py_NE);
            Py_DECREF(now_dirty);
            if (changed < 0)
                goto error;
            if (!changed && (changed = attr_true(server, s_also_propagated)) < 0)
                goto error;
            if (changed) {
                PyObject *r = PyObject_CallMethodObjArgs(client, s_propagate_inline, cmd, req,
                                                         dirty, NULL);
                if (r == NULL)
                    goto error;
                Py_DECREF(r);
            }
        }
        if (tr.t != NULL && tracked_ran(&tr, client, cmd, req) < 0)
            goto error;
        int stop = slot_true(client, off_closing, s_closing);
        if (stop == 0)
            stop = slot_true(client, off_paused_reading, s_paused_reading);
        if (stop < 0)
            goto error;
        if (stop) {
            i++;
            status = 2;
            break;
        }
    }
    if (run.cmd != NULL && (time_call(&run, client, server, timed_req, monotonic_ns() - start) < 0
                            || end_run(&run, client) < 0))
        goto error;
    result = Py_BuildValue("(ni)", i, status);
error:
    Py_XDECREF(run.cmd);
    tracked_end(&tr);
    Py_XDECREF(server);
    Py_XDECREF(dispatch);
    Py_XDECREF(out);
    Py_XDECREF(targets);
    Py_XDECREF(cur);
    Py_XDECREF(proc);
    Py_XDECREF(dirty);
    return result;
}

/* set_request_context(CommandError, Replies, Client): what run_requests
 * needs to know. */
static PyObject *py_set_request_context(PyObject *self, PyObject *args)
{
    PyObject *error, *replies, *client;
    if (!PyArg_ParseTuple(args, "OO!O!:set_request_context", &error, &PyType_Type, &replies,
                          &PyType_Type, &client))
        return NULL;
    if (slot_offset(client, "gated", &off_gated) < 0
            || slot_offset(client, "closing", &off_closing) < 0
            || slot_offset(client, "paused_reading", &off_paused_reading) < 0
            || slot_offset(client, "last_cmd", &off_last_cmd) < 0)
        return NULL;
    if (s_server == NULL) {
#define INTERN(v, s) if ((v = PyUnicode_InternFromString(s)) == NULL) return NULL
        INTERN(s_server, "server"); INTERN(s_dispatch, "dispatch"); INTERN(s_out, "out");
        INTERN(s_gated, "gated"); INTERN(s_closing, "closing");
        INTERN(s_paused_reading, "paused_reading"); INTERN(s_inline_min, "inline_min");
        INTERN(s_inline_max, "inline_max"); INTERN(s_denyoom, "denyoom"); INTERN(s_proc, "proc");
        INTERN(s_oom_check, "oom_check"); INTERN(s_oom_passes, "oom_passes");
        INTERN(s_propagate_targets, "propagate_targets"); INTERN(s_dirty, "dirty");
        INTERN(s_propagate_argv, "propagate_argv");
        INTERN(s_also_propagated, "also_propagated");
        INTERN(s_error_replied, "error_replied"); INTERN(s_failed_calls, "failed_calls");
        INTERN(s_internal_error, "_internal_error");
        INTERN(s_propagate_inline, "_propagate_inline"); INTERN(s_duration, "duration");
        INTERN(s_calls, "calls"); INTERN(s_last_cmd, "last_cmd"); INTERN(s_slow_ns, "slow_ns");
        INTERN(s_slow_call, "slow_call"); INTERN(s_reply, "reply"); INTERN(s_append, "append");
        INTERN(s_latency_tracking, "latency_tracking"); INTERN(s_tracked, "tracked");
        INTERN(s_id, "id"); INTERN(s_tracking, "tracking");
        INTERN(s_current_client, "current_client"); INTERN(s_table, "table");
        INTERN(s_finders, "finders"); INTERN(s_fast_state, "fast_state");
        INTERN(s_items, "items"); INTERN(s_limit, "_limit"); INTERN(s_after_call, "after_call");
        INTERN(s_after_command, "after_command"); INTERN(s_pending, "pending");
        INTERN(s_flush_pending, "flush_pending"); INTERN(s_config, "config");
        INTERN(s_max_keys, "tracking_table_max_keys");
#undef INTERN
    }
    Py_INCREF(error);
    Py_XSETREF(rr_command_error, error);
    Py_INCREF(replies);
    Py_XSETREF(rr_replies_type, replies);
    Py_INCREF(client);
    Py_XSETREF(rr_client_type, (PyTypeObject *)client);
    Py_RETURN_NONE;
}

/* -- KeyGuard: a restricted ACL user's key check in front of a handler ----------- */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    Py_ssize_t pos;
    PyObject *prefixes;     /* tuple of bytes */
    PyObject *proc;
    PyObject *denied;
} KeyGuardObject;

static PyObject *keyguard_vectorcall(PyObject *op, PyObject *const *args, size_t nargsf,
                                     PyObject *kwnames)
{
    KeyGuardObject *self = (KeyGuardObject *)op;
    if (PyVectorcall_NARGS(nargsf) == 2 && kwnames == NULL) {
        PyObject *argv = args[1];
        if (PyList_CheckExact(argv) && self->pos < PyList_GET_SIZE(argv)) {
            PyObject *key = PyList_GET_ITEM(argv, self->pos);
            if (PyBytes_CheckExact(key)) {
                Py_ssize_t klen = PyBytes_GET_SIZE(key);
                const char *k = PyBytes_AS_STRING(key);
                Py_ssize_t n = PyTuple_GET_SIZE(self->prefixes);
                for (Py_ssize_t i = 0; i < n; i++) {
                    PyObject *p = PyTuple_GET_ITEM(self->prefixes, i);
                    Py_ssize_t plen = PyBytes_GET_SIZE(p);
                    if (plen <= klen && memcmp(k, PyBytes_AS_STRING(p), (size_t)plen) == 0)
                        return PyObject_Vectorcall(self->proc, args, nargsf, NULL);
                }
            }
        }
    }
    /* Not a prefix match (or not the usual arguments): the full check. */
    return PyObject_Vectorcall(self->denied, args, nargsf, kwnames);
}

static PyObject *keyguard_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    Py_ssize_t pos;
    PyObject *prefixes, *proc, *denied;
    if (kwds != NULL && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "KeyGuard() takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "nO!OO:KeyGuard", &pos, &PyTuple_Type, &prefixes, &proc,
                          &denied))
        return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(prefixes); i++) {
        if (!PyBytes_CheckExact(PyTuple_GET_ITEM(prefixes, i))) {
            PyErr_SetString(PyExc_TypeError, "KeyGuard() prefixes must be bytes");
            return NULL;
        }
    }
    if (pos < 0 || !PyCallable_Check(proc) || !PyCallable_Check(denied)) {
        PyErr_SetString(PyExc_ValueError, "KeyGuard(pos >= 0, prefixes, proc, denied)");
        return NULL;
    }
    KeyGuardObject *self = (KeyGuardObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->vectorcall = keyguard_vectorcall;
    self->pos = pos;
    Py_INCREF(prefixes);
    self->prefixes = prefixes;
    Py_INCREF(proc);
    self->proc = proc;
    Py_INCREF(denied);
    self->denied = denied;
    return (PyObject *)self;
}

static int keyguard_traverse(KeyGuardObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->prefixes);
    Py_VISIT(self->proc);
    Py_VISIT(self->denied);
    return 0;
}

static int keyguard_clear(KeyGuardObject *self)
{
    Py_CLEAR(self->prefixes);
    Py_CLEAR(self->proc);
    Py_CLEAR(self->denied);
    return 0;
}

static void keyguard_dealloc(KeyGuardObject *self)
{
    PyObject_GC_UnTrack(self);
    keyguard_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject KeyGuardType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyredis._speedups.KeyGuard",
    .tp_basicsize = sizeof(KeyGuardObject),
    .tp_dealloc = (destructor)keyguard_dealloc,
    .tp_vectorcall_offset = offsetof(KeyGuardObject, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "KeyGuard(pos, prefixes, proc, denied): proc(c, argv) when argv[pos] starts "
              "with a prefix, else denied(c, argv)",
    .tp_traverse = (traverseproc)keyguard_traverse,
    .tp_clear = (inquiry)keyguard_clear,
    .tp_new = keyguard_new,
};

/* -- hdr_record: latency-tracking's count of a call ---------------------------------
 *
 * hdr_record(cmd, us, n=1): hdr.record_py (pyredis/hdr.py) in C, the same
 * counts in the same slots of cmd.hist, for call() and the scripts' C path;
 * the trusted path's loop counts with hdr_count itself (once per run and
 * duration: see run_requests). At one request per read (-P 1) that is every
 * command, where the Python function took about 1,300 of the request path's
 * 20,000 instructions (this, about 700). */

static PyObject *s_hist;
#define HDR_COUNTS_LEN 3072     /* hdr.COUNTS_LEN */
static PyObject *hdr_slots[HDR_COUNTS_LEN];

/* cmd.hist[slot of us] += n: hdr_record's work, for the callers in C. */
static int hdr_count(PyObject *cmd, long long us, long long n)
{
    if (s_hist == NULL && (s_hist = PyUnicode_InternFromString("hist")) == NULL)
        return -1;
    /* Redis records us * 1000 ns clamped to [LATENCY_HISTOGRAM_MIN_VALUE,
     * LATENCY_HISTOGRAM_MAX_VALUE] (1 ns, 1 s). */
    long long v = us >= 1000000 ? 1000000000 : us <= 0 ? 1 : us * 1000;
    /* counts_index: two significant digits, sub-bucket half count 128. */
    int b = 64 - __builtin_clzll((unsigned long long)(v | 255)) - 8;
    long long i = ((long long)(b + 1) << 7) + (v >> b) - 128;
    /* The slots' int objects are made once: the dict then finds its key by
     * identity, and none is allocated per call. */
    PyObject *slot = i >= 0 && i < HDR_COUNTS_LEN ? hdr_slots[i] : NULL;
    if (slot == NULL) {
        slot = PyLong_FromLongLong(i);
        if (slot == NULL)
            return -1;
        if (i >= 0 && i < HDR_COUNTS_LEN) {
            Py_INCREF(slot);
            hdr_slots[i] = slot;
        }
    } else {
        Py_INCREF(slot);
    }
    PyObject *count = NULL, *hist = PyObject_GetAttr(cmd, s_hist);
    if (hist == NULL)
        goto error;
    if (hist == Py_None) {
        Py_SETREF(hist, PyDict_New());
        if (hist == NULL || (count = PyLong_FromLongLong(n)) == NULL
                || PyDict_SetItem(hist, slot, count) < 0
                || PyObject_SetAttr(cmd, s_hist, hist) < 0)
            goto error;
    } else {
        if (!PyDict_Check(hist)) {
            PyErr_SetString(PyExc_TypeError, "cmd.hist must be None or a dict");
            goto error;
        }
        PyObject *old = PyDict_GetItemWithError(hist, slot);
        if (old == NULL && PyErr_Occurred())
            goto error;
        count = old == NULL ? PyLong_FromLongLong(n) : int_plus(old, n);
        if (count == NULL || PyDict_SetItem(hist, slot, count) < 0)
            goto error;
    }
    Py_DECREF(slot);
    Py_DECREF(count);
    Py_DECREF(hist);
    return 0;
error:
    Py_DECREF(slot);
    Py_XDECREF(count);
    Py_XDECREF(hist);
    return -1;
}

static PyObject *py_hdr_record(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 2 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "hdr_record(cmd, us, n=1)");
        return NULL;
    }
    int overflow;
    long long us = PyLong_AsLongLongAndOverflow(args[1], &overflow);
    if (us == -1 && PyErr_Occurred())
        return NULL;
    if (overflow)
        us = overflow > 0 ? LLONG_MAX : LLONG_MIN;
    long long n = 1;
    if (nargs == 3 && (n = PyLong_AsLongLong(args[2])) == -1 && PyErr_Occurred())
        return NULL;
    if (hdr_count(args[0], us, n) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* -- incr_store: INCR's common case -----------------------------------------------
 *
 * incr_store(data, lru, key, by, clock) -> reply | None
 *
 * INCRBY on a key of a plain keyspace (data and lru exact dicts) that is
 * missing or holds an integer string (bytes): data[key] = the new value,
 * lru[key] = clock, and the integer reply. None, having changed nothing,
 * for anything else (another type, a bytearray, not an integer, an
 * overflow, an LFU or cluster keyspace): the caller then takes its general
 * path, which gives the error. What incr_value does plus the lookup and
 * the two stores, without the tuple and the handler's bytecode between
 * them. The caller has checked that nothing else must happen (no TTL on
 * the key, no WATCH, no blocked client, no keyspace event, no SCAN index). */
static PyObject *py_incr_store(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "incr_store(data, lru, key, by, clock)");
        return NULL;
    }
    PyObject *data = args[0], *lru = args[1], *key = args[2], *clock = args[4];
    int plain = plain_keyspace(data, lru);
    if (!plain && (!PyDict_CheckExact(data) || !PyDict_CheckExact(lru)))
        Py_RETURN_NONE;
    long long by = PyLong_AsLongLong(args[3]);
    if (by == -1 && PyErr_Occurred())
        return NULL;
    PyObject *v = plain ? keyspace_api->get(data, key) : PyDict_GetItemWithError(data, key);
    int64_t cur = 0;
    if (v == NULL) {
        if (PyErr_Occurred())
            return NULL;
    } else if (!PyBytes_CheckExact(v)
               || !parse_int64((const unsigned char *)PyBytes_AS_STRING(v),
                               (size_t)PyBytes_GET_SIZE(v), &cur)) {
        Py_RETURN_NONE;
    }
    PyObject *stored, *reply;
    int r = incr_format(cur, by, &stored, &reply);
    if (r <= 0) {
        if (r < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    if (plain ? keyspace_api->set(data, key, stored, clock) < 0
              : (PyDict_SetItem(data, key, stored) < 0 || PyDict_SetItem(lru, key, clock) < 0)) {
        Py_DECREF(stored);
        Py_DECREF(reply);
        return NULL;
    }
    Py_DECREF(stored);
    return reply;
}

static PyMethodDef methods[] = {
    {"crc64", py_crc64, METH_VARARGS, "crc64(data, crc=0) -> int"},
    {"keyslot", py_keyslot, METH_O, "keyslot(key) -> the key's cluster hash slot"},
    {"lzf_compress", py_lzf_compress, METH_VARARGS, "lzf_compress(data) -> bytes or None"},
    {"lzf_decompress", py_lzf_decompress, METH_VARARGS,
     "lzf_decompress(data, expected_len) -> bytes"},
    {"rdb_read_string", py_rdb_read_string, METH_VARARGS,
     "rdb_read_string(buf, pos, end) -> (bytes, newpos)"},
    {"load_string_records", py_load_string_records, METH_VARARGS,
     "load_string_records(buf, pos, limit, end, keyspace, lrus, expires, lruclock, now_ms, "
     "skip_expired) -> (pos, loaded, expired)"},
    {"rdb_encode_string", py_rdb_encode_string, METH_VARARGS,
     "rdb_encode_string(s, compress=True) -> bytes"},
    {"lp_build", py_lp_build, METH_O, "lp_build(items) -> listpack bytes"},
    {"lp_items", py_lp_items, METH_O, "lp_items(blob) -> list of bytes"},
    {"quicklist_nodes", py_quicklist_nodes, METH_VARARGS,
     "quicklist_nodes(items, fill) -> list of listpack bytes"},
    {"integer_reply", py_integer_reply, METH_O, "integer_reply(n) -> b':%d\\r\\n' % n"},
    {"decimal", py_decimal, METH_O, "decimal(n) -> b'%d' % n"},
    {"mset_pairs", (PyCFunction)(void (*)(void))py_mset_pairs, METH_FASTCALL,
     "mset_pairs(data, lru, argv, clock) -> None: MSET's stores"},
    {"bulk_reply", py_bulk_reply, METH_O, "bulk_reply(v) -> b'$%d\\r\\n%s\\r\\n' % (len(v), v)"},
    {"incr_value", (PyCFunction)(void (*)(void))py_incr_value, METH_FASTCALL,
     "incr_value(value, by) -> (new_value, reply), None (not an integer) or False (overflow)"},
    {"pack_commands", py_pack_commands, METH_O,
     "pack_commands(argvs) -> the commands as RESP multibulks, concatenated"},
    {"set_command_names", py_set_command_names, METH_O,
     "set_command_names({name: name}) -> None: the names parse_requests hands out"},
    {"parse_requests", (PyCFunction)(void (*)(void))py_parse_requests, METH_FASTCALL,
     "parse_requests(buf, max_bulk, inline=False) -> (requests, consumed, need)"},
    {"run_requests", (PyCFunction)(void (*)(void))py_run_requests, METH_FASTCALL,
     "run_requests(client, reqs, i) -> (i, status): the trusted path's loop"},
    {"remember_keys", (PyCFunction)(void (*)(void))py_remember_keys, METH_FASTCALL,
     "remember_keys(table, cid, argv, first, last, step) -> how many keys' sets cid joined"},
    {"hdr_record", (PyCFunction)(void (*)(void))py_hdr_record, METH_FASTCALL,
     "hdr_record(cmd, us, n=1) -> None: hdr.record_py in C"},
    {"incr_store", (PyCFunction)(void (*)(void))py_incr_store, METH_FASTCALL,
     "incr_store(data, lru, key, by, clock) -> INCRBY's reply, or None (nothing done)"},
    {"set_request_context", py_set_request_context, METH_VARARGS,
     "set_request_context(CommandError, Replies, Client) -> None"},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "pyredis._speedups",
    "CRC64 and LZF for the RDB format; the request parser and other hot-path helpers.", -1, methods
};

PyMODINIT_FUNC PyInit__speedups(void)
{
    crc64_init_tables();
    crc16_init_table();
    if (PyType_Ready(&KeyGuardType) < 0)
        return NULL;
    /* The keyspace's C functions, when pyredis._keyspace is built. */
    PyObject *ks_module = PyImport_ImportModule("pyredis._keyspace");
    keyspace_api = ks_module ? PyCapsule_Import(KEYSPACE_CAPSULE, 0) : NULL;
    Py_XDECREF(ks_module);      /* (PyCapsule_Import imports only "pyredis") */
    if (keyspace_api == NULL)
        PyErr_Clear();
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&KeyGuardType);
    if (PyModule_AddObject(m, "KeyGuard", (PyObject *)&KeyGuardType) < 0) {
        Py_DECREF(&KeyGuardType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
