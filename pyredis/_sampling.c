/* Random members of big sets and hashes in O(1) expected time: Redis's
 * idea (dictGetRandomKey probes random buckets of its hash table) over
 * CPython's own tables. Redis's pick is only roughly fair (a random bucket,
 * then a random entry of its chain; dictGetFairRandomKey samples a few
 * buckets to even that out); these picks are exactly uniform.
 *
 * A Python set is an open-addressing table (PySetObject: table, mask,
 * used; cpython/setobject.h). Probing a uniformly random slot until one
 * holds an active entry (neither empty nor a deleted "dummy") is rejection
 * sampling: every member is equally likely, and the expected number of
 * probes is (mask + 1) / used.
 *
 * A Python dict (3.11) keeps its items in a dense entries array, in
 * insertion order, beside the hash index; a deleted item leaves a hole
 * (key and value NULL) until the dict is resized. Probing a uniformly random
 * index of the used part of that array (dk_nentries) until it holds a live
 * item is, again, exactly uniform over the items, with nentries / used
 * expected probes. The entries array is not public API: its layout is
 * mirrored below for CPython 3.11 only and checked against PyDict_Next on a
 * probe dict when the module loads (DICTS is False when that check fails or
 * on another CPython; the Python side then keeps its O(n) picks for dicts).
 *
 * Neither table shrinks when members are removed (Redis's dicts do: a
 * set's or hash's table is resized after a delete when it is under 10%
 * full). So before sampling, a table that is less than 1/SPARSE full is
 * compacted in place: the container is copied (CPython sizes the copy for
 * its content) and the two objects swap their tables, so the container
 * keeps its identity, its members and (dicts) their order, and nothing can
 * fail half way. That costs O(table) once per 15/16 of the members removed:
 * O(1) amortized per removal. A set's iteration order changes, as a Redis
 * rehash changes its order.
 *
 * The random numbers come from xoshiro256** (seeded from os.urandom at
 * import, or by seed()): these picks need speed and uniformity, not
 * Python's random module's reproducibility. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define SPARSE 16

/* -- random numbers ------------------------------------------------------ */

static uint64_t rng[4];

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t next64(void) {
    uint64_t result = rotl(rng[1] * 5, 7) * 9;
    uint64_t t = rng[1] << 17;
    rng[2] ^= rng[0];
    rng[3] ^= rng[1];
    rng[1] ^= rng[2];
    rng[0] ^= rng[3];
    rng[2] ^= t;
    rng[3] = rotl(rng[3], 45);
    return result;
}

static void seed_from(uint64_t x) {
    for (int i = 0; i < 4; i++) {       /* splitmix64, as xoshiro's authors advise */
        uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        rng[i] = z ^ (z >> 31);
    }
}

/* Uniform in [0, n), n > 0, without modulo bias. */
static inline uint64_t below(uint64_t n) {
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t r = next64();
        if (r >= threshold) return r % n;
    }
}

/* -- sets ------------------------------------------------------------------ */

static int set_compact(PySetObject *so) {
    PySetObject *copy = (PySetObject *)PySet_New((PyObject *)so);
    if (copy == NULL) return -1;
    /* Swap the tables; a sparse table is never the inline smalltable (its
     * mask is at least SPARSE times its used count), the copy's may be. */
    setentry *old = so->table;
    if (copy->table == copy->smalltable) {
        memcpy(so->smalltable, copy->smalltable, sizeof(so->smalltable));
        memset(copy->smalltable, 0, sizeof(copy->smalltable));
        so->table = so->smalltable;
    } else {
        so->table = copy->table;
    }
    copy->table = old;
    Py_ssize_t t;
    t = so->fill; so->fill = copy->fill; copy->fill = t;
    t = so->used; so->used = copy->used; copy->used = t;
    t = so->mask; so->mask = copy->mask; copy->mask = t;
    so->finger = 0;
    copy->finger = 0;
    Py_DECREF(copy);        /* frees the old table and its references */
    return 0;
}

static inline int set_sparse(PySetObject *so) {
    return (so->used * SPARSE) < so->mask + 1;
}

/* A uniformly random member (borrowed) of a non-empty, dense set. */
static inline PyObject *set_pick(PySetObject *so) {
    for (;;) {
        setentry *e = &so->table[next64() & (uint64_t)so->mask];
        /* Active: a key, and not the dummy (whose hash is -1, a value no
         * real hash takes). */
        if (e->key != NULL && e->hash != -1) return e->key;
    }
}

/* -- dicts (CPython 3.11's layout, Include/internal/pycore_dict.h) -------- */

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#define HAVE_DICT_LAYOUT 1
typedef struct {
    Py_ssize_t dk_refcnt;
    uint8_t dk_log2_size;
    uint8_t dk_log2_index_bytes;
    uint8_t dk_kind;            /* 0: DICT_KEYS_GENERAL */
    uint32_t dk_version;
    Py_ssize_t dk_usable;
    Py_ssize_t dk_nentries;
    char dk_indices[];
} Keys311;

typedef struct {
    Py_hash_t me_hash;
    PyObject *me_key;
    PyObject *me_value;
} Entry311;

static inline Entry311 *dict_entries(Keys311 *k) {
    return (Entry311 *)(&((int8_t *)k->dk_indices)[(size_t)1 << k->dk_log2_index_bytes]);
}
#else
#define HAVE_DICT_LAYOUT 0
#endif

static int dicts_ok = 0;        /* the layout check passed */

/* Whether a dict's entries can be read directly: a combined table of
 * general (not all-str) keys, once the layout check passed. */
static inline int dict_direct(PyDictObject *d) {
#if HAVE_DICT_LAYOUT
    return dicts_ok && d->ma_values == NULL && ((Keys311 *)d->ma_keys)->dk_kind == 0;
#else
    (void)d;
    return 0;
#endif
}

#if HAVE_DICT_LAYOUT
static inline int dict_sparse(PyDictObject *d) {
    return d->ma_used * SPARSE < ((Keys311 *)d->ma_keys)->dk_nentries;
}

static int dict_compact(PyDictObject *d) {
    /* PyDict_Copy of a dict with holes inserts into a presized dict: no
     * holes in the copy. */
    PyDictObject *copy = (PyDictObject *)PyDict_Copy((PyObject *)d);
    if (copy == NULL) return -1;
    if (copy->ma_values != NULL) {      /* not expected for a combined dict */
        Py_DECREF(copy);
        return 0;
    }
    PyDictKeysObject *k = d->ma_keys;
    d->ma_keys = copy->ma_keys;
    copy->ma_keys = k;
    Py_ssize_t t = d->ma_used;
    d->ma_used = copy->ma_used;
    copy->ma_used = t;
    Py_DECREF(copy);
    return 0;
}

static inline PyObject *dict_pick(PyDictObject *d) {
    Keys311 *k = (Keys311 *)d->ma_keys;
    Entry311 *ent = dict_entries(k);
    uint64_t n = (uint64_t)k->dk_nentries;
    for (;;) {
        Entry311 *e = &ent[below(n)];
        if (e->me_value != NULL) return e->me_key;
    }
}

/* The layout check: the entries read directly must be the ones
 * PyDict_Next walks, holes included. */
static int check_dict_layout(void) {
    int ok = 0;
    PyObject *d = PyDict_New();
    if (d == NULL) return -1;
    for (int i = 0; i < 40; i++) {
        PyObject *key = PyBytes_FromFormat("k%d", i);
        PyObject *v = PyLong_FromLong(i);
        int r = (key && v) ? PyDict_SetItem(d, key, v) : -1;
        Py_XDECREF(key);
        Py_XDECREF(v);
        if (r < 0) goto done;
    }
    for (int i = 0; i < 40; i += 3) {
        PyObject *key = PyBytes_FromFormat("k%d", i);
        int r = key ? PyDict_DelItem(d, key) : -1;
        Py_XDECREF(key);
        if (r < 0) goto done;
    }
    PyDictObject *dd = (PyDictObject *)d;
    if (dd->ma_values != NULL) goto done;
    Keys311 *k = (Keys311 *)dd->ma_keys;
    if (k->dk_kind != 0 || k->dk_nentries != 40 || k->dk_log2_size < 3 ||
        k->dk_log2_size > 20 || k->dk_usable < 0) goto done;
    Entry311 *ent = dict_entries(k);
    Py_ssize_t pos = 0, live = 0;
    PyObject *key, *value;
    for (Py_ssize_t i = 0; i < 40; i++) {
        if (i % 3 == 0) {
            if (ent[i].me_key != NULL || ent[i].me_value != NULL) goto done;
            continue;
        }
        if (!PyDict_Next(d, &pos, &key, &value)) goto done;
        if (pos != i + 1 || ent[i].me_key != key || ent[i].me_value != value) goto done;
        live++;
    }
    if (PyDict_Next(d, &pos, &key, &value) || live != PyDict_GET_SIZE(d)) goto done;
    ok = 1;
done:
    Py_DECREF(d);
    if (PyErr_Occurred()) return -1;
    return ok;
}
#endif

/* -- the module's functions ------------------------------------------------- */

/* The container's kind (1 set, 2 dict read directly, 3 dict walked), after
 * compacting a sparse table; -1 with an exception set. */
static int prepare(PyObject *c) {
    if (PySet_CheckExact(c)) {
        PySetObject *so = (PySetObject *)c;
        if (so->used == 0) goto empty;
        if (set_sparse(so) && set_compact(so) < 0) return -1;
        return 1;
    }
    if (PyDict_CheckExact(c)) {
        PyDictObject *d = (PyDictObject *)c;
        if (d->ma_used == 0) goto empty;
        if (!dict_direct(d)) return 3;
#if HAVE_DICT_LAYOUT
        if (dict_sparse(d) && dict_compact(d) < 0) return -1;
        if (!dict_direct(d)) return 3;
#endif
        return 2;
    }
    PyErr_SetString(PyExc_TypeError, "a set or a dict was expected");
    return -1;
empty:
    PyErr_SetString(PyExc_IndexError, "cannot pick from an empty container");
    return -1;
}

/* One pick: a borrowed reference (NULL with an exception set). */
static PyObject *pick(PyObject *c, int kind) {
    if (kind == 1) return set_pick((PySetObject *)c);
#if HAVE_DICT_LAYOUT
    if (kind == 2) return dict_pick((PyDictObject *)c);
#endif
    /* Walk to a uniformly random position (another CPython's dict). */
    Py_ssize_t pos = 0, i = (Py_ssize_t)below((uint64_t)PyDict_GET_SIZE(c));
    PyObject *key, *value;
    while (PyDict_Next(c, &pos, &key, &value)) {
        if (i-- == 0) return key;
    }
    PyErr_SetString(PyExc_RuntimeError, "dict changed size during sampling");
    return NULL;
}

static PyObject *m_choice(PyObject *self, PyObject *c) {
    int kind = prepare(c);
    if (kind < 0) return NULL;
    PyObject *key = pick(c, kind);
    Py_XINCREF(key);
    return key;
}

static int count_arg(PyObject *args, PyObject **c, Py_ssize_t *k) {
    if (!PyArg_ParseTuple(args, "On", c, k)) return -1;
    if (*k < 0) {
        PyErr_SetString(PyExc_ValueError, "count must not be negative");
        return -1;
    }
    return 0;
}

/* k picks with repetitions (SRANDMEMBER/HRANDFIELD with a negative count). */
static PyObject *m_choices(PyObject *self, PyObject *args) {
    PyObject *c;
    Py_ssize_t k;
    if (count_arg(args, &c, &k) < 0) return NULL;
    int kind = prepare(c);
    if (kind < 0) return NULL;
    PyObject *out = PyList_New(k);
    if (out == NULL) return NULL;
    for (Py_ssize_t i = 0; i < k; i++) {
        PyObject *key = pick(c, kind);
        if (key == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        Py_INCREF(key);
        PyList_SET_ITEM(out, i, key);
    }
    return out;
}

/* k distinct members, in random order. Under a third of the container:
 * picks until k distinct ones were seen (each pick is new with probability
 * over 2/3: O(k) expected); otherwise the members are listed (O(n), and n
 * < 3k) and k of them drawn by a partial Fisher-Yates shuffle. */
static PyObject *m_sample(PyObject *self, PyObject *args) {
    PyObject *c;
    Py_ssize_t k;
    if (count_arg(args, &c, &k) < 0) return NULL;
    Py_ssize_t n = PySet_CheckExact(c) ? PySet_GET_SIZE(c)
                 : PyDict_CheckExact(c) ? PyDict_GET_SIZE(c) : -1;
    if (n < 0) {
        PyErr_SetString(PyExc_TypeError, "a set or a dict was expected");
        return NULL;
    }
    if (k > n) k = n;
    if (k == 0) return PyList_New(0);
    if (k * 3 > n) {
        PyObject *all = PySet_CheckExact(c) ? PySequence_List(c) : PyDict_Keys(c);
        if (all == NULL) return NULL;
        PyObject **items = ((PyListObject *)all)->ob_item;
        n = PyList_GET_SIZE(all);
        if (k > n) k = n;
        for (Py_ssize_t i = 0; i < k; i++) {
            Py_ssize_t j = i + (Py_ssize_t)below((uint64_t)(n - i));
            PyObject *t = items[i];
            items[i] = items[j];
            items[j] = t;
        }
        if (PyList_SetSlice(all, k, n, NULL) < 0) {
            Py_DECREF(all);
            return NULL;
        }
        return all;
    }
    int kind = prepare(c);
    if (kind < 0) return NULL;
    PyObject *seen = PySet_New(NULL);
    PyObject *out = PyList_New(0);
    if (seen == NULL || out == NULL) goto fail;
    while (PyList_GET_SIZE(out) < k) {
        PyObject *key = pick(c, kind);
        if (key == NULL) goto fail;
        Py_INCREF(key);     /* comparing keys may run code that changes c */
        int dup = PySet_Contains(seen, key);
        if (dup == 0 && (PySet_Add(seen, key) < 0 || PyList_Append(out, key) < 0))
            dup = -1;
        Py_DECREF(key);
        if (dup < 0) goto fail;
        if ((PySet_CheckExact(c) ? PySet_GET_SIZE(c) : PyDict_GET_SIZE(c)) != n) {
            PyErr_SetString(PyExc_RuntimeError, "container changed size during sampling");
            goto fail;
        }
        kind = prepare(c);
        if (kind < 0) goto fail;
    }
    Py_DECREF(seen);
    return out;
fail:
    Py_XDECREF(seen);
    Py_XDECREF(out);
    return NULL;
}

static PyObject *m_seed(PyObject *self, PyObject *arg) {
    unsigned long long x = PyLong_AsUnsignedLongLongMask(arg);
    if (x == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    seed_from((uint64_t)x);
    Py_RETURN_NONE;
}

/* How full the table is that the picks probe (used, slots): a test's view
 * of the compaction. Slots are a set's table size or a dict's entries in
 * use, holes included. */
static PyObject *m_table(PyObject *self, PyObject *c) {
    if (PySet_CheckExact(c)) {
        PySetObject *so = (PySetObject *)c;
        return Py_BuildValue("nn", so->used, so->mask + 1);
    }
#if HAVE_DICT_LAYOUT
    if (PyDict_CheckExact(c) && dict_direct((PyDictObject *)c)) {
        PyDictObject *d = (PyDictObject *)c;
        return Py_BuildValue("nn", d->ma_used, ((Keys311 *)d->ma_keys)->dk_nentries);
    }
#endif
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"choice", m_choice, METH_O, "choice(set_or_dict): a uniformly random member/key."},
    {"choices", m_choices, METH_VARARGS,
     "choices(set_or_dict, k): k independent uniform picks (repetitions allowed)."},
    {"sample", m_sample, METH_VARARGS,
     "sample(set_or_dict, k): min(k, len) distinct members/keys in random order."},
    {"seed", m_seed, METH_O, "seed(int): reseed the generator."},
    {"table", m_table, METH_O, "table(set_or_dict): (used, slots) of the probed table."},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_sampling",
    "O(1) random members of big sets and dicts (dictGetFairRandomKey).", -1, methods
};

PyMODINIT_FUNC PyInit__sampling(void) {
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    uint64_t s = 0;
    PyObject *os = PyImport_ImportModule("os");
    PyObject *b = os ? PyObject_CallMethod(os, "urandom", "i", 8) : NULL;
    Py_XDECREF(os);
    if (b == NULL || !PyBytes_Check(b) || PyBytes_GET_SIZE(b) != 8) {
        Py_XDECREF(b);
        Py_DECREF(m);
        return NULL;
    }
    memcpy(&s, PyBytes_AS_STRING(b), 8);
    Py_DECREF(b);
    seed_from(s);
#if HAVE_DICT_LAYOUT
    int ok = check_dict_layout();
    if (ok < 0) {
        Py_DECREF(m);
        return NULL;
    }
    dicts_ok = ok;
#endif
    PyObject *dicts = PyBool_FromLong(dicts_ok);
    if (PyModule_AddObject(m, "DICTS", dicts) < 0) {     /* (steals only on success) */
        Py_DECREF(dicts);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
