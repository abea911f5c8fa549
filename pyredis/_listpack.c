/* Listpacks as Redis keeps them (listpack.c), for two value types: small
 * hashes (PackedHash, t_hash.c's listpack side) and lists (QuickList,
 * quicklist.c; described where it is defined below). The entry encoding
 * and the walks are shared.
 *
 * PackedHash holds one listpack - the very bytes an RDB file stores as
 * RDB_TYPE_HASH_LISTPACK: a 6-byte header (total bytes, element count),
 * field and value entries one after the other, 0xFF - in one PyMem block,
 * instead of a dict of bytes objects (about 1/6 of the memory for a hash
 * of ten small fields). Lookups walk the listpack as lpFind does; a write
 * edits it in place (memmove + realloc). Strings that read as integers are
 * stored as integers, exactly as Redis stores them, so the blob Redis would
 * write for the same commands and this one are the same bytes.
 *
 * The object answers the part of the dict interface the rest of the server
 * uses for a hash (len, in, get, [], items, keys, values, iteration, pop,
 * copy), so readers (SORT, AOF rewrite, DEBUG DIGEST...) take either form.
 * Choosing the form, and converting to a dict when the listpack limits are
 * crossed, is the business of pyredis/commands/hashes.py. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "lpcommon.h"
#include <stdint.h>
#include <string.h>

#define LP_HDR 6
#define LP_EOF 0xff

/* ---- listpack entries ------------------------------------------------ */

/* Bytes an entry for s[n] takes (encoding, data, back-length). */
static size_t entry_encoded_size(const unsigned char *s, size_t n)
{
    int64_t v;
    if (parse_int64(s, n, &v)) {
        if (v >= 0 && v <= 127) return 2;
        if (v >= -4096 && v <= 4095) return 3;
        if (v >= -32768 && v <= 32767) return 4;
        if (v >= -8388608 && v <= 8388607) return 5;
        if (v >= -2147483648LL && v <= 2147483647LL) return 6;
        return 10;
    }
    size_t head = n < 64 ? 1 : n < 4096 ? 2 : 5;
    return head + n + backlen_size(head + n);
}

/* Write the entry for s[n] at p (entry_encoded_size bytes). */
static void entry_encode(unsigned char *p, const unsigned char *s, size_t n)
{
    int64_t v;
    if (parse_int64(s, n, &v)) {
        uint64_t u = (uint64_t)v;
        if (v >= 0 && v <= 127) {
            p[0] = (unsigned char)v; p[1] = 1;
        } else if (v >= -4096 && v <= 4095) {
            uint64_t w = v < 0 ? (uint64_t)((1 << 13) + v) : u;
            p[0] = (unsigned char)(0xc0 | (w >> 8)); p[1] = (unsigned char)(w & 0xff); p[2] = 2;
        } else {
            int width;
            if (v >= -32768 && v <= 32767) { p[0] = 0xf1; width = 2; }
            else if (v >= -8388608 && v <= 8388607) { p[0] = 0xf2; width = 3; }
            else if (v >= -2147483648LL && v <= 2147483647LL) { p[0] = 0xf3; width = 4; }
            else { p[0] = 0xf4; width = 8; }
            for (int i = 0; i < width; i++)
                p[1 + i] = (unsigned char)(u >> (8 * i));
            p[1 + width] = (unsigned char)(1 + width);
        }
        return;
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
}

/* An entry's content: 1 and (*s, *n) for a string, 0 and *v for an integer. */
static int entry_get(const unsigned char *p, const unsigned char **s, size_t *n, int64_t *v)
{
    unsigned b = p[0];
    if (b < 0x80) { *v = b; return 0; }
    if (b < 0xc0) { *n = b & 0x3f; *s = p + 1; return 1; }
    if (b < 0xe0) {
        int64_t x = ((b & 0x1f) << 8) | p[1];
        if (x >= (1 << 12))
            x -= (1 << 13);
        *v = x;
        return 0;
    }
    if (b < 0xf0) { *n = ((b & 0x0f) << 8) | p[1]; *s = p + 2; return 1; }
    if (b == 0xf0) {
        *n = p[1] | (p[2] << 8) | (p[3] << 16) | ((size_t)p[4] << 24);
        *s = p + 5;
        return 1;
    }
    int width = b == 0xf1 ? 2 : b == 0xf2 ? 3 : b == 0xf3 ? 4 : 8;
    uint64_t u = 0;
    for (int i = 0; i < width; i++)
        u |= (uint64_t)p[1 + i] << (8 * i);
    if (width < 8 && (u >> (8 * width - 1)) & 1)
        u |= ~(uint64_t)0 << (8 * width);
    *v = (int64_t)u;
    return 0;
}

/* Total size of the entry at p. */
static size_t entry_size(const unsigned char *p)
{
    unsigned b = p[0];
    if (b < 0x80) return 2;
    if (b < 0xc0) { size_t n = b & 0x3f; return 1 + n + backlen_size(1 + n); }
    if (b < 0xe0) return 3;
    if (b < 0xf0) { size_t n = ((b & 0x0f) << 8) | p[1]; return 2 + n + backlen_size(2 + n); }
    if (b == 0xf0) {
        size_t n = p[1] | (p[2] << 8) | (p[3] << 16) | ((size_t)p[4] << 24);
        return 5 + n + backlen_size(5 + n);
    }
    return b == 0xf1 ? 4 : b == 0xf2 ? 5 : b == 0xf3 ? 6 : 10;
}

static PyObject *entry_object(const unsigned char *p)
{
    const unsigned char *s;
    size_t n;
    int64_t v;
    if (entry_get(p, &s, &n, &v))
        return PyBytes_FromStringAndSize((const char *)s, (Py_ssize_t)n);
    char tmp[24];
    int k = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
    return PyBytes_FromStringAndSize(tmp, k);
}

/* Does the entry at p hold s[n]? (isint, iv): s[n] read as an integer. */
static inline int entry_equals(const unsigned char *p, const unsigned char *s, size_t n,
                               int isint, int64_t iv)
{
    const unsigned char *es;
    size_t en;
    int64_t ev;
    if (entry_get(p, &es, &en, &ev))
        return en == n && memcmp(es, s, n) == 0;
    return isint && ev == iv;
}

static inline size_t lp_total(const unsigned char *lp)
{
    return lp[0] | (lp[1] << 8) | (lp[2] << 16) | ((size_t)lp[3] << 24);
}

static inline void lp_set_header(unsigned char *lp, size_t total, size_t count)
{
    for (int i = 0; i < 4; i++)
        lp[i] = (unsigned char)(total >> (8 * i));
    size_t c = count < 65535 ? count : 65535;
    lp[4] = (unsigned char)(c & 0xff);
    lp[5] = (unsigned char)(c >> 8);
}

/* Walk a blob: its element count, or -1 when it is not a well-formed listpack. */
static Py_ssize_t lp_validate(const unsigned char *blob, size_t n)
{
    if (n < 7 || lp_total(blob) != n || blob[n - 1] != LP_EOF)
        return -1;
    size_t p = LP_HDR, end = n - 1;
    Py_ssize_t count = 0;
    while (p < end) {
        unsigned b = blob[p];
        if (b == LP_EOF || (b > 0xf4 && b != 0xf0))
            return -1;
        if ((b >= 0xc0 && p + 2 > end) || (b == 0xf0 && p + 5 > end))
            return -1;
        size_t sz = entry_size(blob + p);
        if (sz > end - p)
            return -1;
        /* The back-length must say what the entry is (walking backwards
         * trusts it). */
        size_t k = 1;
        while (k <= 5 && !(sz > k && backlen_size(sz - k) == k))
            k++;
        if (k > 5)
            return -1;
        const unsigned char *q = blob + p + sz - 1;
        uint64_t val = 0, shift = 0;
        size_t got = 0;
        for (;;) {
            val |= (uint64_t)(q[0] & 127) << shift;
            got++;
            if (!(q[0] & 128) || got >= k)
                break;
            shift += 7;
            q--;
        }
        if (got != k || (q[0] & 128) || val != sz - k)
            return -1;
        p += sz;
        count++;
    }
    size_t hc = blob[4] | (blob[5] << 8);
    if (hc != 65535 && hc != (size_t)count)
        return -1;
    return count;
}

/* ---- PackedHash ------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    unsigned char *lp;
    Py_ssize_t nfields;
} PackedHash;

static PyTypeObject PackedHashType;

static int bytes_arg(PyObject *o, const unsigned char **s, size_t *n)
{
    if (PyBytes_Check(o)) {
        *s = (const unsigned char *)PyBytes_AS_STRING(o);
        *n = (size_t)PyBytes_GET_SIZE(o);
        return 0;
    }
    if (PyByteArray_Check(o)) {
        *s = (const unsigned char *)PyByteArray_AS_STRING(o);
        *n = (size_t)PyByteArray_GET_SIZE(o);
        return 0;
    }
    PyErr_SetString(PyExc_TypeError, "hash fields and values are bytes");
    return -1;
}

static PackedHash *ph_alloc(PyTypeObject *type, const unsigned char *blob, size_t n,
                            Py_ssize_t nfields)
{
    PackedHash *self = (PackedHash *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->lp = PyMem_Malloc(n);
    if (!self->lp) {
        Py_DECREF(self);
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(self->lp, blob, n);
    self->nfields = nfields;
    return self;
}

static const unsigned char EMPTY_LP[7] = {7, 0, 0, 0, 0, 0, LP_EOF};

/* PackedHash(blob=None): empty, or the hash a listpack blob holds. */
static PyObject *ph_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    PyObject *blob = NULL;
    if (!PyArg_ParseTuple(args, "|O:PackedHash", &blob))
        return NULL;
    if (!blob || blob == Py_None)
        return (PyObject *)ph_alloc(type, EMPTY_LP, 7, 0);
    Py_buffer buf;
    if (PyObject_GetBuffer(blob, &buf, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_ssize_t count = lp_validate(buf.buf, (size_t)buf.len);
    if (count < 0 || count % 2) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "not a hash listpack");
        return NULL;
    }
    PyObject *r = (PyObject *)ph_alloc(type, buf.buf, (size_t)buf.len, count / 2);
    PyBuffer_Release(&buf);
    return r;
}

static void ph_dealloc(PackedHash *self)
{
    PyMem_Free(self->lp);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Offset of the field entry holding s[n], or 0 when there is none. */
static size_t ph_find(PackedHash *self, const unsigned char *s, size_t n)
{
    int64_t iv = 0;
    int isint = parse_int64(s, n, &iv);
    const unsigned char *lp = self->lp;
    size_t p = LP_HDR;
    while (lp[p] != LP_EOF) {
        if (entry_equals(lp + p, s, n, isint, iv))
            return p;
        p += entry_size(lp + p);
        p += entry_size(lp + p);
    }
    return 0;
}

static Py_ssize_t ph_len(PackedHash *self)
{
    return self->nfields;
}

static int ph_contains(PackedHash *self, PyObject *key)
{
    const unsigned char *s;
    size_t n;
    if (bytes_arg(key, &s, &n) < 0) {
        PyErr_Clear();
        return 0;
    }
    return ph_find(self, s, n) != 0;
}

/* The value of a field, or NULL (no exception) when absent. */
static PyObject *ph_lookup(PackedHash *self, PyObject *key)
{
    const unsigned char *s;
    size_t n;
    if (bytes_arg(key, &s, &n) < 0) {
        PyErr_Clear();
        return NULL;
    }
    size_t p = ph_find(self, s, n);
    if (!p)
        return NULL;
    p += entry_size(self->lp + p);
    return entry_object(self->lp + p);
}

static PyObject *ph_subscript(PackedHash *self, PyObject *key)
{
    PyObject *v = ph_lookup(self, key);
    if (!v && !PyErr_Occurred())
        PyErr_SetObject(PyExc_KeyError, key);
    return v;
}

static PyObject *ph_get(PackedHash *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "get(field[, default])");
        return NULL;
    }
    PyObject *v = ph_lookup(self, args[0]);
    if (v || PyErr_Occurred())
        return v;
    PyObject *d = nargs == 2 ? args[1] : Py_None;
    Py_INCREF(d);
    return d;
}

/* Replace size `old` bytes at offset p with `len` bytes of src. */
static int ph_splice(PackedHash *self, size_t p, size_t old, const unsigned char *src,
                     size_t len, Py_ssize_t nfields)
{
    size_t total = lp_total(self->lp);
    size_t ntotal = total - old + len;
    if (ntotal > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "listpack too large");
        return -1;
    }
    if (len > old) {
        unsigned char *lp = PyMem_Realloc(self->lp, ntotal);
        if (!lp) {
            PyErr_NoMemory();
            return -1;
        }
        self->lp = lp;
        memmove(lp + p + len, lp + p + old, total - p - old);
    } else if (len < old) {
        memmove(self->lp + p + len, self->lp + p + old, total - p - old);
        unsigned char *lp = PyMem_Realloc(self->lp, ntotal);
        if (lp)
            self->lp = lp;
    }
    if (len)
        memcpy(self->lp + p, src, len);
    self->nfields = nfields;
    lp_set_header(self->lp, ntotal, (size_t)nfields * 2);
    return 0;
}

/* hashTypeSet on a listpack: 1 when the field is new, 0 when updated. */
static int ph_set_raw(PackedHash *self, const unsigned char *f, size_t fn,
                      const unsigned char *v, size_t vn)
{
    unsigned char small[160];
    size_t p = ph_find(self, f, fn);
    if (p) {
        p += entry_size(self->lp + p);
        size_t old = entry_size(self->lp + p);
        size_t sz = entry_encoded_size(v, vn);
        unsigned char *tmp = sz <= sizeof(small) ? small : PyMem_Malloc(sz);
        if (!tmp) {
            PyErr_NoMemory();
            return -1;
        }
        entry_encode(tmp, v, vn);
        int r = ph_splice(self, p, old, tmp, sz, self->nfields);
        if (tmp != small)
            PyMem_Free(tmp);
        return r < 0 ? -1 : 0;
    }
    size_t fs = entry_encoded_size(f, fn), vs = entry_encoded_size(v, vn);
    unsigned char *tmp = fs + vs <= sizeof(small) ? small : PyMem_Malloc(fs + vs);
    if (!tmp) {
        PyErr_NoMemory();
        return -1;
    }
    entry_encode(tmp, f, fn);
    entry_encode(tmp + fs, v, vn);
    int r = ph_splice(self, lp_total(self->lp) - 1, 0, tmp, fs + vs, self->nfields + 1);
    if (tmp != small)
        PyMem_Free(tmp);
    return r < 0 ? -1 : 1;
}

/* Remove a field; 1 if it was there. */
static int ph_del_raw(PackedHash *self, const unsigned char *f, size_t fn)
{
    size_t p = ph_find(self, f, fn);
    if (!p)
        return 0;
    size_t fs = entry_size(self->lp + p);
    size_t vs = entry_size(self->lp + p + fs);
    return ph_splice(self, p, fs + vs, NULL, 0, self->nfields - 1) < 0 ? -1 : 1;
}

static int ph_ass_subscript(PackedHash *self, PyObject *key, PyObject *value)
{
    const unsigned char *f, *v;
    size_t fn, vn;
    if (bytes_arg(key, &f, &fn) < 0)
        return -1;
    if (!value) {
        int r = ph_del_raw(self, f, fn);
        if (r == 0)
            PyErr_SetObject(PyExc_KeyError, key);
        return r > 0 ? 0 : -1;
    }
    if (bytes_arg(value, &v, &vn) < 0)
        return -1;
    return ph_set_raw(self, f, fn, v, vn) < 0 ? -1 : 0;
}

/* set(field, value) -> True when the field is new. */
static PyObject *ph_set(PackedHash *self, PyObject *const *args, Py_ssize_t nargs)
{
    const unsigned char *f, *v;
    size_t fn, vn;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "set(field, value)");
        return NULL;
    }
    if (bytes_arg(args[0], &f, &fn) < 0 || bytes_arg(args[1], &v, &vn) < 0)
        return NULL;
    int r = ph_set_raw(self, f, fn, v, vn);
    if (r < 0)
        return NULL;
    return PyBool_FromLong(r);
}

/* pop(field[, default]) */
static PyObject *ph_pop(PackedHash *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "pop(field[, default])");
        return NULL;
    }
    PyObject *v = ph_lookup(self, args[0]);
    if (!v) {
        if (PyErr_Occurred())
            return NULL;
        if (nargs == 2) {
            Py_INCREF(args[1]);
            return args[1];
        }
        PyErr_SetObject(PyExc_KeyError, args[0]);
        return NULL;
    }
    const unsigned char *f;
    size_t fn;
    bytes_arg(args[0], &f, &fn);
    if (ph_del_raw(self, f, fn) < 0) {
        Py_DECREF(v);
        return NULL;
    }
    return v;
}

/* which: 0 fields, 1 values, 2 (field, value) tuples, 3 flat f, v, f, v. */
static PyObject *ph_collect(PackedHash *self, int which)
{
    Py_ssize_t n = self->nfields;
    PyObject *out = PyList_New(which == 3 ? 2 * n : n);
    if (!out)
        return NULL;
    const unsigned char *lp = self->lp;
    size_t p = LP_HDR;
    for (Py_ssize_t i = 0; i < n; i++) {
        size_t q = p + entry_size(lp + p);
        PyObject *f = NULL, *v = NULL, *item;
        if (which != 1 && !(f = entry_object(lp + p)))
            goto fail;
        if (which != 0 && !(v = entry_object(lp + q))) {
            Py_XDECREF(f);
            goto fail;
        }
        if (which == 0)
            PyList_SET_ITEM(out, i, f);
        else if (which == 1)
            PyList_SET_ITEM(out, i, v);
        else if (which == 3) {
            PyList_SET_ITEM(out, 2 * i, f);
            PyList_SET_ITEM(out, 2 * i + 1, v);
        } else {
            item = PyTuple_Pack(2, f, v);
            Py_DECREF(f);
            Py_DECREF(v);
            if (!item)
                goto fail;
            PyList_SET_ITEM(out, i, item);
        }
        p = q + entry_size(lp + q);
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

static PyObject *ph_keys(PackedHash *self, PyObject *unused) { return ph_collect(self, 0); }
static PyObject *ph_values(PackedHash *self, PyObject *unused) { return ph_collect(self, 1); }
static PyObject *ph_items(PackedHash *self, PyObject *unused) { return ph_collect(self, 2); }
static PyObject *ph_flat(PackedHash *self, PyObject *unused) { return ph_collect(self, 3); }

static PyObject *ph_iter(PackedHash *self)
{
    PyObject *keys = ph_collect(self, 0);
    if (!keys)
        return NULL;
    PyObject *it = PyObject_GetIter(keys);
    Py_DECREF(keys);
    return it;
}

static PyObject *ph_copy(PackedHash *self, PyObject *unused)
{
    return (PyObject *)ph_alloc(Py_TYPE(self), self->lp, lp_total(self->lp), self->nfields);
}

/* blob() -> the listpack bytes (RDB_TYPE_HASH_LISTPACK's payload). */
static PyObject *ph_blob(PackedHash *self, PyObject *unused)
{
    return PyBytes_FromStringAndSize((const char *)self->lp, (Py_ssize_t)lp_total(self->lp));
}

/* fits(max_len) -> no field or value longer than max_len bytes. */
static PyObject *ph_fits(PackedHash *self, PyObject *arg)
{
    Py_ssize_t limit = PyLong_AsSsize_t(arg);
    if (limit == -1 && PyErr_Occurred())
        return NULL;
    const unsigned char *lp = self->lp;
    size_t p = LP_HDR;
    while (lp[p] != LP_EOF) {
        const unsigned char *s;
        size_t n;
        int64_t v;
        if (entry_get(lp + p, &s, &n, &v)) {
            if ((Py_ssize_t)n > limit)
                Py_RETURN_FALSE;
        } else if (limit < 20) {
            char tmp[24];
            if (snprintf(tmp, sizeof(tmp), "%lld", (long long)v) > limit)
                Py_RETURN_FALSE;
        }
        p += entry_size(lp + p);
    }
    Py_RETURN_TRUE;
}

/* == and != as a dict of the same pairs (tests compare hashes with dicts). */
static PyObject *ph_richcompare(PackedHash *self, PyObject *other, int op)
{
    if (op != Py_EQ && op != Py_NE)
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *items = ph_collect(self, 2);
    if (!items)
        return NULL;
    PyObject *d = PyDict_New();
    if (!d || PyDict_MergeFromSeq2(d, items, 1) < 0) {
        Py_DECREF(items);
        Py_XDECREF(d);
        return NULL;
    }
    Py_DECREF(items);
    PyObject *o = other;
    if (Py_TYPE(other) == Py_TYPE(self))
        o = ph_collect((PackedHash *)other, 2);
    PyObject *r;
    if (o != other) {
        PyObject *d2 = o ? PyDict_New() : NULL;
        if (!d2 || PyDict_MergeFromSeq2(d2, o, 1) < 0) {
            Py_XDECREF(o);
            Py_XDECREF(d2);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(o);
        r = PyObject_RichCompare(d, d2, op);
        Py_DECREF(d2);
    } else {
        r = PyObject_RichCompare(d, other, op);
    }
    Py_DECREF(d);
    return r;
}

static PyObject *ph_sizeof(PackedHash *self, PyObject *unused)
{
    return PyLong_FromSize_t(sizeof(PackedHash) + lp_total(self->lp));
}

static PyObject *ph_reduce(PackedHash *self, PyObject *unused)
{
    PyObject *blob = ph_blob(self, NULL);
    if (!blob)
        return NULL;
    return Py_BuildValue("O(N)", Py_TYPE(self), blob);
}

static PyMethodDef ph_methods[] = {
    {"get", (PyCFunction)(void (*)(void))ph_get, METH_FASTCALL, "get(field[, default])"},
    {"set", (PyCFunction)(void (*)(void))ph_set, METH_FASTCALL,
     "set(field, value) -> True when the field is new"},
    {"pop", (PyCFunction)(void (*)(void))ph_pop, METH_FASTCALL, "pop(field[, default])"},
    {"keys", (PyCFunction)ph_keys, METH_NOARGS, "the fields, in listpack order (a list)"},
    {"values", (PyCFunction)ph_values, METH_NOARGS, "the values (a list)"},
    {"items", (PyCFunction)ph_items, METH_NOARGS, "(field, value) pairs (a list)"},
    {"flat", (PyCFunction)ph_flat, METH_NOARGS, "[field, value, field, value, ...]"},
    {"copy", (PyCFunction)ph_copy, METH_NOARGS, "a copy"},
    {"blob", (PyCFunction)ph_blob, METH_NOARGS, "the listpack bytes"},
    {"fits", (PyCFunction)ph_fits, METH_O, "fits(max_len): every element <= max_len bytes"},
    {"__sizeof__", (PyCFunction)ph_sizeof, METH_NOARGS, NULL},
    {"__reduce__", (PyCFunction)ph_reduce, METH_NOARGS, NULL},
    {NULL}
};

static PyMappingMethods ph_as_mapping = {
    (lenfunc)ph_len, (binaryfunc)ph_subscript, (objobjargproc)ph_ass_subscript,
};

static PySequenceMethods ph_as_sequence = {
    .sq_contains = (objobjproc)ph_contains,
};

static PyTypeObject PackedHashType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyredis._listpack.PackedHash",
    .tp_basicsize = sizeof(PackedHash),
    .tp_dealloc = (destructor)ph_dealloc,
    .tp_as_mapping = &ph_as_mapping,
    .tp_as_sequence = &ph_as_sequence,
    .tp_iter = (getiterfunc)ph_iter,
    .tp_richcompare = (richcmpfunc)ph_richcompare,
    .tp_hash = PyObject_HashNotImplemented,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A small hash kept as one listpack (field, value, field, value...).",
    .tp_methods = ph_methods,
    .tp_new = ph_new,
};

/* ---- QuickList --------------------------------------------------------
 *
 * A list as Redis 7.0 keeps one (quicklist.c): a sequence of listpack nodes,
 * each filled up to list-max-listpack-size (fill; -2: 8 KB), instead of one
 * Python bytes object per element behind a deque's pointer (~56 bytes per
 * short element against ~15). The nodes sit in a ring so that a node is
 * added or dropped at either end in O(1); pushes and pops edit the end node
 * in place (a memmove of at most one node, as lpInsert does). An element is
 * found by walking the nodes' counts from the nearer end, then the entries
 * of one node (backwards through the back-lengths from its end).
 *
 * The interface is the part of collections.deque the server uses (append,
 * appendleft, pop, popleft, extend, extendleft, [i], insert, index, clear,
 * iteration both ways) plus range() and trim() for LRANGE and LTRIM and
 * rem() for LREM, so the list commands read as before. Elements come back
 * as new bytes objects.
 *
 * Node boundaries are part of what a client sees (DUMP, RDB files, MEMORY
 * USAGE), so every write moves them exactly as Redis 7.0 does: pushes fill
 * the end node by _quicklistNodeAllowInsert's rule; deletes (pops, LREM,
 * LTRIM, del q[i]) edit nodes in place and drop a node only when it empties,
 * never re-packing; an assignment replaces the entry in place whatever its
 * size (lpReplace); insert() is _quicklistInsert, splits and merges
 * included. Not modelled: plain nodes (elements of 1 GB and more) and
 * list-compress-depth (LZF nodes). */

#define QL_SIZE_SAFETY_LIMIT 8192
#define QL_SIZE_ESTIMATE_OVERHEAD 8
static const size_t QL_OPT_LEVEL[] = {4096, 8192, 16384, 32768, 65536};

typedef struct {
    unsigned char *lp;
    uint32_t count;
    uint32_t cap;       /* bytes allocated for lp */
} QLNode;

typedef struct {
    PyObject_HEAD
    QLNode *ring;
    Py_ssize_t rcap;    /* a power of two (or 0) */
    Py_ssize_t rhead;
    Py_ssize_t nnodes;
    Py_ssize_t len;
    int fill;
    size_t version;     /* bumped by every write: iterators check it */
} QuickList;

static PyTypeObject QuickListType;
static PyTypeObject QLIterType;

#define QNODE(q, i) (&(q)->ring[((q)->rhead + (i)) & ((q)->rcap - 1)])

/* _quicklistNodeAllowInsert (7.0): may an element of sz bytes join node? */
static int ql_allows(const QuickList *q, const QLNode *node, size_t sz)
{
    if (sz >= ((size_t)1 << 30))
        return 0;
    size_t new_sz = lp_total(node->lp) + sz + QL_SIZE_ESTIMATE_OVERHEAD;
    if (q->fill < 0) {
        int off = -q->fill - 1;
        if (off < 5 && new_sz <= QL_OPT_LEVEL[off])
            return 1;
    }
    if (new_sz > QL_SIZE_SAFETY_LIMIT)
        return 0;
    return q->fill >= 0 && (int)node->count < q->fill;
}

static int node_reserve(QLNode *node, size_t need)
{
    if (need <= node->cap)
        return 0;
    /* Growth by an eighth: the end nodes keep little slack (the others
     * are fitted when a new end node starts, see node_fit). */
    size_t cap = node->cap + node->cap / 8;
    if (cap < need)
        cap = need;
    if (cap < 64)
        cap = 64;
    if (cap > UINT32_MAX) {
        if (need > UINT32_MAX) {
            PyErr_SetString(PyExc_OverflowError, "listpack too large");
            return -1;
        }
        cap = need;
    }
    unsigned char *lp = PyMem_Realloc(node->lp, cap);
    if (!lp) {
        PyErr_NoMemory();
        return -1;
    }
    node->lp = lp;
    node->cap = (uint32_t)cap;
    return 0;
}

/* A node no longer at a growing end gives back its slack. */
static void node_fit(QLNode *node)
{
    size_t total = lp_total(node->lp);
    if (node->cap > total) {
        unsigned char *lp = PyMem_Realloc(node->lp, total);
        if (lp) {
            node->lp = lp;
            node->cap = (uint32_t)total;
        }
    }
}

/* Put esz bytes of entries (holding n elements) at offset off. */
static int node_insert(QLNode *node, size_t off, const unsigned char *e, size_t esz, uint32_t n)
{
    size_t total = lp_total(node->lp);
    if (node_reserve(node, total + esz) < 0)
        return -1;
    memmove(node->lp + off + esz, node->lp + off, total - off);
    memcpy(node->lp + off, e, esz);
    node->count += n;
    lp_set_header(node->lp, total + esz, node->count);
    return 0;
}

/* Drop size bytes (n elements) at offset off. */
static void node_remove(QLNode *node, size_t off, size_t size, uint32_t n)
{
    size_t total = lp_total(node->lp);
    memmove(node->lp + off, node->lp + off + size, total - off - size);
    node->count -= n;
    lp_set_header(node->lp, total - size, node->count);
}

static int node_init(QLNode *node, size_t cap)
{
    if (cap < 7)
        cap = 7;
    node->lp = PyMem_Malloc(cap);
    if (!node->lp) {
        PyErr_NoMemory();
        return -1;
    }
    node->cap = (uint32_t)cap;
    node->count = 0;
    memcpy(node->lp, EMPTY_LP, 7);
    return 0;
}

/* Offset of the entry before the one at off (off may be the EOF byte). */
static size_t entry_prev(const unsigned char *lp, size_t off)
{
    const unsigned char *p = lp + off - 1;
    uint64_t val = 0, shift = 0;
    size_t k = 0;
    for (;;) {
        val |= (uint64_t)(p[0] & 127) << shift;
        k++;
        if (!(p[0] & 128))
            break;
        shift += 7;
        p--;
    }
    return off - k - (size_t)val;
}

/* Room for a node at position i of the ring; returns it (uninitialised). */
static QLNode *ring_insert(QuickList *q, Py_ssize_t i)
{
    if (q->nnodes == q->rcap) {
        Py_ssize_t cap = q->rcap ? q->rcap * 2 : 4;
        QLNode *r = PyMem_Malloc(sizeof(QLNode) * cap);
        if (!r) {
            PyErr_NoMemory();
            return NULL;
        }
        for (Py_ssize_t j = 0; j < q->nnodes; j++)
            r[j] = *QNODE(q, j);
        PyMem_Free(q->ring);
        q->ring = r;
        q->rcap = cap;
        q->rhead = 0;
    }
    if (i == 0) {
        q->rhead = (q->rhead - 1) & (q->rcap - 1);
    } else {
        for (Py_ssize_t j = q->nnodes; j > i; j--)
            *QNODE(q, j) = *QNODE(q, j - 1);
    }
    q->nnodes++;
    return QNODE(q, i);
}

static void ring_remove(QuickList *q, Py_ssize_t i)
{
    PyMem_Free(QNODE(q, i)->lp);
    if (i == 0) {
        q->rhead = (q->rhead + 1) & (q->rcap - 1);
    } else {
        for (Py_ssize_t j = i; j < q->nnodes - 1; j++)
            *QNODE(q, j) = *QNODE(q, j + 1);
    }
    q->nnodes--;
}

/* An encoded entry, on the stack when small. */
typedef struct {
    unsigned char small[128];
    unsigned char *p;
    size_t size;
    size_t raw;         /* the element's length, for the fill rule */
} Enc;

static int enc_make(Enc *e, PyObject *o)
{
    const unsigned char *s;
    size_t n;
    if (bytes_arg(o, &s, &n) < 0) {
        PyErr_SetString(PyExc_TypeError, "list elements are bytes");
        return -1;
    }
    e->raw = n;
    e->size = entry_encoded_size(s, n);
    e->p = e->size <= sizeof(e->small) ? e->small : PyMem_Malloc(e->size);
    if (!e->p) {
        PyErr_NoMemory();
        return -1;
    }
    entry_encode(e->p, s, n);
    return 0;
}

static void enc_free(Enc *e)
{
    if (e->p != e->small)
        PyMem_Free(e->p);
}

static int ql_push_enc(QuickList *q, Enc *e, int head)
{
    Py_ssize_t ni = head ? 0 : q->nnodes - 1;
    if (q->nnodes && ql_allows(q, QNODE(q, ni), e->raw)) {
        QLNode *node = QNODE(q, ni);
        size_t off = head ? LP_HDR : lp_total(node->lp) - 1;
        if (node_insert(node, off, e->p, e->size, 1) < 0)
            return -1;
    } else {
        if (q->nnodes)
            node_fit(QNODE(q, ni));
        QLNode fresh;
        if (node_init(&fresh, 7 + e->size + (e->size < 64 ? 64 : 0)) < 0)
            return -1;
        QLNode *node = ring_insert(q, head ? 0 : q->nnodes);
        if (!node) {
            PyMem_Free(fresh.lp);
            return -1;
        }
        *node = fresh;
        if (node_insert(node, LP_HDR, e->p, e->size, 1) < 0)
            return -1;
    }
    q->len++;
    q->version++;
    return 0;
}

static int ql_push(QuickList *q, PyObject *o, int head)
{
    Enc e;
    if (enc_make(&e, o) < 0)
        return -1;
    int r = ql_push_enc(q, &e, head);
    enc_free(&e);
    return r;
}

/* Find element i (0 <= i < len): its node's position and entry offset. */
static size_t ql_locate(QuickList *q, Py_ssize_t i, Py_ssize_t *ni)
{
    Py_ssize_t n;
    if (i < q->len / 2) {
        n = 0;
        while (i >= (Py_ssize_t)QNODE(q, n)->count) {
            i -= QNODE(q, n)->count;
            n++;
        }
    } else {
        Py_ssize_t back = q->len - 1 - i;     /* elements after i */
        n = q->nnodes - 1;
        while (back >= (Py_ssize_t)QNODE(q, n)->count) {
            back -= QNODE(q, n)->count;
            n--;
        }
        i = QNODE(q, n)->count - 1 - back;
    }
    *ni = n;
    QLNode *node = QNODE(q, n);
    size_t off;
    if (i <= (Py_ssize_t)node->count / 2) {
        off = LP_HDR;
        for (; i > 0; i--)
            off += entry_size(node->lp + off);
    } else {
        off = lp_total(node->lp) - 1;
        for (Py_ssize_t j = node->count - i; j > 0; j--)
            off = entry_prev(node->lp, off);
    }
    return off;
}

/* Remove the entry at (ni, off); drops the node when it empties. */
static void ql_delete_at(QuickList *q, Py_ssize_t ni, size_t off)
{
    QLNode *node = QNODE(q, ni);
    node_remove(node, off, entry_size(node->lp + off), 1);
    if (!node->count)
        ring_remove(q, ni);
    q->len--;
    q->version++;
}

static void ql_clear_nodes(QuickList *q)
{
    for (Py_ssize_t j = 0; j < q->nnodes; j++)
        PyMem_Free(QNODE(q, j)->lp);
    PyMem_Free(q->ring);
    q->ring = NULL;
    q->rcap = q->rhead = q->nnodes = q->len = 0;
    q->version++;
}

static int ql_extend(QuickList *q, PyObject *iterable, int head)
{
    if (PyList_CheckExact(iterable) || PyTuple_CheckExact(iterable)) {
        PyObject **items = PySequence_Fast_ITEMS(iterable);
        Py_ssize_t n = PySequence_Fast_GET_SIZE(iterable);
        for (Py_ssize_t i = 0; i < n; i++)
            if (ql_push(q, items[i], head) < 0)
                return -1;
        return 0;
    }
    PyObject *it = PyObject_GetIter(iterable);
    if (!it)
        return -1;
    PyObject *o;
    while ((o = PyIter_Next(it))) {
        int r = ql_push(q, o, head);
        Py_DECREF(o);
        if (r < 0) {
            Py_DECREF(it);
            return -1;
        }
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

static int fill_arg(PyObject *o, int *fill)
{
    long f = PyLong_AsLong(o);
    if (f == -1 && PyErr_Occurred())
        return -1;
    /* quicklistSetFill's bounds (0 stays 0: one element per node). */
    if (f < -5)
        f = -5;
    if (f > 32767)
        f = 32767;
    *fill = (int)f;
    return 0;
}

/* QuickList(fill=-2, iterable=()) */
static PyObject *ql_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    PyObject *fill = NULL, *items = NULL;
    if (!PyArg_ParseTuple(args, "|OO:QuickList", &fill, &items))
        return NULL;
    QuickList *q = (QuickList *)type->tp_alloc(type, 0);
    if (!q)
        return NULL;
    q->ring = NULL;
    q->rcap = q->rhead = q->nnodes = q->len = 0;
    q->version = 0;
    q->fill = -2;
    if ((fill && fill_arg(fill, &q->fill) < 0) || (items && ql_extend(q, items, 0) < 0)) {
        Py_DECREF(q);
        return NULL;
    }
    return (PyObject *)q;
}

static void ql_dealloc(QuickList *q)
{
    ql_clear_nodes(q);
    Py_TYPE(q)->tp_free((PyObject *)q);
}

static Py_ssize_t ql_len(QuickList *q)
{
    return q->len;
}

static PyObject *ql_append(QuickList *q, PyObject *o)
{
    if (ql_push(q, o, 0) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *ql_appendleft(QuickList *q, PyObject *o)
{
    if (ql_push(q, o, 1) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *ql_extend_m(QuickList *q, PyObject *o)
{
    if (ql_extend(q, o, 0) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *ql_extendleft_m(QuickList *q, PyObject *o)
{
    if (ql_extend(q, o, 1) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *ql_pop_end(QuickList *q, int head)
{
    if (!q->len) {
        PyErr_SetString(PyExc_IndexError, "pop from an empty deque");
        return NULL;
    }
    Py_ssize_t ni = head ? 0 : q->nnodes - 1;
    QLNode *node = QNODE(q, ni);
    size_t off = head ? LP_HDR : entry_prev(node->lp, lp_total(node->lp) - 1);
    PyObject *v = entry_object(node->lp + off);
    if (!v)
        return NULL;
    ql_delete_at(q, ni, off);
    return v;
}

static PyObject *ql_pop(QuickList *q, PyObject *unused) { return ql_pop_end(q, 0); }
static PyObject *ql_popleft(QuickList *q, PyObject *unused) { return ql_pop_end(q, 1); }

static PyObject *ql_clear(QuickList *q, PyObject *unused)
{
    ql_clear_nodes(q);
    Py_RETURN_NONE;
}

static PyObject *ql_item(QuickList *q, Py_ssize_t i)
{
    if (i < 0 || i >= q->len) {     /* (negative i: Python added len already) */
        PyErr_SetString(PyExc_IndexError, "deque index out of range");
        return NULL;
    }
    Py_ssize_t ni;
    size_t off = ql_locate(q, i, &ni);
    return entry_object(QNODE(q, ni)->lp + off);
}

static int ql_ass_item(QuickList *q, Py_ssize_t i, PyObject *v)
{
    if (i < 0 || i >= q->len) {     /* (negative i: Python added len already) */
        PyErr_SetString(PyExc_IndexError, "deque index out of range");
        return -1;
    }
    Py_ssize_t ni;
    size_t off = ql_locate(q, i, &ni);
    if (!v) {
        ql_delete_at(q, ni, off);
        return 0;
    }
    Enc e;
    if (enc_make(&e, v) < 0)
        return -1;
    QLNode *node = QNODE(q, ni);
    size_t old = entry_size(node->lp + off);
    int r = 0;
    size_t total = lp_total(node->lp);
    if (e.size > old && node_reserve(node, total - old + e.size) < 0) {
        r = -1;
    } else {
        memmove(node->lp + off + e.size, node->lp + off + old, total - off - old);
        memcpy(node->lp + off, e.p, e.size);
        lp_set_header(node->lp, total - old + e.size, node->count);
        q->version++;
    }
    enc_free(&e);
    return r;
}

/* _quicklistNodeAllowMerge (7.0): may nodes a and b become one? (Redis
 * estimates the merged size as both sizes less 11.) */
static int ql_allows_merge(const QuickList *q, const QLNode *a, const QLNode *b)
{
    unsigned int merge_sz = (unsigned int)(lp_total(a->lp) + lp_total(b->lp) - 11);
    if (q->fill < 0) {
        int off = -q->fill - 1;
        if (off < 5 && merge_sz <= QL_OPT_LEVEL[off])
            return 1;
    }
    if (merge_sz > QL_SIZE_SAFETY_LIMIT)
        return 0;
    return q->fill >= 0 && (int)(a->count + b->count) <= q->fill;
}

/* _quicklistListpackMerge: node i+1's entries join the end of node i. */
static int ql_merge(QuickList *q, Py_ssize_t i)
{
    QLNode *a = QNODE(q, i), *b = QNODE(q, i + 1);
    size_t ta = lp_total(a->lp), tb = lp_total(b->lp);
    if (node_insert(a, ta - 1, b->lp + LP_HDR, tb - 7, b->count) < 0)
        return -1;
    node_fit(a);
    ring_remove(q, i + 1);
    return 0;
}

/* _quicklistMergeNodes around node c, in Redis's order: (c-2, c-1),
 * (c+1, c+2), then c with its left neighbour, then the result with its
 * right one. Merging is what keeps a split from leaving small nodes. */
static int ql_merge_around(QuickList *q, Py_ssize_t c)
{
    if (c >= 2 && ql_allows_merge(q, QNODE(q, c - 1), QNODE(q, c - 2))) {
        if (ql_merge(q, c - 2) < 0)
            return -1;
        c--;
    }
    if (c + 2 < q->nnodes && ql_allows_merge(q, QNODE(q, c + 1), QNODE(q, c + 2))) {
        if (ql_merge(q, c + 1) < 0)
            return -1;
    }
    Py_ssize_t target = c;
    if (c >= 1 && ql_allows_merge(q, QNODE(q, c), QNODE(q, c - 1))) {
        if (ql_merge(q, c - 1) < 0)
            return -1;
        target = c - 1;
    }
    if (target + 1 < q->nnodes && ql_allows_merge(q, QNODE(q, target), QNODE(q, target + 1)))
        return ql_merge(q, target);
    return 0;
}

/* A new node at ring position i holding the entries a[an] then b[bn]. */
static int ql_new_node(QuickList *q, Py_ssize_t i, const unsigned char *a, size_t an,
                       const unsigned char *b, size_t bn, uint32_t count)
{
    QLNode fresh;
    if (node_init(&fresh, 7 + an + bn) < 0)
        return -1;
    memcpy(fresh.lp + LP_HDR, a, an);
    memcpy(fresh.lp + LP_HDR + an, b, bn);
    fresh.lp[LP_HDR + an + bn] = LP_EOF;
    fresh.count = count;
    lp_set_header(fresh.lp, 7 + an + bn, count);
    QLNode *slot = ring_insert(q, i);
    if (!slot) {
        PyMem_Free(fresh.lp);
        return -1;
    }
    *slot = fresh;
    return 0;
}

/* _quicklistInsert (7.0, packed nodes): the element e before (after=0) or
 * after (after=1) the entry at byte off, the k-th of node ni. Where it
 * lands decides node boundaries, hence DUMP's bytes: the node itself when
 * it has room; else the neighbour node when the entry is at that edge;
 * else a node of its own at that edge; else the node splits at the entry,
 * e joins the split-off part, and the nodes around are merged. */
static int ql_insert_at(QuickList *q, Py_ssize_t ni, size_t off, uint32_t k, Enc *e, int after)
{
    QLNode *node = QNODE(q, ni);
    int full = !ql_allows(q, node, e->raw);
    int at_tail = after && k == node->count - 1;
    int at_head = !after && k == 0;
    int avail_next = at_tail && ni + 1 < q->nnodes && ql_allows(q, QNODE(q, ni + 1), e->raw);
    int avail_prev = at_head && ni > 0 && ql_allows(q, QNODE(q, ni - 1), e->raw);
    size_t esz = entry_size(node->lp + off);
    int r;
    if (!full) {
        r = node_insert(node, after ? off + esz : off, e->p, e->size, 1);
    } else if (avail_next) {
        r = node_insert(QNODE(q, ni + 1), LP_HDR, e->p, e->size, 1);
    } else if (avail_prev) {
        QLNode *prev = QNODE(q, ni - 1);
        r = node_insert(prev, lp_total(prev->lp) - 1, e->p, e->size, 1);
    } else if (at_tail || at_head) {
        if (q->nnodes)
            node_fit(node);
        r = ql_new_node(q, ni + after, e->p, e->size, NULL, 0, 1);
    } else {
        size_t total = lp_total(node->lp);
        if (after) {
            /* node keeps [0, k]; e then (k, end) become a node after it. */
            size_t cut = off + esz;
            uint32_t moved = node->count - 1 - k;
            r = ql_new_node(q, ni + 1, e->p, e->size, node->lp + cut, total - 1 - cut, moved + 1);
            if (r == 0) {
                node = QNODE(q, ni);
                node->lp[cut] = LP_EOF;
                node->count -= moved;
                lp_set_header(node->lp, cut + 1, node->count);
                node_fit(node);
                r = ql_merge_around(q, ni);
            }
        } else {
            /* [0, k) then e become a node before it; node keeps [k, end). */
            r = ql_new_node(q, ni, node->lp + LP_HDR, off - LP_HDR, e->p, e->size, k + 1);
            if (r == 0) {
                node = QNODE(q, ni + 1);
                node_remove(node, LP_HDR, off - LP_HDR, k);
                node_fit(node);
                r = ql_merge_around(q, ni + 1);
            }
        }
    }
    if (r == 0) {
        q->len++;
        q->version++;
    }
    return r;
}

/* insert(i, x[, after]): x before element i (after false; i clamped as
 * deque.insert clamps it) or after element i (LINSERT AFTER), placed as
 * quicklist.c places it. */
static PyObject *ql_insert(QuickList *q, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 && nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "insert(index, value[, after])");
        return NULL;
    }
    Py_ssize_t i = PyNumber_AsSsize_t(args[0], PyExc_IndexError);
    if (i == -1 && PyErr_Occurred())
        return NULL;
    int after = 0;
    if (nargs == 3 && (after = PyObject_IsTrue(args[2])) < 0)
        return NULL;
    if (i < 0) {
        i += q->len;
        if (i < 0) {
            i = 0;
            after = 0;
        }
    }
    if (i >= q->len) {
        if (!q->len)
            return ql_append(q, args[1]);
        i = q->len - 1;
        after = 1;
    }
    Enc e;
    if (enc_make(&e, args[1]) < 0)
        return NULL;
    Py_ssize_t ni;
    size_t off = ql_locate(q, i, &ni);
    /* The entry's place in its node. */
    uint32_t k = 0;
    for (size_t p = LP_HDR; p < off; p += entry_size(QNODE(q, ni)->lp + p))
        k++;
    int r = ql_insert_at(q, ni, off, k, &e, after);
    enc_free(&e);
    if (r < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* rem(x, count) -> how many were removed: LREM's walk (lremCommand):
 * up to count matches from the head (count > 0), from the tail (count
 * < 0), or all (0), each deleted in place (quicklistDelIndex: a node goes
 * only when it empties; nothing is merged or re-packed). */
static PyObject *ql_rem(QuickList *q, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "rem(value, count)");
        return NULL;
    }
    const unsigned char *s;
    size_t n;
    if (bytes_arg(args[0], &s, &n) < 0)
        return NULL;
    long long count = PyLong_AsLongLong(args[1]);
    if (count == -1 && PyErr_Occurred())
        return NULL;
    int64_t iv = 0;
    int isint = parse_int64(s, n, &iv);
    int from_tail = count < 0;
    unsigned long long limit = from_tail ? (unsigned long long)(-(count + 1)) + 1
                                         : (unsigned long long)count;
    Py_ssize_t removed = 0;
    if (!from_tail) {
        Py_ssize_t ni = 0;
        while (ni < q->nnodes) {
            QLNode *node = QNODE(q, ni);
            size_t off = LP_HDR;
            int gone = 0;
            while (node->lp[off] != LP_EOF) {
                if (entry_equals(node->lp + off, s, n, isint, iv)) {
                    int last = node->count == 1;
                    ql_delete_at(q, ni, off);
                    removed++;
                    if (limit && (unsigned long long)removed == limit)
                        goto out;
                    if (last) {
                        gone = 1;
                        break;
                    }
                } else {
                    off += entry_size(node->lp + off);
                }
            }
            if (!gone)
                ni++;
        }
    } else {
        Py_ssize_t ni = q->nnodes - 1;
        while (ni >= 0) {
            QLNode *node = QNODE(q, ni);
            size_t off = lp_total(node->lp) - 1;
            while (off > LP_HDR) {
                off = entry_prev(node->lp, off);
                if (entry_equals(node->lp + off, s, n, isint, iv)) {
                    int last = node->count == 1;
                    ql_delete_at(q, ni, off);
                    removed++;
                    if ((unsigned long long)removed == limit)
                        goto out;
                    if (last)
                        break;
                }
            }
            ni--;
        }
    }
out:
    return PyLong_FromSsize_t(removed);
}

/* index(x[, start[, stop]]) -> the first position of x, as deque.index. */
static PyObject *ql_index(QuickList *q, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "index(value[, start[, stop]])");
        return NULL;
    }
    Py_ssize_t start = 0, stop = q->len;
    if (nargs > 1 && (start = PyNumber_AsSsize_t(args[1], NULL)) == -1 && PyErr_Occurred())
        return NULL;
    if (nargs > 2 && (stop = PyNumber_AsSsize_t(args[2], NULL)) == -1 && PyErr_Occurred())
        return NULL;
    if (start < 0 && (start += q->len) < 0)
        start = 0;
    if (stop < 0 && (stop += q->len) < 0)
        stop = 0;
    if (stop > q->len)
        stop = q->len;
    const unsigned char *s;
    size_t n;
    if (start < stop && bytes_arg(args[0], &s, &n) == 0) {
        int64_t iv = 0;
        int isint = parse_int64(s, n, &iv);
        Py_ssize_t ni;
        size_t off = ql_locate(q, start, &ni);
        for (Py_ssize_t i = start; i < stop; i++) {
            QLNode *node = QNODE(q, ni);
            if (node->lp[off] == LP_EOF) {
                ni++;
                off = LP_HDR;
                node = QNODE(q, ni);
            }
            if (entry_equals(node->lp + off, s, n, isint, iv))
                return PyLong_FromSsize_t(i);
            off += entry_size(node->lp + off);
        }
    }
    PyErr_Clear();
    PyErr_SetString(PyExc_ValueError, "value is not in deque");
    return NULL;
}

/* range(start, stop) -> [elements start..stop-1] (clamped), for LRANGE. */
static PyObject *ql_range(QuickList *q, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "range(start, stop)");
        return NULL;
    }
    Py_ssize_t start = PyNumber_AsSsize_t(args[0], NULL);
    Py_ssize_t stop = PyNumber_AsSsize_t(args[1], NULL);
    if ((start == -1 || stop == -1) && PyErr_Occurred())
        return NULL;
    if (start < 0)
        start = 0;
    if (stop > q->len)
        stop = q->len;
    if (start >= stop)
        return PyList_New(0);
    PyObject *out = PyList_New(stop - start);
    if (!out)
        return NULL;
    Py_ssize_t ni;
    size_t off = ql_locate(q, start, &ni);
    for (Py_ssize_t i = 0; i < stop - start; i++) {
        QLNode *node = QNODE(q, ni);
        if (node->lp[off] == LP_EOF) {
            ni++;
            off = LP_HDR;
            node = QNODE(q, ni);
        }
        PyObject *v = entry_object(node->lp + off);
        if (!v) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, v);
        off += entry_size(node->lp + off);
    }
    return out;
}

/* The decimal digits of v at out (no terminator); returns their count. */
static size_t fmt_int(char *out, int64_t v)
{
    char buf[24];
    size_t k = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        buf[k++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t n = 0;
    if (v < 0)
        out[n++] = '-';
    while (k)
        out[n++] = buf[--k];
    return n;
}

/* The bulk string of one entry, "$<len>\r\n<data>\r\n", written at out
 * (NULL: only measured); returns its size. */
static size_t entry_bulk(const unsigned char *p, char *out)
{
    const unsigned char *s;
    size_t n;
    int64_t v;
    char num[24];
    if (!entry_get(p, &s, &n, &v)) {
        n = fmt_int(num, v);
        s = (const unsigned char *)num;
    }
    size_t dn = n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : 0;
    if (!dn) {
        char tmp[24];
        dn = fmt_int(tmp, (int64_t)n);
    }
    if (out) {
        out[0] = '$';
        fmt_int(out + 1, (int64_t)n);
        out[1 + dn] = '\r';
        out[2 + dn] = '\n';
        memcpy(out + 3 + dn, s, n);
        out[3 + dn + n] = '\r';
        out[4 + dn + n] = '\n';
    }
    return 5 + dn + n;
}

/* resp_range(start, stop) -> the RESP array reply of elements
 * start..stop-1 (0 <= start < stop <= len): LRANGE's reply written
 * straight from the listpacks, no bytes object per element. */
static PyObject *ql_resp_range(QuickList *q, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "resp_range(start, stop)");
        return NULL;
    }
    Py_ssize_t start = PyNumber_AsSsize_t(args[0], NULL);
    Py_ssize_t stop = PyNumber_AsSsize_t(args[1], NULL);
    if ((start == -1 || stop == -1) && PyErr_Occurred())
        return NULL;
    if (start < 0)
        start = 0;
    if (stop > q->len)
        stop = q->len;
    if (start >= stop)
        return PyBytes_FromStringAndSize("*0\r\n", 4);
    char head[32];
    int h = snprintf(head, sizeof(head), "*%zd\r\n", stop - start);
    Py_ssize_t ni0;
    size_t off0 = ql_locate(q, start, &ni0);
    size_t total = (size_t)h;
    for (int pass = 0; pass < 2; pass++) {
        PyObject *out = NULL;
        char *w = NULL;
        if (pass) {
            out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
            if (!out)
                return NULL;
            w = PyBytes_AS_STRING(out);
            memcpy(w, head, h);
            w += h;
        }
        Py_ssize_t ni = ni0;
        size_t off = off0;
        for (Py_ssize_t i = start; i < stop; i++) {
            QLNode *node = QNODE(q, ni);
            if (node->lp[off] == LP_EOF) {
                ni++;
                off = LP_HDR;
                node = QNODE(q, ni);
            }
            size_t k = entry_bulk(node->lp + off, w);
            if (pass)
                w += k;
            else
                total += k;
            off += entry_size(node->lp + off);
        }
        if (pass)
            return out;
    }
    return NULL;
}

/* trim(start, stop): keep only elements start..stop-1 (LTRIM). */
static PyObject *ql_trim(QuickList *q, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "trim(start, stop)");
        return NULL;
    }
    Py_ssize_t start = PyNumber_AsSsize_t(args[0], NULL);
    Py_ssize_t stop = PyNumber_AsSsize_t(args[1], NULL);
    if ((start == -1 || stop == -1) && PyErr_Occurred())
        return NULL;
    if (start < 0)
        start = 0;
    if (stop > q->len)
        stop = q->len;
    if (start >= stop) {
        ql_clear_nodes(q);
        Py_RETURN_NONE;
    }
    Py_ssize_t tail = q->len - stop;
    /* From the head: whole nodes, then the first entries of one node. */
    while (start) {
        QLNode *node = QNODE(q, 0);
        if ((Py_ssize_t)node->count <= start) {
            start -= node->count;
            q->len -= node->count;
            ring_remove(q, 0);
            continue;
        }
        size_t off = LP_HDR;
        for (Py_ssize_t j = 0; j < start; j++)
            off += entry_size(node->lp + off);
        node_remove(node, LP_HDR, off - LP_HDR, (uint32_t)start);
        q->len -= start;
        start = 0;
    }
    while (tail) {
        QLNode *node = QNODE(q, q->nnodes - 1);
        if ((Py_ssize_t)node->count <= tail) {
            tail -= node->count;
            q->len -= node->count;
            ring_remove(q, q->nnodes - 1);
            continue;
        }
        size_t end = lp_total(node->lp) - 1, off = end;
        for (Py_ssize_t j = 0; j < tail; j++)
            off = entry_prev(node->lp, off);
        node_remove(node, off, end - off, (uint32_t)tail);
        q->len -= tail;
        tail = 0;
    }
    q->version++;
    Py_RETURN_NONE;
}

/* append_node(blob): a listpack from an RDB file's QUICKLIST_2 becomes the
 * tail node as it is (quicklistAppendListpack); ValueError when it is not
 * a well-formed, non-empty listpack. */
static PyObject *ql_append_node(QuickList *q, PyObject *arg)
{
    Py_buffer buf;
    if (PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_ssize_t count = lp_validate(buf.buf, (size_t)buf.len);
    if (count <= 0 || count > UINT32_MAX) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, count ? "bad listpack in quicklist"
                                                : "empty listpack in quicklist");
        return NULL;
    }
    QLNode n;
    if (node_init(&n, (size_t)buf.len) < 0) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    memcpy(n.lp, buf.buf, (size_t)buf.len);
    PyBuffer_Release(&buf);
    n.count = (uint32_t)count;
    if (q->nnodes)
        node_fit(QNODE(q, q->nnodes - 1));
    QLNode *slot = ring_insert(q, q->nnodes);
    if (!slot) {
        PyMem_Free(n.lp);
        return NULL;
    }
    *slot = n;
    q->len += count;
    q->version++;
    Py_RETURN_NONE;
}

static PyObject *ql_copy(QuickList *q, PyObject *unused)
{
    QuickList *c = (QuickList *)QuickListType.tp_alloc(Py_TYPE(q), 0);
    if (!c)
        return NULL;
    c->ring = NULL;
    c->rcap = c->rhead = c->nnodes = c->len = 0;
    c->version = 0;
    c->fill = q->fill;
    for (Py_ssize_t j = 0; j < q->nnodes; j++) {
        QLNode *src = QNODE(q, j);
        size_t total = lp_total(src->lp);
        QLNode n;
        if (node_init(&n, total) < 0) {
            Py_DECREF(c);
            return NULL;
        }
        memcpy(n.lp, src->lp, total);
        n.count = src->count;
        QLNode *slot = ring_insert(c, c->nnodes);
        if (!slot) {
            PyMem_Free(n.lp);
            Py_DECREF(c);
            return NULL;
        }
        *slot = n;
        c->len += n.count;
    }
    return (PyObject *)c;
}

/* nodes() -> the listpack of each node (DEBUG, the RDB's QUICKLIST_2). */
static PyObject *ql_nodes(QuickList *q, PyObject *unused)
{
    PyObject *out = PyList_New(q->nnodes);
    if (!out)
        return NULL;
    for (Py_ssize_t j = 0; j < q->nnodes; j++) {
        QLNode *node = QNODE(q, j);
        PyObject *b = PyBytes_FromStringAndSize((const char *)node->lp,
                                                (Py_ssize_t)lp_total(node->lp));
        if (!b) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, j, b);
    }
    return out;
}

/* node_sizes(limit) -> the listpack byte size of the first ``limit`` nodes
 * (all of them when limit <= 0): what MEMORY USAGE samples, without copying
 * the nodes' bytes as nodes() does. */
static PyObject *ql_node_sizes(QuickList *q, PyObject *arg)
{
    Py_ssize_t limit = PyLong_AsSsize_t(arg);
    if (limit == -1 && PyErr_Occurred())
        return NULL;
    if (limit <= 0 || limit > q->nnodes)
        limit = q->nnodes;
    PyObject *out = PyList_New(limit);
    if (!out)
        return NULL;
    for (Py_ssize_t j = 0; j < limit; j++) {
        PyObject *n = PyLong_FromSize_t(lp_total(QNODE(q, j)->lp));
        if (!n) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, j, n);
    }
    return out;
}

static PyObject *ql_node_count(QuickList *q, PyObject *unused)
{
    return PyLong_FromSsize_t(q->nnodes);
}

static PyObject *ql_sizeof(QuickList *q, PyObject *unused)
{
    size_t n = sizeof(QuickList) + sizeof(QLNode) * (size_t)q->rcap;
    for (Py_ssize_t j = 0; j < q->nnodes; j++)
        n += QNODE(q, j)->cap;
    return PyLong_FromSize_t(n);
}

static PyObject *ql_get_fill(QuickList *q, void *unused)
{
    return PyLong_FromLong(q->fill);
}

/* ---- iteration ---- */

typedef struct {
    PyObject_HEAD
    QuickList *q;
    Py_ssize_t ni;
    size_t off;
    int reverse;
    size_t version;
} QLIter;

static PyObject *qliter_make(QuickList *q, int reverse)
{
    QLIter *it = PyObject_New(QLIter, &QLIterType);
    if (!it)
        return NULL;
    Py_INCREF(q);
    it->q = q;
    it->reverse = reverse;
    it->version = q->version;
    if (!reverse) {
        it->ni = 0;
        it->off = LP_HDR;
    } else {
        it->ni = q->nnodes - 1;
        it->off = it->ni >= 0 ? lp_total(QNODE(q, it->ni)->lp) - 1 : 0;
    }
    return (PyObject *)it;
}

static void qliter_dealloc(QLIter *it)
{
    Py_XDECREF(it->q);
    PyObject_Free(it);
}

static PyObject *qliter_next(QLIter *it)
{
    QuickList *q = it->q;
    if (!q)
        return NULL;
    if (it->version != q->version) {
        PyErr_SetString(PyExc_RuntimeError, "deque mutated during iteration");
        return NULL;
    }
    if (!it->reverse) {
        while (it->ni < q->nnodes) {
            QLNode *node = QNODE(q, it->ni);
            if (node->lp[it->off] != LP_EOF) {
                PyObject *v = entry_object(node->lp + it->off);
                it->off += entry_size(node->lp + it->off);
                return v;
            }
            it->ni++;
            it->off = LP_HDR;
        }
    } else {
        while (it->ni >= 0) {
            QLNode *node = QNODE(q, it->ni);
            if (it->off > LP_HDR) {
                it->off = entry_prev(node->lp, it->off);
                return entry_object(node->lp + it->off);
            }
            it->ni--;
            if (it->ni >= 0)
                it->off = lp_total(QNODE(q, it->ni)->lp) - 1;
        }
    }
    Py_CLEAR(it->q);
    return NULL;
}

static PyObject *ql_iter(QuickList *q) { return qliter_make(q, 0); }
static PyObject *ql_reversed(QuickList *q, PyObject *unused) { return qliter_make(q, 1); }

static PyObject *ql_tolist(QuickList *q)
{
    PyObject *args[2] = {PyLong_FromLong(0), PyLong_FromSsize_t(q->len)};
    PyObject *r = NULL;
    if (args[0] && args[1])
        r = ql_range(q, args, 2);
    Py_XDECREF(args[0]);
    Py_XDECREF(args[1]);
    return r;
}

/* == and != against another QuickList, a list or a deque: same elements. */
static PyObject *ql_richcompare(QuickList *q, PyObject *other, int op)
{
    if (op != Py_EQ && op != Py_NE)
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *b;
    if (Py_TYPE(other) == Py_TYPE(q))
        b = ql_tolist((QuickList *)other);
    else if (PyList_Check(other)) {
        b = other;
        Py_INCREF(b);
    } else if (strcmp(Py_TYPE(other)->tp_name, "collections.deque") == 0)
        b = PySequence_List(other);
    else
        Py_RETURN_NOTIMPLEMENTED;
    if (!b)
        return NULL;
    PyObject *a = ql_tolist(q);
    if (!a) {
        Py_DECREF(b);
        return NULL;
    }
    PyObject *r = PyObject_RichCompare(a, b, op);
    Py_DECREF(a);
    Py_DECREF(b);
    return r;
}

static PyObject *ql_reduce(QuickList *q, PyObject *unused)
{
    PyObject *items = ql_tolist(q);
    if (!items)
        return NULL;
    return Py_BuildValue("O(iN)", Py_TYPE(q), q->fill, items);
}

static PyMethodDef ql_methods[] = {
    {"append", (PyCFunction)ql_append, METH_O, "push at the tail"},
    {"appendleft", (PyCFunction)ql_appendleft, METH_O, "push at the head"},
    {"extend", (PyCFunction)ql_extend_m, METH_O, "push each at the tail"},
    {"extendleft", (PyCFunction)ql_extendleft_m, METH_O, "push each at the head"},
    {"pop", (PyCFunction)ql_pop, METH_NOARGS, "pop the tail"},
    {"popleft", (PyCFunction)ql_popleft, METH_NOARGS, "pop the head"},
    {"clear", (PyCFunction)ql_clear, METH_NOARGS, "remove everything"},
    {"insert", (PyCFunction)(void (*)(void))ql_insert, METH_FASTCALL, "insert(i, x[, after])"},
    {"rem", (PyCFunction)(void (*)(void))ql_rem, METH_FASTCALL, "rem(x, count) -> removed (LREM)"},
    {"index", (PyCFunction)(void (*)(void))ql_index, METH_FASTCALL, "index(x[, start[, stop]])"},
    {"range", (PyCFunction)(void (*)(void))ql_range, METH_FASTCALL, "range(start, stop) -> list"},
    {"resp_range", (PyCFunction)(void (*)(void))ql_resp_range, METH_FASTCALL,
     "resp_range(start, stop) -> the array reply of those elements"},
    {"trim", (PyCFunction)(void (*)(void))ql_trim, METH_FASTCALL, "trim(start, stop)"},
    {"copy", (PyCFunction)ql_copy, METH_NOARGS, "a copy"},
    {"nodes", (PyCFunction)ql_nodes, METH_NOARGS, "each node's listpack bytes"},
    {"append_node", (PyCFunction)ql_append_node, METH_O, "append_node(listpack): a new tail node"},
    {"node_count", (PyCFunction)ql_node_count, METH_NOARGS, "number of nodes"},
    {"node_sizes", (PyCFunction)ql_node_sizes, METH_O,
     "node_sizes(limit): listpack bytes of the first limit nodes (all if <= 0)"},
    {"__reversed__", (PyCFunction)ql_reversed, METH_NOARGS, NULL},
    {"__sizeof__", (PyCFunction)ql_sizeof, METH_NOARGS, NULL},
    {"__reduce__", (PyCFunction)ql_reduce, METH_NOARGS, NULL},
    {NULL}
};

static PyGetSetDef ql_getset[] = {
    {"fill", (getter)ql_get_fill, NULL, "list-max-listpack-size at creation", NULL},
    {NULL}
};

static PySequenceMethods ql_as_sequence = {
    .sq_length = (lenfunc)ql_len,
    .sq_item = (ssizeargfunc)ql_item,
    .sq_ass_item = (ssizeobjargproc)ql_ass_item,
};

static PyTypeObject QuickListType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyredis._listpack.QuickList",
    .tp_basicsize = sizeof(QuickList),
    .tp_dealloc = (destructor)ql_dealloc,
    .tp_as_sequence = &ql_as_sequence,
    .tp_iter = (getiterfunc)ql_iter,
    .tp_richcompare = (richcmpfunc)ql_richcompare,
    .tp_hash = PyObject_HashNotImplemented,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A list kept as listpack nodes (quicklist).",
    .tp_methods = ql_methods,
    .tp_getset = ql_getset,
    .tp_new = ql_new,
};

static PyTypeObject QLIterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyredis._listpack.QuickListIterator",
    .tp_basicsize = sizeof(QLIter),
    .tp_dealloc = (destructor)qliter_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)qliter_next,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_listpack", "Hashes and lists kept in listpacks.", -1, NULL,
};

PyMODINIT_FUNC PyInit__listpack(void)
{
    if (PyType_Ready(&PackedHashType) < 0 || PyType_Ready(&QuickListType) < 0
            || PyType_Ready(&QLIterType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    Py_INCREF(&PackedHashType);
    if (PyModule_AddObject(m, "PackedHash", (PyObject *)&PackedHashType) < 0) {
        Py_DECREF(&PackedHashType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&QuickListType);
    if (PyModule_AddObject(m, "QuickList", (PyObject *)&QuickListType) < 0) {
        Py_DECREF(&QuickListType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
