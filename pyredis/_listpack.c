/* Small hashes as real listpacks (listpack.c, t_hash.c's listpack side).
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
#include <stdint.h>
#include <string.h>

#define LP_HDR 6
#define LP_EOF 0xff

/* ---- listpack entries ------------------------------------------------ */

/* string2ll / lpStringToInt64: the canonical decimal spelling of an int64. */
static int parse_int64(const unsigned char *s, size_t len, int64_t *out)
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

static size_t backlen_size(size_t n)
{
    if (n <= 127) return 1;
    if (n < 16383) return 2;
    if (n < 2097151) return 3;
    if (n < 268435455) return 4;
    return 5;
}

static void put_backlen(unsigned char *p, size_t n)
{
    size_t k = backlen_size(n);
    for (size_t i = 0; i < k; i++) {
        size_t shift = 7 * (k - 1 - i);
        unsigned char b = (unsigned char)((n >> shift) & 127);
        if (i > 0)
            b |= 128;
        p[i] = b;
    }
}

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

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_listpack", "Hashes and lists kept in listpacks.", -1, NULL,
};

PyMODINIT_FUNC PyInit__listpack(void)
{
    if (PyType_Ready(&PackedHashType) < 0)
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
    return m;
}
