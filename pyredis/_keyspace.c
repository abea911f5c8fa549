/* _keyspace.c: a database's keyspace, kept as Redis's dict.c keeps it.
 *
 * A Keyspace maps keys to values like a dict, with what a server's
 * keyspace needs and a Python dict cannot give:
 *
 * - Incremental rehashing. A dict that outgrows its table copies all of it
 *   in one step: 33 ms at 700k keys, 65 ms at 1.4M, during which no client
 *   is served. Here, as in Redis, growing allocates the bigger table and
 *   then moves one bucket per operation (and more in the cron,
 *   rehash_for()), lookups looking in both tables meanwhile, so no single
 *   operation pays for the whole table. Shrinking is the cron's too
 *   (resize_if_sparse: tryResizeHashTables). Under maxmemory a table
 *   grows only when the bigger bucket array fits, or past 1.618 keys per
 *   bucket (dictExpandAllowed: set_expand_room).
 * - One entry per key holding the key, the value and the key's access time
 *   (the LRU clock, or the LFU field under an LFU policy: Redis's robj->lru).
 *   With a dict beside the keyspace for the access times, every new key was
 *   two inserts into two growing tables. LruView is the access-time side of
 *   the same entries, seen as a mapping (db.lru); an entry's access time is
 *   absent (NULL) until set, as a key missing from that dict was.
 * - Random keys and SCAN without a copy of the keys: random_key() is
 *   dictGetRandomKey (a random non-empty bucket, a random entry in its
 *   chain), scan() is dictScan's reverse-binary cursor, which returns every
 *   key present for the whole scan even across resizes.
 *
 * Chained buckets with power-of-two sizes, as dict.c; the hash is the
 * key's Python hash (cached by bytes objects), kept in the entry so that
 * rehashing never touches the keys. Iterating (keys/values/items) pauses
 * rehashing, and any insert or delete meanwhile makes the iterator raise,
 * as a dict's does. The table holds no reference cycles of its own (values
 * never point back at it), so it is not tracked by the garbage collector:
 * a full collection does not walk a million entries.
 *
 * Other extensions use it through the capsule described in keyspace.h.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include "keyspace.h"

#define INITIAL_SIZE 4
/* Below this fill (percent) the cron shrinks a table (HASHTABLE_MIN_FILL). */
#define MIN_FILL 10
/* While growing is not allowed (a fork's child is saving, and every page
 * the parent rewrites is copied), a table still grows past this many keys
 * per bucket (dict_force_resize_ratio). */
#define FORCE_RESIZE_RATIO 5

typedef struct entry {
    PyObject *key;
    PyObject *value;
    PyObject *lru;          /* access time, NULL when none was set */
    Py_hash_t hash;
    struct entry *next;
} entry;

typedef struct {
    entry **table;
    size_t size;            /* 0 or a power of two */
    size_t mask;
    size_t used;
} table;

typedef struct {
    PyObject_HEAD
    table ht[2];            /* ht[1] is in use only while rehashing */
    Py_ssize_t rehashidx;   /* next ht[0] bucket to move, -1 when not rehashing */
    Py_ssize_t paused;      /* live iterators: no rehash step meanwhile */
    uint64_t version;       /* changes on insert, delete and rehash step */
    size_t pop_from[2];     /* popitem's starting bucket in each table */
    /* dictExpandAllowed: the bytes a bigger bucket array may take under
     * maxmemory, as the memory accounting last found them
     * (set_expand_room), -1 without a limit. So that a cache at its limit
     * is not made to evict megabytes of keys at once to pay for a doubled
     * table, it grows past that only above 1.618 keys per bucket. */
    Py_ssize_t expand_room;
} Keyspace;

typedef struct {
    PyObject_HEAD
    Keyspace *keyspace;
} LruView;

static PyTypeObject KeyspaceType, LruViewType, KeyspaceIterType;

static int resize_allowed = 1;

/* dictExpandAllowed: below this load a table grows only if the bigger
 * bucket array fits in its expand_room. */
#define MAX_LOAD_FACTOR 1.618

/* xorshift64*: random buckets for random_key. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

#define IS_REHASHING(ks) ((ks)->rehashidx != -1)
#define KS_SIZE(ks) ((Py_ssize_t)((ks)->ht[0].used + (ks)->ht[1].used))

/* -- the table ---------------------------------------------------------------- */

/* 1 when equal, 0 when not, -1 with an exception. */
static int key_equal(PyObject *a, PyObject *b)
{
    if (a == b)
        return 1;
    if (PyBytes_CheckExact(a) && PyBytes_CheckExact(b)) {
        Py_ssize_t n = PyBytes_GET_SIZE(a);
        return n == PyBytes_GET_SIZE(b)
            && memcmp(PyBytes_AS_STRING(a), PyBytes_AS_STRING(b), (size_t)n) == 0;
    }
    return PyObject_RichCompareBool(a, b, Py_EQ);
}

/* dictRehash: move up to n buckets of ht[0] to ht[1], visiting at most
 * 10 n empty ones; 1 while there is more to move. */
static int rehash(Keyspace *ks, int n)
{
    if (!IS_REHASHING(ks))
        return 0;
    table *t0 = &ks->ht[0], *t1 = &ks->ht[1];
    int empty_visits = n * 10;
    ks->version++;
    while (n-- && t0->used) {
        while (t0->table[ks->rehashidx] == NULL) {
            ks->rehashidx++;
            if (--empty_visits == 0)
                return 1;
        }
        entry *e = t0->table[ks->rehashidx];
        while (e) {
            entry *next = e->next;
            size_t idx = (size_t)e->hash & t1->mask;
            e->next = t1->table[idx];
            t1->table[idx] = e;
            t0->used--;
            t1->used++;
            e = next;
        }
        t0->table[ks->rehashidx] = NULL;
        ks->rehashidx++;
    }
    if (t0->used == 0) {
        PyMem_Free(t0->table);
        *t0 = *t1;
        memset(t1, 0, sizeof *t1);
        ks->pop_from[0] = ks->pop_from[1];
        ks->pop_from[1] = 0;
        ks->rehashidx = -1;
        return 0;
    }
    return 1;
}

static inline void rehash_step(Keyspace *ks)
{
    if (IS_REHASHING(ks) && ks->paused == 0)
        rehash(ks, 1);
}

/* _dictExpand: make a table of the smallest power of two >= want (at
 * least INITIAL_SIZE) the one keys move to. */
static int resize_to(Keyspace *ks, size_t want)
{
    if (IS_REHASHING(ks))
        return 0;
    size_t size = INITIAL_SIZE;
    while (size < want) {
        if (size > ((size_t)PY_SSIZE_T_MAX / sizeof(entry *)) / 2) {
            PyErr_NoMemory();
            return -1;
        }
        size <<= 1;
    }
    if (size == ks->ht[0].size)
        return 0;
    entry **tab = PyMem_Calloc(size, sizeof(entry *));
    if (tab == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    table fresh = {tab, size, size - 1, 0};
    ks->version++;
    if (ks->ht[0].table == NULL) {
        ks->ht[0] = fresh;
        ks->pop_from[0] = 0;
        return 0;
    }
    ks->ht[1] = fresh;
    ks->pop_from[1] = 0;
    ks->rehashidx = 0;
    return 0;
}

/* _dictExpandIfNeeded: grow at one key per bucket. */
static int expand_if_needed(Keyspace *ks)
{
    if (IS_REHASHING(ks))
        return 0;
    table *t0 = &ks->ht[0];
    if (t0->size == 0)
        return resize_to(ks, INITIAL_SIZE);
    if (t0->used >= t0->size &&
            (resize_allowed || t0->used / t0->size > FORCE_RESIZE_RATIO)) {
        if (ks->expand_room >= 0
                && (double)t0->used / (double)t0->size <= MAX_LOAD_FACTOR) {
            size_t want = INITIAL_SIZE;
            while (want < t0->used + 1)
                want <<= 1;
            size_t more = want * sizeof(entry *);
            if (more > (size_t)ks->expand_room)
                return 0;
            ks->expand_room -= (Py_ssize_t)more;
        }
        return resize_to(ks, t0->used + 1);
    }
    return 0;
}

/* The entry holding key, or NULL (with an exception if comparing failed).
 * *link_out: the pointer that points at it, *t_out: its table. */
static entry *find(Keyspace *ks, PyObject *key, Py_hash_t hash, entry ***link_out, int *t_out)
{
restart:
    for (int t = 0; t < 2; t++) {
        table *ht = &ks->ht[t];
        if (ht->size == 0)
            return NULL;
        entry **link = &ht->table[(size_t)hash & ht->mask];
        for (entry *e = *link; e != NULL; link = &e->next, e = e->next) {
            if (e->key == key)
                goto found;
            if (e->hash == hash) {
                uint64_t version = ks->version;
                PyObject *k = e->key;
                Py_INCREF(k);
                int eq = key_equal(k, key);
                Py_DECREF(k);
                if (eq < 0)
                    return NULL;
                if (ks->version != version)
                    goto restart;       /* a comparison in Python changed the table */
                if (eq)
                    goto found;
            }
            continue;
        found:
            if (link_out)
                *link_out = link;
            if (t_out)
                *t_out = t;
            return e;
        }
        if (!IS_REHASHING(ks))
            return NULL;
    }
    return NULL;
}

static entry *lookup(Keyspace *ks, PyObject *key)
{
    Py_hash_t hash = PyObject_Hash(key);
    if (hash == -1)
        return NULL;
    rehash_step(ks);
    return find(ks, key, hash, NULL, NULL);
}

/* keyspace[key] = value; lru: the access time to set, or NULL to leave a
 * present key's as it is (none for a new key). */
static int ks_set(Keyspace *ks, PyObject *key, PyObject *value, PyObject *lru)
{
    Py_hash_t hash = PyObject_Hash(key);
    if (hash == -1)
        return -1;
    rehash_step(ks);
    entry *e = find(ks, key, hash, NULL, NULL);
    if (e != NULL) {
        PyObject *old = e->value;
        Py_INCREF(value);
        e->value = value;
        if (lru != NULL) {
            Py_INCREF(lru);
            Py_XSETREF(e->lru, lru);
        }
        Py_DECREF(old);
        return 0;
    }
    if (PyErr_Occurred() || expand_if_needed(ks) < 0)
        return -1;
    e = PyMem_Malloc(sizeof *e);
    if (e == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    table *ht = IS_REHASHING(ks) ? &ks->ht[1] : &ks->ht[0];
    size_t idx = (size_t)hash & ht->mask;
    Py_INCREF(key);
    Py_INCREF(value);
    Py_XINCREF(lru);
    e->key = key;
    e->value = value;
    e->lru = lru;
    e->hash = hash;
    e->next = ht->table[idx];
    ht->table[idx] = e;
    ht->used++;
    ks->version++;
    return 0;
}

/* Remove key: 1 (and *value_out, a new reference, if asked), 0 when
 * absent, -1 with an exception. */
static int ks_del(Keyspace *ks, PyObject *key, PyObject **value_out)
{
    Py_hash_t hash = PyObject_Hash(key);
    if (hash == -1)
        return -1;
    rehash_step(ks);
    entry **link;
    int t;
    entry *e = find(ks, key, hash, &link, &t);
    if (e == NULL)
        return PyErr_Occurred() ? -1 : 0;
    *link = e->next;
    ks->ht[t].used--;
    ks->version++;
    if (value_out)
        *value_out = e->value;
    else
        Py_DECREF(e->value);
    Py_DECREF(e->key);
    Py_XDECREF(e->lru);
    PyMem_Free(e);
    return 1;
}

/* Empty the keyspace. The entries are detached first, so that a value
 * whose release runs Python code sees a consistent (empty) keyspace. */
static void ks_clear(Keyspace *ks)
{
    table old[2] = {ks->ht[0], ks->ht[1]};
    memset(ks->ht, 0, sizeof ks->ht);
    ks->rehashidx = -1;
    ks->pop_from[0] = ks->pop_from[1] = 0;
    ks->version++;
    for (int t = 0; t < 2; t++) {
        for (size_t i = 0; i < old[t].size; i++) {
            entry *e = old[t].table[i];
            while (e) {
                entry *next = e->next;
                Py_DECREF(e->key);
                Py_DECREF(e->value);
                Py_XDECREF(e->lru);
                PyMem_Free(e);
                e = next;
            }
        }
        PyMem_Free(old[t].table);
    }
}

/* Copy every entry of src (a Keyspace), access times included. */
static int ks_copy_from(Keyspace *ks, Keyspace *src)
{
    for (int t = 0; t < 2; t++) {
        for (size_t i = 0; i < src->ht[t].size; i++) {
            for (entry *e = src->ht[t].table[i]; e != NULL; e = e->next) {
                uint64_t version = src->version;
                if (ks_set(ks, e->key, e->value, e->lru) < 0)
                    return -1;
                if (src->version != version) {
                    PyErr_SetString(PyExc_RuntimeError, "keyspace changed during copy");
                    return -1;
                }
            }
        }
    }
    return 0;
}

/* -- the C API (keyspace.h) ------------------------------------------------------ */

static PyObject *capi_get(PyObject *self, PyObject *key)
{
    entry *e = lookup((Keyspace *)self, key);
    return e ? e->value : NULL;
}

static int capi_set(PyObject *self, PyObject *key, PyObject *value, PyObject *lru)
{
    return ks_set((Keyspace *)self, key, value, lru);
}

static KeyspaceCAPI c_api = {&KeyspaceType, &LruViewType, capi_get, capi_set};

/* -- Keyspace: the mapping ------------------------------------------------------- */

static PyObject *Keyspace_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    Keyspace *ks = (Keyspace *)type->tp_alloc(type, 0);
    if (ks == NULL)
        return NULL;
    ks->rehashidx = -1;
    ks->expand_room = -1;
    return (PyObject *)ks;
}

static int update_from(Keyspace *ks, PyObject *other);

static int Keyspace_init(Keyspace *ks, PyObject *args, PyObject *kwds)
{
    PyObject *other = NULL;
    if (kwds != NULL && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "Keyspace() takes no keyword arguments");
        return -1;
    }
    if (!PyArg_UnpackTuple(args, "Keyspace", 0, 1, &other))
        return -1;
    return other ? update_from(ks, other) : 0;
}

static void Keyspace_dealloc(Keyspace *ks)
{
    ks_clear(ks);
    Py_TYPE(ks)->tp_free((PyObject *)ks);
}

static Py_ssize_t Keyspace_length(Keyspace *ks)
{
    return KS_SIZE(ks);
}

static PyObject *Keyspace_subscript(Keyspace *ks, PyObject *key)
{
    entry *e = lookup(ks, key);
    if (e == NULL) {
        if (!PyErr_Occurred())
            _PyErr_SetKeyError(key);
        return NULL;
    }
    Py_INCREF(e->value);
    return e->value;
}

static int Keyspace_ass_subscript(Keyspace *ks, PyObject *key, PyObject *value)
{
    if (value != NULL)
        return ks_set(ks, key, value, NULL);
    int r = ks_del(ks, key, NULL);
    if (r == 0)
        _PyErr_SetKeyError(key);
    return r > 0 ? 0 : -1;
}

static int Keyspace_contains(Keyspace *ks, PyObject *key)
{
    if (lookup(ks, key))
        return 1;
    return PyErr_Occurred() ? -1 : 0;
}

static PyObject *Keyspace_get(Keyspace *ks, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "get(key, default=None)");
        return NULL;
    }
    entry *e = lookup(ks, args[0]);
    PyObject *v = e ? e->value : (PyErr_Occurred() ? NULL : nargs == 2 ? args[1] : Py_None);
    Py_XINCREF(v);
    return v;
}

static PyObject *Keyspace_pop(Keyspace *ks, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "pop(key[, default])");
        return NULL;
    }
    PyObject *v;
    int r = ks_del(ks, args[0], &v);
    if (r < 0)
        return NULL;
    if (r > 0)
        return v;
    if (nargs == 2) {
        Py_INCREF(args[1]);
        return args[1];
    }
    _PyErr_SetKeyError(args[0]);
    return NULL;
}

/* popitem: some (key, value), removed. For freeing a keyspace in slices
 * (lazyfree): pop_from makes emptying it O(size) in all. (Where a table's
 * buckets moved under pop_from, the first pass finds nothing and the
 * second starts over at 0.) */
static PyObject *Keyspace_popitem(Keyspace *ks, PyObject *unused)
{
    if (KS_SIZE(ks) == 0) {
        PyErr_SetString(PyExc_KeyError, "popitem(): keyspace is empty");
        return NULL;
    }
    for (int pass = 0; pass < 2; pass++) {
        for (int t = 0; t < 2; t++) {
            table *ht = &ks->ht[t];
            for (size_t i = ks->pop_from[t]; i < ht->size; i++) {
                entry *e = ht->table[i];
                if (e == NULL)
                    continue;
                ks->pop_from[t] = i;
                ht->table[i] = e->next;
                ht->used--;
                ks->version++;
                PyObject *item = PyTuple_Pack(2, e->key, e->value);
                Py_DECREF(e->key);
                Py_DECREF(e->value);
                Py_XDECREF(e->lru);
                PyMem_Free(e);
                return item;
            }
        }
        ks->pop_from[0] = ks->pop_from[1] = 0;
    }
    PyErr_SetString(PyExc_SystemError, "keyspace count is wrong");
    return NULL;
}

static PyObject *Keyspace_setdefault(Keyspace *ks, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "setdefault(key, default=None)");
        return NULL;
    }
    entry *e = lookup(ks, args[0]);
    if (e == NULL) {
        if (PyErr_Occurred())
            return NULL;
        PyObject *v = nargs == 2 ? args[1] : Py_None;
        if (PyObject_SetItem((PyObject *)ks, args[0], v) < 0)
            return NULL;
        Py_INCREF(v);
        return v;
    }
    Py_INCREF(e->value);
    return e->value;
}

/* update(other): from a Keyspace (access times too), a mapping with
 * keys(), or an iterable of pairs; through self[key] = value, so that a
 * subclass's __setitem__ sees every key, except from a Keyspace into an
 * exact Keyspace. */
static int update_from(Keyspace *ks, PyObject *other)
{
    if (PyObject_TypeCheck(other, &KeyspaceType) && Py_IS_TYPE(ks, &KeyspaceType))
        return ks_copy_from(ks, (Keyspace *)other);
    PyObject *keys = NULL, *it;
    if (PyDict_Check(other) || PyObject_TypeCheck(other, &KeyspaceType)
            || PyObject_HasAttrString(other, "keys")) {
        keys = PyMapping_Keys(other);
        if (keys == NULL)
            return -1;
        it = PyObject_GetIter(keys);
        Py_DECREF(keys);
        if (it == NULL)
            return -1;
        PyObject *k;
        while ((k = PyIter_Next(it)) != NULL) {
            PyObject *v = PyObject_GetItem(other, k);
            int r = v ? PyObject_SetItem((PyObject *)ks, k, v) : -1;
            Py_XDECREF(v);
            Py_DECREF(k);
            if (r < 0) {
                Py_DECREF(it);
                return -1;
            }
        }
        Py_DECREF(it);
        return PyErr_Occurred() ? -1 : 0;
    }
    it = PyObject_GetIter(other);
    if (it == NULL)
        return -1;
    PyObject *pair;
    while ((pair = PyIter_Next(it)) != NULL) {
        PyObject *seq = PySequence_Fast(pair, "update() needs pairs");
        Py_DECREF(pair);
        if (seq == NULL || PySequence_Fast_GET_SIZE(seq) != 2) {
            if (seq != NULL)
                PyErr_SetString(PyExc_ValueError, "update() needs pairs");
            Py_XDECREF(seq);
            Py_DECREF(it);
            return -1;
        }
        int r = PyObject_SetItem((PyObject *)ks, PySequence_Fast_GET_ITEM(seq, 0),
                                 PySequence_Fast_GET_ITEM(seq, 1));
        Py_DECREF(seq);
        if (r < 0) {
            Py_DECREF(it);
            return -1;
        }
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

static PyObject *Keyspace_update(Keyspace *ks, PyObject *other)
{
    if (update_from(ks, other) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* copy_from(other): every entry of another Keyspace, access times
 * included, without calling a subclass's __setitem__ (which the caller
 * then brings up to date, as SlotKeyspace rebuilds its slot index). */
static PyObject *Keyspace_copy_from(Keyspace *ks, PyObject *other)
{
    if (!PyObject_TypeCheck(other, &KeyspaceType)) {
        PyErr_SetString(PyExc_TypeError, "copy_from() needs a Keyspace");
        return NULL;
    }
    if (other != (PyObject *)ks && ks_copy_from(ks, (Keyspace *)other) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Keyspace_clear(Keyspace *ks, PyObject *unused)
{
    ks_clear(ks);
    Py_RETURN_NONE;
}

static PyObject *Keyspace_copy(Keyspace *ks, PyObject *unused)
{
    return PyObject_CallOneArg((PyObject *)Py_TYPE(ks), (PyObject *)ks);
}

static PyObject *make_iter(Keyspace *ks, int kind);

static PyObject *Keyspace_iter(Keyspace *ks)
{
    return make_iter(ks, 0);
}

static PyObject *Keyspace_keys(Keyspace *ks, PyObject *unused)
{
    return make_iter(ks, 0);
}

static PyObject *Keyspace_values(Keyspace *ks, PyObject *unused)
{
    return make_iter(ks, 1);
}

static PyObject *Keyspace_items(Keyspace *ks, PyObject *unused)
{
    return make_iter(ks, 2);
}

/* -- Keyspace: what a server needs beyond a mapping ------------------------------------ */

/* dictGetRandomKey: a random key, or None when empty. */
static PyObject *Keyspace_random_key(Keyspace *ks, PyObject *unused)
{
    if (KS_SIZE(ks) == 0)
        Py_RETURN_NONE;
    rehash_step(ks);
    entry *head;
    if (IS_REHASHING(ks)) {
        size_t s0 = ks->ht[0].size;
        size_t span = s0 + ks->ht[1].size - (size_t)ks->rehashidx;
        do {
            size_t h = (size_t)ks->rehashidx + (size_t)(rng_next() % span);
            head = h >= s0 ? ks->ht[1].table[h - s0] : ks->ht[0].table[h];
        } while (head == NULL);
    } else {
        do {
            head = ks->ht[0].table[rng_next() & ks->ht[0].mask];
        } while (head == NULL);
    }
    size_t len = 0;
    for (entry *e = head; e; e = e->next)
        len++;
    size_t pick = (size_t)(rng_next() % len);
    while (pick--)
        head = head->next;
    Py_INCREF(head->key);
    return head->key;
}

/* sample(count): count random keys, repeats possible (eviction's and the
 * expire cycle's samples). */
static PyObject *Keyspace_sample(Keyspace *ks, PyObject *arg)
{
    Py_ssize_t count = PyLong_AsSsize_t(arg);
    if (count == -1 && PyErr_Occurred())
        return NULL;
    if (KS_SIZE(ks) == 0 || count <= 0)
        return PyList_New(0);
    PyObject *out = PyList_New(count);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < count; i++)
        PyList_SET_ITEM(out, i, Keyspace_random_key(ks, NULL));
    return out;
}

static size_t rev(size_t v)
{
    size_t s = CHAR_BIT * sizeof(v);
    size_t mask = ~(size_t)0;
    while ((s >>= 1) > 0) {
        mask ^= (mask << s);
        v = ((v >> s) & mask) | ((v << s) & ~mask);
    }
    return v;
}

static int append_chain(PyObject *out, entry *e)
{
    for (; e; e = e->next)
        if (PyList_Append(out, e->key) < 0)
            return -1;
    return 0;
}

/* dictScan: the keys of one cursor position (in both tables while
 * rehashing: the small table's bucket and every bucket of the big one
 * that it expands to); the next cursor. */
static size_t scan_one(Keyspace *ks, size_t v, PyObject *out, int *err)
{
    if (KS_SIZE(ks) == 0)
        return 0;
    if (!IS_REHASHING(ks)) {
        table *t0 = &ks->ht[0];
        size_t m0 = t0->mask;
        if (append_chain(out, t0->table[v & m0]) < 0) {
            *err = 1;
            return 0;
        }
        v |= ~m0;
        v = rev(v);
        v++;
        v = rev(v);
        return v;
    }
    table *small = &ks->ht[0], *big = &ks->ht[1];
    if (small->size > big->size) {
        table *tmp = small;
        small = big;
        big = tmp;
    }
    size_t m0 = small->mask, m1 = big->mask;
    if (append_chain(out, small->table[v & m0]) < 0) {
        *err = 1;
        return 0;
    }
    do {
        if (append_chain(out, big->table[v & m1]) < 0) {
            *err = 1;
            return 0;
        }
        v |= ~m1;
        v = rev(v);
        v++;
        v = rev(v);
    } while (v & (m0 ^ m1));
    return v;
}

/* scan(cursor, count, max_buckets=10 * count) -> (next cursor, keys):
 * SCAN's loop, as scanGenericCommand drives dictScan (the expire cycle
 * walks its table the same way, 20 buckets per key). */
static PyObject *Keyspace_scan(Keyspace *ks, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 && nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "scan(cursor, count, max_buckets=10 * count)");
        return NULL;
    }
    unsigned long long cursor = PyLong_AsUnsignedLongLong(args[0]);
    if (cursor == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t count = PyLong_AsSsize_t(args[1]);
    if (count == -1 && PyErr_Occurred())
        return NULL;
    if (count < 1)
        count = 1;
    Py_ssize_t budget = count * 10;
    if (nargs == 3) {
        budget = PyLong_AsSsize_t(args[2]);
        if (budget == -1 && PyErr_Occurred())
            return NULL;
        if (budget < 1)
            budget = 1;
    }
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    size_t v = (size_t)cursor;
    int err = 0;
    uint64_t version = ks->version;
    do {
        v = scan_one(ks, v, out, &err);
        if (err || ks->version != version) {
            if (!err)
                PyErr_SetString(PyExc_RuntimeError, "keyspace changed during scan");
            Py_DECREF(out);
            return NULL;
        }
    } while (v && --budget && PyList_GET_SIZE(out) < count);
    PyObject *next = PyLong_FromSize_t(v);
    if (next == NULL) {
        Py_DECREF(out);
        return NULL;
    }
    return Py_BuildValue("(NN)", next, out);
}

/* resize_if_sparse(): tryResizeHashTables for one table: under 10% full,
 * start moving it to a table just big enough. True if it did. */
static PyObject *Keyspace_resize_if_sparse(Keyspace *ks, PyObject *unused)
{
    table *t0 = &ks->ht[0];
    if (!resize_allowed || IS_REHASHING(ks) || t0->size <= INITIAL_SIZE
            || t0->used * 100 / t0->size >= MIN_FILL)
        Py_RETURN_FALSE;
    if (resize_to(ks, t0->used < INITIAL_SIZE ? INITIAL_SIZE : t0->used) < 0)
        return NULL;
    return PyBool_FromLong(IS_REHASHING(ks));
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* rehash_for(us): dictRehashMilliseconds, 100 buckets at a time for up
 * to ``us`` microseconds (the cron's activerehashing); True if it was
 * rehashing (incrementallyRehash's "work done"). */
static PyObject *Keyspace_rehash_for(Keyspace *ks, PyObject *arg)
{
    long long us = PyLong_AsLongLong(arg);
    if (us == -1 && PyErr_Occurred())
        return NULL;
    if (!IS_REHASHING(ks))
        Py_RETURN_FALSE;
    if (ks->paused)
        Py_RETURN_TRUE;
    int64_t start = now_us();
    while (rehash(ks, 100)) {
        if (now_us() - start > us)
            break;
    }
    Py_RETURN_TRUE;
}

/* set_expand_room(bytes): the room under maxmemory for a bigger bucket
 * array (dictExpandAllowed), -1 for no limit. */
static PyObject *Keyspace_set_expand_room(Keyspace *ks, PyObject *arg)
{
    Py_ssize_t room = PyLong_AsSsize_t(arg);
    if (room == -1 && PyErr_Occurred())
        return NULL;
    ks->expand_room = room < 0 ? -1 : room;
    Py_RETURN_NONE;
}

/* reserve(n): room for n keys at once (RDB loading's RESIZEDB: dictExpand). */
static PyObject *Keyspace_reserve(Keyspace *ks, PyObject *arg)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n > 0 && !IS_REHASHING(ks) && (size_t)n > ks->ht[0].size && KS_SIZE(ks) <= n
            && resize_to(ks, (size_t)n) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* tables() -> (size, used, rehash target size, used there): DEBUG HTSTATS. */
static PyObject *Keyspace_tables(Keyspace *ks, PyObject *unused)
{
    return Py_BuildValue("(nnnn)", (Py_ssize_t)ks->ht[0].size, (Py_ssize_t)ks->ht[0].used,
                         (Py_ssize_t)ks->ht[1].size, (Py_ssize_t)ks->ht[1].used);
}

#define STATS_VECTLEN 50      /* DICT_STATS_VECTLEN */

/* chain_stats() -> [(size, used, non-empty buckets, longest chain, entries
 * counted, [buckets with a chain of 0, 1, ... 49+ entries])] for the table
 * and, while rehashing, the one it moves to: _dictGetStatsHt's figures,
 * for DEBUG HTSTATS. */
static PyObject *Keyspace_chain_stats(Keyspace *ks, PyObject *unused)
{
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    for (int t = 0; t < (IS_REHASHING(ks) ? 2 : 1); t++) {
        table *ht = &ks->ht[t];
        size_t clvector[STATS_VECTLEN] = {0};
        size_t slots = 0, maxchain = 0, total = 0;
        for (size_t i = 0; i < ht->size; i++) {
            size_t len = 0;
            for (entry *e = ht->table[i]; e; e = e->next)
                len++;
            clvector[len < STATS_VECTLEN ? len : STATS_VECTLEN - 1]++;
            if (len) {
                slots++;
                total += len;
                if (len > maxchain)
                    maxchain = len;
            }
        }
        PyObject *vec = PyList_New(STATS_VECTLEN);
        if (vec == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        for (int i = 0; i < STATS_VECTLEN; i++)
            PyList_SET_ITEM(vec, i, PyLong_FromSize_t(clvector[i]));
        PyObject *item = Py_BuildValue("(nnnnnN)", (Py_ssize_t)ht->size, (Py_ssize_t)ht->used,
                                       (Py_ssize_t)slots, (Py_ssize_t)maxchain,
                                       (Py_ssize_t)total, vec);
        if (item == NULL || PyList_Append(out, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(item);
    }
    return out;
}

static PyObject *Keyspace_sizeof(Keyspace *ks, PyObject *unused)
{
    size_t n = Py_TYPE(ks)->tp_basicsize
        + (ks->ht[0].size + ks->ht[1].size) * sizeof(entry *)
        + (size_t)KS_SIZE(ks) * ((sizeof(entry) + 15) & ~(size_t)15);
    return PyLong_FromSize_t(n);
}

static PyObject *Keyspace_repr(Keyspace *ks)
{
    return PyUnicode_FromFormat("<%s of %zd keys>", Py_TYPE(ks)->tp_name, KS_SIZE(ks));
}

static PyObject *Keyspace_reduce(Keyspace *ks, PyObject *unused)
{
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    if (PyDict_Merge(d, (PyObject *)ks, 1) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return Py_BuildValue("(O(N))", (PyObject *)Py_TYPE(ks), d);
}

static PyMethodDef Keyspace_methods[] = {
    {"get", (PyCFunction)(void (*)(void))Keyspace_get, METH_FASTCALL, "get(key, default=None)"},
    {"pop", (PyCFunction)(void (*)(void))Keyspace_pop, METH_FASTCALL, "pop(key[, default])"},
    {"popitem", (PyCFunction)Keyspace_popitem, METH_NOARGS, "popitem() -> (key, value)"},
    {"setdefault", (PyCFunction)(void (*)(void))Keyspace_setdefault, METH_FASTCALL,
     "setdefault(key, default=None)"},
    {"update", (PyCFunction)Keyspace_update, METH_O, "update(mapping or pairs)"},
    {"clear", (PyCFunction)Keyspace_clear, METH_NOARGS, "clear()"},
    {"copy_from", (PyCFunction)Keyspace_copy_from, METH_O,
     "copy_from(keyspace): its entries, access times included, added raw"},
    {"copy", (PyCFunction)Keyspace_copy, METH_NOARGS, "copy()"},
    {"keys", (PyCFunction)Keyspace_keys, METH_NOARGS, "an iterator over the keys"},
    {"values", (PyCFunction)Keyspace_values, METH_NOARGS, "an iterator over the values"},
    {"items", (PyCFunction)Keyspace_items, METH_NOARGS, "an iterator over (key, value)"},
    {"random_key", (PyCFunction)Keyspace_random_key, METH_NOARGS,
     "random_key() -> a random key, or None"},
    {"sample", (PyCFunction)Keyspace_sample, METH_O, "sample(count) -> random keys"},
    {"scan", (PyCFunction)(void (*)(void))Keyspace_scan, METH_FASTCALL,
     "scan(cursor, count, max_buckets=10 * count) -> (next cursor, keys)"},
    {"resize_if_sparse", (PyCFunction)Keyspace_resize_if_sparse, METH_NOARGS,
     "resize_if_sparse() -> True if it started shrinking the table"},
    {"rehash_for", (PyCFunction)Keyspace_rehash_for, METH_O,
     "rehash_for(us) -> True while rehashing"},
    {"reserve", (PyCFunction)Keyspace_reserve, METH_O, "reserve(n): room for n keys"},
    {"set_expand_room", (PyCFunction)Keyspace_set_expand_room, METH_O,
     "set_expand_room(bytes): room under maxmemory for a bigger table, -1 for no limit"},
    {"tables", (PyCFunction)Keyspace_tables, METH_NOARGS,
     "tables() -> (size, used, size, used) of the table and the one it moves to"},
    {"chain_stats", (PyCFunction)Keyspace_chain_stats, METH_NOARGS,
     "chain_stats() -> the bucket chains' figures of each table (DEBUG HTSTATS)"},
    {"__sizeof__", (PyCFunction)Keyspace_sizeof, METH_NOARGS, NULL},
    {"__reduce__", (PyCFunction)Keyspace_reduce, METH_NOARGS, NULL},
    {NULL}
};

static PyMappingMethods Keyspace_as_mapping = {
    (lenfunc)Keyspace_length,
    (binaryfunc)Keyspace_subscript,
    (objobjargproc)Keyspace_ass_subscript,
};

static PySequenceMethods Keyspace_as_sequence = {
    .sq_contains = (objobjproc)Keyspace_contains,
};

static PyTypeObject KeyspaceType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyredis._keyspace.Keyspace",
    .tp_basicsize = sizeof(Keyspace),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "A database's keyspace: a mapping with incremental rehashing and an "
              "access time per key (see LruView).",
    .tp_new = Keyspace_new,
    .tp_init = (initproc)Keyspace_init,
    .tp_dealloc = (destructor)Keyspace_dealloc,
    .tp_repr = (reprfunc)Keyspace_repr,
    .tp_as_mapping = &Keyspace_as_mapping,
    .tp_as_sequence = &Keyspace_as_sequence,
    .tp_iter = (getiterfunc)Keyspace_iter,
    .tp_methods = Keyspace_methods,
};

/* -- iterators ------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    Keyspace *keyspace;     /* NULL once exhausted */
    int kind;               /* 0 keys, 1 values, 2 items */
    int t;
    size_t idx;
    entry *next;
    uint64_t version;
} KeyspaceIter;

static PyObject *make_iter(Keyspace *ks, int kind)
{
    KeyspaceIter *it = PyObject_New(KeyspaceIter, &KeyspaceIterType);
    if (it == NULL)
        return NULL;
    Py_INCREF(ks);
    it->keyspace = ks;
    it->kind = kind;
    it->t = 0;
    it->idx = 0;
    it->next = NULL;
    it->version = ks->version;
    ks->paused++;
    return (PyObject *)it;
}

static void iter_finish(KeyspaceIter *it)
{
    Keyspace *ks = it->keyspace;
    if (ks != NULL) {
        it->keyspace = NULL;
        ks->paused--;
        Py_DECREF(ks);
    }
}

static void KeyspaceIter_dealloc(KeyspaceIter *it)
{
    iter_finish(it);
    PyObject_Free(it);
}

static PyObject *KeyspaceIter_next(KeyspaceIter *it)
{
    Keyspace *ks = it->keyspace;
    if (ks == NULL)
        return NULL;
    if (ks->version != it->version) {
        iter_finish(it);
        PyErr_SetString(PyExc_RuntimeError, "keyspace changed size during iteration");
        return NULL;
    }
    entry *e = it->next;
    while (e == NULL) {
        table *ht = &ks->ht[it->t];
        if (it->idx < ht->size) {
            e = ht->table[it->idx++];
        } else if (it->t == 0 && ks->ht[1].size) {
            it->t = 1;
            it->idx = 0;
        } else {
            iter_finish(it);
            return NULL;
        }
    }
    it->next = e->next;
    if (it->kind == 0) {
        Py_INCREF(e->key);
        return e->key;
    }
    if (it->kind == 1) {
        Py_INCREF(e->value);
        return e->value;
    }
    return PyTuple_Pack(2, e->key, e->value);
}

static PyObject *KeyspaceIter_length_hint(KeyspaceIter *it, PyObject *unused)
{
    return PyLong_FromSsize_t(it->keyspace ? KS_SIZE(it->keyspace) : 0);
}

static PyMethodDef KeyspaceIter_methods[] = {
    {"__length_hint__", (PyCFunction)KeyspaceIter_length_hint, METH_NOARGS, NULL},
    {NULL}
};

static PyTypeObject KeyspaceIterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyredis._keyspace.KeyspaceIterator",
    .tp_basicsize = sizeof(KeyspaceIter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)KeyspaceIter_dealloc,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)KeyspaceIter_next,
    .tp_methods = KeyspaceIter_methods,
};

/* -- LruView: the access times, as a mapping -------------------------------------------- */

static PyObject *LruView_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *ks;
    if (!PyArg_ParseTuple(args, "O!:LruView", &KeyspaceType, &ks))
        return NULL;
    LruView *view = (LruView *)type->tp_alloc(type, 0);
    if (view == NULL)
        return NULL;
    Py_INCREF(ks);
    view->keyspace = (Keyspace *)ks;
    return (PyObject *)view;
}

static void LruView_dealloc(LruView *view)
{
    Py_CLEAR(view->keyspace);
    Py_TYPE(view)->tp_free((PyObject *)view);
}

/* The entry of key if it has an access time. */
static entry *lru_entry(LruView *view, PyObject *key)
{
    entry *e = lookup(view->keyspace, key);
    return e && e->lru ? e : NULL;
}

static PyObject *LruView_subscript(LruView *view, PyObject *key)
{
    entry *e = lru_entry(view, key);
    if (e == NULL) {
        if (!PyErr_Occurred())
            _PyErr_SetKeyError(key);
        return NULL;
    }
    Py_INCREF(e->lru);
    return e->lru;
}

/* view[key] = t sets the access time of a key in the keyspace (nothing
 * when the key is not there: it has no entry to hold it). */
static int LruView_ass_subscript(LruView *view, PyObject *key, PyObject *value)
{
    entry *e = lookup(view->keyspace, key);
    if (e == NULL) {
        if (PyErr_Occurred())
            return -1;
        if (value == NULL) {
            _PyErr_SetKeyError(key);
            return -1;
        }
        return 0;
    }
    if (value == NULL) {
        if (e->lru == NULL) {
            _PyErr_SetKeyError(key);
            return -1;
        }
        Py_CLEAR(e->lru);
        return 0;
    }
    Py_INCREF(value);
    Py_XSETREF(e->lru, value);
    return 0;
}

static int LruView_contains(LruView *view, PyObject *key)
{
    if (lru_entry(view, key))
        return 1;
    return PyErr_Occurred() ? -1 : 0;
}

static Py_ssize_t LruView_length(LruView *view)
{
    Keyspace *ks = view->keyspace;
    Py_ssize_t n = 0;
    for (int t = 0; t < 2; t++)
        for (size_t i = 0; i < ks->ht[t].size; i++)
            for (entry *e = ks->ht[t].table[i]; e; e = e->next)
                n += e->lru != NULL;
    return n;
}

static PyObject *LruView_get(LruView *view, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "get(key, default=None)");
        return NULL;
    }
    entry *e = lru_entry(view, args[0]);
    PyObject *v = e ? e->lru : (PyErr_Occurred() ? NULL : nargs == 2 ? args[1] : Py_None);
    Py_XINCREF(v);
    return v;
}

static PyObject *LruView_pop(LruView *view, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "pop(key[, default])");
        return NULL;
    }
    entry *e = lru_entry(view, args[0]);
    if (e != NULL) {
        PyObject *v = e->lru;
        e->lru = NULL;
        return v;
    }
    if (PyErr_Occurred())
        return NULL;
    if (nargs == 2) {
        Py_INCREF(args[1]);
        return args[1];
    }
    _PyErr_SetKeyError(args[0]);
    return NULL;
}

static PyMethodDef LruView_methods[] = {
    {"get", (PyCFunction)(void (*)(void))LruView_get, METH_FASTCALL, "get(key, default=None)"},
    {"pop", (PyCFunction)(void (*)(void))LruView_pop, METH_FASTCALL, "pop(key[, default])"},
    {NULL}
};

static PyMemberDef LruView_members[] = {
    {"keyspace", T_OBJECT, offsetof(LruView, keyspace), READONLY, "the Keyspace it shows"},
    {NULL}
};

static PyMappingMethods LruView_as_mapping = {
    (lenfunc)LruView_length,
    (binaryfunc)LruView_subscript,
    (objobjargproc)LruView_ass_subscript,
};

static PySequenceMethods LruView_as_sequence = {
    .sq_contains = (objobjproc)LruView_contains,
};

static PyTypeObject LruViewType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyredis._keyspace.LruView",
    .tp_basicsize = sizeof(LruView),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "LruView(keyspace): the keys' access times (db.lru), kept in the "
              "keyspace's entries.",
    .tp_new = LruView_new,
    .tp_dealloc = (destructor)LruView_dealloc,
    .tp_as_mapping = &LruView_as_mapping,
    .tp_as_sequence = &LruView_as_sequence,
    .tp_methods = LruView_methods,
    .tp_members = LruView_members,
};

/* -- the module ------------------------------------------------------------------ */

/* allow_resize(flag): dictSetResizeEnabled. The server turns growing off
 * while a child process saves (updateDictResizePolicy). */
static PyObject *py_allow_resize(PyObject *self, PyObject *arg)
{
    int flag = PyObject_IsTrue(arg);
    if (flag < 0)
        return NULL;
    resize_allowed = flag;
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"allow_resize", py_allow_resize, METH_O,
     "allow_resize(flag): whether tables may grow or shrink (not while a child saves)"},
    {NULL}
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "pyredis._keyspace",
    "A database's keyspace: a hash table with incremental rehashing (Redis's dict.c).",
    -1, module_methods,
};

PyMODINIT_FUNC PyInit__keyspace(void)
{
    if (PyType_Ready(&KeyspaceType) < 0 || PyType_Ready(&LruViewType) < 0
            || PyType_Ready(&KeyspaceIterType) < 0)
        return NULL;
    rng_state = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)&rng_state;
    if (rng_state == 0)
        rng_state = 88172645463325252ULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (m == NULL)
        return NULL;
    Py_INCREF(&KeyspaceType);
    Py_INCREF(&LruViewType);
    if (PyModule_AddObject(m, "Keyspace", (PyObject *)&KeyspaceType) < 0
            || PyModule_AddObject(m, "LruView", (PyObject *)&LruViewType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    PyObject *capsule = PyCapsule_New(&c_api, KEYSPACE_CAPSULE, NULL);
    if (capsule == NULL || PyModule_AddObject(m, "_C_API", capsule) < 0) {
        Py_XDECREF(capsule);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
