/*
 * Hot loops of the RDB format in C: CRC64 (Jones polynomial, the Redis
 * variant) and LZF compression/decompression.
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
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

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
static size_t lzf_compress_buf(const unsigned char *in, size_t in_len,
                               unsigned char *out, size_t out_cap,
                               uint32_t *table)
{
    /* table[] holds position+1 of the last occurrence of a 3-byte prefix;
     * 0 means none (the caller zeroes it). */
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
        uint32_t prev = table[slot];
        table[slot] = (uint32_t)(ip - in) + 1;
        const unsigned char *ref = prev ? in + prev - 1 : NULL;
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
            table[lzf_slot(hval)] = (uint32_t)(ip - in) + 1;
            ip++;
            hval = (hval << 8) | ip[2];
            table[lzf_slot(hval)] = (uint32_t)(ip - in) + 1;
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
    unsigned char *out = malloc(cap + 1);
    uint32_t *table = calloc(LZF_HASH_SIZE, sizeof(uint32_t));
    if (!out || !table) {
        free(out);
        free(table);
        PyBuffer_Release(&buf);
        return PyErr_NoMemory();
    }
    size_t n;
    Py_BEGIN_ALLOW_THREADS
    n = lzf_compress_buf((const unsigned char *)buf.buf, (size_t)buf.len, out, cap, table);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    free(table);
    PyObject *result;
    if (n == 0) {
        Py_INCREF(Py_None);
        result = Py_None;
    } else {
        result = PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)n);
    }
    free(out);
    return result;
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
    const unsigned char *ip = buf.buf, *in_end = ip + buf.len;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
    unsigned char *op = out, *out_end = out + expected;
    const char *err = NULL;
    while (ip < in_end) {
        unsigned ctrl = *ip++;
        if (ctrl < (1 << 5)) {
            ctrl++;
            if (op + ctrl > out_end) { err = "LZF output overflow"; break; }
            if (ip + ctrl > in_end) { err = "LZF input truncated"; break; }
            memcpy(op, ip, ctrl);
            op += ctrl;
            ip += ctrl;
        } else {
            size_t len = ctrl >> 5;
            if (len == 7) {
                if (ip >= in_end) { err = "LZF input truncated"; break; }
                len += *ip++;
            }
            if (ip >= in_end) { err = "LZF input truncated"; break; }
            const unsigned char *ref = op - ((ctrl & 0x1f) << 8) - 1 - *ip++;
            len += 2;
            if (op + len > out_end) { err = "LZF output overflow"; break; }
            if (ref < out) { err = "LZF back reference out of range"; break; }
            /* Byte by byte: the source may overlap the destination. */
            while (len--)
                *op++ = *ref++;
        }
    }
    PyBuffer_Release(&buf);
    if (!err && op != out_end)
        err = "LZF length mismatch";
    if (err) {
        Py_DECREF(result);
        PyErr_SetString(PyExc_ValueError, err);
        return NULL;
    }
    return result;
}

static PyMethodDef methods[] = {
    {"crc64", py_crc64, METH_VARARGS, "crc64(data, crc=0) -> int"},
    {"lzf_compress", py_lzf_compress, METH_VARARGS, "lzf_compress(data) -> bytes or None"},
    {"lzf_decompress", py_lzf_decompress, METH_VARARGS,
     "lzf_decompress(data, expected_len) -> bytes"},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "pyredis._speedups",
    "CRC64 and LZF for the RDB format.", -1, methods
};

PyMODINIT_FUNC PyInit__speedups(void)
{
    crc64_init_tables();
    return PyModule_Create(&module);
}
