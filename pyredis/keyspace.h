/* keyspace.h: what other C extensions may call in pyredis._keyspace.
 *
 * A database's keyspace is a Keyspace (see _keyspace.c): a hash table
 * whose entries hold the key, its value and its access time (LRU clock or
 * LFU field) together. The request loop (_speedups.c) reaches it through
 * this table of functions, published as the capsule
 * "pyredis._keyspace._C_API", so that its common cases need no Python call:
 * one lookup, or one insert that sets the value and the access time at
 * once. Everything else goes through the Python mapping protocol. */

#ifndef PYREDIS_KEYSPACE_H
#define PYREDIS_KEYSPACE_H

#include <Python.h>

#define KEYSPACE_CAPSULE "pyredis._keyspace._C_API"

typedef struct {
    PyTypeObject *keyspace_type;    /* Keyspace (exact: no Python overrides) */
    PyTypeObject *lru_view_type;    /* LruView (exact: the LRU policies' view) */
    /* The value stored under key (borrowed), or NULL with no exception set
     * when the key is absent, or NULL with an exception. */
    PyObject *(*get)(PyObject *keyspace, PyObject *key);
    /* keyspace[key] = value with its access time set to lru in the same
     * entry (lru NULL: leave a present key's access time, none for a new
     * key); 0 or -1 with an exception. */
    int (*set)(PyObject *keyspace, PyObject *key, PyObject *value, PyObject *lru);
} KeyspaceCAPI;

#endif
